//! Capturing frames through a memory-mapped ring (labs 05, 06, 07): an `AF_PACKET` socket with
//! a `TPACKET_V3` receive ring, a classic BPF filter attached in the kernel, and the socket's
//! drop counter (`PACKET_STATISTICS`). See `Documentation/networking/packet_mmap.rst`.
//! wirelab-synwatch captures one interface's handshakes with it; wirelab-tcp captures every
//! segment of the connections it records, on one interface or on all of them.
//!
//! Why a ring: a plain `recv()` per packet costs one system call and one copy per frame, and
//! at flood rates (35 000 SYNs/s here) such a socket falls behind and the kernel drops about a
//! third of the packets. With TPACKET_V3 the kernel writes frames straight into memory we
//! share with it, grouped in *blocks*; it hands a block to us when the block is full or after
//! a timeout (`tp_retire_blk_tov`), and we hand it back by flipping one status word. One
//! `poll()` can deliver thousands of frames without a single copy.
//!
//! ```text
//!   ring (mmap'd, block_count × block_size)
//!   ┌─ block 0 ─────────────────────────────┐┌─ block 1 ──── ...
//!   │ tpacket_block_desc: status, num_pkts, ││
//!   │   offset_to_first_pkt                 ││
//!   │ tpacket3_hdr ─tp_mac→ frame bytes     ││
//!   │   └─tp_next_offset→ tpacket3_hdr ...  ││
//!   └───────────────────────────────────────┘└──────────────
//! ```

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{fence, Ordering};
use std::time::Duration;

use thiserror::Error;

use super::filter::Instruction;
use crate::sock::poll::poll_many;

/// Each block is 256 KiB (a power-of-two number of pages, as the kernel requires), as
/// libpcap's: every block handed over is one wakeup of ours (a `poll` and two context
/// switches), and under a flood 128 KiB blocks woke synwatch twice as often for the same
/// frames (about a tenth of its CPU time then, in `make bench`).
const BLOCK_SIZE: u32 = 256 << 10;
/// 16 blocks = 4 MiB. A spoofed SYN takes about 160 bytes of ring (header + 54-byte frame,
/// 16-byte aligned), so the ring holds about 26 000 frames: over a third of a second of this
/// lab's fastest flood (35 000 SYNs/s and as many SYN-ACKs) even if we stopped reading. The
/// kernel zeroes every page of the ring when it creates it, which is not free: a 16 MiB ring
/// cost about 8% of synwatch's CPU over a 200 000-SYN flood. 4 MiB still shows 0 drops
/// there (PACKET_STATISTICS, `make bench`); tcpdump's default buffer is 2 MiB.
const BLOCK_COUNT: u32 = 16;
/// For TPACKET_V3 frames are packed with variable size; the frame size only has to divide the
/// block size and satisfy the kernel's checks.
const FRAME_SIZE: u32 = 2048;
/// A partly filled block is handed to us after this many milliseconds, so a quiet link still
/// shows its packets within a tenth of an interval (tcpdump waits up to 1000 ms). Under lab
/// 05's flood a block takes 25 to 40 ms to fill: with a 30 ms timeout about half the blocks
/// were handed over part-empty, 400 wakeups for 200 000 SYNs where 100 ms gives 260 (and
/// tcpdump 220), a tenth of synwatch's CPU (`perf stat -e context-switches`).
pub const RETIRE_BLOCK_MS: u32 = 100;

/// How big the ring is and how long a partly filled block waits. [`RingConfig::default`] is
/// synwatch's ring, sized and timed for lab 05's floods (see the constants above).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingConfig {
    /// Blocks in the ring (each [`BLOCK_SIZE`] bytes).
    pub block_count: u32,
    /// Milliseconds before the kernel hands over a block that is not full.
    pub retire_ms: u32,
}

impl Default for RingConfig {
    fn default() -> Self {
        RingConfig {
            block_count: BLOCK_COUNT,
            retire_ms: RETIRE_BLOCK_MS,
        }
    }
}

/// Where the `sockaddr_ll` sits behind each frame's `tpacket3_hdr` (48 bytes, 16-aligned).
const LINK_ADDRESS_AT: usize = (std::mem::size_of::<libc::tpacket3_hdr>() + 15) & !15;

/// Why the capture could not start or stopped.
#[derive(Debug, Error)]
pub enum CaptureError {
    #[error("capturing on {interface} needs CAP_NET_RAW")]
    NotPermitted { interface: String },
    #[error("no such interface: {interface} (see `ip link` in this namespace)")]
    NoSuchInterface { interface: String },
    #[error("{operation} on {interface}: {source}")]
    Io {
        operation: &'static str,
        interface: String,
        source: io::Error,
    },
}

/// One captured frame, borrowed from the ring until the block is handed back.
pub struct Frame<'a> {
    /// The bytes kept by the filter, starting at the Ethernet header.
    pub data: &'a [u8],
    /// The frame's length on the wire (more than `data.len()` if the filter cut it).
    pub wire_len: u32,
    /// When the kernel saw it (since the Unix epoch).
    pub timestamp: Duration,
    /// The interface it was seen on (`sll_ifindex`): with a capture on every interface the
    /// same packet may pass two of them.
    pub ifindex: i32,
    /// `sll_pkttype`: `PACKET_OUTGOING` (4) for a frame this host sent, `PACKET_HOST` (0) for
    /// one addressed to it. On the loopback interface every packet is seen twice, once leaving
    /// and once arriving; tcpdump (libpcap) keeps only the arriving copy, and so do we.
    pub packet_type: u8,
}

impl Frame<'_> {
    /// True for a frame this host sent.
    pub fn outgoing(&self) -> bool {
        self.packet_type == libc::PACKET_OUTGOING
    }
}

/// Counters the kernel keeps for this socket since the last read (reading resets them).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SocketStatistics {
    /// Frames that passed the filter.
    pub packets: u64,
    /// Frames that passed the filter but found no room in the ring.
    pub drops: u64,
}

/// An open capture: the socket and its mapped ring.
pub struct Capture {
    socket: OwnedFd,
    interface: String,
    ring: *mut u8,
    ring_len: usize,
    block_count: usize,
    next_block: usize,
}

// SAFETY: the mapping belongs to this value alone (nothing else holds the pointer), so moving
// the capture to another thread (wirelab-tcp's recorder thread) moves the whole ring with it.
unsafe impl Send for Capture {}

impl Capture {
    /// Open a capture on `interface` with `filter` attached and synwatch's ring. The filter is
    /// attached before the socket is bound to a protocol, so not a single unfiltered frame
    /// reaches the ring.
    pub fn open(interface: &str, filter: &[Instruction]) -> Result<Capture, CaptureError> {
        Capture::open_with(Some(interface), filter, RingConfig::default())
    }

    /// Open a capture on `interface`, or on every interface of this namespace (`None`, as
    /// `tcpdump -i any`), with `filter` attached and a ring sized by `config`. Every interface
    /// of a lab node (veth, bridge port, loopback) carries an Ethernet header, which the
    /// filter's offsets assume; a frame from a device without one (a tunnel) simply fails the
    /// filter.
    pub fn open_with(
        interface: Option<&str>,
        filter: &[Instruction],
        config: RingConfig,
    ) -> Result<Capture, CaptureError> {
        let label = interface.unwrap_or("any");
        Capture::open_on(interface, label, filter, config)
    }

    fn open_on(
        interface: Option<&str>,
        label: &str,
        filter: &[Instruction],
        config: RingConfig,
    ) -> Result<Capture, CaptureError> {
        let block_count = config.block_count.max(1);
        let io_error = |operation: &'static str| {
            let source = io::Error::last_os_error();
            if source.raw_os_error() == Some(libc::EPERM) {
                CaptureError::NotPermitted {
                    interface: label.to_string(),
                }
            } else {
                CaptureError::Io {
                    operation,
                    interface: label.to_string(),
                    source,
                }
            }
        };
        // Index 0 binds to every interface.
        let ifindex = match interface {
            None => 0,
            Some(interface) => {
                let name = CString::new(interface).map_err(|_| CaptureError::NoSuchInterface {
                    interface: interface.to_string(),
                })?;
                // SAFETY: `name` is a valid NUL-terminated string.
                let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
                if ifindex == 0 {
                    return Err(CaptureError::NoSuchInterface {
                        interface: interface.to_string(),
                    });
                }
                ifindex
            }
        };

        // Protocol 0: the socket receives nothing until `bind` names a protocol below.
        // SAFETY: plain system call; the result is checked.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io_error("socket(AF_PACKET)"));
        }
        // SAFETY: `fd` is a fresh descriptor we own.
        let socket = unsafe { OwnedFd::from_raw_fd(fd) };

        let mut program: Vec<libc::sock_filter> = filter
            .iter()
            .map(|i| libc::sock_filter {
                code: i.code,
                jt: i.jt,
                jf: i.jf,
                k: i.k,
            })
            .collect();
        let fprog = libc::sock_fprog {
            len: u16::try_from(program.len()).unwrap_or(u16::MAX),
            filter: program.as_mut_ptr(),
        };
        setsockopt(&socket, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog)
            .map_err(|_| io_error("attaching the BPF filter (SO_ATTACH_FILTER)"))?;

        let version = libc::tpacket_versions::TPACKET_V3 as libc::c_int;
        setsockopt(&socket, libc::SOL_PACKET, libc::PACKET_VERSION, &version)
            .map_err(|_| io_error("choosing TPACKET_V3 (PACKET_VERSION)"))?;

        let request = libc::tpacket_req3 {
            tp_block_size: BLOCK_SIZE,
            tp_block_nr: block_count,
            tp_frame_size: FRAME_SIZE,
            tp_frame_nr: BLOCK_SIZE / FRAME_SIZE * block_count,
            tp_retire_blk_tov: config.retire_ms.max(1),
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        setsockopt(&socket, libc::SOL_PACKET, libc::PACKET_RX_RING, &request)
            .map_err(|_| io_error("creating the receive ring (PACKET_RX_RING)"))?;

        let ring_len = (BLOCK_SIZE as usize) * (block_count as usize);
        // SAFETY: maps the ring the kernel just allocated for this socket; checked below.
        let ring = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                ring_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                socket.as_raw_fd(),
                0,
            )
        };
        if ring == libc::MAP_FAILED {
            return Err(io_error("mapping the receive ring (mmap)"));
        }
        let capture = Capture {
            socket,
            interface: label.to_string(),
            ring: ring.cast(),
            ring_len,
            block_count: block_count as usize,
            next_block: 0,
        };

        // Now start receiving: every protocol, on this interface (or all of them).
        // SAFETY: zeroed sockaddr_ll is a valid starting value.
        let mut address: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        address.sll_family = libc::AF_PACKET as u16;
        address.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        address.sll_ifindex = ifindex as i32;
        // SAFETY: `address` is a valid sockaddr_ll of the given length.
        let bound = unsafe {
            libc::bind(
                capture.socket.as_raw_fd(),
                (&address as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if bound < 0 {
            return Err(io_error("bind(AF_PACKET)"));
        }
        Ok(capture)
    }

    /// Wait until the kernel hands us a block, a signal arrives, or `timeout` passes.
    pub fn wait(&self, timeout: Duration) -> Result<(), CaptureError> {
        if self.block_ready(self.next_block) {
            return Ok(());
        }
        // ppoll(2) with the exact timeout (`lib/sock/poll.rs`), not poll(2): poll's whole
        // milliseconds turn the last fraction of a millisecond before an interval ends into
        // 0, and the loop would spin there, about 800 empty polls an interval (a sixth of
        // synwatch's CPU over a flood, `perf stat -e syscalls:sys_enter_poll`). A signal
        // (Ctrl-C) ends the wait with nothing ready; the caller checks its flag.
        poll_many(&[self.socket.as_fd()], libc::POLLIN, timeout)
            .map(|_| ())
            .map_err(|source| CaptureError::Io {
                operation: "poll",
                interface: self.interface.clone(),
                source,
            })
    }

    fn block(&self, index: usize) -> *mut libc::tpacket_block_desc {
        // SAFETY: index < block_count, so the offset stays inside the mapping.
        unsafe { self.ring.add(index * BLOCK_SIZE as usize).cast() }
    }

    fn block_ready(&self, index: usize) -> bool {
        let block = self.block(index);
        // SAFETY: the descriptor lies at the start of a block inside our mapping; the kernel
        // writes it concurrently, hence the volatile read.
        let status = unsafe { std::ptr::addr_of!((*block).hdr.bh1.block_status).read_volatile() };
        status & libc::TP_STATUS_USER != 0
    }

    /// Hand every frame in every block the kernel has given us to `each`, then give the
    /// blocks back. Returns the number of frames.
    pub fn drain(&mut self, mut each: impl FnMut(Frame<'_>)) -> u64 {
        let mut frames = 0;
        while self.block_ready(self.next_block) {
            // Read the block's contents only after seeing its status (pairs with the kernel's
            // write barrier before it sets TP_STATUS_USER).
            fence(Ordering::Acquire);
            let block = self.block(self.next_block);
            let base: *const u8 = block.cast();
            // SAFETY: the block is ours until we write TP_STATUS_KERNEL back.
            let header = unsafe { std::ptr::addr_of!((*block).hdr.bh1).read() };
            let block_size = BLOCK_SIZE as usize;
            let mut offset = header.offset_to_first_pkt as usize;
            for _ in 0..header.num_pkts {
                let header_size = std::mem::size_of::<libc::tpacket3_hdr>();
                if offset + header_size > block_size {
                    break;
                }
                // SAFETY: bounds checked just above; packets are 16-byte aligned in the block.
                let packet = unsafe { base.add(offset).cast::<libc::tpacket3_hdr>().read() };
                let start = offset + usize::from(packet.tp_mac);
                let end = start + packet.tp_snaplen as usize;
                if end > block_size {
                    break;
                }
                // SAFETY: [start, end) lies inside this block (checked above).
                let data = unsafe { std::slice::from_raw_parts(base.add(start), end - start) };
                // The sockaddr_ll follows the header at TPACKET_ALIGN(sizeof(tpacket3_hdr)).
                let (ifindex, packet_type) = if offset + LINK_ADDRESS_AT + 12 <= block_size {
                    // SAFETY: bounds checked just above; sockaddr_ll is 4-byte aligned here.
                    let link = unsafe {
                        base.add(offset + LINK_ADDRESS_AT)
                            .cast::<libc::sockaddr_ll>()
                            .read_unaligned()
                    };
                    (link.sll_ifindex, link.sll_pkttype)
                } else {
                    (0, 0)
                };
                each(Frame {
                    data,
                    wire_len: packet.tp_len,
                    timestamp: Duration::new(u64::from(packet.tp_sec), packet.tp_nsec),
                    ifindex,
                    packet_type,
                });
                frames += 1;
                if packet.tp_next_offset == 0 {
                    break;
                }
                offset += packet.tp_next_offset as usize;
            }
            // Give the block back; our reads above must be done before the kernel reuses it.
            fence(Ordering::Release);
            // SAFETY: as in block_ready.
            unsafe {
                std::ptr::addr_of_mut!((*block).hdr.bh1.block_status)
                    .write_volatile(libc::TP_STATUS_KERNEL);
            }
            self.next_block = (self.next_block + 1) % self.block_count;
        }
        frames
    }

    /// Read (and reset) the kernel's counters for this socket.
    pub fn statistics(&self) -> Result<SocketStatistics, CaptureError> {
        let mut stats = libc::tpacket_stats_v3 {
            tp_packets: 0,
            tp_drops: 0,
            tp_freeze_q_cnt: 0,
        };
        let mut len = std::mem::size_of::<libc::tpacket_stats_v3>() as libc::socklen_t;
        // SAFETY: `stats` and `len` describe a valid buffer.
        let result = unsafe {
            libc::getsockopt(
                self.socket.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&mut stats as *mut libc::tpacket_stats_v3).cast(),
                &mut len,
            )
        };
        if result < 0 {
            return Err(CaptureError::Io {
                operation: "reading PACKET_STATISTICS",
                interface: self.interface.clone(),
                source: io::Error::last_os_error(),
            });
        }
        Ok(SocketStatistics {
            packets: u64::from(stats.tp_packets),
            drops: u64::from(stats.tp_drops),
        })
    }
}

impl AsFd for Capture {
    /// The socket, for callers that wait on it together with other descriptors.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the region mmap returned; the socket closes afterwards.
        unsafe {
            libc::munmap(self.ring.cast(), self.ring_len);
        }
    }
}

fn setsockopt<T>(
    socket: &OwnedFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: `value` points to a live T of the given size.
    let result = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if result < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

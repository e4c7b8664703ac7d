//! NFQUEUE over plain netlink (link impairment; labs 04 and 05 through their delays and holds):
//! how a userspace program takes packets out of the kernel's path, keeps them as long as it
//! likes and hands back a verdict.
//!
//! An `iptables ... -j NFQUEUE --queue-num N` rule parks each packet it matches in kernel
//! queue N (one set of queues per network namespace) and sends a copy of its first bytes to
//! the program bound to that queue, over a `NETLINK_NETFILTER` socket. The packet waits in the
//! kernel until the program answers with a verdict for its id: ACCEPT (it continues through
//! the remaining hooks, as if never stopped) or DROP. Nothing forces the answers to come in
//! order or soon, which is all a delay line or a reordering needs. With no program bound,
//! queued packets are dropped (we never ask for `--queue-bypass`: a dead daemon must not let
//! packets through unimpaired without anyone noticing).
//!
//! Every message is an `nlmsghdr` (netlink(7)), then an `nfgenmsg` (family, version, and the
//! queue number as `res_id`), then attributes (type-length-value, 4-byte aligned). The kernel's
//! side is net/netfilter/nfnetlink_queue.c; the constants below come from
//! include/uapi/linux/netfilter/nfnetlink_queue.h.
//!
//! Why not the `nfq` crate: it keeps its socket private, so the daemon could not wait on
//! "a packet arrived *or* the next held packet is due" in one `ppoll`; and it cannot send a
//! batch verdict, which is what lets an unimpaired fast path keep up with 150k packets/s.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use crate::sock::control::set_int;

/// NFNL_SUBSYS_QUEUE: the subsystem number in the high byte of nlmsg_type.
const SUBSYS_QUEUE: u16 = 3;
const MSG_PACKET: u16 = 0;
const MSG_VERDICT: u16 = 1;
const MSG_CONFIG: u16 = 2;
const MSG_VERDICT_BATCH: u16 = 3;

// Attributes of a config message.
const CFG_CMD: u16 = 1;
const CFG_PARAMS: u16 = 2;
const CFG_QUEUE_MAXLEN: u16 = 3;
const CFG_MASK: u16 = 4;
const CFG_FLAGS: u16 = 5;
const CMD_BIND: u8 = 1;
/// Copy the packet itself (not only its metadata), up to copy_range bytes.
const COPY_PACKET: u8 = 2;
/// NFQA_CFG_F_GSO: hand over a GSO super-packet whole instead of segmenting it first.
pub const FLAG_GSO: u32 = 4;

// Attributes of a packet message, and of a verdict.
const ATTR_PACKET_HDR: u16 = 1;
const ATTR_VERDICT_HDR: u16 = 2;
const ATTR_PAYLOAD: u16 = 10;

pub const NF_DROP: u32 = 0;
pub const NF_ACCEPT: u32 = 1;

const NLMSG_HDRLEN: usize = 16;
const NFGEN_LEN: usize = 4;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLMSG_ERROR: u16 = 2;

/// A packet the kernel is holding for us: its id (for the verdict) and the bytes it copied.
#[derive(Debug, Clone)]
pub struct Queued {
    pub id: u32,
    /// The packet from its IP header on, at most the copy range long.
    pub payload: Vec<u8>,
}

/// One bound queue.
pub struct NfQueue {
    socket: OwnedFd,
    queue: u16,
    seq: u32,
    /// `slots` receive buffers of `slot` bytes each, side by side: one netlink message (one
    /// packet) lands in each, several per recvmmsg(2) call.
    buffer: Vec<u8>,
    slot: usize,
    slots: usize,
}

fn align4(len: usize) -> usize {
    (len + 3) & !3
}

/// Appends netlink attributes to a message being built.
struct Message {
    bytes: Vec<u8>,
}

impl Message {
    fn new(kind: u16, flags: u16, seq: u32, queue: u16) -> Message {
        let mut bytes = Vec::with_capacity(64);
        bytes.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_len, set in finish()
        bytes.extend_from_slice(&((SUBSYS_QUEUE << 8) | kind).to_ne_bytes());
        bytes.extend_from_slice(&flags.to_ne_bytes());
        bytes.extend_from_slice(&seq.to_ne_bytes());
        bytes.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid: 0 = to the kernel
                                                      // nfgenmsg: family AF_UNSPEC, NFNETLINK_V0, queue number in network byte order.
        bytes.extend_from_slice(&[0, 0]);
        bytes.extend_from_slice(&queue.to_be_bytes());
        Message { bytes }
    }

    fn attr(&mut self, kind: u16, value: &[u8]) -> &mut Message {
        let len = 4 + value.len();
        self.bytes.extend_from_slice(&(len as u16).to_ne_bytes());
        self.bytes.extend_from_slice(&kind.to_ne_bytes());
        self.bytes.extend_from_slice(value);
        self.bytes.resize(align4(self.bytes.len()), 0);
        self
    }

    fn finish(&mut self) -> &[u8] {
        let len = self.bytes.len() as u32;
        self.bytes[0..4].copy_from_slice(&len.to_ne_bytes());
        &self.bytes
    }
}

impl NfQueue {
    /// Open a netlink socket and bind queue `queue` of the current network namespace.
    /// `copy_range` bytes of each packet are copied to us (its headers are enough unless we
    /// must send a copy of the whole packet); the kernel holds at most `max_len` packets.
    pub fn bind(queue: u16, copy_range: u32, max_len: u32, flags: u32) -> io::Result<NfQueue> {
        // SAFETY: plain socket(2) call; the result is checked before use.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_NETFILTER,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor we own.
        let socket = unsafe { OwnedFd::from_raw_fd(fd) };
        // A large receive buffer absorbs bursts; as root SO_RCVBUFFORCE passes rmem_max. Lost
        // notifications are not silent: the kernel counts them (/proc/net/netfilter/
        // nfnetlink_queue) and drops those packets, as it would for a full queue.
        let _ = set_int(&socket, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, 8 << 20);
        let _ = set_int(&socket, libc::SOL_NETLINK, libc::NETLINK_NO_ENOBUFS, 1);
        // SAFETY: sockaddr_nl is plain data; zeroed means "kernel picks our port id".
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: addr is a valid sockaddr_nl of the given size.
        let bound = unsafe {
            libc::bind(
                fd,
                (&addr as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if bound < 0 {
            return Err(io::Error::last_os_error());
        }
        // Room for the copied bytes plus the message's headers and other attributes; many
        // small slots when only headers come up, a few large ones for whole packets.
        let slot = copy_range as usize + 1024;
        let slots = if copy_range > 4096 { 4 } else { 64 };
        let mut nfq = NfQueue {
            socket,
            queue,
            seq: 0,
            buffer: vec![0; slot * slots],
            slot,
            slots,
        };
        // Bind: from now on packets in queue N come to this socket. (EBUSY: another program
        // already has it.)
        nfq.config(|m| m.attr(CFG_CMD, &[CMD_BIND, 0, 0, 0]))?;
        let mut params = copy_range.to_be_bytes().to_vec();
        params.push(COPY_PACKET);
        nfq.config(|m| m.attr(CFG_PARAMS, &params))?;
        nfq.config(|m| m.attr(CFG_QUEUE_MAXLEN, &max_len.to_be_bytes()))?;
        nfq.config(|m| {
            m.attr(CFG_MASK, &FLAG_GSO.to_be_bytes())
                .attr(CFG_FLAGS, &(flags & FLAG_GSO).to_be_bytes())
        })?;
        Ok(nfq)
    }

    /// Send one config message and wait for the kernel's acknowledgement.
    fn config(&mut self, build: impl FnOnce(&mut Message) -> &mut Message) -> io::Result<()> {
        self.seq += 1;
        let mut message = Message::new(MSG_CONFIG, NLM_F_REQUEST | NLM_F_ACK, self.seq, self.queue);
        build(&mut message);
        self.send(message.finish())?;
        loop {
            let len = self.recv_raw(true)?;
            let mut offset = 0;
            while let Some((kind, body, next)) = next_message(&self.buffer[..len], offset) {
                offset = next;
                if kind == NLMSG_ERROR && body.len() >= 4 {
                    let errno = i32::from_ne_bytes([body[0], body[1], body[2], body[3]]);
                    return if errno == 0 {
                        Ok(())
                    } else {
                        Err(io::Error::from_raw_os_error(-errno))
                    };
                }
            }
        }
    }

    fn send(&self, bytes: &[u8]) -> io::Result<()> {
        // SAFETY: bytes is a valid buffer; the socket is connected to the kernel by default.
        let sent = unsafe {
            libc::send(
                self.socket.as_raw_fd(),
                bytes.as_ptr().cast(),
                bytes.len(),
                0,
            )
        };
        if sent < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    fn recv_raw(&mut self, block: bool) -> io::Result<usize> {
        let flags = if block { 0 } else { libc::MSG_DONTWAIT };
        // SAFETY: buffer is valid for its length.
        let len = unsafe {
            libc::recv(
                self.socket.as_raw_fd(),
                self.buffer.as_mut_ptr().cast(),
                self.buffer.len(),
                flags,
            )
        };
        if len < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(len as usize)
        }
    }

    /// Packets waiting now (none if none): never blocks. At most `max` per call (rounded up
    /// to a whole batch). One recvmmsg(2) takes up to `slots` packets: at 150k packets a
    /// second, one system call a packet would be most of the daemon's work.
    pub fn receive(&mut self, max: usize, into: &mut Vec<Queued>) -> io::Result<()> {
        let slot = self.slot;
        while into.len() < max {
            let mut iovecs: Vec<libc::iovec> = self
                .buffer
                .chunks_mut(slot)
                .map(|chunk| libc::iovec {
                    iov_base: chunk.as_mut_ptr().cast(),
                    iov_len: chunk.len(),
                })
                .collect();
            let mut headers: Vec<libc::mmsghdr> = iovecs
                .iter_mut()
                .map(|iovec| {
                    // SAFETY: mmsghdr is plain data; zeroed is "no address, no control data".
                    let mut header: libc::mmsghdr = unsafe { std::mem::zeroed() };
                    header.msg_hdr.msg_iov = iovec;
                    header.msg_hdr.msg_iovlen = 1;
                    header
                })
                .collect();
            // SAFETY: every header points at one iovec, which points into self.buffer; all of
            // them outlive the call.
            let count = unsafe {
                libc::recvmmsg(
                    self.socket.as_raw_fd(),
                    headers.as_mut_ptr(),
                    headers.len() as libc::c_uint,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if count < 0 {
                let err = io::Error::last_os_error();
                return match err.raw_os_error() {
                    Some(libc::EAGAIN) | Some(libc::EINTR) => Ok(()),
                    _ => Err(err),
                };
            }
            let count = count as usize;
            for (index, header) in headers.iter().take(count).enumerate() {
                let len = (header.msg_len as usize).min(slot);
                let message = &self.buffer[index * slot..index * slot + len];
                let mut offset = 0;
                while let Some((kind, body, next)) = next_message(message, offset) {
                    offset = next;
                    if kind == (SUBSYS_QUEUE << 8) | MSG_PACKET {
                        if let Some(packet) = parse_packet(body) {
                            into.push(packet);
                        }
                    }
                }
            }
            if count < self.slots {
                return Ok(()); // drained
            }
        }
        Ok(())
    }

    /// Give the kernel our verdict on one packet.
    pub fn verdict(&mut self, id: u32, verdict: u32) -> io::Result<()> {
        self.verdict_message(MSG_VERDICT, id, verdict)
    }

    /// One verdict for every packet still waiting whose id is `id` or lower: valid only when
    /// we hold none of them back (ids rise in arrival order).
    pub fn verdict_up_to(&mut self, id: u32, verdict: u32) -> io::Result<()> {
        self.verdict_message(MSG_VERDICT_BATCH, id, verdict)
    }

    fn verdict_message(&mut self, kind: u16, id: u32, verdict: u32) -> io::Result<()> {
        let mut message = Message::new(kind, NLM_F_REQUEST, 0, self.queue);
        let mut header = verdict.to_be_bytes().to_vec();
        header.extend_from_slice(&id.to_be_bytes());
        message.attr(ATTR_VERDICT_HDR, &header);
        self.send(message.finish())
    }
}

impl AsFd for NfQueue {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

/// The netlink message starting at `offset`: (type, body after the nlmsghdr, next offset).
fn next_message(buffer: &[u8], offset: usize) -> Option<(u16, &[u8], usize)> {
    let header = buffer.get(offset..offset + NLMSG_HDRLEN)?;
    let len = u32::from_ne_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let kind = u16::from_ne_bytes([header[4], header[5]]);
    if len < NLMSG_HDRLEN {
        return None;
    }
    let body = buffer.get(offset + NLMSG_HDRLEN..offset + len)?;
    Some((kind, body, offset + align4(len)))
}

/// A packet message's id and payload, from its attributes (after the 4-byte nfgenmsg).
fn parse_packet(body: &[u8]) -> Option<Queued> {
    let mut offset = NFGEN_LEN;
    let mut id = None;
    let mut payload = Vec::new();
    while let Some(header) = body.get(offset..offset + 4) {
        let len = u16::from_ne_bytes([header[0], header[1]]) as usize;
        // The top two bits flag nested and byte-order attributes; the rest is the type.
        let kind = u16::from_ne_bytes([header[2], header[3]]) & 0x3fff;
        if len < 4 {
            break;
        }
        let value = body.get(offset + 4..offset + len)?;
        match kind {
            // nfqnl_msg_packet_hdr: packet_id (be32), hw_protocol (be16), hook (u8).
            ATTR_PACKET_HDR if value.len() >= 4 => {
                id = Some(u32::from_be_bytes([value[0], value[1], value[2], value[3]]));
            }
            ATTR_PAYLOAD => payload = value.to_vec(),
            _ => {}
        }
        offset += align4(len);
    }
    Some(Queued { id: id?, payload })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_message_is_laid_out_as_the_kernel_reads_it() {
        let mut message = Message::new(MSG_VERDICT, NLM_F_REQUEST, 7, 5);
        let mut header = NF_ACCEPT.to_be_bytes().to_vec();
        header.extend_from_slice(&42u32.to_be_bytes());
        message.attr(ATTR_VERDICT_HDR, &header);
        let bytes = message.finish().to_vec();
        assert_eq!(bytes.len(), 16 + 4 + 4 + 8);
        assert_eq!(u32::from_ne_bytes(bytes[0..4].try_into().unwrap()), 32);
        assert_eq!(u16::from_ne_bytes([bytes[4], bytes[5]]), 0x0301);
        assert_eq!(&bytes[18..20], &[0, 5]); // queue 5, network byte order
        assert_eq!(&bytes[24..28], &[0, 0, 0, 1]); // NF_ACCEPT
        assert_eq!(&bytes[28..32], &[0, 0, 0, 42]);
    }

    #[test]
    fn packet_message_gives_id_and_payload_and_survives_truncation() {
        // nfgenmsg, then NFQA_PACKET_HDR (id 9, IPv4, hook 0), then a 3-byte payload.
        let mut body = vec![0, 0, 0, 3];
        body.extend_from_slice(&[11, 0, 1, 0, 0, 0, 0, 9, 8, 0, 0, 0]);
        body.extend_from_slice(&[7, 0, 10, 0, 0x45, 0, 0, 0]);
        let packet = parse_packet(&body).expect("parsed");
        assert_eq!(packet.id, 9);
        assert_eq!(packet.payload, [0x45, 0, 0]);
        assert!(parse_packet(&body[..6]).is_none());
        assert!(next_message(&[1, 2, 3], 0).is_none());
    }
}

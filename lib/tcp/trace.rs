//! Every TCP state change the moment the kernel makes it (labs 06, 07): the
//! `sock:inet_sock_set_state` tracepoint, read through `perf_event_open(2)`.
//!
//! Polling the socket table (sock_diag, what `ss` does) sees a state only if it lasts until
//! the next poll; on a lab link a FIN-WAIT-1 or a SYN-SENT lasts some tens of microseconds. The
//! kernel calls this tracepoint from `inet_sk_set_state()` on every change, with the old and
//! new state and the socket's addresses, so nothing is missed and each change has the exact
//! time. Two gaps remain, and the recorder fills both from sock_diag:
//! - **TIME_WAIT is never reported.** A connection in TIME_WAIT is a small separate object
//!   (`inet_timewait_sock`); the full socket it replaces reports a change to CLOSE instead
//!   (`tcp_time_wait()` then `tcp_done()`), and the timewait object's own end is silent.
//! - **The tracepoint is global**, not per network namespace: it also reports the connections
//!   of other namespaces, which may have the very same addresses (every lab uses 10.0.x.y). The
//!   recorder takes a change into account only once the same four-tuple is seen in its own
//!   namespace (on its capture or in its socket table).
//! - **connect() changes the state before it picks the source port**, so CLOSE → SYN_SENT
//!   arrives with source port 0 unless the socket was bound first (wirelab-tcp's own `send`
//!   binds first); for other programs the recorder dates SYN-SENT from the captured SYN.
//!
//! How it is read: the tracepoint's id and field layout come from tracefs
//! (`events/sock/inet_sock_set_state/{id,format}`); one perf event per CPU samples every hit
//! with its time and raw record into a ring buffer shared with us (`perf_event_mmap_page`).
//! Nothing is left behind: the events end with our descriptors, unlike a tracefs instance
//! directory. It needs root (CAP_PERFMON and a readable tracefs); when tracefs is not mounted
//! we mount it in a private mount namespace of our own ([`prepare`]), which no other process
//! sees and which ends with us.

use std::fs;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{fence, Ordering};
use std::time::Duration;

use thiserror::Error;

use crate::sock::poll::poll_many;

const EVENT_DIR: &str = "events/sock/inet_sock_set_state";
const TRACEFS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// Why the tracepoint cannot be read.
#[derive(Debug, Error)]
pub enum TraceError {
    #[error("tracefs is not mounted and could not be mounted (needs root)")]
    NoTracefs,
    #[error("reading {path}: {source}")]
    Format { path: PathBuf, source: io::Error },
    #[error("the tracepoint's format lacks field {0}")]
    MissingField(&'static str),
    #[error("perf_event_open on CPU {cpu}: {source} (needs root or CAP_PERFMON)")]
    Open { cpu: u32, source: io::Error },
    #[error("mapping the perf ring of CPU {cpu}: {source}")]
    Map { cpu: u32, source: io::Error },
}

/// One state change as the kernel reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateChange {
    /// Wall-clock time (since the Unix epoch), on the capture's clock.
    pub time: Duration,
    /// Kernel state numbers (`include/net/tcp_states.h`).
    pub old: u32,
    pub new: u32,
    /// The socket's own address and its peer's.
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

/// Mount tracefs where it is missing, in a mount namespace of this process alone. Call it
/// first thing in `main`, before any thread starts: `unshare(CLONE_NEWNS)` moves only the
/// calling thread. Returns whether the tracepoint's files can now be found.
pub fn prepare() -> bool {
    if tracefs().is_some() {
        return true;
    }
    // SAFETY: plain system calls with valid C strings; each result is checked.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            return false;
        }
        // Make every mount private first, so our tracefs mount never propagates back to the
        // namespace we came from (systemd makes / shared).
        let root = c"/";
        if libc::mount(
            std::ptr::null(),
            root.as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) != 0
        {
            return false;
        }
        let source = c"tracefs";
        let target = c"/sys/kernel/tracing";
        if libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            source.as_ptr(),
            0,
            std::ptr::null(),
        ) != 0
        {
            return false;
        }
    }
    tracefs().is_some()
}

fn tracefs() -> Option<PathBuf> {
    TRACEFS
        .iter()
        .map(PathBuf::from)
        .find(|dir| dir.join(EVENT_DIR).join("id").is_file())
}

/// Where each field sits in the tracepoint's raw record (from its `format` file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub oldstate: usize,
    pub newstate: usize,
    pub sport: usize,
    pub dport: usize,
    pub family: usize,
    pub protocol: usize,
    pub saddr: usize,
    pub daddr: usize,
    pub saddr_v6: usize,
    pub daddr_v6: usize,
}

impl Layout {
    /// Read the offsets from a tracefs `format` file:
    /// `field:int oldstate; offset:16; size:4; signed:1;`
    pub fn parse(format: &str) -> Result<Layout, TraceError> {
        let offset_of = |wanted: &'static str| -> Result<usize, TraceError> {
            format
                .lines()
                .filter_map(|line| {
                    let mut parts = line.trim().split(';');
                    let declaration = parts.next()?.strip_prefix("field:")?;
                    let name = declaration.split_whitespace().last()?;
                    let name = name.split('[').next()?;
                    let offset = parts
                        .find_map(|part| part.trim().strip_prefix("offset:"))?
                        .parse::<usize>()
                        .ok()?;
                    Some((name.to_string(), offset))
                })
                .find(|(name, _)| name == wanted)
                .map(|(_, offset)| offset)
                .ok_or(TraceError::MissingField(wanted))
        };
        Ok(Layout {
            oldstate: offset_of("oldstate")?,
            newstate: offset_of("newstate")?,
            sport: offset_of("sport")?,
            dport: offset_of("dport")?,
            family: offset_of("family")?,
            protocol: offset_of("protocol")?,
            saddr: offset_of("saddr")?,
            daddr: offset_of("daddr")?,
            saddr_v6: offset_of("saddr_v6")?,
            daddr_v6: offset_of("daddr_v6")?,
        })
    }

    /// Decode one raw record; `None` for another protocol or a record too short.
    pub fn decode(&self, raw: &[u8], time: Duration) -> Option<StateChange> {
        let u16_at = |at: usize| {
            raw.get(at..at + 2)
                .map(|b| u16::from_ne_bytes([b[0], b[1]]))
        };
        let i32_at = |at: usize| {
            raw.get(at..at + 4)
                .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        };
        if u16_at(self.protocol)? != libc::IPPROTO_TCP as u16 {
            return None;
        }
        let family = i32::from(u16_at(self.family)?);
        let address = |v4: usize, v6: usize| -> Option<IpAddr> {
            if family == libc::AF_INET6 {
                let bytes: [u8; 16] = raw.get(v6..v6 + 16)?.try_into().ok()?;
                let address = Ipv6Addr::from(bytes);
                // A v4 connection on a dual-stack socket: report it as IPv4, as the capture does.
                Some(match address.to_ipv4_mapped() {
                    Some(v4) => IpAddr::V4(v4),
                    None => IpAddr::V6(address),
                })
            } else if family == libc::AF_INET {
                let bytes: [u8; 4] = raw.get(v4..v4 + 4)?.try_into().ok()?;
                Some(IpAddr::V4(Ipv4Addr::from(bytes)))
            } else {
                None
            }
        };
        // The ports are stored in host order by the tracepoint (`ntohs(inet->inet_sport)`).
        Some(StateChange {
            time,
            old: u32::try_from(i32_at(self.oldstate)?).ok()?,
            new: u32::try_from(i32_at(self.newstate)?).ok()?,
            local: SocketAddr::new(address(self.saddr, self.saddr_v6)?, u16_at(self.sport)?),
            remote: SocketAddr::new(address(self.daddr, self.daddr_v6)?, u16_at(self.dport)?),
        })
    }
}

/// `perf_event_attr` (`include/uapi/linux/perf_event.h`), written byte by byte at these
/// offsets; 112 bytes is `PERF_ATTR_SIZE_VER5`, which every kernel since 4.1 accepts.
mod attr {
    pub const SIZE: usize = 112;
    pub const TYPE: usize = 0;
    pub const SIZE_FIELD: usize = 4;
    pub const CONFIG: usize = 8;
    pub const SAMPLE_PERIOD: usize = 16;
    pub const SAMPLE_TYPE: usize = 24;
    pub const FLAGS: usize = 40;
    pub const WAKEUP_EVENTS: usize = 48;
    pub const CLOCKID: usize = 92;
    pub const PERF_TYPE_TRACEPOINT: u32 = 2;
    pub const PERF_SAMPLE_TIME: u64 = 1 << 2;
    pub const PERF_SAMPLE_RAW: u64 = 1 << 10;
    /// Flag bit `use_clockid`: sample times on `clockid` instead of the perf clock.
    pub const USE_CLOCKID: u64 = 1 << 25;
}

/// Offsets in `struct perf_event_mmap_page`, the first page of each ring.
mod page {
    pub const DATA_HEAD: usize = 1024;
    pub const DATA_TAIL: usize = 1032;
}
/// `perf_event_open` flag: the descriptor closes on exec.
const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 1 << 3;
const PERF_RECORD_LOST: u32 = 2;
const PERF_RECORD_SAMPLE: u32 = 9;
/// Pages of data per CPU ring (a power of two): 32 KiB, about 300 state changes.
const DATA_PAGES: usize = 8;

struct CpuRing {
    fd: OwnedFd,
    base: *mut u8,
    len: usize,
    page_size: usize,
}

impl Drop for CpuRing {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly what mmap returned.
        unsafe {
            libc::munmap(self.base.cast(), self.len);
        }
    }
}

/// The tracepoint, open on every CPU.
pub struct StateTrace {
    rings: Vec<CpuRing>,
    layout: Layout,
    /// Wall clock minus CLOCK_MONOTONIC, in ns: samples carry monotonic times (the only clock
    /// every tracepoint may use), captured frames carry wall-clock times.
    offset_ns: i128,
    /// Samples the kernel dropped because a ring was full.
    pub lost: u64,
    scratch: Vec<u8>,
}

// SAFETY: the mappings belong to this value alone; moving it to the recorder thread moves them.
unsafe impl Send for StateTrace {}

impl StateTrace {
    /// Open the tracepoint on every online CPU. Call [`prepare`] first (in `main`).
    pub fn open() -> Result<StateTrace, TraceError> {
        let dir = tracefs().ok_or(TraceError::NoTracefs)?.join(EVENT_DIR);
        let read = |name: &str| {
            let path = dir.join(name);
            fs::read_to_string(&path).map_err(|source| TraceError::Format { path, source })
        };
        let id: u64 = read("id")?.trim().parse().map_err(|_| TraceError::Format {
            path: dir.join("id"),
            source: io::Error::new(io::ErrorKind::InvalidData, "not a number"),
        })?;
        let layout = Layout::parse(&read("format")?)?;

        let mut bytes = [0u8; attr::SIZE];
        let mut put = |at: usize, value: &[u8]| bytes[at..at + value.len()].copy_from_slice(value);
        put(attr::TYPE, &attr::PERF_TYPE_TRACEPOINT.to_ne_bytes());
        put(attr::SIZE_FIELD, &(attr::SIZE as u32).to_ne_bytes());
        put(attr::CONFIG, &id.to_ne_bytes());
        put(attr::SAMPLE_PERIOD, &1u64.to_ne_bytes());
        put(
            attr::SAMPLE_TYPE,
            &(attr::PERF_SAMPLE_TIME | attr::PERF_SAMPLE_RAW).to_ne_bytes(),
        );
        put(attr::FLAGS, &attr::USE_CLOCKID.to_ne_bytes());
        put(attr::WAKEUP_EVENTS, &1u32.to_ne_bytes());
        put(attr::CLOCKID, &libc::CLOCK_MONOTONIC.to_ne_bytes());

        // SAFETY: sysconf has no preconditions.
        let page_size = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) })
            .unwrap_or(4096)
            .max(4096);
        let mut rings = Vec::new();
        for cpu in online_cpus() {
            // SAFETY: `bytes` is a valid perf_event_attr of the size it states.
            let fd = unsafe {
                libc::syscall(
                    libc::SYS_perf_event_open,
                    bytes.as_ptr(),
                    -1 as libc::pid_t,
                    cpu as libc::c_int,
                    -1 as libc::c_int,
                    PERF_FLAG_FD_CLOEXEC,
                )
            };
            if fd < 0 {
                return Err(TraceError::Open {
                    cpu,
                    source: io::Error::last_os_error(),
                });
            }
            // SAFETY: a fresh descriptor we own.
            let fd = unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) };
            let len = page_size * (1 + DATA_PAGES);
            // SAFETY: maps the ring the kernel allocates for this event; checked below.
            let base = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED,
                    fd.as_raw_fd(),
                    0,
                )
            };
            if base == libc::MAP_FAILED {
                return Err(TraceError::Map {
                    cpu,
                    source: io::Error::last_os_error(),
                });
            }
            rings.push(CpuRing {
                fd,
                base: base.cast(),
                len,
                page_size,
            });
        }
        Ok(StateTrace {
            rings,
            layout,
            offset_ns: wall_minus_monotonic_ns(),
            lost: 0,
            scratch: Vec::new(),
        })
    }

    /// The descriptors to poll (readable when a ring has samples).
    pub fn fds(&self) -> Vec<BorrowedFd<'_>> {
        self.rings.iter().map(|ring| ring.fd.as_fd()).collect()
    }

    /// Wait for a sample or `timeout`.
    pub fn wait(&self, timeout: Duration) -> io::Result<()> {
        poll_many(&self.fds(), libc::POLLIN, timeout).map(|_| ())
    }

    /// Hand every TCP state change waiting in the rings to `each`.
    pub fn drain(&mut self, mut each: impl FnMut(StateChange)) {
        let layout = self.layout;
        let offset_ns = self.offset_ns;
        for ring in &self.rings {
            let data_len = ring.page_size * DATA_PAGES;
            // SAFETY: the control page is the first page of our mapping.
            let head_ptr = unsafe { ring.base.add(page::DATA_HEAD).cast::<u64>() };
            let tail_ptr = unsafe { ring.base.add(page::DATA_TAIL).cast::<u64>() };
            // SAFETY: aligned u64 fields the kernel updates concurrently.
            let head = unsafe { head_ptr.read_volatile() };
            fence(Ordering::Acquire);
            let mut tail = unsafe { tail_ptr.read_volatile() };
            // SAFETY: the data area follows the control page.
            let data =
                unsafe { std::slice::from_raw_parts(ring.base.add(ring.page_size), data_len) };
            while tail < head {
                let start = (tail % data_len as u64) as usize;
                // A record may wrap around the end of the area: copy it out first.
                let header = read_wrapped(data, start, 8, &mut self.scratch);
                let kind = u32::from_ne_bytes([header[0], header[1], header[2], header[3]]);
                let size = usize::from(u16::from_ne_bytes([header[6], header[7]]));
                if size < 8 || size > data_len {
                    // A corrupt header: skip to the head rather than loop.
                    tail = head;
                    break;
                }
                let record = read_wrapped(data, start, size, &mut self.scratch);
                let body = &record[8..];
                match kind {
                    PERF_RECORD_SAMPLE if body.len() >= 12 => {
                        let time_ns = u64::from_ne_bytes(body[0..8].try_into().unwrap_or([0; 8]));
                        let raw_len =
                            u32::from_ne_bytes(body[8..12].try_into().unwrap_or([0; 4])) as usize;
                        if let Some(raw) = body.get(12..12 + raw_len) {
                            let wall = i128::from(time_ns) + offset_ns;
                            let time = Duration::from_nanos(u64::try_from(wall).unwrap_or(0));
                            if let Some(change) = layout.decode(raw, time) {
                                each(change);
                            }
                        }
                    }
                    PERF_RECORD_LOST if body.len() >= 16 => {
                        self.lost += u64::from_ne_bytes(body[8..16].try_into().unwrap_or([0; 8]));
                    }
                    _ => {}
                }
                tail += size as u64;
            }
            fence(Ordering::Release);
            // SAFETY: as above; handing the space back to the kernel.
            unsafe { tail_ptr.write_volatile(tail) };
        }
    }
}

/// `len` bytes from the circular `data` starting at `start`, copied into `scratch` (which is
/// returned) so a record that wraps reads as one slice.
fn read_wrapped<'a>(data: &[u8], start: usize, len: usize, scratch: &'a mut Vec<u8>) -> &'a [u8] {
    scratch.clear();
    let first = len.min(data.len() - start);
    scratch.extend_from_slice(&data[start..start + first]);
    scratch.extend_from_slice(&data[..len - first]);
    scratch
}

fn online_cpus() -> Vec<u32> {
    let text = fs::read_to_string("/sys/devices/system/cpu/online").unwrap_or_default();
    let cpus = parse_cpu_list(&text);
    if cpus.is_empty() {
        // SAFETY: sysconf has no preconditions.
        let count = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1);
        (0..count as u32).collect()
    } else {
        cpus
    }
}

/// `0-3,5,7-8` → [0, 1, 2, 3, 5, 7, 8] (bounded: at most 4096 CPUs).
fn parse_cpu_list(text: &str) -> Vec<u32> {
    let mut cpus = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        let (low, high) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(low), Ok(high)) = (low.parse::<u32>(), high.parse::<u32>()) {
            cpus.extend((low..=high.min(4095)).take(4096));
        }
    }
    cpus
}

fn wall_minus_monotonic_ns() -> i128 {
    let now = |clock| {
        let mut time = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: valid timespec pointer.
        unsafe { libc::clock_gettime(clock, &mut time) };
        i128::from(time.tv_sec) * 1_000_000_000 + i128::from(time.tv_nsec)
    };
    now(libc::CLOCK_REALTIME) - now(libc::CLOCK_MONOTONIC)
}

/// Is the tracepoint usable here (for `wirelab doctor`-style notes and tests)?
pub fn available() -> bool {
    tracefs().is_some_and(|dir| Path::new(&dir).join(EVENT_DIR).join("format").is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The format file of Linux 6.18 (`events/sock/inet_sock_set_state/format`), fields part.
    const FORMAT: &str = "name: inet_sock_set_state
ID: 1394
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:const void * skaddr;\toffset:8;\tsize:8;\tsigned:0;
\tfield:int oldstate;\toffset:16;\tsize:4;\tsigned:1;
\tfield:int newstate;\toffset:20;\tsize:4;\tsigned:1;
\tfield:__u16 sport;\toffset:24;\tsize:2;\tsigned:0;
\tfield:__u16 dport;\toffset:26;\tsize:2;\tsigned:0;
\tfield:__u16 family;\toffset:28;\tsize:2;\tsigned:0;
\tfield:__u16 protocol;\toffset:30;\tsize:2;\tsigned:0;
\tfield:__u8 saddr[4];\toffset:32;\tsize:4;\tsigned:0;
\tfield:__u8 daddr[4];\toffset:36;\tsize:4;\tsigned:0;
\tfield:__u8 saddr_v6[16];\toffset:40;\tsize:16;\tsigned:0;
\tfield:__u8 daddr_v6[16];\toffset:56;\tsize:16;\tsigned:0;

print fmt: \"family=%s ...\"
";

    fn record(family: u16, protocol: u16) -> Vec<u8> {
        let mut raw = vec![0u8; 72];
        raw[16..20].copy_from_slice(&1i32.to_ne_bytes()); // ESTABLISHED
        raw[20..24].copy_from_slice(&4i32.to_ne_bytes()); // FIN_WAIT1
        raw[24..26].copy_from_slice(&40000u16.to_ne_bytes());
        raw[26..28].copy_from_slice(&5001u16.to_ne_bytes());
        raw[28..30].copy_from_slice(&family.to_ne_bytes());
        raw[30..32].copy_from_slice(&protocol.to_ne_bytes());
        raw[32..36].copy_from_slice(&[10, 0, 1, 2]);
        raw[36..40].copy_from_slice(&[10, 0, 2, 2]);
        raw
    }

    #[test]
    fn layout_comes_from_the_format_file() {
        let layout = Layout::parse(FORMAT).expect("parses");
        assert_eq!(layout.oldstate, 16);
        assert_eq!(layout.saddr_v6, 40);
        assert!(matches!(
            Layout::parse("field:int oldstate;\toffset:16;"),
            Err(TraceError::MissingField("newstate"))
        ));
    }

    #[test]
    fn a_raw_record_decodes_to_a_state_change() {
        let layout = Layout::parse(FORMAT).expect("parses");
        let change = layout
            .decode(&record(libc::AF_INET as u16, 6), Duration::from_secs(1))
            .expect("tcp");
        assert_eq!((change.old, change.new), (1, 4));
        assert_eq!(change.local, "10.0.1.2:40000".parse().expect("addr"));
        assert_eq!(change.remote, "10.0.2.2:5001".parse().expect("addr"));
        // Another protocol (the tracepoint also reports SCTP, MPTCP ...) or a short record.
        assert_eq!(
            layout.decode(&record(libc::AF_INET as u16, 132), Duration::ZERO),
            None
        );
        assert_eq!(layout.decode(&record(2, 6)[..30], Duration::ZERO), None);
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-1\n"), vec![0, 1]);
        assert_eq!(parse_cpu_list("0,2-3"), vec![0, 2, 3]);
        assert_eq!(parse_cpu_list("garbage"), Vec::<u32>::new());
    }

    #[test]
    fn wrapped_records_read_as_one_slice() {
        let data = [5, 6, 7, 1, 2, 3, 4];
        let mut scratch = Vec::new();
        assert_eq!(read_wrapped(&data, 3, 6, &mut scratch), &[1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn tracepoint_reports_a_loopback_connection_as_root() {
        if !nix::unistd::geteuid().is_root() {
            assert!(
                std::env::var("CI").map_or(true, |v| v != "true"),
                "needs root under CI"
            );
            eprintln!("SKIPPED tracepoint_reports_a_loopback_connection_as_root: needs root");
            return;
        }
        assert!(prepare(), "tracefs can be mounted as root");
        let mut trace = StateTrace::open().expect("open the tracepoint");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
        let port = listener.local_addr().expect("addr").port();
        let client = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let local = client.local_addr().expect("local");
        drop(client);
        let mut seen = Vec::new();
        for _ in 0..20 {
            let _ = trace.wait(Duration::from_millis(50));
            trace.drain(|change| {
                if change.local == local {
                    seen.push((change.old, change.new));
                }
            });
            if seen.len() >= 3 {
                break;
            }
        }
        // SYN_SENT -> ESTABLISHED -> FIN_WAIT1, in that order (CLOSE -> SYN_SENT came with
        // source port 0: connect() sets the state before it picks the port).
        assert_eq!(seen.get(..2), Some(&[(2, 1), (1, 4)][..]), "{seen:?}");
    }
}

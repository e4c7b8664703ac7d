//! Raw IP probes of any protocol (`-P PROTO`, lab 02): the data is "@ABC..." behind an IP
//! header the kernel builds with our TTL and the protocol number asked for (default 253,
//! RFC 3692's "for experimentation"). A router answers Time Exceeded whatever the protocol;
//! the destination answers Protocol Unreachable (`!P`) if it does not speak it, or with a
//! packet of that protocol if it does. How firewalls treat protocols they do not know is
//! what this method shows.
//!
//! The probes leave from a raw socket (SOCK_RAW with that protocol, raw(7): CAP_NET_RAW)
//! connected to the target, so it hears only the target's packets of that protocol, and
//! errors about our packets on its IP_RECVERR queue. Nothing in the packet names the probe
//! (no ports, no sequence), so probes go one at a time, as Butskoy sends them (its
//! `one_per_time`): the only probe in flight is the one an answer is about.

use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::time::{Duration, SystemTime};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::probe::{
    lost_quietly, queued_error_answer, set_ttl, Answer, ProbeSpec, Prober, Reading, Sent,
};
use super::{tune, Address, Config, TraceError};
use crate::sock::control;
use crate::wire::icmp::{self as icmp_wire, Family};

/// Reads per drain of each queue: a bound, so a flood of packets cannot keep the loop going
/// (what is left raises the next poll).
const READS_PER_DRAIN: usize = 256;

/// Open a raw socket of `protocol` for `target`'s family. A refusal for want of CAP_NET_RAW
/// says what to do (`what` names the option that needed it).
pub(crate) fn open_raw(
    family: Family,
    protocol: i32,
    what: &str,
    tool: &str,
) -> Result<Socket, TraceError> {
    let domain = match family {
        Family::V4 => Domain::IPV4,
        Family::V6 => Domain::IPV6,
    };
    Socket::new(domain, Type::RAW, Some(Protocol::from(protocol))).map_err(|err| {
        if matches!(err.raw_os_error(), Some(libc::EPERM | libc::EACCES)) {
            TraceError::NoPermission(crate::privilege::need_raw_message(tool, what))
        } else {
            TraceError::sys("socket", err)
        }
    })
}

/// Sends raw probes one at a time and reads what comes back.
pub struct RawProber {
    socket: Socket,
    target: Address,
    family: Family,
    payload: Vec<u8>,
    ttl: Option<u8>,
    /// The one probe in flight.
    pending: Option<usize>,
    reading: Reading,
    source: Option<SocketAddr>,
}

/// Butskoy's `raw_init()` and `dccp_init()`: a raw socket of `protocol`, tuned, connected
/// to the target (which fails without a route, and lets through only the target's packets),
/// its error queue on, non-blocking. Returns it with the target and our source address.
pub(crate) fn open_connected(
    config: &Config,
    protocol: u8,
    what: &str,
    tool: &str,
) -> Result<(Socket, Address, Option<SocketAddr>), TraceError> {
    let target = Address::new(config.wire_target(), config.target.scope_id);
    let family = Family::of(target.ip);
    let socket = open_raw(family, i32::from(protocol), what, tool)?;
    tune::tune(&socket, target, &config.options, true)?;
    socket
        .connect(&SockAddr::from(target.with_port(0)))
        .map_err(|err| TraceError::sys("connect", err))?;
    control::enable_receive_metadata(&socket, family == Family::V6)
        .map_err(|err| TraceError::sys("setsockopt IP_RECVERR", err))?;
    socket
        .set_nonblocking(true)
        .map_err(|err| TraceError::sys("fcntl", err))?;
    let source = socket
        .local_addr()
        .ok()
        .and_then(|address| address.as_socket());
    Ok((socket, target, source))
}

impl RawProber {
    /// Open the connected raw socket and the "@ABC..." payload.
    pub fn open(config: &Config, protocol: u8, tool: &str) -> Result<RawProber, TraceError> {
        let (socket, target, source) =
            open_connected(config, protocol, "-P (raw IP probes)", tool)?;
        let family = Family::of(target.ip);
        let payload = (0..config.data_len)
            .map(|i| 0x40 + (i % 0x40) as u8)
            .collect();
        Ok(RawProber {
            socket,
            target,
            family,
            payload,
            ttl: None,
            pending: None,
            reading: Reading {
                family,
                header_len: config.header_len(),
                data_len: config.data_len,
                extensions: config.extensions,
            },
            source,
        })
    }

    fn drain(&mut self, errors: bool, answers: &mut Vec<Answer>) -> Result<(), TraceError> {
        let mut buffer = [0u8; 2048];
        // Errors: the name is the quoted packet's destination; the buffer our data.
        for _ in 0..READS_PER_DRAIN {
            if !errors {
                break;
            }
            let Ok(received) = control::receive(self.socket.as_fd(), &mut buffer, true) else {
                break;
            };
            let about_target = received
                .peer
                .is_some_and(|peer| peer.ip() == self.target.ip);
            let Some(index) = self.pending.filter(|_| about_target) else {
                continue;
            };
            let payload = &buffer[..received.len];
            if let Some(answer) =
                queued_error_answer(index, self.reading, &received, payload, None)?
            {
                answers.push(answer);
            }
        }
        // Packets of our protocol from the target: it speaks the protocol, and answered.
        for _ in 0..READS_PER_DRAIN {
            let Ok(received) = control::receive(self.socket.as_fd(), &mut buffer, false) else {
                break;
            };
            let Some(peer) = received.peer.filter(|peer| peer.ip() == self.target.ip) else {
                continue;
            };
            // A raw IPv4 socket hands over the IP header too; it must at least be whole.
            if self.family == Family::V4 && icmp_wire::split_ipv4(&buffer[..received.len]).is_err()
            {
                continue;
            }
            if let Some(index) = self.pending {
                answers.push(Answer::arrived(index, peer, &received));
            }
        }
        Ok(())
    }
}

impl Prober for RawProber {
    fn send(&mut self, probe: ProbeSpec) -> Result<Sent, TraceError> {
        set_ttl(&self.socket, self.family, probe.ttl, &mut self.ttl)?;
        self.reading.data_len = probe.data_len;
        let data = &self.payload[..probe.data_len.min(self.payload.len())];
        self.pending = Some(probe.index);
        let at = SystemTime::now();
        match self.socket.send(data) {
            Ok(_) => {}
            Err(err) if lost_quietly(&err) => {}
            Err(err) => return Err(TraceError::sys("send", err)),
        }
        Ok(Sent {
            at,
            source: self.source,
        })
    }

    fn forget(&mut self, index: usize) {
        if self.pending == Some(index) {
            self.pending = None;
        }
    }

    fn wait(&mut self, timeout: Duration, answers: &mut Vec<Answer>) -> Result<(), TraceError> {
        let ready = control::wait(self.socket.as_fd(), timeout)
            .map_err(|err| TraceError::sys("poll", err))?;
        if ready.readable || ready.error {
            self.drain(ready.error, answers)?;
        }
        Ok(())
    }
}

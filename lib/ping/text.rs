//! The classic face of ping (lab 01): the lines iputils 20221126 prints, byte for byte, so
//! a student can run both tools side by side and compare (the lab's step 6 does).
//!
//! ```text
//! PING 10.0.2.2 (10.0.2.2) 56(84) bytes of data.
//! 64 bytes from 10.0.2.2: icmp_seq=1 ttl=63 time=0.106 ms
//! From 10.0.1.1 icmp_seq=1 Time to live exceeded
//!
//! --- 10.0.2.2 ping statistics ---
//! 2 packets transmitted, 2 received, 0% packet loss, time 201ms
//! rtt min/avg/max/mdev = 0.045/0.075/0.106/0.030 ms
//! ```

use std::io;
use std::net::IpAddr;
use std::time::SystemTime;

use super::stats::{format_g, millis_3, reply_time};
use super::{Corruption, Event};
use crate::output::Out;
use crate::wire::icmp::Family;

/// The flags that change how lines look (not what is sent).
#[derive(Debug, Clone, Default)]
pub struct TextOptions {
    /// `-q`: only the header and the summary.
    pub quiet: bool,
    /// `-D`: prefix lines with the Unix time.
    pub timestamps: bool,
    /// `-O`: say so when a request got no answer before the next one went out.
    pub report_outstanding: bool,
    /// `-f`: a dot per request, a backspace per reply.
    pub flood: bool,
    /// Show names (reverse lookups) next to addresses: iputils does when the target was
    /// given as a name and `-n` was not.
    pub names: bool,
    /// No interval between requests (-f without -i): the summary adds ipg/ewma.
    pub no_interval: bool,
}

/// Renders [`Event`]s as iputils does.
pub struct TextRenderer {
    out: Out,
    options: TextOptions,
    tool: String,
    /// The last reverse lookup, as iputils caches it (most lines name the same host).
    last_name: Option<(IpAddr, String)>,
}

impl TextRenderer {
    pub fn new(out: Out, options: TextOptions, tool: &str) -> Self {
        TextRenderer {
            out,
            options,
            tool: tool.to_string(),
            last_name: None,
        }
    }

    /// `name (address)` when names are on and the address has one, else the address.
    fn show(&mut self, address: IpAddr) -> String {
        if !self.options.names {
            return address.to_string();
        }
        if let Some((cached, text)) = &self.last_name {
            if *cached == address {
                return text.clone();
            }
        }
        let text = match reverse_lookup(address) {
            Some(name) if name != address.to_string() => format!("{name} ({address})"),
            _ => address.to_string(),
        };
        self.last_name = Some((address, text.clone()));
        text
    }

    fn stamp(&self) -> String {
        if !self.options.timestamps {
            return String::new();
        }
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        format!("[{}.{:06}] ", now.as_secs(), now.subsec_micros())
    }

    /// Render one event.
    pub fn event(&mut self, event: &Event) -> io::Result<()> {
        let quiet = self.options.quiet;
        let flood = self.options.flood;
        match *event {
            Event::Start {
                target,
                target_text,
                family,
                size,
                packet_size,
                source,
                ..
            } => {
                // With -I, iputils names the source address and the interface.
                let from = source
                    .map(|(address, device)| format!("from {address} {device}: "))
                    .unwrap_or_default();
                match family {
                    Family::V4 => self.out.line(format!(
                        "PING {target_text} ({target}) {from}{size}({packet_size}) bytes of data."
                    )),
                    // iputils' IPv6 header has no space before the parenthesis, no packet size.
                    Family::V6 => {
                        let shown = self.show(target);
                        self.out.line(format!(
                            "PING {target_text}({shown}) {from}{size} data bytes"
                        ))
                    }
                }
            }
            Event::Sent { .. } => {
                if flood && !quiet {
                    self.out.partial(".")?;
                }
                Ok(())
            }
            Event::NoAnswerYet { sequence } => {
                if self.options.report_outstanding && !flood {
                    let stamp = self.stamp();
                    self.out
                        .line(format!("{stamp}no answer yet for icmp_seq={sequence}"))?;
                }
                Ok(())
            }
            Event::Reply {
                sequence,
                from,
                bytes,
                ttl,
                rtt,
                duplicate,
                corruption,
                ..
            } => {
                if quiet {
                    return Ok(());
                }
                if flood {
                    return match corruption {
                        Some(_) => self.out.partial("\x08C"),
                        None => self.out.partial("\x08 \x08"),
                    };
                }
                let mut line = format!(
                    "{}{bytes} bytes from {}: icmp_seq={sequence}",
                    self.stamp(),
                    self.show(from)
                );
                if let Some(ttl) = ttl {
                    line.push_str(&format!(" ttl={ttl}"));
                }
                if let Some(rtt) = rtt {
                    line.push_str(&format!(" time={} ms", reply_time(rtt.as_micros() as i64)));
                }
                if duplicate {
                    line.push_str(" (DUP!)");
                }
                match corruption {
                    Some(Corruption::Checksum) => line.push_str(" (BAD CHECKSUM!)"),
                    Some(Corruption::Payload {
                        offset,
                        expected,
                        found,
                    }) => line.push_str(&format!(
                        "\nwrong data byte #{offset} should be 0x{expected:x} but was 0x{found:x}"
                    )),
                    None => {}
                }
                self.out.line(line)
            }
            Event::Error {
                sequence,
                from,
                kind,
                ..
            } => {
                if quiet {
                    return Ok(());
                }
                if flood {
                    return self.out.partial("\x08E");
                }
                let line = format!(
                    "{}From {} icmp_seq={sequence} {}",
                    self.stamp(),
                    self.show(from),
                    kind.text()
                );
                self.out.line(line)
            }
            Event::LocalError { ref message, .. } => {
                if flood {
                    return self.out.partial("E");
                }
                // iputils reports these on stderr, prefixed with the program name.
                eprintln!("{}: {message}", self.tool);
                Ok(())
            }
            Event::Summary {
                target_text,
                statistics,
            } => {
                self.out.line("")?;
                self.out
                    .line(format!("--- {target_text} ping statistics ---"))?;
                let mut line = format!(
                    "{} packets transmitted, {} received",
                    statistics.transmitted, statistics.received
                );
                if statistics.duplicates > 0 {
                    line.push_str(&format!(", +{} duplicates", statistics.duplicates));
                }
                if statistics.corrupted > 0 {
                    line.push_str(&format!(", +{} corrupted", statistics.corrupted));
                }
                if statistics.errors > 0 {
                    line.push_str(&format!(", +{} errors", statistics.errors));
                }
                if statistics.transmitted > 0 {
                    let elapsed = statistics.elapsed;
                    let millis = elapsed.as_secs() * 1000
                        + (u64::from(elapsed.subsec_nanos()) + 500_000) / 1_000_000;
                    line.push_str(&format!(
                        ", {}% packet loss, time {millis}ms",
                        format_g(statistics.loss_percent())
                    ));
                }
                self.out.line(line)?;

                // The second line: any of rtt, pipe and ipg/ewma, or empty (iputils always
                // ends the summary with this newline).
                let mut parts = Vec::new();
                if statistics.received > 0 {
                    if let Some(rtt) = statistics.rtt() {
                        parts.push(format!(
                            "rtt min/avg/max/mdev = {}/{}/{}/{} ms",
                            millis_3(rtt.min_us),
                            millis_3(rtt.avg_us),
                            millis_3(rtt.max_us),
                            millis_3(rtt.mdev_us)
                        ));
                    }
                }
                if statistics.pipe > 1 {
                    parts.push(format!("pipe {}", statistics.pipe));
                }
                if statistics.received > 0
                    && (self.options.no_interval || flood)
                    && statistics.transmitted > 1
                {
                    let ipg =
                        statistics.elapsed.as_micros() as i64 / (statistics.transmitted as i64 - 1);
                    let ewma = statistics.ewma_times_8;
                    parts.push(format!(
                        "ipg/ewma {}.{:03}/{}.{:03} ms",
                        ipg / 1000,
                        ipg % 1000,
                        ewma / 8000,
                        (ewma / 8) % 1000
                    ));
                }
                self.out.line(parts.join(", "))
            }
        }
    }
}

/// The name `/etc/hosts` (or DNS) gives an address, by getnameinfo(3) with NI_NAMEREQD:
/// `None` when it has none.
pub fn reverse_lookup(address: IpAddr) -> Option<String> {
    let socket_address = socket2::SockAddr::from(std::net::SocketAddr::new(address, 0));
    let mut host = [0 as libc::c_char; 1025];
    // SAFETY: the sockaddr and the host buffer are valid for the lengths passed.
    let result = unsafe {
        libc::getnameinfo(
            socket_address.as_ptr().cast(),
            socket_address.len(),
            host.as_mut_ptr(),
            host.len() as libc::socklen_t,
            std::ptr::null_mut(),
            0,
            libc::NI_NAMEREQD,
        )
    };
    if result != 0 {
        return None;
    }
    // SAFETY: getnameinfo wrote a NUL-terminated string into `host`.
    let name = unsafe { std::ffi::CStr::from_ptr(host.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Capture;
    use crate::ping::Statistics;
    use crate::sock::icmp::SocketKind;
    use crate::wire::icmp::{ErrorKind, Unreachable};
    use std::time::Duration;

    fn render(options: TextOptions, events: &[Event]) -> String {
        let capture = Capture::default();
        let mut renderer = TextRenderer::new(Out::to_writer(capture.clone()), options, "test");
        for event in events {
            renderer.event(event).expect("render");
        }
        capture.text()
    }

    #[test]
    fn every_counter_appears_in_iputils_order() {
        let target: IpAddr = "10.0.2.2".parse().expect("address");
        let router: IpAddr = "10.0.1.1".parse().expect("address");
        let mut statistics = Statistics {
            transmitted: 3,
            received: 2,
            duplicates: 1,
            corrupted: 1,
            errors: 1,
            pipe: 2,
            elapsed: Duration::from_micros(2_000_600),
            ..Statistics::default()
        };
        for rtt in [106, 45, 50] {
            statistics.add_rtt(rtt);
        }
        let now = SystemTime::now();
        let text = render(
            TextOptions::default(),
            &[
                Event::Start {
                    target,
                    target_text: "10.0.2.2",
                    family: Family::V4,
                    size: 56,
                    packet_size: 84,
                    socket: SocketKind::Raw,
                    identifier: 7,
                    source: None,
                },
                Event::Reply {
                    sequence: 1,
                    from: target,
                    bytes: 64,
                    ttl: Some(63),
                    rtt: Some(Duration::from_micros(106)),
                    duplicate: true,
                    corruption: None,
                    received_at: now,
                    packet: &[],
                },
                Event::Error {
                    sequence: 2,
                    from: router,
                    kind: ErrorKind::Unreachable {
                        family: Family::V4,
                        reason: Unreachable::Host,
                    },
                    received_at: now,
                },
                Event::Summary {
                    target_text: "10.0.2.2",
                    statistics: &statistics,
                },
            ],
        );
        assert_eq!(
            text,
            "PING 10.0.2.2 (10.0.2.2) 56(84) bytes of data.\n\
             64 bytes from 10.0.2.2: icmp_seq=1 ttl=63 time=0.106 ms (DUP!)\n\
             From 10.0.1.1 icmp_seq=2 Destination Host Unreachable\n\
             \n\
             --- 10.0.2.2 ping statistics ---\n\
             3 packets transmitted, 2 received, +1 duplicates, +1 corrupted, +1 errors, \
             33.3333% packet loss, time 2001ms\n\
             rtt min/avg/max/mdev = 0.045/0.067/0.106/0.027 ms, pipe 2\n"
        );
    }
}

//! The classic face of ping (lab 01): the lines iputils 20221126 prints, byte for byte, so
//! a student can run both tools side by side and compare (the lab's step 6 does, and
//! `tests/ping_diff_*.rs` do for every option).
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
//!
//! With `-R` a reply line is followed by the route its packet recorded (RFC 791 p.20), one
//! address a line, each after a tab:
//!
//! ```text
//! 64 bytes from 10.0.3.2: icmp_seq=1 ttl=62 time=0.085 ms
//! RR:     10.0.1.2
//!         10.0.2.1
//!         ...
//! ```
//!
//! Most lines go to stdout; warnings, local errors and the SIGQUIT status line go to stderr,
//! after the program's name, as iputils' `error(3)` calls put them.

use std::io::{self, Write};
use std::time::SystemTime;

use super::stats::{format_g, millis_3, reply_time};
use super::target::{Host, Namer};
use super::{Event, Start, Statistics, WrongData};
use crate::output::Out;
use crate::wire::icmp::{ErrorKind, Family};
use crate::wire::ip_options::{self, Shown};

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
    /// `-a`: ring the terminal bell on every reply.
    pub audible: bool,
}

/// Renders [`Event`]s as iputils does.
pub struct TextRenderer {
    out: Out,
    options: TextOptions,
    tool: String,
    names: Namer,
    family: Family,
    /// Echo data bytes sent: the "wrong data byte" dump covers them.
    size: usize,
    multicast: bool,
    /// The last route recorded (`-R`), to print "(same route)" instead of the list again.
    last_route: Option<Vec<u8>>,
}

impl TextRenderer {
    pub fn new(out: Out, options: TextOptions, tool: &str) -> Self {
        TextRenderer {
            out,
            options,
            tool: tool.to_string(),
            names: Namer::new(true),
            family: Family::V4,
            size: 0,
            multicast: false,
            last_route: None,
        }
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

    /// One line on stderr after the program's name, as error(3) prints it.
    fn complain(&self, message: &str) -> io::Result<()> {
        let mut stderr = io::stderr().lock();
        writeln!(stderr, "{}: {message}", self.tool)
    }

    /// How iputils names an ICMP error, with names for redirect gateways.
    fn error_text(&mut self, kind: &ErrorKind) -> String {
        match *kind {
            ErrorKind::Redirect { gateway, .. } => {
                let text = kind.text();
                let what = text.split("(New nexthop:").next().unwrap_or_default();
                let shown = self.names.show(Host::new(gateway.into()));
                format!("{what}(New nexthop: {shown})")
            }
            _ => kind.text(),
        }
    }

    fn start(&mut self, start: &Start) -> io::Result<()> {
        self.family = start.family;
        self.size = start.size;
        self.multicast = start.multicast;
        self.names = Namer::new(start.numeric);
        let mut line = String::new();
        match start.family {
            Family::V4 => {
                line.push_str(&format!("PING {} ({}) ", start.hostname, start.target.ip));
                if let Some((source, device)) = start.source {
                    line.push_str(&format!("from {} {device}: ", source.ip));
                }
                line.push_str(&format!(
                    "{}({}) bytes of data.",
                    start.size, start.packet_size
                ));
            }
            Family::V6 => {
                // iputils' IPv6 line: no space before the parenthesis, no packet size.
                let shown = self.names.show(start.target);
                line.push_str(&format!("PING {}({shown}) ", start.hostname));
                if let Some(label) = start.flow_label {
                    line.push_str(&format!(", flow 0x{label:05x}, "));
                }
                if let Some((source, device)) = start.source {
                    line.push_str(&format!("from {} {device}: ", source.numeric()));
                }
                line.push_str(&format!("{} data bytes", start.size));
            }
        }
        self.out.line(line)
    }

    /// iputils' `pr_options`: the IPv4 options of a reply, appended to its line.
    fn options_text(&mut self, options: &[u8]) -> String {
        let mut text = String::new();
        let address = |names: &mut Namer, address: std::net::Ipv4Addr| {
            if address.is_unspecified() {
                "0.0.0.0".to_string()
            } else {
                names.show(Host::new(address.into()))
            }
        };
        for option in ip_options::walk(options) {
            match option {
                Shown::Nop => text.push_str("\nNOP"),
                Shown::SourceRoute { strict, addresses } => {
                    text.push_str(if strict { "\nSSRR: " } else { "\nLSRR: " });
                    for hop in addresses {
                        text.push_str(&format!("\t{}\n", address(&mut self.names, hop)));
                    }
                }
                Shown::RecordRoute { addresses, key } => {
                    if self.last_route.as_ref() == Some(&key) && !self.options.flood {
                        text.push_str("\t(same route)");
                        continue;
                    }
                    self.last_route = Some(key);
                    text.push_str("\nRR: ");
                    for hop in addresses {
                        text.push_str(&format!("\t{}\n", address(&mut self.names, hop)));
                    }
                }
                Shown::Timestamp {
                    stamps, unrecorded, ..
                } => {
                    text.push_str("\nTS: ");
                    let (mut standard, mut other) = (0i64, 0i64);
                    for stamp in stamps {
                        if let Some(hop) = stamp.address {
                            text.push_str(&format!("\t{}", address(&mut self.names, hop)));
                        }
                        let Some(time) = stamp.time else { break };
                        let time = i64::from(time);
                        if time & 0x8000_0000 != 0 {
                            let value = time & 0x7fff_ffff;
                            if other == 0 {
                                text.push_str(&format!("\t{value} absolute not-standard"));
                            } else {
                                text.push_str(&format!("\t{} not-standard", value - other));
                            }
                            other = value;
                        } else {
                            if standard == 0 {
                                text.push_str(&format!("\t{time} absolute"));
                            } else {
                                text.push_str(&format!("\t{}", time - standard));
                            }
                            standard = time;
                        }
                        text.push('\n');
                    }
                    if unrecorded > 0 {
                        text.push_str(&format!("Unrecorded hops: {unrecorded}\n"));
                    }
                }
                Shown::Unknown { kind } => text.push_str(&format!("\nunknown option {kind:x}")),
            }
        }
        text
    }

    /// iputils' dump after "wrong data byte": the data from byte 16 on, 16 bytes a row.
    fn wrong_data_text(&self, wrong: &WrongData, packet: &[u8]) -> String {
        let mut text = format!(
            "\nwrong data byte #{} should be 0x{:x} but was 0x{:x}",
            wrong.offset, wrong.expected, wrong.found
        );
        let data = packet.get(8..).unwrap_or_default();
        for index in 16..self.size {
            if index % 32 == 16 {
                text.push_str(&format!("\n#{index}\t"));
            }
            text.push_str(&format!("{:x} ", data.get(index).copied().unwrap_or(0)));
        }
        text
    }

    /// Render one event.
    pub fn event(&mut self, event: &Event) -> io::Result<()> {
        let quiet = self.options.quiet;
        let flood = self.options.flood;
        match event {
            Event::Warning(warning) => {
                if warning.has_program_prefix() {
                    self.complain(&warning.text())
                } else {
                    writeln!(io::stderr().lock(), "{}", warning.text())
                }
            }
            Event::Start(start) => self.start(start),
            Event::Sent { .. } => {
                if flood && !quiet {
                    self.out.partial(".")?;
                }
                Ok(())
            }
            Event::NoAnswerYet { sequence } => {
                if self.options.report_outstanding {
                    let stamp = self.stamp();
                    self.out
                        .line(format!("{stamp}no answer yet for icmp_seq={sequence}"))?;
                }
                Ok(())
            }
            Event::Reply(reply) => {
                if quiet {
                    return Ok(());
                }
                if flood {
                    let mark = if reply.bad_checksum {
                        "\x08C"
                    } else {
                        "\x08 \x08"
                    };
                    self.out.partial(mark)?;
                    if self.options.audible {
                        self.out.partial("\x07")?;
                    }
                    return Ok(());
                }
                let mut line = format!(
                    "{}{} bytes from {}: icmp_seq={}",
                    self.stamp(),
                    reply.bytes,
                    self.names.show(reply.from),
                    reply.sequence
                );
                if let Some(ttl) = reply.ttl {
                    line.push_str(&format!(" ttl={ttl}"));
                }
                if reply.short {
                    line.push_str(" (truncated)");
                    return self.out.line(line);
                }
                if let Some(rtt) = reply.rtt {
                    line.push_str(&format!(" time={} ms", reply_time(rtt.as_micros() as i64)));
                }
                if reply.duplicate && !self.multicast {
                    line.push_str(" (DUP!)");
                }
                if reply.bad_checksum {
                    line.push_str(" (BAD CHECKSUM!)");
                }
                if reply.different_address {
                    line.push_str(" (DIFFERENT ADDRESS!)");
                }
                if let Some(wrong) = &reply.wrong_data {
                    line.push_str(&self.wrong_data_text(wrong, reply.packet));
                }
                if self.options.audible {
                    line.push('\x07');
                }
                if self.family == Family::V4 {
                    line.push_str(&self.options_text(reply.ip_options));
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
                    self.names.show(*from),
                    self.error_text(kind)
                );
                self.out.line(line)
            }
            Event::Advice {
                sequence,
                from,
                kind,
                bad_checksum,
            } => {
                let checksum = if *bad_checksum { "(BAD CHECKSUM)" } else { "" };
                let line = format!(
                    "{}From {}: icmp_seq={sequence} {checksum}{}",
                    self.stamp(),
                    self.names.show(*from),
                    self.error_text(kind)
                );
                self.out.line(line)
            }
            Event::LocalError { message, .. } => {
                if flood {
                    return self.out.partial("E");
                }
                self.complain(message)
            }
            Event::Status { statistics } => {
                let mut stderr = io::stderr().lock();
                writeln!(stderr, "\r{}", status_line(statistics))
            }
            Event::Summary {
                hostname,
                statistics,
            } => self.summary(hostname, statistics),
        }
    }

    fn summary(&mut self, hostname: &str, statistics: &Statistics) -> io::Result<()> {
        self.out.line("")?;
        self.out
            .line(format!("--- {hostname} ping statistics ---"))?;
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

        // The second line: any of rtt, pipe and ipg/ewma, or empty (iputils always ends the
        // summary with this newline).
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
        if statistics.received > 0 && statistics.show_pacing && statistics.transmitted > 1 {
            let ipg = statistics.elapsed.as_micros() as i64 / (statistics.transmitted as i64 - 1);
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

/// What iputils prints on SIGQUIT (`status()`), without the leading carriage return.
pub fn status_line(statistics: &Statistics) -> String {
    let loss = if statistics.transmitted > 0 {
        (statistics.transmitted as i64 - statistics.received as i64) * 100
            / statistics.transmitted as i64
    } else {
        0
    };
    let mut line = format!(
        "{}/{} packets, {loss}% loss",
        statistics.received, statistics.transmitted
    );
    if statistics.received > 0 && statistics.rtt_count > 0 {
        let total = (statistics.received + statistics.duplicates).max(1) as i64;
        let average = statistics.rtt_sum_us / total;
        let ewma = statistics.ewma_times_8;
        line.push_str(&format!(
            ", min/avg/ewma/max = {}/{}/{}.{:03}/{} ms",
            millis_3(statistics.rtt_min_us),
            millis_3(average),
            ewma / 8000,
            (ewma / 8) % 1000,
            millis_3(statistics.rtt_max_us)
        ));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Capture;
    use crate::ping::{Reply, Statistics};
    use crate::sock::icmp::SocketKind;
    use crate::wire::icmp::Unreachable;
    use std::net::IpAddr;
    use std::time::Duration;

    fn render(options: TextOptions, events: &[Event]) -> String {
        let capture = Capture::default();
        let mut renderer = TextRenderer::new(Out::to_writer(capture.clone()), options, "test");
        for event in events {
            renderer.event(event).expect("render");
        }
        capture.text()
    }

    fn start(target: Host, multicast: bool) -> Event<'static> {
        Event::Start(Start {
            family: Family::V4,
            socket: SocketKind::Raw,
            identifier: 7,
            hostname: "10.0.2.2",
            target,
            source: None,
            size: 56,
            packet_size: 84,
            flow_label: None,
            multicast,
            numeric: true,
            ip_options: &[],
            tos: None,
            pmtudisc: None,
        })
    }

    fn reply(from: Host, duplicate: bool, options: &[u8]) -> Event<'_> {
        Event::Reply(Reply {
            sequence: 1,
            from,
            bytes: 64,
            ttl: Some(63),
            rtt: Some(Duration::from_micros(106)),
            short: false,
            duplicate,
            bad_checksum: false,
            cut: false,
            different_address: false,
            wrong_data: None,
            ip_options: options,
            tos: None,
            received_at: SystemTime::now(),
            packet: &[],
        })
    }

    #[test]
    fn every_counter_appears_in_iputils_order() {
        let target = Host::new("10.0.2.2".parse::<IpAddr>().expect("address"));
        let router = Host::new("10.0.1.1".parse::<IpAddr>().expect("address"));
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
        let text = render(
            TextOptions::default(),
            &[
                start(target, false),
                reply(target, true, &[]),
                Event::Error {
                    sequence: 2,
                    from: router,
                    kind: ErrorKind::Unreachable {
                        family: Family::V4,
                        reason: Unreachable::Host,
                    },
                    received_at: SystemTime::now(),
                },
                Event::Summary {
                    hostname: "10.0.2.2",
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

    #[test]
    fn multicast_duplicates_are_counted_but_not_marked() {
        let target = Host::new("224.0.0.1".parse::<IpAddr>().expect("address"));
        let text = render(
            TextOptions::default(),
            &[start(target, true), reply(target, true, &[])],
        );
        assert!(!text.contains("DUP"), "{text}");
    }

    #[test]
    fn record_route_prints_the_list_then_same_route() {
        let target = Host::new("10.0.3.2".parse::<IpAddr>().expect("address"));
        let mut options = crate::wire::ip_options::record_route();
        options[3] = 12; // two addresses recorded
        options[4..8].copy_from_slice(&[10, 0, 1, 2]);
        options[8..12].copy_from_slice(&[10, 0, 2, 1]);
        let text = render(
            TextOptions::default(),
            &[
                start(target, false),
                reply(target, false, &options),
                reply(target, false, &options),
            ],
        );
        assert!(
            text.ends_with(
                "time=0.106 ms\nNOP\nRR: \t10.0.1.2\n\t10.0.2.1\n\n\
                 64 bytes from 10.0.3.2: icmp_seq=1 ttl=63 time=0.106 ms\nNOP\t(same route)\n"
            ),
            "{text:?}"
        );
    }
}

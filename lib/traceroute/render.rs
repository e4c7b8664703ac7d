//! How a trace looks (lab 02): Butskoy traceroute 2.1's text, byte for byte, and JSON.
//!
//! Butskoy's text, from its `print_header()` and `print_probe()`:
//!
//! ```text
//! traceroute to h2 (10.0.4.2), 30 hops max, 60 byte packets
//!  1  r1 (10.0.1.1)  0.053 ms  0.008 ms  0.006 ms
//!  3  * * *
//!  9  * h2 (10.0.4.2)  0.050 ms  0.009 ms
//! ```
//!
//! The TTL is right-aligned in two columns. A probe prints ` *` when it expired; otherwise
//! its responder's address (` name (addr)`, or ` addr` with `-n`) *only if* it differs from
//! the last responder on this line, then `  X.XXX ms`, then a mark like ` !X`. So a line with
//! one address came from one router, and a second address on a line means the probes of one
//! TTL took different paths (load balancing) or met different responders.
//!
//! The options add to a probe: `-e` the router's ICMP extensions in `<...>` after its
//! address, `--back` the hops the answer took back in `'-N'` when they differ from the TTL,
//! `--mtu` `F=NUM` after the time where the path narrowed. An answer from our own kernel (a
//! probe larger than our interface with `-F`) has no address: ` *  0.095 ms !F-1500`.
//!
//! The header line is left open, as Butskoy leaves it: each hop line begins by ending the
//! line before it. So when the trace cannot start (no route), stdout holds the header alone
//! and the error follows on stderr, exactly as Butskoy's does.

use std::fmt::Write as _;
use std::io;
use std::net::IpAddr;

use serde::Serialize;

use super::{hops_back, Address, Event};
use crate::output::Out;

/// The classic text face. Probes are written as they become showable (one line per hop,
/// built piece by piece and flushed), as Butskoy does.
///
/// Each piece is formatted with `write!` into one reused buffer rather than a `format!` per
/// field: measured with callgrind on a 30-hop trace, the `format!` version spent 225k
/// instructions allocating and formatting (a fifth of the whole run; Butskoy's printf takes
/// 221k for everything it prints); see `wirelab-traceroute` in the bench notes.
#[derive(Debug, Default)]
pub struct TextRenderer {
    numeric: bool,
    /// `--back`: print the hops an answer took back.
    backward: bool,
    /// The last probe on the current line that had an address: its address, extensions and
    /// arrival TTL. A probe repeats its address when any of them differs.
    last_shown: Option<(IpAddr, Option<String>, Option<u8>)>,
    /// A hop line is complete but its newline not yet written: like Butskoy, the newline
    /// goes out with the next hop's first probe.
    newline_due: bool,
    /// Probes per hop (`-q`), when known: the last probe of a hop then ends its line itself.
    /// stdout is line-buffered, so a piece that *starts* with the newline costs two write(2)
    /// calls; ending the line in the last probe's write takes a 30-hop trace from 121 writes
    /// to 91 (Butskoy: 92), same bytes.
    queries: Option<usize>,
    /// The last probe written ended its hop's line.
    line_ended: bool,
    /// The text of the event being rendered, kept between events to reuse its allocation.
    buffer: String,
}

impl TextRenderer {
    /// `numeric`: `-n`, addresses only.
    pub fn new(numeric: bool) -> TextRenderer {
        TextRenderer {
            numeric,
            backward: false,
            last_shown: None,
            newline_due: false,
            queries: None,
            line_ended: false,
            buffer: String::new(),
        }
    }

    /// `--back`: show `'-N'` after an address when the answer came back over N hops, N not
    /// the TTL.
    pub fn with_backward(mut self, backward: bool) -> TextRenderer {
        self.backward = backward;
        self
    }

    /// Tell the renderer how many probes make a hop (`-q`), so each hop line ends with the
    /// write of its last probe (see the `queries` field).
    pub fn with_queries(mut self, queries: u8) -> TextRenderer {
        self.queries = Some(usize::from(queries));
        self
    }

    /// The text for one event (without the final newline of a hop line, which [`Self::render`]
    /// writes). Exposed so tests can compare strings without an `Out`.
    pub fn text(&mut self, event: &Event) -> String {
        let mut text = String::new();
        self.write_text(event, &mut text);
        text
    }

    /// Append the text for one event to `text` (what [`Self::text`] returns).
    fn write_text(&mut self, event: &Event, text: &mut String) {
        // Writing into a String cannot fail: fmt::Write for String always returns Ok.
        match event {
            Event::Started {
                target_name,
                target,
                max_ttl,
                packet_len,
                ..
            } => {
                let _ = write!(
                    text,
                    "traceroute to {target_name} ({target}), {max_ttl} hops max, {packet_len} byte packets"
                );
            }
            Event::Probe {
                ttl,
                position,
                reply,
                mtu,
            } => {
                if *position == 0 {
                    let _ = write!(text, "{ttl:2} ");
                    self.last_shown = None;
                }
                match reply {
                    Some(reply) if reply.from.is_some() => {
                        let from = reply.from.unwrap_or(Address::from(IpAddr::from([0u8; 4])));
                        let this = (from.ip, reply.extension.clone(), reply.reply_ttl);
                        let differs = match &self.last_shown {
                            None => true,
                            Some((ip, extension, reply_ttl)) => {
                                *ip != this.0
                                    || *extension != this.1
                                    || (self.backward && *reply_ttl != this.2)
                            }
                        };
                        if differs {
                            match (&reply.name, self.numeric) {
                                (_, true) => {
                                    let _ = write!(text, " {from}");
                                }
                                (Some(name), false) => {
                                    let _ = write!(text, " {name} ({from})");
                                }
                                // Without a name, Butskoy shows the address in both places.
                                (None, false) => {
                                    let _ = write!(text, " {from} ({from})");
                                }
                            }
                            if let Some(extension) = &reply.extension {
                                let _ = write!(text, " <{extension}>");
                            }
                            if let Some(reply_ttl) = reply.reply_ttl.filter(|_| self.backward) {
                                let hops = hops_back(reply_ttl);
                                if reply_ttl != 0 && hops != u16::from(*ttl) {
                                    let _ = write!(text, " '-{hops}'");
                                }
                            }
                        }
                        self.last_shown = Some(this);
                    }
                    // Expired, or answered by our own kernel: no address.
                    _ => text.push_str(" *"),
                }
                if let Some(reply) = reply {
                    write_ms(text, reply.rtt);
                }
                match (
                    reply.as_ref().and_then(|reply| reply.verdict.annotation()),
                    mtu,
                ) {
                    (Some(annotation), _) => {
                        let _ = write!(text, " {annotation}");
                    }
                    (None, Some(mtu)) => {
                        let _ = write!(text, " F={mtu}");
                    }
                    (None, None) => {}
                }
            }
            Event::Explain(explanation) => {
                for (i, line) in explanation.lines().iter().enumerate() {
                    if i > 0 {
                        text.push('\n');
                    }
                    let _ = write!(text, "    {line}");
                }
            }
            Event::HopDone { .. } | Event::Finished { .. } => {}
        }
    }

    /// Write one event to `out`.
    pub fn render(&mut self, event: &Event, out: &mut Out) -> io::Result<()> {
        let mut text = std::mem::take(&mut self.buffer);
        text.clear();
        if std::mem::take(&mut self.newline_due) {
            text.push('\n');
        }
        self.write_text(event, &mut text);
        let result = match event {
            Event::Started { .. } => {
                // Left open: the first hop line ends it (see the module documentation).
                self.newline_due = true;
                out.partial(&text)
            }
            Event::Explain(_) => out.line(&text),
            Event::Probe { position, .. } => {
                if self.queries == Some(position + 1) {
                    text.push('\n');
                    self.line_ended = true;
                }
                out.partial(&text)
            }
            Event::Finished { .. } => out.partial(&text),
            Event::HopDone { .. } => {
                // Nothing to write yet: the newline, unless the last probe wrote it, goes
                // with the next piece (see above).
                self.newline_due = !std::mem::take(&mut self.line_ended);
                Ok(())
            }
        };
        self.buffer = text;
        result
    }
}

/// `  X.XXX ms`: Butskoy's `printf("  %.3f ms")` of the RTT. Rounded to whole microseconds in
/// integers: formatting the f64 took 1000 instructions per probe (Rust's exact-rounding path;
/// 90k of a 30-hop trace's 990k, callgrind). Only a time exactly halfway between two
/// microseconds is left to the f64 rounding, so the text is the same as `{:.3}`'s always.
fn write_ms(text: &mut String, rtt: std::time::Duration) {
    // u64 arithmetic (u128's division is a library call); 584 years of nanoseconds fit.
    let nanos = u64::try_from(rtt.as_nanos()).unwrap_or(u64::MAX);
    if nanos % 1000 == 500 {
        let _ = write!(text, "  {:.3} ms", rtt.as_secs_f64() * 1000.0);
        return;
    }
    let micros = (nanos + 500) / 1000;
    let _ = write!(text, "  {}.{:03} ms", micros / 1000, micros % 1000);
}

/// The `--json` document: one object, written when the trace ends.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct JsonTrace {
    pub target: String,
    pub addr: Option<Address>,
    /// How the probes went: "default" (UDP, rising ports), "udp" (-U), "udplite", "icmp",
    /// "tcpconn", "dccp", "raw".
    pub method: String,
    pub max_hops: u8,
    pub packet_len: usize,
    pub reached: bool,
    /// `--mtu`: the smallest MTU reported on the way, when one was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_mtu: Option<u32>,
    pub hops: Vec<JsonHop>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct JsonHop {
    pub ttl: u8,
    pub probes: Vec<JsonProbe>,
}

/// An answered probe has every field; an expired one only `"addr": null` (and the `mtu`
/// `--mtu` learnt on it, if any).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
pub enum JsonProbe {
    Answered {
        /// null when our own kernel refused the probe (too big for our interface, `-F`).
        addr: Option<Address>,
        name: Option<String>,
        /// Microseconds, with a fraction: 45.1.
        rtt_us: f64,
        /// `"!X"`, `"!H"`, `"!F-1400"`, ... or null.
        annotation: Option<String>,
        /// The TTL the answer arrived with.
        reply_ttl: Option<u8>,
        /// The hops it came back over, guessed from `reply_ttl` (what `--back` prints).
        back_hops: Option<u16>,
        /// `-e`: the ICMP extensions, as printed between `<` and `>`.
        #[serde(skip_serializing_if = "Option::is_none")]
        extension: Option<String>,
        /// `--mtu`: the MTU a router (or our kernel) reported for a larger probe here
        /// (`F=NUM`).
        #[serde(skip_serializing_if = "Option::is_none")]
        mtu: Option<u32>,
    },
    Expired {
        addr: Option<IpAddr>,
        #[serde(skip_serializing_if = "Option::is_none")]
        mtu: Option<u32>,
    },
}

/// Collects events into a [`JsonTrace`].
#[derive(Debug, Default)]
pub struct JsonRenderer {
    pub trace: JsonTrace,
}

impl JsonRenderer {
    pub fn new() -> JsonRenderer {
        JsonRenderer::default()
    }

    /// Take in one event; the document is written on `Finished`.
    pub fn render(&mut self, event: &Event, out: &mut Out) -> io::Result<()> {
        self.collect(event);
        if let Event::Finished { .. } = event {
            out.json(&self.trace)?;
        }
        Ok(())
    }

    pub fn collect(&mut self, event: &Event) {
        match event {
            Event::Started {
                target_name,
                target,
                max_ttl,
                packet_len,
                method,
            } => {
                self.trace.target = target_name.clone();
                self.trace.addr = Some(*target);
                self.trace.method = method.module_name().to_string();
                self.trace.max_hops = *max_ttl;
                self.trace.packet_len = *packet_len;
            }
            Event::Probe {
                ttl, reply, mtu, ..
            } => {
                if self.trace.hops.last().map(|hop| hop.ttl) != Some(*ttl) {
                    self.trace.hops.push(JsonHop {
                        ttl: *ttl,
                        probes: Vec::new(),
                    });
                }
                if let Some(mtu) = mtu {
                    self.trace.path_mtu = Some(self.trace.path_mtu.map_or(*mtu, |m| m.min(*mtu)));
                }
                let probe = match reply {
                    Some(reply) => JsonProbe::Answered {
                        addr: reply.from,
                        name: reply.name.clone(),
                        rtt_us: (reply.rtt.as_nanos() as f64 / 100.0).round() / 10.0,
                        annotation: reply.verdict.annotation().map(|a| a.to_string()),
                        reply_ttl: reply.reply_ttl,
                        back_hops: reply.reply_ttl.filter(|t| *t != 0).map(hops_back),
                        extension: reply.extension.clone(),
                        mtu: *mtu,
                    },
                    None => JsonProbe::Expired {
                        addr: None,
                        mtu: *mtu,
                    },
                };
                if let Some(hop) = self.trace.hops.last_mut() {
                    hop.probes.push(probe);
                }
            }
            Event::HopDone { .. } | Event::Explain(_) => {}
            Event::Finished { reached } => self.trace.reached = *reached,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traceroute::{Annotation, Reply, Verdict};
    use std::time::Duration;

    fn reply(from: &str, name: Option<&str>, micros: u64, verdict: Verdict) -> Option<Reply> {
        Some(Reply {
            from: Some(Address::from(from.parse::<IpAddr>().expect("ip"))),
            name: name.map(str::to_string),
            rtt: Duration::from_nanos(micros * 1000),
            verdict,
            reply_ttl: None,
            extension: None,
        })
    }

    fn probe(ttl: u8, position: usize, reply: Option<Reply>) -> Event {
        Event::Probe {
            ttl,
            position,
            reply,
            mtu: None,
        }
    }

    /// Render a list of events to the text lines they make.
    fn lines(numeric: bool, events: &[Event]) -> String {
        let mut renderer = TextRenderer::new(numeric);
        let mut text = String::new();
        for event in events {
            text.push_str(&renderer.text(event));
            if matches!(event, Event::Started { .. } | Event::HopDone { .. }) {
                text.push('\n');
            }
        }
        text
    }

    fn started(name: &str, addr: &str, packet_len: usize) -> Event {
        Event::Started {
            target_name: name.into(),
            target: Address::from(addr.parse::<IpAddr>().expect("ip")),
            max_ttl: 30,
            packet_len,
            method: crate::traceroute::Method::Udp,
        }
    }

    /// Captured from Butskoy traceroute 2.1.2 in `wirelab up chain:3`:
    /// `traceroute -n 10.0.4.2`.
    #[test]
    fn numeric_trace_matches_butskoy_capture() {
        let router = Verdict::Router;
        let events = [
            started("10.0.4.2", "10.0.4.2", 60),
            probe(1, 0, reply("10.0.1.1", None, 61, router)),
            probe(1, 1, reply("10.0.1.1", None, 7, router)),
            probe(1, 2, reply("10.0.1.1", None, 5, router)),
            Event::HopDone { ttl: 1 },
            probe(2, 0, reply("10.0.2.2", None, 36, router)),
            probe(2, 1, reply("10.0.2.2", None, 9, router)),
            probe(2, 2, reply("10.0.2.2", None, 7, router)),
            Event::HopDone { ttl: 2 },
            probe(3, 0, reply("10.0.4.2", None, 47, Verdict::Arrived)),
            probe(3, 1, reply("10.0.4.2", None, 10, Verdict::Arrived)),
            probe(3, 2, reply("10.0.4.2", None, 10, Verdict::Arrived)),
            Event::HopDone { ttl: 3 },
            Event::Finished { reached: true },
        ];
        assert_eq!(
            lines(true, &events),
            "traceroute to 10.0.4.2 (10.0.4.2), 30 hops max, 60 byte packets\n\
             \x201  10.0.1.1  0.061 ms  0.007 ms  0.005 ms\n\
             \x202  10.0.2.2  0.036 ms  0.009 ms  0.007 ms\n\
             \x203  10.0.4.2  0.047 ms  0.010 ms  0.010 ms\n"
        );
    }

    /// Captured from Butskoy 2.1.2 (`traceroute h2` in chain:3 with h2's ICMP rate limit
    /// spent): silent hops, and a line that starts with a star and then names the host.
    #[test]
    fn named_trace_with_stars_matches_butskoy_capture() {
        let events = [
            started("h2", "10.0.4.2", 60),
            probe(1, 0, reply("10.0.1.1", Some("r1"), 35, Verdict::Router)),
            probe(1, 1, reply("10.0.1.1", Some("r1"), 7, Verdict::Router)),
            probe(1, 2, reply("10.0.1.1", Some("r1"), 9, Verdict::Router)),
            Event::HopDone { ttl: 1 },
            probe(4, 0, None),
            probe(4, 1, None),
            probe(4, 2, None),
            Event::HopDone { ttl: 4 },
            probe(9, 0, None),
            probe(9, 1, reply("10.0.4.2", Some("h2"), 65, Verdict::Arrived)),
            probe(9, 2, reply("10.0.4.2", Some("h2"), 18, Verdict::Arrived)),
            Event::HopDone { ttl: 9 },
        ];
        assert_eq!(
            lines(false, &events),
            "traceroute to h2 (10.0.4.2), 30 hops max, 60 byte packets\n\
             \x201  r1 (10.0.1.1)  0.035 ms  0.007 ms  0.009 ms\n\
             \x204  * * *\n\
             \x209  * h2 (10.0.4.2)  0.065 ms  0.018 ms\n"
        );
    }

    #[test]
    fn a_new_responder_on_the_same_line_is_named_again() {
        let events = [
            probe(3, 0, reply("10.0.3.2", None, 50, Verdict::Router)),
            probe(3, 1, reply("10.0.9.2", None, 60, Verdict::Router)),
            probe(3, 2, reply("10.0.9.2", None, 70, Verdict::Router)),
            Event::HopDone { ttl: 3 },
            probe(10, 0, reply("10.0.3.2", None, 50, Verdict::Router)),
            probe(10, 1, None),
            probe(10, 2, reply("10.0.3.2", None, 50, Verdict::Router)),
            Event::HopDone { ttl: 10 },
        ];
        assert_eq!(
            lines(true, &events),
            " 3  10.0.3.2  0.050 ms 10.0.9.2  0.060 ms  0.070 ms\n\
             10  10.0.3.2  0.050 ms *  0.050 ms\n"
        );
    }

    /// A writer the test can read back after `Out` has taken it.
    #[derive(Clone, Default)]
    struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| io::Error::other("poisoned"))?
                .write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn rendered_stream_ends_every_hop_line_with_one_newline() {
        let shared = Shared::default();
        let mut out = Out::to_writer(shared.clone());
        let mut renderer = TextRenderer::new(true);
        for event in [
            started("10.0.4.2", "10.0.4.2", 60),
            probe(1, 0, reply("10.0.1.1", None, 61, Verdict::Router)),
            Event::HopDone { ttl: 1 },
            probe(2, 0, None),
            Event::HopDone { ttl: 2 },
            probe(3, 0, reply("10.0.4.2", None, 47, Verdict::Arrived)),
            Event::HopDone { ttl: 3 },
            Event::Finished { reached: true },
        ] {
            renderer.render(&event, &mut out).expect("write");
        }
        let text = String::from_utf8(shared.0.lock().expect("lock").clone()).expect("utf8");
        assert_eq!(
            text,
            "traceroute to 10.0.4.2 (10.0.4.2), 30 hops max, 60 byte packets\n\
             \x201  10.0.1.1  0.061 ms\n\
             \x202  *\n\
             \x203  10.0.4.2  0.047 ms\n"
        );
    }

    #[test]
    fn milliseconds_read_as_the_f64_formatting_they_replace() {
        let mut nanos: Vec<u64> = (0..3_000_000).step_by(7).collect();
        nanos.extend([0, 499, 500, 501, 999_499, 999_500, 999_501, 1_000_000]);
        nanos.extend((1..40).map(|i| i * 1_234_567_891)); // up to ~48 s
        for nanos in nanos {
            let rtt = Duration::from_nanos(nanos);
            let mut text = String::new();
            write_ms(&mut text, rtt);
            assert_eq!(
                text,
                format!("  {:.3} ms", rtt.as_secs_f64() * 1000.0),
                "{nanos} ns"
            );
        }
    }

    #[test]
    fn knowing_the_probes_per_hop_changes_no_byte() {
        let events = [
            started("10.0.4.2", "10.0.4.2", 60),
            probe(1, 0, reply("10.0.1.1", None, 61, Verdict::Router)),
            probe(1, 1, None),
            Event::HopDone { ttl: 1 },
            probe(2, 0, None),
            probe(2, 1, reply("10.0.4.2", None, 47, Verdict::Arrived)),
            Event::HopDone { ttl: 2 },
            Event::Finished { reached: true },
        ];
        let render = |mut renderer: TextRenderer| {
            let shared = Shared::default();
            let mut out = Out::to_writer(shared.clone());
            for event in &events {
                renderer.render(event, &mut out).expect("write");
            }
            let bytes = shared.0.lock().expect("lock").clone();
            String::from_utf8(bytes).expect("utf8")
        };
        let expected = "traceroute to 10.0.4.2 (10.0.4.2), 30 hops max, 60 byte packets\n\
                        \x201  10.0.1.1  0.061 ms *\n\
                        \x202  * 10.0.4.2  0.047 ms\n";
        assert_eq!(render(TextRenderer::new(true)), expected);
        assert_eq!(render(TextRenderer::new(true).with_queries(2)), expected);
    }

    /// Captured from Butskoy 2.1.2 (`traceroute -n -F 10.0.4.2 2000` on h1, whose link has an
    /// MTU of 1500): our own kernel refuses each probe; no address, a time, the mark.
    #[test]
    fn our_own_kernels_refusal_prints_a_star_then_the_time_and_mark() {
        let local = Some(Reply {
            from: None,
            name: None,
            rtt: Duration::from_micros(95),
            verdict: Verdict::Stopped(Annotation::FragmentationNeeded(1500)),
            reply_ttl: None,
            extension: None,
        });
        let events = [
            probe(1, 0, local.clone()),
            probe(1, 1, local.clone()),
            probe(1, 2, local),
            Event::HopDone { ttl: 1 },
        ];
        assert_eq!(
            lines(true, &events),
            " 1  *  0.095 ms !F-1500 *  0.095 ms !F-1500 *  0.095 ms !F-1500\n"
        );
    }

    /// Captured from Butskoy 2.1.2 (`traceroute -n --mtu 10.0.4.2`, the r2-r3 link at 1400).
    #[test]
    fn a_narrowing_path_is_marked_f_equals_mtu_after_the_time() {
        let events = [
            Event::Probe {
                ttl: 3,
                position: 0,
                reply: reply("10.0.3.2", None, 14, Verdict::Router),
                mtu: Some(1400),
            },
            probe(3, 1, reply("10.0.3.2", None, 5, Verdict::Router)),
            probe(3, 2, reply("10.0.3.2", None, 6, Verdict::Router)),
            Event::HopDone { ttl: 3 },
            Event::Probe {
                ttl: 4,
                position: 0,
                reply: None,
                mtu: Some(1280),
            },
            Event::HopDone { ttl: 4 },
        ];
        let mut renderer = TextRenderer::new(true);
        let text: String = events.iter().map(|e| renderer.text(e)).collect();
        assert_eq!(
            text,
            " 3  10.0.3.2  0.014 ms F=1400  0.005 ms  0.006 ms 4  * F=1280"
        );
    }

    #[test]
    fn back_hops_and_extensions_follow_the_address_and_repeat_it_when_they_change() {
        let with = |ttl: Option<u8>, extension: Option<&str>| {
            let mut reply = reply("10.0.2.2", None, 10, Verdict::Router);
            if let Some(reply) = reply.as_mut() {
                reply.reply_ttl = ttl;
                reply.extension = extension.map(str::to_string);
            }
            reply
        };
        let events = [
            probe(2, 0, with(Some(63), Some("MPLS:L=16,E=0,S=1,T=1"))),
            probe(2, 1, with(Some(62), Some("MPLS:L=16,E=0,S=1,T=1"))),
            probe(2, 2, with(Some(62), None)),
            Event::HopDone { ttl: 2 },
        ];
        let mut renderer = TextRenderer::new(true).with_backward(true);
        let text: String = events.iter().map(|e| renderer.text(e)).collect();
        assert_eq!(
            text,
            " 2  10.0.2.2 <MPLS:L=16,E=0,S=1,T=1>  0.010 ms 10.0.2.2 <MPLS:L=16,E=0,S=1,T=1> '-3'  0.010 ms 10.0.2.2 '-3'  0.010 ms"
        );
    }

    #[test]
    fn unnamed_address_is_shown_twice_without_dash_n() {
        let events = [probe(2, 0, reply("10.0.2.2", None, 12, Verdict::Router))];
        assert_eq!(lines(false, &events), " 2  10.0.2.2 (10.0.2.2)  0.012 ms");
    }

    #[test]
    fn errors_carry_their_mark_after_the_time() {
        let prohibited = Verdict::Stopped(Annotation::Prohibited);
        let events = [
            probe(4, 0, reply("10.0.3.2", None, 50, prohibited)),
            probe(4, 1, reply("10.0.3.2", None, 10, prohibited)),
            probe(4, 2, reply("10.0.3.2", None, 9, prohibited)),
            Event::HopDone { ttl: 4 },
        ];
        assert_eq!(
            lines(true, &events),
            " 4  10.0.3.2  0.050 ms !X  0.010 ms !X  0.009 ms !X\n"
        );
    }

    #[test]
    fn ipv6_header_counts_the_forty_byte_header() {
        let events = [started("h2", "fd00:0:0:4::2", 80)];
        assert_eq!(
            lines(true, &events),
            "traceroute to h2 (fd00:0:0:4::2), 30 hops max, 80 byte packets\n"
        );
    }

    #[test]
    fn json_keeps_hops_probes_and_stars() {
        let mut renderer = JsonRenderer::new();
        for event in [
            started("h2", "10.0.4.2", 60),
            probe(1, 0, reply("10.0.1.1", Some("r1"), 45, Verdict::Router)),
            probe(1, 1, None),
            Event::HopDone { ttl: 1 },
            probe(2, 0, reply("10.0.4.2", Some("h2"), 51, Verdict::Arrived)),
            probe(
                2,
                1,
                reply(
                    "10.0.4.2",
                    Some("h2"),
                    12,
                    Verdict::Stopped(Annotation::Host),
                ),
            ),
            Event::HopDone { ttl: 2 },
            Event::Finished { reached: true },
        ] {
            renderer.collect(&event);
        }
        let json = serde_json::to_value(&renderer.trace).expect("json");
        assert_eq!(json["target"], "h2");
        assert_eq!(json["addr"], "10.0.4.2");
        assert_eq!(json["hops"][0]["ttl"], 1);
        assert_eq!(json["hops"][0]["probes"][0]["addr"], "10.0.1.1");
        assert_eq!(json["hops"][0]["probes"][0]["name"], "r1");
        assert_eq!(json["hops"][0]["probes"][0]["rtt_us"], 45.0);
        assert_eq!(
            json["hops"][0]["probes"][1],
            serde_json::json!({"addr": null})
        );
        assert_eq!(json["hops"][1]["probes"][1]["annotation"], "!H");
        assert_eq!(json["method"], "default");
        assert_eq!(
            json["hops"][1]["probes"][0]["annotation"],
            serde_json::Value::Null
        );
        assert_eq!(json["reached"], true);
    }
}

//! Link impairment (lab 04's round trips, lab 05's old duplicate SYN, and every lab about
//! loss, retransmission or congestion): what a link may do to the packets that cross it, and
//! the small daemon that does the part the kernel here cannot.
//!
//! A link can delay packets (`delay`, with `jitter`), lose them (`loss`), copy them
//! (`duplicate`), swap neighbours (`reorder`), squeeze them through a bottleneck (`rate` with
//! a `queue`), and pick single packets out: drop the Nth one that matches a filter (`drop`),
//! or hold one back for a while (`hold`), such as the first SYN of a connection for 3 s, so the
//! retransmitted SYN overtakes it.
//!
//! On Linux the usual tool is netem (`tc qdisc ... netem`), but a kernel may not have it (this
//! project's CI kernel has no `CONFIG_NET_SCH_NETEM` and cannot load modules). So where netem is
//! missing each effect goes to the simplest thing that does it (`topo/impair.rs` plans it):
//!
//! | effect                        | done by                                      | where            |
//! |-------------------------------|----------------------------------------------|------------------|
//! | rate, queue                   | `tc qdisc tbf` (+ a `pfifo` of `queue` packets) | sender's egress |
//! | loss                          | nftables `numgen random` drop, netdev ingress | receiver         |
//! | delay, jitter, reorder, duplicate, drop Nth, hold | `wirelab-impaird` on NFQUEUE | sender's postrouting |
//!
//! A link with only a rate or a loss never goes through userspace.
//!
//! | file          | what it holds                                                   |
//! |---------------|-----------------------------------------------------------------|
//! | `mod.rs`      | the impairment's fields, their units and checks                 |
//! | `filter.rs`   | `tcp syn`, `udp dport 53`: which packets a chosen-packet rule picks |
//! | `engine.rs`   | the daemon's schedule: when each held packet leaves, pure and testable |
//! | `nfqueue.rs`  | NFQUEUE over plain netlink: take packets from the kernel, give verdicts |
//! | `daemon.rs`   | the daemon's loop: wait, receive, schedule, release, count      |

pub mod args;
pub mod daemon;
pub mod engine;
pub mod filter;
pub mod nfqueue;

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use filter::Filter;

/// The longest delay or hold a link may apply: longer would only look like a dead link.
pub const MAX_DELAY: Duration = Duration::from_secs(60);
/// The deepest bottleneck queue, in packets.
pub const MAX_QUEUE: u32 = 100_000;

/// A share of packets, 0 to 100 %.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Percent(pub f64);

impl Percent {
    pub fn parse(text: &str) -> Result<Percent, String> {
        let number = text
            .trim()
            .strip_suffix('%')
            .ok_or_else(|| format!("'{text}' needs a % sign, e.g. 1% or 0.5%"))?;
        let value: f64 = number
            .trim()
            .parse()
            .map_err(|_| format!("'{text}' is not a percentage like 1% or 0.5%"))?;
        if !(0.0..=100.0).contains(&value) {
            return Err(format!("'{text}' is outside 0% to 100%"));
        }
        Ok(Percent(value))
    }

    /// As a probability, 0.0 to 1.0.
    pub fn fraction(self) -> f64 {
        self.0 / 100.0
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0)
    }
}

/// A bottleneck rate in bits per second, written the way tc writes it: `10mbit`, `500kbit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate(pub u64);

impl Rate {
    pub fn parse(text: &str) -> Result<Rate, String> {
        let text = text.trim();
        let (number, unit) = crate::cli::number_and_unit(text);
        let value: f64 = number
            .parse()
            .map_err(|_| format!("'{text}' is not a rate like 10mbit or 500kbit"))?;
        // Decimal multipliers, as tc(8) uses for rates.
        let scale = match unit.to_ascii_lowercase().as_str() {
            "bit" => 1.0,
            "kbit" => 1e3,
            "mbit" => 1e6,
            "gbit" => 1e9,
            "" => {
                return Err(format!(
                    "'{text}' needs a unit: bit, kbit, mbit or gbit (e.g. 10mbit)"
                ))
            }
            other => {
                return Err(format!(
                    "'{text}': unknown unit '{other}' (use bit, kbit, mbit or gbit)"
                ))
            }
        };
        let bits = value * scale;
        if !(8.0..=100e9).contains(&bits) {
            return Err(format!("'{text}' is outside 8bit to 100gbit"));
        }
        Ok(Rate(bits as u64))
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bits = self.0;
        for (scale, unit) in [
            (1_000_000_000, "gbit"),
            (1_000_000, "mbit"),
            (1_000, "kbit"),
        ] {
            if bits >= scale && bits % scale == 0 {
                return write!(f, "{}{unit}", bits / scale);
            }
        }
        write!(f, "{bits}bit")
    }
}

/// A delay as written: `10ms`, `1.5s`, `250us`. A bare number is refused here (unlike
/// ping's `-i 0.2`): a link's delay in seconds by mistake would be a surprise.
pub fn parse_delay(text: &str) -> Result<Duration, String> {
    if text.trim().chars().all(|c| c.is_ascii_digit() || c == '.') && text.trim() != "0" {
        return Err(format!("'{text}' needs a unit: us, ms or s (e.g. 10ms)"));
    }
    if text.trim().starts_with('-') {
        return Err(format!("'{text}' is negative"));
    }
    let delay = crate::cli::parse_duration(text)?;
    if delay > MAX_DELAY {
        return Err(format!("'{text}' is longer than {}s", MAX_DELAY.as_secs()));
    }
    Ok(delay)
}

/// `10ms`, `1500us`, `3s`: the shortest exact way to write a duration.
pub fn format_delay(delay: Duration) -> String {
    let micros = delay.as_micros();
    if micros % 1_000_000 == 0 {
        format!("{}s", micros / 1_000_000)
    } else if micros % 1_000 == 0 {
        format!("{}ms", micros / 1_000)
    } else {
        format!("{micros}us")
    }
}

/// One chosen packet: the `nth` packet matching `filter` on this direction of the link is
/// dropped, or (with `hold_for`) held back that long. Once: later matches pass.
#[derive(Debug, Clone, PartialEq)]
pub struct Chosen {
    pub filter: Filter,
    pub nth: u32,
    pub hold_for: Option<Duration>,
}

/// What one direction of a link does to its packets. Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Impairment {
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_delay")]
    pub delay: Option<Duration>,
    /// Standard deviation of a normal distribution around `delay`; packets never overtake
    /// each other because of it (only `reorder` swaps packets).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_delay")]
    pub jitter: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_text")]
    pub loss: Option<Percent>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_text")]
    pub duplicate: Option<Percent>,
    /// The share of packets that overtake the packet right before them (at most 50 %).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_text")]
    pub reorder: Option<Percent>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_text")]
    pub rate: Option<Rate>,
    /// Packets the bottleneck queues before it drops (tail drop); with `rate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<u32>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "serde_chosen"
    )]
    pub drop: Option<Chosen>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "serde_chosen"
    )]
    pub hold: Option<Chosen>,
}

impl Impairment {
    pub fn is_empty(&self) -> bool {
        *self == Impairment::default()
    }

    /// Whether packets must pass through wirelab-impaird (nothing in the kernel here delays,
    /// copies or reorders them, or picks one out).
    pub fn needs_daemon(&self) -> bool {
        self.delay.is_some_and(|d| !d.is_zero())
            || self.jitter.is_some_and(|d| !d.is_zero())
            || self.duplicate.is_some_and(|p| p.0 > 0.0)
            || self.reorder.is_some_and(|p| p.0 > 0.0)
            || self.drop.is_some()
            || self.hold.is_some()
    }

    /// This impairment with every field `newer` sets taken from `newer`. A share set to 0 %
    /// takes that field away (`--loss 0%` after `--loss 5%`), so `wirelab link show` reads as
    /// the link did before it was set.
    pub fn merged(&self, newer: &Impairment) -> Impairment {
        let share =
            |newer: Option<Percent>, older: Option<Percent>| newer.or(older).filter(|p| p.0 > 0.0);
        Impairment {
            delay: newer.delay.or(self.delay),
            jitter: newer.jitter.or(self.jitter),
            loss: share(newer.loss, self.loss),
            duplicate: share(newer.duplicate, self.duplicate),
            reorder: share(newer.reorder, self.reorder),
            rate: newer.rate.or(self.rate),
            queue: newer.queue.or(self.queue),
            drop: newer.drop.clone().or_else(|| self.drop.clone()),
            hold: newer.hold.clone().or_else(|| self.hold.clone()),
        }
    }

    /// Rules that involve two fields; the field each complaint is about comes first.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.jitter.is_some_and(|j| !j.is_zero()) && self.delay.is_none_or(|d| d.is_zero()) {
            return Err(("jitter", "jitter varies a delay: set delay too".into()));
        }
        if self.reorder.is_some_and(|p| p.0 > 50.0) {
            return Err((
                "reorder",
                "at most 50%: each packet that overtakes another needs one to overtake".into(),
            ));
        }
        if self.queue.is_some() && self.rate.is_none() {
            return Err((
                "queue",
                "queue is the bottleneck's queue: set rate too".into(),
            ));
        }
        Ok(())
    }

    /// One line for people: `delay 10ms jitter 2ms loss 1% rate 10mbit queue 40`.
    pub fn describe(&self) -> String {
        let mut words = Vec::new();
        if let Some(delay) = self.delay {
            words.push(format!("delay {}", format_delay(delay)));
        }
        if let Some(jitter) = self.jitter {
            words.push(format!("jitter {}", format_delay(jitter)));
        }
        for (name, value) in [
            ("loss", self.loss),
            ("duplicate", self.duplicate),
            ("reorder", self.reorder),
        ] {
            if let Some(value) = value {
                words.push(format!("{name} {value}"));
            }
        }
        if let Some(rate) = self.rate {
            words.push(format!("rate {rate}"));
        }
        if let Some(queue) = self.queue {
            words.push(format!("queue {queue}"));
        }
        if let Some(drop) = &self.drop {
            words.push(format!("drop #{} of '{}'", drop.nth, drop.filter));
        }
        if let Some(hold) = &self.hold {
            words.push(format!(
                "hold #{} of '{}' for {}",
                hold.nth,
                hold.filter,
                format_delay(hold.hold_for.unwrap_or_default())
            ));
        }
        if words.is_empty() {
            "none".into()
        } else {
            words.join(" ")
        }
    }
}

/// Parse a queue length in packets.
pub fn parse_queue(value: i64) -> Result<u32, String> {
    if value < 1 || value > i64::from(MAX_QUEUE) {
        return Err(format!("{value} packets: use 1 to {MAX_QUEUE}"));
    }
    Ok(value as u32)
}

/// Parse `nth`: which matching packet (1 = the first).
pub fn parse_nth(value: i64) -> Result<u32, String> {
    if value < 1 || value > i64::from(u32::MAX) {
        return Err(format!("{value}: count matching packets from 1"));
    }
    Ok(value as u32)
}

mod serde_delay {
    use super::*;

    pub fn serialize<S: Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => s.serialize_str(&format_delay(*d)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| parse_delay(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// Percentages and rates travel as the text a person writes ("1%", "10mbit").
mod serde_text {
    use super::*;

    pub trait Text: Sized + fmt::Display {
        fn parse_text(text: &str) -> Result<Self, String>;
    }
    impl Text for Percent {
        fn parse_text(text: &str) -> Result<Self, String> {
            Percent::parse(text)
        }
    }
    impl Text for Rate {
        fn parse_text(text: &str) -> Result<Self, String> {
            Rate::parse(text)
        }
    }

    pub fn serialize<S: Serializer, T: Text>(value: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => s.serialize_str(&v.to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: Text>(d: D) -> Result<Option<T>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| T::parse_text(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// A chosen packet as `{ "match": "tcp syn", "nth": 1, "for": "3s" }`.
mod serde_chosen {
    use super::*;

    #[derive(Serialize, Deserialize)]
    struct Form {
        #[serde(rename = "match")]
        filter: String,
        nth: u32,
        #[serde(rename = "for", default, skip_serializing_if = "Option::is_none")]
        hold_for: Option<String>,
    }

    pub fn serialize<S: Serializer>(value: &Option<Chosen>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(chosen) => Form {
                filter: chosen.filter.to_string(),
                nth: chosen.nth,
                hold_for: chosen.hold_for.map(format_delay),
            }
            .serialize(s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Chosen>, D::Error> {
        let form: Option<Form> = Option::deserialize(d)?;
        form.map(|form| {
            Ok(Chosen {
                filter: Filter::parse(&form.filter).map_err(serde::de::Error::custom)?,
                nth: form.nth,
                hold_for: form
                    .hold_for
                    .map(|t| parse_delay(&t).map_err(serde::de::Error::custom))
                    .transpose()?,
            })
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_parse_and_print_back() {
        assert_eq!(Rate::parse("10mbit").unwrap(), Rate(10_000_000));
        assert_eq!(Rate::parse("1.5mbit").unwrap().to_string(), "1500kbit");
        assert_eq!(parse_delay("10ms").unwrap(), Duration::from_millis(10));
        assert_eq!(format_delay(Duration::from_micros(1500)), "1500us");
        assert_eq!(format_delay(Duration::from_secs(3)), "3s");
        assert_eq!(Percent::parse("0.5%").unwrap().to_string(), "0.5%");
    }

    #[test]
    fn a_share_set_to_zero_takes_the_field_away() {
        let lossy = Impairment {
            delay: Some(Duration::from_millis(20)),
            loss: Some(Percent(5.0)),
            reorder: Some(Percent(5.0)),
            ..Impairment::default()
        };
        let back = lossy.merged(&Impairment {
            loss: Some(Percent(0.0)),
            reorder: Some(Percent(0.0)),
            ..Impairment::default()
        });
        assert_eq!(back.loss, None);
        assert_eq!(back.reorder, None);
        assert_eq!(back.delay, Some(Duration::from_millis(20)), "kept");
    }

    #[test]
    fn bad_values_say_what_is_wrong() {
        assert!(Rate::parse("10mbps")
            .unwrap_err()
            .contains("unknown unit 'mbps'"));
        assert!(Rate::parse("10").unwrap_err().contains("needs a unit"));
        assert!(parse_delay("10").unwrap_err().contains("needs a unit"));
        assert!(parse_delay("10 parsecs").is_err());
        assert!(parse_delay("-5ms").unwrap_err().contains("negative"));
        assert!(Percent::parse("101%")
            .unwrap_err()
            .contains("outside 0% to 100%"));
        assert!(Percent::parse("-1%").unwrap_err().contains("outside"));
        assert!(Percent::parse("5").unwrap_err().contains("% sign"));
        assert!(parse_queue(0).is_err());
    }

    #[test]
    fn json_form_is_what_a_person_writes() {
        let impairment = Impairment {
            delay: Some(Duration::from_millis(10)),
            loss: Some(Percent(1.0)),
            rate: Some(Rate(10_000_000)),
            hold: Some(Chosen {
                filter: Filter::parse("tcp syn").unwrap(),
                nth: 1,
                hold_for: Some(Duration::from_secs(3)),
            }),
            ..Impairment::default()
        };
        let json = serde_json::to_string(&impairment).unwrap();
        assert_eq!(
            json,
            r#"{"delay":"10ms","loss":"1%","rate":"10mbit","hold":{"match":"tcp syn","nth":1,"for":"3s"}}"#
        );
        let back: Impairment = serde_json::from_str(&json).unwrap();
        assert_eq!(back, impairment);
        assert!(back.needs_daemon());
        let kernel_only = Impairment {
            loss: Some(Percent(5.0)),
            rate: Some(Rate(1_000_000)),
            ..Impairment::default()
        };
        assert!(!kernel_only.needs_daemon());
    }
}

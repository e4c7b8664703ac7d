//! Butskoy's command line, where it is more than flags (lab 02): numbers read as C's
//! `strtoul(s, &end, 0)` reads them (`0x10`, `010`), ports and protocols by name
//! (`-p domain`, `-P udp`), `-M` modules with their `-O` options, and the checks Butskoy
//! makes after parsing, with its words (`first hop out of range`). The binary's clap
//! definition turns the command line into [`Request`]; [`Request::into_config`] does the rest.
//!
//! Kept in the library, not the binary, so the unit tests below pin each rule.

use std::ffi::CString;
use std::time::Duration;

use super::{
    dccp, tcp, Config, Method, SocketOptions, Wait, DEFAULT_DATA_AND_HEADER, DEFAULT_PORT,
    DEFAULT_RAW_PROTOCOL, DEFAULT_UDP_PORT, MAX_PACKET_LEN,
};
use crate::sock::icmp::SocketKind;

/// Butskoy's limits (`MAX_HOPS`, `MAX_PROBES`).
pub const MAX_HOPS: u32 = 255;
pub const MAX_PROBES: u32 = 10;

/// A number as C's `strtoul(text, &end, 0)` reads it, whole: decimal, `0x` hex or `0`
/// octal, an optional sign (a minus wraps around, as unsigned C arithmetic does). Used as a
/// clap value parser for every numeric option Butskoy reads with `CLIF_set_uint`.
pub fn c_uint(text: &str) -> Result<u32, String> {
    let trimmed = text.trim_start();
    let (negative, digits) = match trimmed.as_bytes().first() {
        Some(b'-') => (true, &trimmed[1..]),
        Some(b'+') => (false, &trimmed[1..]),
        _ => (false, trimmed),
    };
    let (radix, body) = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
        .filter(|rest| !rest.is_empty())
    {
        (16, hex)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    if body.is_empty() {
        return Err(format!("'{text}' is not a number"));
    }
    // strtoul saturates at ULONG_MAX, then the cast to unsigned int keeps the low 32 bits.
    let value = match u64::from_str_radix(body, radix) {
        Ok(value) => value,
        Err(err) if matches!(err.kind(), std::num::IntErrorKind::PosOverflow) => u64::MAX,
        Err(_) => return Err(format!("'{text}' is not a number")),
    };
    let value = if negative {
        value.wrapping_neg()
    } else {
        value
    };
    Ok(value as u32)
}

/// A number as C's `strtod` reads it, whole (`-z`, the MAX,HERE,NEAR of `-w`).
pub fn c_double(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .trim_start()
        .parse()
        .map_err(|_| format!("'{text}' is not a number"))?;
    if value.is_nan() {
        return Err(format!("'{text}' is not a number"));
    }
    Ok(value)
}

/// `-w MAX[,HERE[,NEAR]]` as Butskoy reads it: any one character separates the numbers;
/// MAX alone turns HERE and NEAR off. Negative values pass here and are refused by
/// [`Request::into_config`] with Butskoy's words.
pub fn wait_spec(text: &str) -> Result<(f64, f64, f64), String> {
    let mut values = [0.0f64; 3];
    let mut rest = text;
    for (i, value) in values.iter_mut().enumerate() {
        let end = number_end(rest);
        *value = c_double(&rest[..end])
            .map_err(|_| format!("invalid wait '{text}': expected MAX[,HERE,NEAR]"))?;
        rest = &rest[end..];
        let mut chars = rest.chars();
        match chars.next() {
            None => return Ok((values[0], values[1], values[2])),
            Some(_) if i < 2 => rest = chars.as_str(),
            Some(_) => break,
        }
    }
    Err(format!("invalid wait '{text}': expected MAX[,HERE,NEAR]"))
}

/// Where the number at the start of `text` ends (digits, sign, point, exponent).
fn number_end(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut end = 0;
    while end < bytes.len() {
        let c = bytes[end];
        let sign_ok =
            (c == b'-' || c == b'+') && (end == 0 || matches!(bytes[end - 1], b'e' | b'E'));
        if c.is_ascii_digit() || c == b'.' || c == b'e' || c == b'E' || sign_ok {
            end += 1;
        } else {
            break;
        }
    }
    end
}

/// `%g` of C's printf for the numbers Butskoy echoes back in its messages.
pub fn format_g(value: f64) -> String {
    if value == value.trunc() && value.abs() < 1e15 {
        return format!("{}", value as i64);
    }
    let text = format!("{:.6}", value);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    // Six significant digits, as %g.
    let digits = text.chars().filter(|c| c.is_ascii_digit()).count();
    if digits > 6 {
        let precision = 6usize.saturating_sub(value.abs().log10().floor() as usize + 1);
        let text = format!("{value:.precision$}");
        return text.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    text.to_string()
}

/// A port as Butskoy's `set_port()` reads it: a number, or a service name from
/// /etc/services (`domain`, `http`).
pub fn port(text: &str) -> Result<u32, String> {
    if let Ok(number) = c_uint(text) {
        return Ok(number);
    }
    let name = CString::new(text).map_err(|_| format!("invalid port '{text}'"))?;
    // SAFETY: a valid C string; getservbyname returns a pointer into static storage or NULL,
    // read at once (the binary is single-threaded here).
    let entry = unsafe { libc::getservbyname(name.as_ptr(), std::ptr::null()) };
    if entry.is_null() {
        return Err(format!(
            "invalid port '{text}': not a number, and not a service in /etc/services"
        ));
    }
    // SAFETY: non-null, points at a servent.
    let port = unsafe { (*entry).s_port };
    Ok(u32::from(u16::from_be(port as u16)))
}

/// A protocol as `-P` reads it: a number, or a name from /etc/protocols (`udp`, `sctp`).
pub fn protocol(text: &str) -> Result<u32, String> {
    if let Ok(number) = c_uint(text) {
        return Ok(number);
    }
    let name = CString::new(text).map_err(|_| format!("invalid protocol '{text}'"))?;
    // SAFETY: as for getservbyname above.
    let entry = unsafe { libc::getprotobyname(name.as_ptr()) };
    if entry.is_null() {
        return Err(format!(
            "invalid protocol '{text}': not a number, and not in /etc/protocols"
        ));
    }
    // SAFETY: non-null, points at a protoent.
    Ok(unsafe { (*entry).p_proto } as u32)
}

/// What the command line asked for, as parsed by the binary.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Request {
    pub ipv4: bool,
    pub ipv6: bool,
    pub debug: bool,
    pub dont_fragment: bool,
    pub first: Option<u32>,
    pub gateways: Vec<String>,
    pub icmp: bool,
    pub tcp: bool,
    pub interface: Option<String>,
    pub max_hops: Option<u32>,
    pub sim_queries: Option<u32>,
    pub numeric: bool,
    pub port: Option<u32>,
    pub tos: Option<u32>,
    pub flow_label: Option<u32>,
    pub wait: Option<(f64, f64, f64)>,
    pub queries: Option<u32>,
    pub dont_route: bool,
    pub source: Option<std::net::IpAddr>,
    pub send_wait: Option<f64>,
    pub extensions: bool,
    pub as_lookups: bool,
    pub module: Option<String>,
    pub module_options: Vec<String>,
    pub source_port: Option<u32>,
    pub fwmark: Option<u32>,
    pub udp: bool,
    pub udplite: bool,
    pub dccp: bool,
    pub protocol: Option<u32>,
    pub mtu: bool,
    pub back: bool,
    pub socket: Option<SocketKind>,
    pub explain: bool,
    /// The packet length argument (Butskoy's `CLIF_arg_int`: signed).
    pub packet_len: Option<i64>,
}

/// A command line Butskoy refuses (exit 2), with the words to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What `-O help` prints for each module, and what the module accepts.
pub fn module_options_help(method: Method) -> Option<&'static str> {
    match method {
        Method::Icmp => Some(
            "  raw                         Use raw sockets way only. Default is try this way first (probably not allowed for unprivileged users), then try dgram\n  dgram                       Use dgram sockets way only. May be not implemented by old kernels or restricted by sysadmins",
        ),
        Method::UdpLite => Some("  coverage=NUM                Set udplite send coverage to NUM (default is 8)"),
        Method::Dccp => Some("  service=NUM                 Set DCCP service code to NUM (default is 1885957735)"),
        Method::Raw(_) => Some("  protocol=PROT               Use protocol PROT (default is 253)"),
        _ => None,
    }
}

impl Request {
    /// The method the flags and `-M` name (the last one given wins, as in Butskoy).
    fn method(&self) -> Result<Method, Usage> {
        if let Some(name) = &self.module {
            return match name.as_str() {
                "default" => Ok(Method::Udp),
                "udp" => Ok(Method::UdpPort),
                "udplite" => Ok(Method::UdpLite),
                "icmp" => Ok(Method::Icmp),
                // Butskoy's "tcp" crafts SYNs on a raw socket; ours lets the kernel send
                // them (its "tcpconn"): the same hops, no privileges.
                "tcp" | "tcpconn" => Ok(Method::Tcp),
                "dccp" => Ok(Method::Dccp),
                "raw" => Ok(Method::Raw(DEFAULT_RAW_PROTOCOL)),
                other => Err(Usage(format!("Unknown traceroute module {other}"))),
            };
        }
        Ok(if let Some(protocol) = self.protocol {
            Method::Raw(protocol as u8)
        } else if self.dccp {
            Method::Dccp
        } else if self.udplite {
            Method::UdpLite
        } else if self.udp {
            Method::UdpPort
        } else if self.tcp {
            Method::Tcp
        } else if self.icmp {
            Method::Icmp
        } else {
            Method::Udp
        })
    }

    /// Check everything Butskoy checks, in its order and with its words, and build the
    /// trace's configuration for `target` (resolved by the caller). Refusals of what we do
    /// not support (-g, -A, -T's -O flags) say why.
    pub fn into_config(self, host: &str, target: super::Address) -> Result<Config, Usage> {
        if !self.gateways.is_empty() {
            return Err(Usage(
                "-g (source routing) is not supported: IPv4 loose source routes (RFC 791) are \
                 dropped by routers and refused by Linux (net.ipv4.conf.*.accept_source_route = \
                 0), and IPv6 type 0 routing headers are deprecated (RFC 5095)"
                    .into(),
            ));
        }
        if self.as_lookups {
            return Err(Usage(
                "-A (AS path lookups) is not supported: it asks a whois server on the internet \
                 (whois.radb.net), which a lab has no route to"
                    .into(),
            ));
        }
        let mut method = self.method()?;
        let mut config = Config::new(host, target);
        // -O: the module's own options.
        for options in &self.module_options {
            for option in options.split(',').filter(|o| !o.is_empty()) {
                let (name, value) = option.split_once('=').unwrap_or((option, ""));
                match (method, name) {
                    (Method::Icmp, "raw") => config.socket = Some(SocketKind::Raw),
                    (Method::Icmp, "dgram") => config.socket = Some(SocketKind::Dgram),
                    (Method::UdpLite, "coverage") => {
                        let coverage = c_uint(value).map_err(|_| bad_option(option))?;
                        config.udplite_coverage = Some(coverage as u16);
                    }
                    (Method::Dccp, "service") => {
                        config.dccp_service = c_uint(value).map_err(|_| bad_option(option))?;
                    }
                    (Method::Raw(_), "protocol") => {
                        method =
                            Method::Raw(protocol(value).map_err(|_| bad_option(option))? as u8);
                    }
                    (Method::Tcp, _) => {
                        return Err(Usage(format!(
                            "-O {option}: not supported: our -T lets the kernel send the SYN (a \
                             connect(), no privileges needed), so its flags and options are the \
                             kernel's own"
                        )))
                    }
                    _ => return Err(Usage(format!("Bad option `{option}'"))),
                }
            }
        }
        if let Some(socket) = self.socket {
            config.socket = Some(socket);
        }
        let first = self.first.unwrap_or(1);
        let max_hops = self.max_hops.unwrap_or(30);
        let queries = self.queries.unwrap_or(3);
        let (wait_max, here, near) = self.wait.unwrap_or((5.0, 3.0, 10.0));
        if first == 0 || first > max_hops {
            return Err(Usage("first hop out of range".into()));
        }
        if max_hops > MAX_HOPS {
            return Err(Usage(format!("max hops cannot be more than {MAX_HOPS}")));
        }
        if queries == 0 || queries > MAX_PROBES {
            return Err(Usage(format!("no more than {MAX_PROBES} probes per hop")));
        }
        if wait_max < 0.0 || here < 0.0 || near < 0.0 {
            return Err(Usage(format!(
                "bad wait specifications `{},{},{}' used",
                format_g(wait_max),
                format_g(here),
                format_g(near)
            )));
        }
        if self
            .packet_len
            .is_some_and(|len| len > MAX_PACKET_LEN as i64)
        {
            return Err(Usage(format!(
                "too big packetlen {} specified",
                self.packet_len.unwrap_or_default()
            )));
        }
        if self
            .source
            .is_some_and(|source| source.is_ipv4() != target.ip.is_ipv4())
        {
            return Err(Usage("IP version mismatch in addresses specified".into()));
        }
        let mut send_wait = self.send_wait.unwrap_or(0.0);
        if send_wait < 0.0 {
            return Err(Usage(format!(
                "bad sendtime `{}' specified",
                format_g(send_wait)
            )));
        }
        // "If the value is more than 10, then it specifies a number in milliseconds."
        if send_wait >= 10.0 {
            send_wait /= 1000.0;
        }
        config.method = method;
        config.first_ttl = first as u8;
        config.max_ttl = max_hops as u8;
        config.queries = queries as u8;
        // -N 0 sends one at a time, as Butskoy's loop does.
        config.in_flight = self.sim_queries.unwrap_or(16).clamp(1, u32::from(u16::MAX)) as u16;
        config.wait = Wait {
            max: Duration::from_secs_f64(wait_max.min(86_400.0)),
            here,
            near,
        };
        config.send_wait = Duration::from_secs_f64(send_wait.min(86_400.0));
        let given_port = self.port.filter(|port| *port != 0);
        config.port = match method {
            Method::Udp => given_port.map_or(DEFAULT_PORT, |p| p as u16),
            Method::UdpPort | Method::UdpLite => given_port.map_or(DEFAULT_UDP_PORT, |p| p as u16),
            Method::Icmp => given_port.map_or(1, |p| p as u16),
            Method::Tcp => given_port.map_or(tcp::DEFAULT_TCP_PORT, |p| p as u16),
            Method::Dccp => given_port.map_or(DEFAULT_PORT, |p| p as u16),
            // -P: -p names the protocol.
            Method::Raw(protocol) => given_port.map_or(u16::from(protocol), |p| p as u16),
        };
        if let (Method::Raw(_), Some(protocol)) = (method, given_port) {
            config.method = Method::Raw(protocol as u8);
        }
        config.options = SocketOptions {
            source: self.source,
            source_port: self.source_port.filter(|p| *p != 0).map(|p| p as u16),
            device: self.interface,
            fwmark: self.fwmark.unwrap_or(0),
            tos: self.tos.unwrap_or(0) as u8,
            flow_label: self.flow_label.unwrap_or(0),
            dont_fragment: self.dont_fragment || self.mtu,
            dont_route: self.dont_route,
            debug: self.debug,
        };
        // One at a time, waiting the full MAX, when probes cannot be told apart otherwise:
        // a fixed source port (--sport), or a method without ports (-P).
        if config.options.source_port.is_some() || config.method.one_at_a_time() {
            config.in_flight = 1;
            config.wait.here = 0.0;
            config.wait.near = 0.0;
        }
        config.path_mtu = self.mtu;
        if self.mtu {
            config.in_flight = 1;
        }
        // The data: Butskoy's DEF_DATA_LEN less the method's header, or what the packet
        // length leaves after the headers (nothing, if it is shorter than them).
        let header_len = config.header_len();
        config.data_len = match (self.packet_len, self.mtu) {
            (Some(len), _) if len >= header_len as i64 => len as usize - header_len,
            (Some(_), _) => 0,
            (None, true) => MAX_PACKET_LEN - header_len,
            (None, false) => DEFAULT_DATA_AND_HEADER.saturating_sub(config.method.header_len()),
        };
        match config.method {
            // -T and -D build their own packet: its length is what the header shows.
            Method::Tcp => config.data_len = tcp::syn_len(),
            Method::Dccp => config.data_len = dccp::REQUEST_LEN,
            // An echo request is at least its 8-byte header.
            Method::Icmp => config.data_len = config.data_len.max(8),
            _ => {}
        }
        config.backward = self.back;
        config.extensions = self.extensions;
        config.resolve_names = !self.numeric;
        config.explain = self.explain;
        Ok(config)
    }
}

fn bad_option(option: &str) -> Usage {
    Usage(format!("Cannot handle `{option}' option"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traceroute::Address;
    use std::net::IpAddr;

    fn target() -> Address {
        Address::from("10.0.4.2".parse::<IpAddr>().expect("ip"))
    }

    fn config(request: Request) -> Result<Config, Usage> {
        request.into_config("h2", target())
    }

    #[test]
    fn numbers_read_as_strtoul_reads_them() {
        assert_eq!(c_uint("30"), Ok(30));
        assert_eq!(c_uint("0x10"), Ok(16));
        assert_eq!(c_uint("010"), Ok(8));
        assert_eq!(c_uint("0"), Ok(0));
        assert_eq!(c_uint("-1"), Ok(u32::MAX));
        assert!(c_uint("3x").is_err());
        assert!(c_uint("").is_err());
    }

    #[test]
    fn waits_take_any_one_separator() {
        assert_eq!(wait_spec("5.0,3,10"), Ok((5.0, 3.0, 10.0)));
        assert_eq!(wait_spec("5/3/10"), Ok((5.0, 3.0, 10.0)));
        assert_eq!(wait_spec("2"), Ok((2.0, 0.0, 0.0)));
        assert_eq!(wait_spec("-1"), Ok((-1.0, 0.0, 0.0)));
        assert!(wait_spec("5,").is_err());
        assert!(wait_spec("x").is_err());
        assert!(wait_spec("1,2,3,4").is_err());
    }

    #[test]
    fn range_checks_use_butskoys_words_in_its_order() {
        let refused = |request: Request| config(request).expect_err("refused").0;
        assert_eq!(
            refused(Request {
                first: Some(0),
                ..Request::default()
            }),
            "first hop out of range"
        );
        assert_eq!(
            refused(Request {
                first: Some(5),
                max_hops: Some(3),
                ..Request::default()
            }),
            "first hop out of range"
        );
        assert_eq!(
            refused(Request {
                max_hops: Some(256),
                ..Request::default()
            }),
            "max hops cannot be more than 255"
        );
        assert_eq!(
            refused(Request {
                queries: Some(11),
                ..Request::default()
            }),
            "no more than 10 probes per hop"
        );
        assert_eq!(
            refused(Request {
                queries: Some(0),
                ..Request::default()
            }),
            "no more than 10 probes per hop"
        );
        assert_eq!(
            refused(Request {
                wait: Some((-1.0, 0.0, 0.0)),
                ..Request::default()
            }),
            "bad wait specifications `-1,0,0' used"
        );
        assert_eq!(
            refused(Request {
                packet_len: Some(70000),
                ..Request::default()
            }),
            "too big packetlen 70000 specified"
        );
        assert_eq!(
            refused(Request {
                send_wait: Some(-0.5),
                ..Request::default()
            }),
            "bad sendtime `-0.5' specified"
        );
        assert_eq!(
            refused(Request {
                source: Some("fd00::2".parse().expect("ip")),
                ..Request::default()
            }),
            "IP version mismatch in addresses specified"
        );
    }

    #[test]
    fn packet_lengths_as_butskoy_counts_them() {
        let len = |request: Request| config(request).expect("config").packet_len();
        assert_eq!(len(Request::default()), 60);
        assert_eq!(
            len(Request {
                packet_len: Some(100),
                ..Request::default()
            }),
            100
        );
        // Shorter than the headers: the headers alone.
        assert_eq!(
            len(Request {
                packet_len: Some(10),
                ..Request::default()
            }),
            28
        );
        assert_eq!(
            len(Request {
                icmp: true,
                packet_len: Some(10),
                ..Request::default()
            }),
            28
        );
        assert_eq!(
            len(Request {
                mtu: true,
                ..Request::default()
            }),
            65000
        );
        assert_eq!(
            len(Request {
                dccp: true,
                ..Request::default()
            }),
            40
        );
        assert_eq!(
            len(Request {
                protocol: Some(253),
                ..Request::default()
            }),
            60
        );
    }

    #[test]
    fn methods_take_their_ports_and_limits() {
        let udp = config(Request {
            udp: true,
            ..Request::default()
        })
        .expect("config");
        assert_eq!((udp.method, udp.port), (Method::UdpPort, 53));
        let raw = config(Request {
            protocol: Some(17),
            port: Some(5),
            ..Request::default()
        })
        .expect("config");
        assert_eq!(raw.method, Method::Raw(5), "-p names the protocol for -P");
        assert_eq!(raw.in_flight, 1);
        let sport = config(Request {
            source_port: Some(4000),
            ..Request::default()
        })
        .expect("config");
        assert_eq!(
            (sport.in_flight, sport.wait.here, sport.wait.near),
            (1, 0.0, 0.0)
        );
        let mtu = config(Request {
            mtu: true,
            ..Request::default()
        })
        .expect("config");
        assert!(mtu.options.dont_fragment && mtu.path_mtu);
        assert_eq!(mtu.in_flight, 1);
        let none = config(Request {
            sim_queries: Some(0),
            ..Request::default()
        })
        .expect("config");
        assert_eq!(none.in_flight, 1);
        let module = config(Request {
            module: Some("udplite".into()),
            ..Request::default()
        })
        .expect("config");
        assert_eq!(module.method, Method::UdpLite);
        assert!(config(Request {
            module: Some("nope".into()),
            ..Request::default()
        })
        .is_err());
    }

    #[test]
    fn sendwait_over_ten_is_milliseconds() {
        let ms = config(Request {
            send_wait: Some(50.0),
            ..Request::default()
        })
        .expect("config");
        assert_eq!(ms.send_wait, Duration::from_millis(50));
        let s = config(Request {
            send_wait: Some(0.5),
            ..Request::default()
        })
        .expect("config");
        assert_eq!(s.send_wait, Duration::from_millis(500));
    }

    #[test]
    fn source_routing_and_as_lookups_are_refused_with_the_reason() {
        let g = config(Request {
            gateways: vec!["10.0.1.1".into()],
            ..Request::default()
        });
        assert!(g
            .expect_err("refused")
            .0
            .starts_with("-g (source routing) is not supported"));
        let a = config(Request {
            as_lookups: true,
            ..Request::default()
        });
        assert!(a.expect_err("refused").0.contains("whois"));
    }

    #[test]
    fn module_options_set_what_they_name() {
        let icmp = config(Request {
            icmp: true,
            module_options: vec!["raw".into()],
            ..Request::default()
        })
        .expect("config");
        assert_eq!(icmp.socket, Some(SocketKind::Raw));
        let coverage = config(Request {
            udplite: true,
            module_options: vec!["coverage=12".into()],
            ..Request::default()
        })
        .expect("config");
        assert_eq!(coverage.udplite_coverage, Some(12));
        let tcp = config(Request {
            tcp: true,
            module_options: vec!["ack".into()],
            ..Request::default()
        });
        assert!(tcp.is_err());
    }

    #[test]
    fn printf_g_formatting() {
        assert_eq!(format_g(-1.0), "-1");
        assert_eq!(format_g(0.0), "0");
        assert_eq!(format_g(-0.5), "-0.5");
        assert_eq!(format_g(2.25), "2.25");
    }

    #[test]
    fn services_and_protocols_by_name() {
        // netbase's /etc/services and /etc/protocols (a Debian base package).
        if std::path::Path::new("/etc/services").exists() {
            assert_eq!(port("domain"), Ok(53));
        }
        if std::path::Path::new("/etc/protocols").exists() {
            assert_eq!(protocol("udp"), Ok(17));
        }
        assert_eq!(port("0x50"), Ok(80));
        assert!(port("no-such-service").is_err());
    }
}

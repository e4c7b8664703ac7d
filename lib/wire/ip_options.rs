//! IPv4 header options (RFC 791 §3.1, pages 15-23) as `ping -R`, `-T` and source routes use
//! them (lab 01): a list of routers written into the packet itself, hop by hop.
//!
//! Options follow the 20 fixed header bytes, at most 40 bytes in all. Each is a type byte, and
//! for all but the two one-byte options a length and a pointer:
//!
//! ```text
//!  type   length  pointer  data ...
//! +------+-------+--------+---------------------------------------+
//! |  7   |  39   |   4    | route data: nine 4-byte addresses     |   Record Route (RR)
//! +------+-------+--------+------+--------------------------------+
//! |  68  |  40   |   5    | flags| timestamps (and addresses)     |   Internet Timestamp
//! +------+-------+--------+------+--------------------------------+
//! | 131/137 | length | 4  | addresses to visit, in order          |   Loose/Strict Source Route
//! ```
//!
//! The pointer counts from the option's first byte (minimum 4, or 5 for timestamps) and says
//! where the next router writes: each router on the way adds its outgoing address (RR) or its
//! time of day in milliseconds since midnight UT (TS), until the option is full. Nine slots is
//! why `ping -R` can show at most nine addresses, there and back together.
//!
//! [`walk`] reads options exactly the way iputils 20221126's `pr_options` does, quirks
//! included (it reads source-route addresses one byte early), because `wirelab-ping` prints
//! what iputils prints; [`record_route`] and friends build what iputils sends.

use std::net::Ipv4Addr;

/// Option type numbers (RFC 791 p.15-16; the copied flag and class are part of the number).
pub mod kinds {
    /// End of the option list.
    pub const END: u8 = 0;
    /// No operation: one byte of padding.
    pub const NOP: u8 = 1;
    pub const RECORD_ROUTE: u8 = 7;
    pub const TIMESTAMP: u8 = 68;
    pub const LOOSE_SOURCE_ROUTE: u8 = 131;
    pub const STRICT_SOURCE_ROUTE: u8 = 137;
}

/// The most option bytes an IPv4 header carries (a 60-byte header minus 20).
pub const MAX_LEN: usize = 40;
/// Smallest pointer value: the first data byte (RFC 791 p.20).
const MIN_POINTER: usize = 4;
/// Timestamp data starts one byte later, after the overflow/flags byte.
const TS_MIN_POINTER: usize = 5;

/// What iputils sends for `-R`: a NOP (so the option is 4-byte aligned), then an empty
/// Record Route with room for nine addresses. 40 bytes.
pub fn record_route() -> Vec<u8> {
    let mut option = vec![0u8; MAX_LEN];
    option[0] = kinds::NOP;
    option[1] = kinds::RECORD_ROUTE;
    option[2] = (MAX_LEN - 1) as u8;
    option[3] = MIN_POINTER as u8;
    option
}

/// What iputils sends for `-T`: an empty Internet Timestamp option. `flag` 0 is timestamps
/// only (nine), 1 addresses and timestamps (four pairs), 3 only at the `prespecified`
/// addresses (RFC 791 p.22-23).
pub fn timestamp(flag: u8, prespecified: &[Ipv4Addr]) -> Vec<u8> {
    let len = match flag {
        0 => 40,
        3 => 4 + prespecified.len().min(4) * 8,
        _ => 36,
    };
    let mut option = vec![0u8; len];
    option[0] = kinds::TIMESTAMP;
    option[1] = len as u8;
    option[2] = TS_MIN_POINTER as u8;
    option[3] = flag;
    if flag == 3 {
        for (slot, address) in prespecified.iter().take(4).enumerate() {
            option[4 + slot * 8..8 + slot * 8].copy_from_slice(&address.octets());
        }
    }
    option
}

/// A loose (`strict` false) or strict source route through `hops` (iputils: more than one
/// target on the command line, and `-r` for strict). A NOP, then the option.
pub fn source_route(strict: bool, hops: &[Ipv4Addr]) -> Vec<u8> {
    let hops = &hops[..hops.len().min(9)];
    let mut option = vec![0u8; 4 + hops.len() * 4];
    option[0] = kinds::NOP;
    option[1] = if strict {
        kinds::STRICT_SOURCE_ROUTE
    } else {
        kinds::LOOSE_SOURCE_ROUTE
    };
    option[2] = (3 + hops.len() * 4) as u8;
    option[3] = MIN_POINTER as u8;
    for (slot, hop) in hops.iter().enumerate() {
        option[4 + slot * 4..8 + slot * 4].copy_from_slice(&hop.octets());
    }
    option
}

/// One timestamp entry: the router (flags 1 and 3) and its time, as the 32-bit field holds it
/// (milliseconds since midnight UT; the top bit set means "not in standard form").
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Stamp {
    pub address: Option<Ipv4Addr>,
    pub time: Option<u32>,
}

/// One option as iputils shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "option", rename_all = "snake_case")]
pub enum Shown {
    Nop,
    SourceRoute {
        strict: bool,
        addresses: Vec<Ipv4Addr>,
    },
    RecordRoute {
        addresses: Vec<Ipv4Addr>,
        /// The bytes iputils compares to say "(same route)" (pointer and route data).
        #[serde(skip)]
        key: Vec<u8>,
    },
    Timestamp {
        flags: u8,
        stamps: Vec<Stamp>,
        /// Routers that had no room left (the overflow count, high 4 bits of byte 3).
        unrecorded: u8,
    },
    Unknown {
        kind: u8,
    },
}

/// Four bytes at `at`, zero past the end (iputils reads its fixed buffer there).
fn word(options: &[u8], at: usize) -> [u8; 4] {
    let mut bytes = [0u8; 4];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = options.get(at + i).copied().unwrap_or(0);
    }
    bytes
}

/// The options in `options` (the bytes after the fixed 20-byte header), in order, as
/// iputils' `pr_options` walks them. Never reads past the slice; never panics.
pub fn walk(options: &[u8]) -> Vec<Shown> {
    let mut shown = Vec::new();
    let mut at = 0usize;
    let mut left = options.len() as isize;
    while left > 0 {
        let Some(&kind) = options.get(at) else { break };
        if kind == kinds::END {
            break;
        }
        if kind == kinds::NOP {
            shown.push(Shown::Nop);
            left -= 1;
            at += 1;
            continue;
        }
        let len = options.get(at + 1).copied().unwrap_or(0) as isize;
        if len < 2 || len > left {
            break;
        }
        match kind {
            kinds::LOOSE_SOURCE_ROUTE | kinds::STRICT_SOURCE_ROUTE => {
                // iputils reads the addresses from the pointer byte on (one byte early).
                let mut addresses = Vec::new();
                let mut remaining = len;
                let mut read = at + 2;
                if remaining > MIN_POINTER as isize {
                    loop {
                        addresses.push(Ipv4Addr::from(word(options, read)));
                        read += 4;
                        remaining -= 4;
                        if remaining <= MIN_POINTER as isize {
                            break;
                        }
                    }
                }
                shown.push(Shown::SourceRoute {
                    strict: kind == kinds::STRICT_SOURCE_ROUTE,
                    addresses,
                });
            }
            kinds::RECORD_ROUTE => {
                let pointer = options.get(at + 2).copied().unwrap_or(0) as isize;
                let filled = pointer.min(len) - MIN_POINTER as isize;
                if filled > 0 {
                    let key: Vec<u8> = (0..filled as usize)
                        .map(|i| options.get(at + 2 + i).copied().unwrap_or(0))
                        .collect();
                    let mut addresses = Vec::new();
                    let mut remaining = filled;
                    let mut read = at + 3;
                    loop {
                        addresses.push(Ipv4Addr::from(word(options, read)));
                        read += 4;
                        remaining -= 4;
                        if remaining <= 0 {
                            break;
                        }
                    }
                    shown.push(Shown::RecordRoute { addresses, key });
                }
            }
            kinds::TIMESTAMP => {
                let pointer = options.get(at + 2).copied().unwrap_or(0) as isize;
                let mut filled = pointer.min(len) - TS_MIN_POINTER as isize;
                if filled > 0 {
                    let flags = options.get(at + 3).copied().unwrap_or(0);
                    let with_address = flags & 0x0f != 0;
                    let mut stamps = Vec::new();
                    let mut read = at + 4;
                    loop {
                        let mut stamp = Stamp {
                            address: None,
                            time: None,
                        };
                        if with_address {
                            stamp.address = Some(Ipv4Addr::from(word(options, read)));
                            read += 4;
                            filled -= 4;
                            if filled <= 0 {
                                stamps.push(stamp);
                                break;
                            }
                        }
                        stamp.time = Some(u32::from_be_bytes(word(options, read)));
                        read += 4;
                        filled -= 4;
                        stamps.push(stamp);
                        if filled <= 0 {
                            break;
                        }
                    }
                    shown.push(Shown::Timestamp {
                        flags,
                        stamps,
                        unrecorded: flags >> 4,
                    });
                }
            }
            other => shown.push(Shown::Unknown { kind: other }),
        }
        left -= len;
        at += len as usize;
    }
    shown
}

/// The addresses of the first Record Route option, for `--json` and `--explain`.
pub fn recorded_route(options: &[u8]) -> Option<Vec<Ipv4Addr>> {
    walk(options).into_iter().find_map(|option| match option {
        Shown::RecordRoute { addresses, .. } => Some(addresses),
        _ => None,
    })
}

/// Fuzz entry point (`fuzz/fuzz_targets/ip_options.rs`): walk any bytes as options, and read
/// the route and stamps the way the renderers do; nothing may panic.
pub fn fuzz_walk(data: &[u8]) {
    for option in walk(&data[..data.len().min(MAX_LEN)]) {
        if let Shown::Timestamp { stamps, .. } = option {
            for stamp in stamps {
                let _ = stamp.time.map(|t| t & 0x7fff_ffff);
            }
        }
    }
    let _ = recorded_route(data);
    let _ = walk(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 40 option bytes of the echo reply to `ping -R -c1 10.0.3.2` across chain:2, as
    /// captured on h1's link (tcpdump -x): seven addresses recorded (there: h1, r1, r2, h2;
    /// back: h2, r2, r1), pointer 0x20. h1's own kernel adds the eighth, its address, on input
    /// (RFC 791 p.20: "the recorded route" includes the destination), before ping reads it.
    const RR_REPLY_ON_THE_WIRE: &str = concat!(
        "0727200a0001020a0002010a",
        "0003010a0003020a0003020a0002020a",
        "000101000000000000000000"
    );

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
            .collect()
    }

    #[test]
    fn record_route_request_is_what_iputils_sends() {
        let option = record_route();
        assert_eq!(option.len(), 40);
        assert_eq!(&option[..4], &[1, 7, 39, 4]);
        assert!(option[4..].iter().all(|&b| b == 0));
    }

    #[test]
    fn a_recorded_route_reads_back_in_order() {
        let options = hex(RR_REPLY_ON_THE_WIRE);
        assert_eq!(options.len(), MAX_LEN);
        let shown = walk(&options);
        assert_eq!(
            shown.len(),
            1,
            "no NOP: the echoing host rebuilt the option"
        );
        let Shown::RecordRoute { addresses, .. } = &shown[0] else {
            panic!("{shown:?}");
        };
        let text: Vec<String> = addresses.iter().map(|a| a.to_string()).collect();
        assert_eq!(
            text,
            ["10.0.1.2", "10.0.2.1", "10.0.3.1", "10.0.3.2", "10.0.3.2", "10.0.2.2", "10.0.1.1"]
        );
        assert_eq!(recorded_route(&options).map(|a| a.len()), Some(7));
    }

    #[test]
    fn timestamps_with_addresses_and_overflow() {
        let mut option = timestamp(1, &[]);
        assert_eq!(&option[..4], &[68, 36, 5, 1]);
        // Two entries filled, three routers found no room.
        option[2] = 21;
        option[3] = 0x31;
        option[4..8].copy_from_slice(&[10, 0, 1, 2]);
        option[8..12].copy_from_slice(&1000u32.to_be_bytes());
        option[12..16].copy_from_slice(&[10, 0, 1, 1]);
        option[16..20].copy_from_slice(&1001u32.to_be_bytes());
        let shown = walk(&option);
        assert_eq!(
            shown,
            [Shown::Timestamp {
                flags: 0x31,
                stamps: vec![
                    Stamp {
                        address: Some(Ipv4Addr::new(10, 0, 1, 2)),
                        time: Some(1000)
                    },
                    Stamp {
                        address: Some(Ipv4Addr::new(10, 0, 1, 1)),
                        time: Some(1001)
                    },
                ],
                unrecorded: 3,
            }]
        );
    }

    #[test]
    fn fuzz_entry_survives_every_short_input() {
        for len in 0..=48 {
            for fill in [0u8, 1, 4, 7, 68, 131, 255] {
                fuzz_walk(&vec![fill; len]);
            }
        }
    }

    #[test]
    fn truncated_and_hostile_options_never_panic() {
        for options in [
            vec![7u8],
            vec![7, 1],
            vec![7, 200, 255],
            vec![68, 40, 255, 0x0f],
            vec![131, 40],
            vec![1; 40],
            vec![99, 2, 0, 0],
        ] {
            let _ = walk(&options);
        }
        assert_eq!(walk(&[0, 7, 39, 8]), [], "END stops the walk");
        assert_eq!(
            source_route(false, &[Ipv4Addr::new(10, 0, 1, 1)]),
            [1, 131, 7, 4, 10, 0, 1, 1]
        );
    }
}

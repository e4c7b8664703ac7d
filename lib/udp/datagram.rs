//! What wirelab-udp puts inside each UDP datagram (labs 08, 09): UDP itself carries no
//! sequence number and no time, so a tool that wants to see loss, reordering, duplication
//! and delay must write its own. This is our format, not a standard one; RTP (RFC 3550 §5.1)
//! carries the same two things for the same reasons (a sequence number "to detect packet loss
//! and to restore packet sequence", a timestamp for jitter), and iperf3's UDP test does too.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     Magic "WLUD"                              |  bytes 0..4
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Version     |     Kind      |           (zero)              |  bytes 4..8
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                          Session                              |  bytes 8..12
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     Sequence (64 bits)                        |  bytes 12..20
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Sent at: nanoseconds since 1970 (64 bits)            |  bytes 20..28
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  data: zeros up to --size; a report's counters (kind 2)       |  bytes 28..
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Three kinds travel: **data** (sequence 0, 1, 2, ...), **end** from the sender when it has
//! finished (its sequence field holds how many data datagrams it sent, so the receiver can
//! count losses at the tail too), and **report** from the receiver back to the sender, answering
//! each end with what it counted. The receiver answers an end only if the end was at least as
//! large as the report: a forged source address must not turn the receiver into an amplifier
//! (the trick DNS reflection attacks use, RFC 5358).
//!
//! Every number is big-endian ("network byte order"). The send time is CLOCK_REALTIME: two
//! namespaces on one machine share that clock, so one-way delay is exact in a lab; between two
//! machines it is only as good as their clock synchronisation.

use std::time::{Duration, SystemTime};

/// Where each field sits, counted from the first byte of the UDP payload.
pub mod layout {
    use std::ops::Range;

    pub const MAGIC: Range<usize> = 0..4;
    pub const VERSION: usize = 4;
    pub const KIND: usize = 5;
    pub const SESSION: Range<usize> = 8..12;
    pub const SEQUENCE: Range<usize> = 12..20;
    pub const SENT_AT: Range<usize> = 20..28;
    /// The header's length: the smallest datagram wirelab-udp sends (`--size 28`).
    pub const HEADER_LEN: usize = 28;
    /// A report's counters follow the header: eleven 64-bit numbers.
    pub const REPORT_LEN: usize = HEADER_LEN + 11 * 8;
}

pub const MAGIC: [u8; 4] = *b"WLUD";
pub const VERSION: u8 = 1;

/// What a datagram is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Data,
    /// The sender is done; `sequence` holds how many data datagrams it sent.
    End,
    /// The receiver's counts, answering an end.
    Report,
}

impl Kind {
    fn code(self) -> u8 {
        match self {
            Kind::Data => 0,
            Kind::End => 1,
            Kind::Report => 2,
        }
    }

    fn from_code(code: u8) -> Option<Kind> {
        match code {
            0 => Some(Kind::Data),
            1 => Some(Kind::End),
            2 => Some(Kind::Report),
            _ => None,
        }
    }
}

/// The fixed header, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Header {
    pub kind: Kind,
    pub session: u32,
    pub sequence: u64,
    /// Nanoseconds since the Unix epoch when the sender wrote the datagram.
    pub sent_at_ns: u64,
}

impl Header {
    pub fn sent_at(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_nanos(self.sent_at_ns)
    }
}

/// What the receiver counted for one session: the body of a report. Delays are signed: with
/// two machines whose clocks disagree, a "one-way delay" can come out negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Report {
    /// Distinct data datagrams that arrived.
    pub received: u64,
    /// Datagrams the receiver expected (the sender's count, from its end) and never saw.
    pub lost: u64,
    /// Datagrams that arrived after one with a higher sequence number.
    pub reordered: u64,
    /// Copies of a datagram already seen.
    pub duplicated: u64,
    /// Payload bytes of the distinct datagrams.
    pub bytes: u64,
    /// RFC 3550 §6.4.1 interarrival jitter, in nanoseconds.
    pub jitter_ns: u64,
    pub delay_min_ns: i64,
    pub delay_avg_ns: i64,
    pub delay_max_ns: i64,
    pub delay_mdev_ns: i64,
    /// From the first data datagram's arrival to the last's (plus one sending interval).
    pub duration_ns: u64,
}

impl Report {
    fn fields(&self) -> [u64; 11] {
        [
            self.received,
            self.lost,
            self.reordered,
            self.duplicated,
            self.bytes,
            self.jitter_ns,
            self.delay_min_ns as u64,
            self.delay_avg_ns as u64,
            self.delay_max_ns as u64,
            self.delay_mdev_ns as u64,
            self.duration_ns,
        ]
    }

    fn from_fields(f: [u64; 11]) -> Report {
        Report {
            received: f[0],
            lost: f[1],
            reordered: f[2],
            duplicated: f[3],
            bytes: f[4],
            jitter_ns: f[5],
            delay_min_ns: f[6] as i64,
            delay_avg_ns: f[7] as i64,
            delay_max_ns: f[8] as i64,
            delay_mdev_ns: f[9] as i64,
            duration_ns: f[10],
        }
    }
}

/// A datagram, decoded: the header, and for a report its counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datagram {
    pub header: Header,
    pub report: Option<Report>,
    /// The whole payload's length (header and padding).
    pub len: usize,
}

/// Why a datagram is not one of ours. The receiver counts these and carries on: a UDP port
/// hears whatever anyone sends to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DatagramError {
    #[error("{0} bytes is shorter than wirelab-udp's 28-byte header")]
    Short(usize),
    #[error("does not start with \"WLUD\": not a wirelab-udp datagram")]
    Magic,
    #[error("version {0}, this wirelab-udp speaks version 1")]
    Version(u8),
    #[error("unknown kind {0}")]
    Kind(u8),
    #[error("a report of {0} bytes is shorter than its 116")]
    ShortReport(usize),
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_be_bytes(word)
}

/// Read a datagram's payload. Checks the length first, so nothing below can read past it.
pub fn parse(bytes: &[u8]) -> Result<Datagram, DatagramError> {
    if bytes.len() < layout::HEADER_LEN {
        return Err(DatagramError::Short(bytes.len()));
    }
    if bytes[layout::MAGIC] != MAGIC {
        return Err(DatagramError::Magic);
    }
    if bytes[layout::VERSION] != VERSION {
        return Err(DatagramError::Version(bytes[layout::VERSION]));
    }
    let kind =
        Kind::from_code(bytes[layout::KIND]).ok_or(DatagramError::Kind(bytes[layout::KIND]))?;
    let mut session = [0u8; 4];
    session.copy_from_slice(&bytes[layout::SESSION]);
    let header = Header {
        kind,
        session: u32::from_be_bytes(session),
        sequence: u64_at(bytes, layout::SEQUENCE.start),
        sent_at_ns: u64_at(bytes, layout::SENT_AT.start),
    };
    let report = match kind {
        Kind::Report if bytes.len() < layout::REPORT_LEN => {
            return Err(DatagramError::ShortReport(bytes.len()))
        }
        Kind::Report => {
            let mut fields = [0u64; 11];
            for (i, field) in fields.iter_mut().enumerate() {
                *field = u64_at(bytes, layout::HEADER_LEN + 8 * i);
            }
            Some(Report::from_fields(fields))
        }
        _ => None,
    };
    Ok(Datagram {
        header,
        report,
        len: bytes.len(),
    })
}

/// Write `header` into the first 28 bytes of `buffer` (which the caller sized; the rest is
/// left as it is, zeros for data). Returns false when the buffer is too short.
pub fn write_header(buffer: &mut [u8], header: &Header) -> bool {
    let Some(out) = buffer.get_mut(..layout::HEADER_LEN) else {
        return false;
    };
    out[layout::MAGIC].copy_from_slice(&MAGIC);
    out[layout::VERSION] = VERSION;
    out[layout::KIND] = header.kind.code();
    out[6..8].fill(0);
    out[layout::SESSION].copy_from_slice(&header.session.to_be_bytes());
    out[layout::SEQUENCE].copy_from_slice(&header.sequence.to_be_bytes());
    out[layout::SENT_AT].copy_from_slice(&header.sent_at_ns.to_be_bytes());
    true
}

/// Only the sequence number and the send time change from one data datagram to the next:
/// the sender stamps them into a buffer it reuses.
pub fn stamp(buffer: &mut [u8], sequence: u64, sent_at_ns: u64) {
    if buffer.len() >= layout::HEADER_LEN {
        buffer[layout::SEQUENCE].copy_from_slice(&sequence.to_be_bytes());
        buffer[layout::SENT_AT].copy_from_slice(&sent_at_ns.to_be_bytes());
    }
}

/// A report datagram: the header (kind report, the session, `sequence` = datagrams the
/// receiver expected) and the counters.
pub fn build_report(session: u32, expected: u64, sent_at_ns: u64, report: &Report) -> Vec<u8> {
    let mut bytes = vec![0u8; layout::REPORT_LEN];
    write_header(
        &mut bytes,
        &Header {
            kind: Kind::Report,
            session,
            sequence: expected,
            sent_at_ns,
        },
    );
    for (i, field) in report.fields().iter().enumerate() {
        let at = layout::HEADER_LEN + 8 * i;
        bytes[at..at + 8].copy_from_slice(&field.to_be_bytes());
    }
    bytes
}

/// Nanoseconds since the Unix epoch (0 for a clock set before 1970, which no lab has).
pub fn unix_ns(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map(|since| u64::try_from(since.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// For the fuzz target `udp_datagram` (`make fuzz`): any bytes must parse or be refused,
/// never panic, and what parses must rebuild into the same header bytes.
pub fn fuzz_parse(data: &[u8]) {
    if let Ok(datagram) = parse(data) {
        let mut rebuilt = vec![0u8; layout::HEADER_LEN];
        assert!(write_header(&mut rebuilt, &datagram.header));
        assert_eq!(rebuilt[layout::MAGIC], data[layout::MAGIC]);
        assert_eq!(rebuilt[layout::SESSION], data[layout::SESSION]);
        assert_eq!(rebuilt[layout::SEQUENCE], data[layout::SEQUENCE]);
        assert_eq!(rebuilt[layout::SENT_AT], data[layout::SENT_AT]);
        if let Some(report) = datagram.report {
            let again = build_report(
                datagram.header.session,
                datagram.header.sequence,
                datagram.header.sent_at_ns,
                &report,
            );
            assert_eq!(
                again[layout::HEADER_LEN..],
                data[layout::HEADER_LEN..layout::REPORT_LEN]
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(sequence: u64) -> Vec<u8> {
        let mut bytes = vec![0u8; 64];
        assert!(write_header(
            &mut bytes,
            &Header {
                kind: Kind::Data,
                session: 0x38a1_e66c,
                sequence,
                sent_at_ns: 1_764_000_000_123_456_789,
            }
        ));
        bytes
    }

    #[test]
    fn data_round_trips_with_padding() {
        let bytes = data(41);
        assert_eq!(&bytes[..4], b"WLUD");
        let datagram = parse(&bytes).expect("ours");
        assert_eq!(datagram.header.kind, Kind::Data);
        assert_eq!(datagram.header.session, 0x38a1_e66c);
        assert_eq!(datagram.header.sequence, 41);
        assert_eq!(datagram.header.sent_at_ns, 1_764_000_000_123_456_789);
        assert_eq!(datagram.len, 64);
        assert_eq!(datagram.report, None);
    }

    #[test]
    fn stamping_changes_only_sequence_and_time() {
        let mut bytes = data(0);
        stamp(&mut bytes, 7, 99);
        let header = parse(&bytes).expect("ours").header;
        assert_eq!((header.sequence, header.sent_at_ns), (7, 99));
        assert_eq!(header.session, 0x38a1_e66c);
    }

    #[test]
    fn report_round_trips_negative_delays_included() {
        let report = Report {
            received: 997,
            lost: 3,
            reordered: 2,
            duplicated: 1,
            bytes: 997 * 1472,
            jitter_ns: 41_000,
            delay_min_ns: -5,
            delay_avg_ns: 20_100_000,
            delay_max_ns: 25_000_000,
            delay_mdev_ns: 1_000,
            duration_ns: 10_000_000_000,
        };
        let bytes = build_report(5, 1000, 1, &report);
        assert_eq!(bytes.len(), layout::REPORT_LEN);
        let datagram = parse(&bytes).expect("ours");
        assert_eq!(datagram.header.kind, Kind::Report);
        assert_eq!(datagram.header.sequence, 1000);
        assert_eq!(datagram.report, Some(report));
    }

    #[test]
    fn foreign_and_cut_datagrams_are_refused() {
        assert_eq!(parse(b"hello"), Err(DatagramError::Short(5)));
        let mut bytes = data(1);
        bytes[0] = b'X';
        assert_eq!(parse(&bytes), Err(DatagramError::Magic));
        let mut bytes = data(1);
        bytes[layout::VERSION] = 9;
        assert_eq!(parse(&bytes), Err(DatagramError::Version(9)));
        let mut bytes = data(1);
        bytes[layout::KIND] = 7;
        assert_eq!(parse(&bytes), Err(DatagramError::Kind(7)));
        let report = build_report(1, 1, 1, &Report::default());
        assert_eq!(parse(&report[..60]), Err(DatagramError::ShortReport(60)));
        assert_eq!(parse(&data(1)[..27]), Err(DatagramError::Short(27)));
    }

    #[test]
    fn fuzz_entry_survives_every_prefix() {
        let report = build_report(1, 2, 3, &Report::default());
        for bytes in [data(5), report] {
            for end in 0..=bytes.len() {
                fuzz_parse(&bytes[..end]);
            }
        }
    }
}

//! The kernel's view of one connection: `struct tcp_info` (`include/uapi/linux/tcp.h`), as
//! `getsockopt(TCP_INFO)` returns it for a socket we hold and as sock_diag's `INET_DIAG_INFO`
//! returns it for any socket, and as `ss -ti` prints it (labs 06, 07).
//!
//! The struct only ever grows at its end, and the kernel copies as many bytes as it has (or
//! as we asked for), so the decoder reads each field only if the answer is long enough: an
//! older kernel simply leaves the newer fields out (`None`).
//!
//! What the fields mean for the labs:
//! - `rto_us`: the retransmission timeout (RFC 6298 §2: SRTT + 4·RTTVAR, at least 200 ms on
//!   Linux, `TCP_RTO_MIN`), doubled by each expiry (`backoff` counts the doublings, §5.5).
//! - `rtt_us` / `rttvar_us`: the smoothed round-trip time and its variation (RFC 6298 §2).
//! - `cwnd` and `ssthresh`: the congestion window and slow-start threshold in segments (RFC
//!   5681 §3.1); `ssthresh` starts "infinite" (the kernel's 0x7fffffff), shown as absent.
//! - `ca_state`: the congestion-avoidance state machine (`TCP_CA_Open` ... `TCP_CA_Loss`):
//!   Recovery is fast recovery after duplicate ACKs, Loss follows a retransmission timeout.
//! - `unacked`, `sacked`, `lost`, `retrans`: segments in flight, selectively acknowledged,
//!   presumed lost, and retransmitted but not yet acknowledged; `retransmits` counts the
//!   timeouts in a row of the current retransmission.
//! - `snd_wnd` / `rcv_wnd`: the peer's advertised window and ours, in bytes after scaling.

use serde::Serialize;

use super::state::TcpState;

/// The congestion-avoidance state (`enum tcp_ca_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CaState {
    /// Nothing is wrong.
    Open,
    /// Duplicate ACKs or SACKs arrived, no loss decided yet.
    Disorder,
    /// The window was reduced for an ECN echo or a local congestion signal.
    #[serde(rename = "CWR")]
    Cwr,
    /// Fast recovery: a loss was detected from duplicate ACKs/SACKs (RFC 6675).
    Recovery,
    /// A retransmission timeout fired: everything in flight is presumed lost.
    Loss,
    Unknown,
}

impl CaState {
    fn from_kernel(number: u8) -> CaState {
        match number {
            0 => CaState::Open,
            1 => CaState::Disorder,
            2 => CaState::Cwr,
            3 => CaState::Recovery,
            4 => CaState::Loss,
            _ => CaState::Unknown,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            CaState::Open => "Open",
            CaState::Disorder => "Disorder",
            CaState::Cwr => "CWR",
            CaState::Recovery => "Recovery",
            CaState::Loss => "Loss",
            CaState::Unknown => "?",
        }
    }
}

/// Field offsets in `struct tcp_info`, in bytes (the struct is naturally aligned).
mod at {
    pub const STATE: usize = 0;
    pub const CA_STATE: usize = 1;
    pub const RETRANSMITS: usize = 2;
    pub const PROBES: usize = 3;
    pub const BACKOFF: usize = 4;
    /// snd_wscale in the low 4 bits, rcv_wscale in the high 4.
    pub const WSCALE: usize = 6;
    pub const RTO: usize = 8;
    pub const ATO: usize = 12;
    pub const SND_MSS: usize = 16;
    pub const RCV_MSS: usize = 20;
    pub const UNACKED: usize = 24;
    pub const SACKED: usize = 28;
    pub const LOST: usize = 32;
    pub const RETRANS: usize = 36;
    pub const LAST_DATA_SENT: usize = 44;
    pub const LAST_DATA_RECV: usize = 52;
    pub const PMTU: usize = 60;
    pub const RCV_SSTHRESH: usize = 64;
    pub const RTT: usize = 68;
    pub const RTTVAR: usize = 72;
    pub const SND_SSTHRESH: usize = 76;
    pub const SND_CWND: usize = 80;
    pub const ADVMSS: usize = 84;
    pub const REORDERING: usize = 88;
    pub const RCV_SPACE: usize = 96;
    pub const TOTAL_RETRANS: usize = 100;
    pub const PACING_RATE: usize = 104;
    pub const BYTES_ACKED: usize = 120;
    pub const BYTES_RECEIVED: usize = 128;
    pub const SEGS_OUT: usize = 136;
    pub const SEGS_IN: usize = 140;
    pub const NOTSENT_BYTES: usize = 144;
    pub const MIN_RTT: usize = 148;
    pub const DELIVERY_RATE: usize = 160;
    pub const RWND_LIMITED: usize = 176;
    pub const BYTES_SENT: usize = 200;
    pub const BYTES_RETRANS: usize = 208;
    pub const SND_WND: usize = 228;
    pub const RCV_WND: usize = 232;
    pub const TOTAL_RTO: usize = 240;
    pub const TOTAL_RTO_RECOVERIES: usize = 242;
    pub const TOTAL_RTO_TIME: usize = 244;
}

/// What the kernel writes for an ssthresh that was never set.
const INFINITE_SSTHRESH: u32 = 0x7fff_ffff;

/// One `tcp_info` snapshot. Times are in microseconds, windows and counts of bytes in bytes,
/// `cwnd`/`ssthresh`/`unacked`/... in segments, rates in bits per second (as `ss` prints them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TcpInfo {
    #[serde(skip)]
    pub state: Option<TcpState>,
    pub ca_state: CaState,
    /// Timeouts in a row for the segment being retransmitted now (0 when none).
    pub retransmits: u8,
    /// Zero-window probes (or keepalives) sent without an answer.
    pub probes: u8,
    /// How many times the RTO has been doubled (exponential backoff, RFC 6298 §5.5).
    pub backoff: u8,
    pub snd_wscale: u8,
    pub rcv_wscale: u8,
    pub rto_us: u32,
    pub ato_us: u32,
    pub mss: u32,
    pub rcv_mss: u32,
    pub unacked: u32,
    pub sacked: u32,
    pub lost: u32,
    /// Retransmitted segments not yet acknowledged.
    pub retrans: u32,
    pub last_data_sent_ms: u32,
    pub last_data_recv_ms: u32,
    pub pmtu: u32,
    pub rcv_ssthresh: u32,
    pub rtt_us: u32,
    pub rttvar_us: u32,
    /// `None` while "infinite" (slow start has not ended yet).
    pub ssthresh: Option<u32>,
    pub cwnd: u32,
    pub advmss: u32,
    pub reordering: u32,
    pub rcv_space: u32,
    /// Every retransmitted segment of this connection so far.
    pub total_retrans: u32,
    pub pacing_rate_bps: Option<u64>,
    pub bytes_acked: Option<u64>,
    pub bytes_received: Option<u64>,
    pub segs_out: Option<u32>,
    pub segs_in: Option<u32>,
    pub notsent_bytes: Option<u32>,
    pub min_rtt_us: Option<u32>,
    pub delivery_rate_bps: Option<u64>,
    /// Microseconds the sender spent limited by the receiver's window.
    pub rwnd_limited_us: Option<u64>,
    pub bytes_sent: Option<u64>,
    pub bytes_retrans: Option<u64>,
    /// The peer's advertised window, scaled (Linux 5.4+).
    pub snd_wnd: Option<u32>,
    /// Our advertised window, scaled (Linux 6.2+).
    pub rcv_wnd: Option<u32>,
    /// Retransmission timeouts over the connection's life (Linux 6.7+).
    pub total_rto: Option<u16>,
    pub total_rto_recoveries: Option<u16>,
    pub total_rto_time_ms: Option<u32>,
}

impl TcpInfo {
    /// Decode a `struct tcp_info` of any length the kernel gave; `None` if it is shorter than
    /// the fields every kernel since 2.6 writes (104 bytes).
    pub fn parse(bytes: &[u8]) -> Option<TcpInfo> {
        if bytes.len() < at::TOTAL_RETRANS + 4 {
            return None;
        }
        let u8_at = |at: usize| bytes[at];
        let u16_at = |at: usize| {
            bytes
                .get(at..at + 2)
                .map(|b| u16::from_ne_bytes([b[0], b[1]]))
        };
        let u32_opt = |at: usize| {
            bytes
                .get(at..at + 4)
                .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        };
        let u32_at = |at: usize| u32_opt(at).unwrap_or(0);
        let u64_at = |at: usize| {
            bytes
                .get(at..at + 8)
                .map(|b| u64::from_ne_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
        };
        let ssthresh = u32_at(at::SND_SSTHRESH);
        Some(TcpInfo {
            state: TcpState::from_kernel(u32::from(u8_at(at::STATE))),
            ca_state: CaState::from_kernel(u8_at(at::CA_STATE)),
            retransmits: u8_at(at::RETRANSMITS),
            probes: u8_at(at::PROBES),
            backoff: u8_at(at::BACKOFF),
            snd_wscale: u8_at(at::WSCALE) & 0x0f,
            rcv_wscale: u8_at(at::WSCALE) >> 4,
            rto_us: u32_at(at::RTO),
            ato_us: u32_at(at::ATO),
            mss: u32_at(at::SND_MSS),
            rcv_mss: u32_at(at::RCV_MSS),
            unacked: u32_at(at::UNACKED),
            sacked: u32_at(at::SACKED),
            lost: u32_at(at::LOST),
            retrans: u32_at(at::RETRANS),
            last_data_sent_ms: u32_at(at::LAST_DATA_SENT),
            last_data_recv_ms: u32_at(at::LAST_DATA_RECV),
            pmtu: u32_at(at::PMTU),
            rcv_ssthresh: u32_at(at::RCV_SSTHRESH),
            rtt_us: u32_at(at::RTT),
            rttvar_us: u32_at(at::RTTVAR),
            ssthresh: (ssthresh < INFINITE_SSTHRESH).then_some(ssthresh),
            cwnd: u32_at(at::SND_CWND),
            advmss: u32_at(at::ADVMSS),
            reordering: u32_at(at::REORDERING),
            rcv_space: u32_at(at::RCV_SPACE),
            total_retrans: u32_at(at::TOTAL_RETRANS),
            // The kernel reports pacing in bytes per second; ss and we print bits.
            pacing_rate_bps: u64_at(at::PACING_RATE)
                .filter(|&rate| rate != u64::MAX)
                .map(|rate| rate.saturating_mul(8)),
            bytes_acked: u64_at(at::BYTES_ACKED),
            bytes_received: u64_at(at::BYTES_RECEIVED),
            segs_out: u32_opt(at::SEGS_OUT),
            segs_in: u32_opt(at::SEGS_IN),
            notsent_bytes: u32_opt(at::NOTSENT_BYTES),
            min_rtt_us: u32_opt(at::MIN_RTT).filter(|&rtt| rtt != u32::MAX),
            delivery_rate_bps: u64_at(at::DELIVERY_RATE).map(|rate| rate.saturating_mul(8)),
            rwnd_limited_us: u64_at(at::RWND_LIMITED),
            bytes_sent: u64_at(at::BYTES_SENT),
            bytes_retrans: u64_at(at::BYTES_RETRANS),
            snd_wnd: u32_opt(at::SND_WND),
            rcv_wnd: u32_opt(at::RCV_WND),
            total_rto: u16_at(at::TOTAL_RTO),
            total_rto_recoveries: u16_at(at::TOTAL_RTO_RECOVERIES),
            total_rto_time_ms: u32_opt(at::TOTAL_RTO_TIME),
        })
    }

    /// Segments in flight, as the kernel counts them (`tcp_packets_in_flight`: sent, minus
    /// what the peer SACKed or we presume lost, plus what we retransmitted).
    pub fn in_flight(&self) -> u32 {
        // Saturating: the fields come from the kernel, but nothing here may overflow on odd
        // values (the fuzzer found one).
        self.unacked
            .saturating_add(self.retrans)
            .saturating_sub(self.sacked.saturating_add(self.lost))
    }

    /// The fields whose change is worth a new `info` event: the congestion state, the windows
    /// that decide how much may be sent, and every retransmission counter. RTT estimates move
    /// with every ACK and are reported with the next of these, not on their own.
    pub fn matters(&self) -> impl PartialEq + '_ {
        (
            self.state,
            self.ca_state,
            self.retransmits,
            self.probes,
            self.backoff,
            self.cwnd,
            self.ssthresh,
            self.lost,
            self.total_retrans,
            self.snd_wnd == Some(0),
            self.rcv_wnd == Some(0),
            self.rto_us,
        )
    }

    /// One line in the style of `ss -ti` (same field names and units: times in ms, rates in
    /// bits per second), plus the congestion-avoidance state ss does not print.
    pub fn ss_line(&self, congestion: Option<&str>) -> String {
        let ms = |us: u32| format_ms(f64::from(us) / 1000.0);
        let mut fields = Vec::new();
        if let Some(name) = congestion {
            fields.push(name.to_string());
        }
        if self.snd_wscale > 0 || self.rcv_wscale > 0 {
            fields.push(format!("wscale:{},{}", self.snd_wscale, self.rcv_wscale));
        }
        fields.push(format!("rto:{}", ms(self.rto_us)));
        if self.backoff > 0 {
            fields.push(format!("backoff:{}", self.backoff));
        }
        fields.push(format!("rtt:{}/{}", ms(self.rtt_us), ms(self.rttvar_us)));
        fields.push(format!("mss:{}", self.mss));
        fields.push(format!("cwnd:{}", self.cwnd));
        if let Some(ssthresh) = self.ssthresh {
            fields.push(format!("ssthresh:{ssthresh}"));
        }
        if let Some(bytes) = self.bytes_sent.filter(|&b| b > 0) {
            fields.push(format!("bytes_sent:{bytes}"));
        }
        if let Some(bytes) = self.bytes_retrans.filter(|&b| b > 0) {
            fields.push(format!("bytes_retrans:{bytes}"));
        }
        if let Some(bytes) = self.bytes_acked.filter(|&b| b > 0) {
            fields.push(format!("bytes_acked:{bytes}"));
        }
        if let Some(bytes) = self.bytes_received.filter(|&b| b > 0) {
            fields.push(format!("bytes_received:{bytes}"));
        }
        if self.unacked > 0 {
            fields.push(format!("unacked:{}", self.unacked));
        }
        if self.retrans > 0 || self.total_retrans > 0 {
            fields.push(format!("retrans:{}/{}", self.retrans, self.total_retrans));
        }
        if self.lost > 0 {
            fields.push(format!("lost:{}", self.lost));
        }
        if self.sacked > 0 {
            fields.push(format!("sacked:{}", self.sacked));
        }
        if self.probes > 0 {
            fields.push(format!("probes:{}", self.probes));
        }
        if let Some(rate) = self.delivery_rate_bps.filter(|&r| r > 0) {
            fields.push(format!("delivery_rate {}", format_rate(rate)));
        }
        if let Some(window) = self.snd_wnd {
            fields.push(format!("snd_wnd:{window}"));
        }
        if let Some(window) = self.rcv_wnd {
            fields.push(format!("rcv_wnd:{window}"));
        }
        fields.push(format!("ca:{}", self.ca_state.name()));
        fields.join(" ")
    }
}

/// Milliseconds as `ss` writes them: up to three decimals, no trailing zeros (`0.073`, `204`).
pub fn format_ms(ms: f64) -> String {
    let text = format!("{ms:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text.is_empty() {
        "0".to_string()
    } else {
        text.to_string()
    }
}

/// A rate as `ss` writes it (`sprint_bw`: three significant digits and a unit): `1.6Gbps`,
/// `842Mbps`, `96kbps`, `512bps`.
pub fn format_rate(bps: u64) -> String {
    let value = bps as f64;
    let (scaled, unit) = if value >= 1e12 {
        (value / 1e12, "T")
    } else if value >= 1e9 {
        (value / 1e9, "G")
    } else if value >= 1e6 {
        (value / 1e6, "M")
    } else if value >= 1e3 {
        (value / 1e3, "k")
    } else {
        (value, "")
    };
    // printf's %.3g: three significant digits, trailing zeros dropped.
    let decimals = if scaled >= 100.0 {
        0
    } else if scaled >= 10.0 {
        1
    } else {
        2
    };
    let text = format!("{scaled:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    format!("{text}{unit}bps")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A real `tcp_info` (280 bytes, Linux 6.18): the sender of a 100 000-byte write on
    /// loopback, read with getsockopt(TCP_INFO) right after the peer read its first bytes.
    pub fn sample() -> Vec<u8> {
        let mut bytes = vec![0u8; 280];
        let mut put = |at: usize, value: &[u8]| bytes[at..at + value.len()].copy_from_slice(value);
        put(at::STATE, &[1]);
        put(at::CA_STATE, &[0]);
        put(at::WSCALE, &[0x77]);
        put(at::RTO, &204_000u32.to_ne_bytes());
        put(at::SND_MSS, &32_768u32.to_ne_bytes());
        put(at::UNACKED, &2u32.to_ne_bytes());
        put(at::RTT, &73u32.to_ne_bytes());
        put(at::RTTVAR, &36u32.to_ne_bytes());
        put(at::SND_SSTHRESH, &INFINITE_SSTHRESH.to_ne_bytes());
        put(at::SND_CWND, &13u32.to_ne_bytes());
        put(at::BYTES_ACKED, &65_483u64.to_ne_bytes());
        put(at::DELIVERY_RATE, &200_000_000u64.to_ne_bytes());
        put(at::SND_WND, &28_672u32.to_ne_bytes());
        put(at::RCV_WND, &65_536u32.to_ne_bytes());
        bytes
    }

    #[test]
    fn fields_decode_at_their_offsets() {
        let info = TcpInfo::parse(&sample()).expect("long enough");
        assert_eq!(info.state, Some(TcpState::Established));
        assert_eq!(info.ca_state, CaState::Open);
        assert_eq!((info.snd_wscale, info.rcv_wscale), (7, 7));
        assert_eq!(info.rto_us, 204_000);
        assert_eq!(info.cwnd, 13);
        assert_eq!(info.ssthresh, None, "infinite ssthresh reads as absent");
        assert_eq!(info.snd_wnd, Some(28_672));
        assert_eq!(info.delivery_rate_bps, Some(1_600_000_000));
        assert_eq!(info.in_flight(), 2);
    }

    #[test]
    fn older_kernels_leave_newer_fields_out() {
        let info = TcpInfo::parse(&sample()[..104]).expect("the 2.6 fields are there");
        assert_eq!(info.cwnd, 13);
        assert_eq!(info.snd_wnd, None);
        assert_eq!(info.bytes_acked, None);
        assert!(TcpInfo::parse(&sample()[..103]).is_none());
    }

    #[test]
    fn odd_counters_do_not_overflow() {
        let mut info = TcpInfo::parse(&sample()).expect("parse");
        (info.unacked, info.retrans, info.sacked, info.lost) = (u32::MAX, u32::MAX, u32::MAX, 5);
        assert_eq!(info.in_flight(), 0);
    }

    #[test]
    fn ss_style_line() {
        let info = TcpInfo::parse(&sample()).expect("parse");
        assert_eq!(
            info.ss_line(Some("cubic")),
            "cubic wscale:7,7 rto:204 rtt:0.073/0.036 mss:32768 cwnd:13 bytes_acked:65483 \
             unacked:2 delivery_rate 1.6Gbps snd_wnd:28672 rcv_wnd:65536 ca:Open"
        );
        assert_eq!(format_rate(842_000_000), "842Mbps");
        assert_eq!(format_ms(0.5), "0.5");
    }
}

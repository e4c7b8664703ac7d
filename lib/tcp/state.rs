//! The TCP connection states (RFC 9293 §3.3.2) as the Linux kernel numbers them
//! (`include/net/tcp_states.h`) and as `ss` names them, and why a connection moves from one to
//! the next (labs 06, 07).
//!
//! ```text
//!                     client (active open)              server (passive open)
//!   UNCONN ──connect()/SYN──▶ SYN-SENT          LISTEN ──SYN/SYN-ACK──▶ SYN-RECV
//!   SYN-SENT ──SYN-ACK/ACK──▶ ESTAB             SYN-RECV ──ACK──▶ ESTAB
//!
//!   the end that closes first (active close)    the other end (passive close)
//!   ESTAB ──close()/FIN──▶ FIN-WAIT-1           ESTAB ──FIN/ACK──▶ CLOSE-WAIT
//!   FIN-WAIT-1 ──ACK──▶ FIN-WAIT-2              CLOSE-WAIT ──close()/FIN──▶ LAST-ACK
//!   FIN-WAIT-2 ──FIN/ACK──▶ TIME-WAIT           LAST-ACK ──ACK──▶ (gone)
//!   TIME-WAIT ──2MSL (60 s on Linux)──▶ (gone)
//!
//!   both close at once: FIN-WAIT-1 ──FIN/ACK──▶ CLOSING ──ACK──▶ TIME-WAIT
//!   a RST, sent or received: any state ──▶ UNCONN (no TIME-WAIT)
//! ```
//!
//! `ss` writes the kernel's TCP_CLOSE as `UNCONN`; a socket that is gone from the table has no
//! state at all, which the recorder reports as a change to `UNCONN` with a note.

use serde::Serialize;

/// A TCP state, numbered as the kernel numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TcpState {
    Established = 1,
    SynSent = 2,
    SynRecv = 3,
    FinWait1 = 4,
    FinWait2 = 5,
    TimeWait = 6,
    Close = 7,
    CloseWait = 8,
    LastAck = 9,
    Listen = 10,
    Closing = 11,
    NewSynRecv = 12,
}

impl TcpState {
    /// The kernel's number, or `None` for one this decoder does not know.
    pub fn from_kernel(number: u32) -> Option<TcpState> {
        use TcpState::*;
        Some(match number {
            1 => Established,
            2 => SynSent,
            3 => SynRecv,
            4 => FinWait1,
            5 => FinWait2,
            6 => TimeWait,
            7 => Close,
            8 => CloseWait,
            9 => LastAck,
            10 => Listen,
            11 => Closing,
            12 => NewSynRecv,
            _ => return None,
        })
    }

    /// The name `ss` prints (`ss -tan`'s State column).
    pub fn ss_name(self) -> &'static str {
        use TcpState::*;
        match self {
            Established => "ESTAB",
            SynSent => "SYN-SENT",
            SynRecv | NewSynRecv => "SYN-RECV",
            FinWait1 => "FIN-WAIT-1",
            FinWait2 => "FIN-WAIT-2",
            TimeWait => "TIME-WAIT",
            Close => "UNCONN",
            CloseWait => "CLOSE-WAIT",
            LastAck => "LAST-ACK",
            Listen => "LISTEN",
            Closing => "CLOSING",
        }
    }

    /// The name RFC 9293 §3.3.2 gives it.
    pub fn rfc_name(self) -> &'static str {
        use TcpState::*;
        match self {
            Established => "ESTABLISHED",
            SynSent => "SYN-SENT",
            SynRecv | NewSynRecv => "SYN-RECEIVED",
            FinWait1 => "FIN-WAIT-1",
            FinWait2 => "FIN-WAIT-2",
            TimeWait => "TIME-WAIT",
            Close => "CLOSED",
            CloseWait => "CLOSE-WAIT",
            LastAck => "LAST-ACK",
            Listen => "LISTEN",
            Closing => "CLOSING",
        }
    }

    /// States in which this end has sent its FIN or is about to be gone: the connection is
    /// closing on this side.
    pub fn is_closing(self) -> bool {
        use TcpState::*;
        matches!(
            self,
            FinWait1 | FinWait2 | TimeWait | Closing | LastAck | Close
        )
    }
}

impl Serialize for TcpState {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.ss_name())
    }
}

impl std::fmt::Display for TcpState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.ss_name())
    }
}

/// Why a connection moves from `from` to `to` (`None`: it had no state yet), in a sentence with
/// its RFC section, for `--explain`. `rst` says a RST was seen on the wire just before.
pub fn why(from: Option<TcpState>, to: TcpState, rst: bool) -> &'static str {
    use TcpState::*;
    if rst && to == Close {
        return "a RST ended the connection at once: no FIN exchange and no TIME-WAIT; unread \
                and unsent data are discarded (RFC 9293 §3.5.2, §3.10.7)";
    }
    match (from, to) {
        (None | Some(Close), SynSent) => {
            "connect() sent a SYN with this end's initial sequence number; waiting for the \
             peer's SYN-ACK (RFC 9293 §3.5, active open)"
        }
        (None | Some(Listen) | Some(Close), SynRecv | NewSynRecv) => {
            "a SYN arrived at the listener and its SYN-ACK went out; waiting for the \
             handshake's final ACK (RFC 9293 §3.5, passive open)"
        }
        (Some(SynSent), Established) => {
            "the peer's SYN-ACK arrived and this end ACKed it: both sequence numbers are \
             synchronized, data may flow (RFC 9293 §3.5)"
        }
        (Some(SynRecv) | Some(NewSynRecv), Established) => {
            "the handshake's final ACK arrived: the connection is open and waits in the \
             accept queue for accept() (RFC 9293 §3.5)"
        }
        (None, Established) => "the connection was already open when the recording began",
        (Some(Established), FinWait1) => {
            "this end called close() (or shutdown for writing) and sent its FIN: it will send \
             no more data; waiting for the FIN's ACK (RFC 9293 §3.6, active close)"
        }
        (Some(FinWait1), FinWait2) => {
            "the peer ACKed our FIN; our half is closed, the peer may still send data until \
             its own FIN (RFC 9293 §3.6)"
        }
        (Some(FinWait2) | Some(FinWait1), TimeWait) => {
            "the peer's FIN arrived and this end ACKed it. TIME-WAIT keeps the connection's \
             addresses and ports for 2 MSL (60 s on Linux) so a lost final ACK can be resent \
             and no old duplicate segment is taken for part of a new connection (RFC 9293 \
             §3.6.1)"
        }
        (Some(FinWait1), Closing) => {
            "the peer's FIN arrived before the ACK of ours: both ends closed at once \
             (simultaneous close, RFC 9293 §3.6 case 2); waiting for the ACK of our FIN"
        }
        (Some(Closing), TimeWait) => {
            "the ACK of our FIN arrived after a simultaneous close: both ends now wait in \
             TIME-WAIT (RFC 9293 §3.6)"
        }
        (Some(Established), CloseWait) => {
            "the peer's FIN arrived: the peer sends no more data (read() returns 0). This end \
             may still send; it stays here until its application calls close() (RFC 9293 \
             §3.6, passive close)"
        }
        (Some(CloseWait), LastAck) => {
            "the application called close(): our FIN went out; waiting for its ACK (RFC 9293 \
             §3.6)"
        }
        (Some(LastAck), Close) => {
            "the ACK of our FIN arrived: the connection is gone on this side, with no \
             TIME-WAIT for the passive closer (RFC 9293 §3.6)"
        }
        (Some(TimeWait), Close) => {
            "the TIME-WAIT timer expired (60 s on Linux, TCP_TIMEWAIT_LEN): the kernel removed \
             the socket (RFC 9293 §3.6.1)"
        }
        (Some(FinWait2), Close) => {
            "the orphaned FIN-WAIT-2 socket timed out (net.ipv4.tcp_fin_timeout) without the \
             peer's FIN"
        }
        (Some(SynSent), Close) => {
            "the connection attempt failed: a RST answered the SYN (nobody listens), or no \
             answer came before the SYN retries ran out (RFC 9293 §3.10.7.3)"
        }
        (_, Close) => "the socket closed on this side",
        _ => "the kernel changed the socket's state",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_ss_and_the_rfc() {
        assert_eq!(TcpState::Established.ss_name(), "ESTAB");
        assert_eq!(TcpState::Close.ss_name(), "UNCONN");
        assert_eq!(TcpState::FinWait1.rfc_name(), "FIN-WAIT-1");
        assert_eq!(TcpState::from_kernel(6), Some(TcpState::TimeWait));
        assert_eq!(TcpState::from_kernel(99), None);
        assert_eq!(
            serde_json::to_string(&TcpState::CloseWait).expect("json"),
            "\"CLOSE-WAIT\""
        );
    }

    #[test]
    fn every_close_step_has_its_reason() {
        use TcpState::*;
        assert!(why(Some(FinWait2), TimeWait, false).contains("2 MSL"));
        assert!(why(Some(FinWait1), Closing, false).contains("simultaneous"));
        assert!(why(Some(Established), Close, true).contains("RST"));
        assert!(why(Some(CloseWait), LastAck, false).contains("close()"));
    }
}

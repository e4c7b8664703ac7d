//! wirelab: hands-on networking labs in network namespaces.
//!
//! This crate is the shared library behind every wirelab tool. Students read it to learn how
//! the tools work, so each module holds one concept and says which lab uses it:
//!
//! | module       | concept                                                   | lab |
//! |--------------|-----------------------------------------------------------|-----|
//! | [`topo`]     | building namespace topologies: nodes, veths, routes       | all |
//! | [`impair`]   | link impairment: delay, loss, rate, chosen packets; NFQUEUE | 04, 05 |
//! | [`wire`]     | protocol headers on the wire (ICMP, UDP, TCP, IP)          | 01, 02, 05 |
//! | [`sock`]     | sockets the tools share: ICMP, error queues, sock_diag     | 01, 02, 05, 06 |
//! | [`capture`]  | packet capture: TPACKET_V3 ring, BPF filter, frame decoder | 05, 06, 07 |
//! | [`ping`]     | the ICMP echo engine                                       | 01 |
//! | [`traceroute`] | the TTL-probing engine                                   | 02 |
//! | [`dns`]      | DNS over UDP with TCP fallback, and a small resolver       | 03 |
//! | [`http`]     | an HTTP/1.1 keep-alive client                              | 04 |
//! | [`synwatch`] | watching half-open connections during a SYN flood          | 05 |
//! | [`tcp`]      | recording a TCP connection: states, segments, tcp_info     | 06, 07 |
//! | [`udp`]      | datagrams: loss, reordering, duplication, delay and jitter | 08, 09 |
//! | [`chart`]    | congestion window and sequence-number charts (SVG)        | 08, 09 |
//! | [`lab`]      | finding labs and grading a student's answers               | all |
//! | [`doctor`]   | what this machine has and lacks for the labs               | all |
//! | [`cli`], [`output`], [`privilege`], [`signals`] | conventions every binary shares | all |

pub mod capabilities;
pub mod capture;
pub mod chart;
pub mod cli;
pub mod dns;
pub mod doctor;
pub mod http;
pub mod impair;
pub mod lab;
pub mod output;
pub mod ping;
pub mod privilege;
pub mod signals;
pub mod sock;
pub mod synwatch;
pub mod tcp;
pub mod topo;
pub mod traceroute;
pub mod udp;
pub mod wire;

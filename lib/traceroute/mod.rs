//! The TTL-probing engine behind `netlab-traceroute` (lab 02): UDP probes with rising TTL,
//! answered by ICMP Time Exceeded and Port Unreachable. Filled in by issue #4.

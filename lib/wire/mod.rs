//! Protocol headers as they appear on the wire, one file per protocol (labs 01, 02, 05, 06, 07).
//!
//! Views come from `pnet_packet`; what lives here is the knowledge those views do not carry:
//! which fields matter to a lab, how a reply is matched to a request, and tests over real
//! bytes captured in the labs.
pub mod icmp;
pub mod icmp_extension;
pub mod ip_options;
pub mod tcp;
pub mod udp;

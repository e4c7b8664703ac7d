//! The ICMP echo engine behind `netlab-ping` (lab 01): build an echo request (RFC 792,
//! RFC 4443), send it, match the reply, time it. Filled in by issue #3.

//! Watching half-open TCP connections during a SYN flood (lab 05): capture and kernel
//! counters side by side. Filled in by issue #7.

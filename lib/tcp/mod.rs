//! wirelab-tcp (labs 06, 07).
pub mod flow;
pub mod info;
pub mod state;
pub mod trace;

//! DNS over UDP with TCP fallback (lab 03), RFC 1035 and RFC 7766, and the small resolver the
//! other tools use for names. Filled in by issue #5.

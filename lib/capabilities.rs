//! Least privilege (lab 01): a tool that needs CAP_NET_RAW for one system call should hold it
//! for that call only. iputils ping does exactly this (`limit_capabilities`,
//! `modify_capability`, `drop_capabilities` in ping_common.c), and it shows: as root, its
//! `setsockopt(IP_OPTIONS)` for a source route fails with "Operation not permitted", because
//! at that moment not even root has CAP_NET_RAW in its effective set.
//!
//! Linux splits root's powers into capabilities (capabilities(7)). A process has three sets:
//! *permitted* (what it may use), *effective* (what the kernel checks now) and *inheritable*.
//! A tool first shrinks permitted to the few it needs ([`limit_to`]), leaves effective empty,
//! raises one around the call that needs it ([`raise`], [`lower`]), and empties everything
//! before it starts talking to the network ([`drop_all`]). The calls are capget(2)/capset(2).

use std::io;

/// CAP_NET_ADMIN: SO_MARK, interfaces, routes.
pub const NET_ADMIN: u32 = 12;
/// CAP_NET_RAW: raw sockets, SO_BINDTODEVICE, IP source-route options.
pub const NET_RAW: u32 = 13;

/// `_LINUX_CAPABILITY_VERSION_3`: 64 capabilities in two 32-bit words.
const VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct Header {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct Sets {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

fn get() -> io::Result<[Sets; 2]> {
    let mut header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let mut sets = [Sets::default(); 2];
    // SAFETY: header and sets are valid for capget's reads and writes (two words, v3).
    let result = unsafe { libc::syscall(libc::SYS_capget, &mut header, sets.as_mut_ptr()) };
    if result != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(sets)
}

fn set(sets: &[Sets; 2]) -> io::Result<()> {
    let mut header = Header {
        version: VERSION_3,
        pid: 0,
    };
    // SAFETY: header and sets are valid for capset's reads (two words, v3).
    let result = unsafe { libc::syscall(libc::SYS_capset, &mut header, sets.as_ptr()) };
    if result != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Word and bit of a capability in the v3 layout.
fn locate(capability: u32) -> (usize, u32) {
    ((capability / 32) as usize, 1 << (capability % 32))
}

/// Keep only `keep` (of those we have) in the permitted set; none effective, none
/// inheritable (so no ambient capability outlives this either).
pub fn limit_to(keep: &[u32]) -> io::Result<()> {
    let current = get()?;
    let mut sets = [Sets::default(); 2];
    for &capability in keep {
        let (word, bit) = locate(capability);
        sets[word].permitted |= current[word].permitted & bit;
    }
    set(&sets)
}

/// Make `capability` effective, if permitted. Returns whether it now is.
pub fn raise(capability: u32) -> bool {
    change(capability, true)
}

/// Make `capability` ineffective again.
pub fn lower(capability: u32) {
    change(capability, false);
}

fn change(capability: u32, on: bool) -> bool {
    let Ok(mut sets) = get() else {
        return false;
    };
    let (word, bit) = locate(capability);
    if sets[word].permitted & bit == 0 {
        return false;
    }
    if on {
        sets[word].effective |= bit;
    } else {
        sets[word].effective &= !bit;
    }
    set(&sets).is_ok() && on
}

/// Give up every capability for good.
pub fn drop_all() -> io::Result<()> {
    set(&[Sets::default(); 2])
}

/// Run `call` with `capability` effective, then lower it again.
pub fn with<T>(capability: u32, call: impl FnOnce() -> T) -> T {
    let raised = raise(capability);
    let result = call();
    if raised {
        lower(capability);
    }
    result
}

/// True when `capability` is in the permitted set.
pub fn permitted(capability: u32) -> bool {
    let (word, bit) = locate(capability);
    get().is_ok_and(|sets| sets[word].permitted & bit != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_bits_sit_in_the_v3_words() {
        assert_eq!(locate(NET_ADMIN), (0, 1 << 12));
        assert_eq!(locate(NET_RAW), (0, 1 << 13));
        assert_eq!(locate(38), (1, 1 << 6));
    }

    #[test]
    fn reading_our_own_sets_works() {
        assert!(get().is_ok());
    }
}

//! Following TCP three-way handshakes from captured segments (lab 05, RFC 9293 §3.5):
//!
//! ```text
//!   client                       server
//!   SYN-SENT    ── SYN ────────▶ SYN-RECEIVED   (a half-open handshake: one table entry)
//!               ◀──── SYN-ACK ──
//!   ESTABLISHED ── ACK ────────▶ ESTABLISHED    (completed: the entry leaves the table)
//! ```
//!
//! Why three messages and not two: each side must learn that the other received its initial
//! sequence number. With two, the server could not tell a fresh SYN from an old duplicate
//! still wandering the network (RFC 9293 §3.5, figure 8), and it would commit resources to
//! connections nobody asked for. A SYN flood exploits the window between the second and third
//! message: every spoofed SYN makes the server hold a half-open entry for a client that will
//! never answer.
//!
//! Our own table has the same problem as the kernel's, so it is bounded the same way: a fixed
//! capacity, oldest entry evicted when full (and counted), and entries forgotten after the
//! time the kernel itself would keep them.

use std::collections::hash_map::Entry as Slot;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::decode::Segment;

/// The hash for our tables: a keyed multiply-and-fold hash (the construction aHash and
/// foldhash use). Measured under a 200 000-SYN flood, std's SipHash took a quarter of
/// synwatch's CPU time; this takes a few percent. It is not cryptographic, but it is keyed
/// with a random seed per run, so a flood cannot pick source addresses that collide without
/// knowing the seed (addresses are chosen by the attacker: an unkeyed hash would let them
/// turn every lookup into a linear scan).
#[derive(Debug, Clone)]
pub struct FoldState {
    seed: u64,
}

impl FoldState {
    pub fn new() -> FoldState {
        // std's RandomState is seeded from the OS; borrow its randomness for our key.
        FoldState {
            seed: RandomState::new().hash_one(0x5eed_u64) | 1,
        }
    }
}

impl Default for FoldState {
    fn default() -> Self {
        FoldState::new()
    }
}

impl BuildHasher for FoldState {
    type Hasher = FoldHasher;
    fn build_hasher(&self) -> FoldHasher {
        FoldHasher { state: self.seed }
    }
}

pub struct FoldHasher {
    state: u64,
}

/// 2^64 / golden ratio: an odd constant with well-spread bits.
const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

/// Multiply to 128 bits and fold the halves together: every input bit reaches every output bit.
fn fold_multiply(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

impl Hasher for FoldHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }
    fn write_u8(&mut self, value: u8) {
        self.write_u64(u64::from(value));
    }
    fn write_u16(&mut self, value: u16) {
        self.write_u64(u64::from(value));
    }
    fn write_u32(&mut self, value: u32) {
        self.write_u64(u64::from(value));
    }
    fn write_u64(&mut self, value: u64) {
        self.state = fold_multiply(self.state ^ value, MULTIPLIER);
    }
    fn write_usize(&mut self, value: usize) {
        self.write_u64(value as u64);
    }
    fn finish(&self) -> u64 {
        self.state
    }
}

/// One handshake: the client's and the server's address and port, packed into 38 bytes.
///
/// Why packed: under a flood the table holds tens of thousands of entries and every SYN looks
/// up one at random, so the table's size in memory decides how often a lookup misses the
/// cache. Two `SocketAddr`s take 64 bytes (an IPv6 socket address also carries a flow label
/// and a scope id, which a handshake does not need); both addresses as 16 bytes each (IPv4
/// as an IPv4-mapped IPv6 address, RFC 4291 §2.5.5.2, with a flag so the families never mix)
/// and both ports fit in 38, and hash as five words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    client: [u8; 16],
    server: [u8; 16],
    client_port: u16,
    server_port: u16,
    ipv6: bool,
}

impl Key {
    fn new(client: SocketAddr, server: SocketAddr) -> Key {
        let bytes = |address: IpAddr| match address {
            IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
            IpAddr::V6(v6) => v6.octets(),
        };
        Key {
            client: bytes(client.ip()),
            server: bytes(server.ip()),
            client_port: client.port(),
            server_port: server.port(),
            ipv6: client.is_ipv6(),
        }
    }
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let word = |bytes: &[u8; 16], half: usize| {
            let mut word = [0u8; 8];
            word.copy_from_slice(&bytes[half * 8..half * 8 + 8]);
            u64::from_ne_bytes(word)
        };
        state.write_u64(word(&self.client, 0));
        state.write_u64(word(&self.client, 1));
        state.write_u64(word(&self.server, 0));
        state.write_u64(word(&self.server, 1));
        state.write_u64(
            u64::from(self.client_port)
                | u64::from(self.server_port) << 16
                | u64::from(self.ipv6) << 32,
        );
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Insertion number, matched against `HandshakeTable::by_age` (see there).
    order: u64,
    first_seen: Duration,
    syn_ack_seen: bool,
}

/// What one segment meant for the handshakes on the watched ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// A SYN starting a new handshake.
    Syn,
    /// A SYN for a handshake already in the table: the client retransmitted (RFC 6298 §5:
    /// after 1 s, then doubling), which spoofed sources never do.
    SynRetransmit,
    /// The server's SYN-ACK.
    SynAck,
    /// The client's final ACK: the handshake completed.
    Completed,
    /// A reset, either way.
    Reset,
    /// Anything else (data, FIN, ACKs of established connections).
    Other,
}

/// The most entries a table reserves room for when it is created (synwatch's default
/// capacity, `DEFAULT_TABLE_CAP`).
const PRESIZE_LIMIT: usize = 65_536;

/// Half-open handshakes seen on the wire, at most `capacity` of them.
#[derive(Debug)]
pub struct HandshakeTable {
    capacity: usize,
    entries: HashMap<Key, Entry, FoldState>,
    /// Keys oldest first, each with its insertion number. A handshake that completes is only
    /// removed from `entries`; its stale line here is skipped when it reaches the front (its
    /// number no longer matches), which keeps every operation O(1). `compact` bounds the
    /// stale lines to one table's worth.
    by_age: VecDeque<(u64, Key)>,
    next_order: u64,
    /// Entries pushed out because the table was full.
    pub evictions: u64,
    /// Entries forgotten because they outlived the kernel's half-open lifetime.
    pub expired: u64,
    /// The most entries the table ever held.
    pub peak: usize,
}

impl HandshakeTable {
    pub fn new(capacity: usize) -> HandshakeTable {
        HandshakeTable {
            capacity: capacity.max(1),
            // Sized for a full table up front (up to the default capacity; a bigger `--table-cap`
            // grows as needed): growing by doubling rehashes every entry each time, and a flood
            // fills the table within two seconds. Pages not yet written cost nothing (the
            // kernel maps them on first write).
            entries: HashMap::with_capacity_and_hasher(
                capacity.clamp(1, PRESIZE_LIMIT),
                FoldState::new(),
            ),
            by_age: VecDeque::with_capacity(capacity.clamp(1, PRESIZE_LIMIT)),
            next_order: 0,
            evictions: 0,
            expired: 0,
            peak: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Half-open handshakes right now.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Account for one segment. `watched(port)` says whether a server port is watched.
    pub fn observe(
        &mut self,
        segment: &Segment,
        now: Duration,
        watched: impl Fn(u16) -> bool,
    ) -> Seen {
        if segment.rst() {
            let forward = Key::new(segment.source, segment.destination);
            let backward = Key::new(segment.destination, segment.source);
            self.remove(&forward);
            self.remove(&backward);
            return Seen::Reset;
        }
        match (segment.syn(), segment.ack()) {
            (true, false) if watched(segment.destination.port()) => {
                let key = Key::new(segment.source, segment.destination);
                if self.entries.contains_key(&key) {
                    return Seen::SynRetransmit;
                }
                self.insert(key, now);
                Seen::Syn
            }
            (true, true) if watched(segment.source.port()) => {
                let key = Key::new(segment.destination, segment.source);
                if let Some(entry) = self.entries.get_mut(&key) {
                    entry.syn_ack_seen = true;
                }
                Seen::SynAck
            }
            (false, true) => {
                let key = Key::new(segment.source, segment.destination);
                match self.entries.get(&key) {
                    Some(entry) if entry.syn_ack_seen => {
                        self.remove(&key);
                        Seen::Completed
                    }
                    _ => Seen::Other,
                }
            }
            _ => Seen::Other,
        }
    }

    /// Add a handshake the table does not hold yet (`observe` has just looked). One lookup
    /// per SYN, not three: under a flood each lookup of a new key misses the cache.
    fn insert(&mut self, key: Key, now: Duration) {
        if self.entries.len() >= self.capacity {
            // Full: forget the oldest handshake. Under a flood it is almost surely spoofed.
            if self.pop_oldest().is_some() {
                self.evictions += 1;
            }
        }
        let order = self.next_order;
        self.next_order += 1;
        self.entries.insert(
            key,
            Entry {
                order,
                first_seen: now,
                syn_ack_seen: false,
            },
        );
        self.by_age.push_back((order, key));
        self.peak = self.peak.max(self.entries.len());
        if self.by_age.len() > 2 * self.capacity {
            self.compact();
        }
    }

    /// Remove and return the oldest live entry, skipping stale lines.
    fn pop_oldest(&mut self) -> Option<Entry> {
        while let Some((order, key)) = self.by_age.pop_front() {
            if let Slot::Occupied(slot) = self.entries.entry(key) {
                if slot.get().order == order {
                    return Some(slot.remove());
                }
            }
        }
        None
    }

    /// Drop the stale lines of `by_age`.
    fn compact(&mut self) {
        let entries = &self.entries;
        self.by_age
            .retain(|(order, key)| entries.get(key).is_some_and(|e| e.order == *order));
    }

    fn remove(&mut self, key: &Key) {
        self.entries.remove(key);
    }

    /// Forget handshakes first seen more than `lifetime` before `now`: by then the kernel has
    /// given up on them too (see `Sysctls::half_open_lifetime_secs`).
    pub fn expire(&mut self, now: Duration, lifetime: Duration) {
        while let Some(&(order, key)) = self.by_age.front() {
            match self.entries.get(&key) {
                Some(entry) if entry.order == order => {
                    if entry.first_seen + lifetime > now {
                        break;
                    }
                    self.entries.remove(&key);
                    self.expired += 1;
                }
                // A stale line: that handshake completed or was reset.
                _ => {}
            }
            self.by_age.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synwatch::decode::decode_frame;
    use crate::synwatch::decode::tests::{
        IPV4_ACK, IPV4_FIN_ACK, IPV4_SYN, IPV4_SYN_ACK, SPOOFED_SYN,
    };

    fn seg(frame: &[u8]) -> Segment {
        decode_frame(frame).expect("test frame decodes")
    }
    const NOW: Duration = Duration::from_secs(100);
    fn watched(port: u16) -> bool {
        port == 8080
    }

    #[test]
    fn real_handshake_completes_and_leaves_the_table() {
        let mut table = HandshakeTable::new(16);
        assert_eq!(table.observe(&seg(&IPV4_SYN), NOW, watched), Seen::Syn);
        assert_eq!(table.len(), 1);
        assert_eq!(
            table.observe(&seg(&IPV4_SYN_ACK), NOW, watched),
            Seen::SynAck
        );
        assert_eq!(
            table.observe(&seg(&IPV4_ACK), NOW, watched),
            Seen::Completed
        );
        assert!(table.is_empty());
        // Later ACKs of the established connection are not completions.
        assert_eq!(
            table.observe(&seg(&IPV4_FIN_ACK), NOW, watched),
            Seen::Other
        );
    }

    #[test]
    fn second_syn_is_a_retransmit() {
        let mut table = HandshakeTable::new(16);
        table.observe(&seg(&SPOOFED_SYN), NOW, watched);
        assert_eq!(
            table.observe(&seg(&SPOOFED_SYN), NOW, watched),
            Seen::SynRetransmit
        );
    }

    #[test]
    fn full_table_evicts_the_oldest_and_counts_it() {
        let mut table = HandshakeTable::new(3);
        let mut syn = seg(&SPOOFED_SYN);
        for port in 1..=10u16 {
            syn.source.set_port(port);
            table.observe(&syn, NOW, watched);
        }
        assert_eq!(table.len(), 3);
        assert_eq!(table.peak, 3);
        assert_eq!(table.evictions, 7);
    }

    #[test]
    fn completed_handshakes_leave_no_unbounded_bookkeeping() {
        let mut table = HandshakeTable::new(4);
        for _ in 0..100 {
            table.observe(&seg(&IPV4_SYN), NOW, watched);
            table.observe(&seg(&IPV4_SYN_ACK), NOW, watched);
            assert_eq!(
                table.observe(&seg(&IPV4_ACK), NOW, watched),
                Seen::Completed
            );
        }
        assert!(table.is_empty());
        assert!(table.by_age.len() <= 8);
        assert_eq!(table.evictions, 0);
    }

    #[test]
    fn handshakes_expire_after_the_kernel_lifetime() {
        let mut table = HandshakeTable::new(16);
        table.observe(&seg(&SPOOFED_SYN), NOW, watched);
        table.expire(NOW + Duration::from_secs(6), Duration::from_secs(7));
        assert_eq!(table.len(), 1);
        table.expire(NOW + Duration::from_secs(8), Duration::from_secs(7));
        assert!(table.is_empty());
        assert_eq!(table.expired, 1);
    }
}

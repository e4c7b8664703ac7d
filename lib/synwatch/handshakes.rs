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
//! number of slots, an old entry evicted (and counted) when a new one finds no room, and
//! entries forgotten after the time the kernel itself would keep them.
//!
//! ## How the table is laid out, and why
//!
//! A flood brings tens of thousands of SYNs a second, each from a different (forged) address,
//! so every SYN is a lookup of a key never seen before, at a random place in the table. What
//! such a lookup costs is the memory it has to fetch, so the table is built like a CPU cache:
//!
//! ```text
//!   hash(client, server) ──┬── which set ──▶ set 0    [slot][slot][slot]...[slot]   8 slots,
//!                          │                 set 1    [slot][slot][slot]...[slot]   64 bytes:
//!                          │                 ...                                    one cache
//!                          └── tag ────────▶ set n-1  [slot][slot][slot]...[slot]   line
//!
//!   slot = tag (32 bits of the hash; 0 = free) + when the SYN was seen, in ms (31 bits)
//! ```
//!
//! A handshake can live only in the eight slots of its set, so finding it reads one cache line;
//! when all eight are taken, the oldest of them makes room (an eviction). Like a cache, the
//! table stores no addresses, only a 32-bit tag: two handshakes are mistaken for each other
//! only if they land in the same set *and* share all 32 bits, which for a full table is less
//! than one lookup in 500 000 000. Eight bytes a handshake (the addresses and ports of an
//! IPv6 pair are 36) keep the default 32 768 slots at 256 KiB, which stay in the processor's
//! second-level cache while a flood streams megabytes of frames past it (65 536 slots, 512
//! KiB, cost 3 ms more CPU over `make bench`'s flood, measured side by side; 8 192 slots
//! cost no less than 32 768).
//!
//! Measured under `make bench`'s 200 000-SYN flood: the hash map of full keys with a queue
//! of ages that this table replaced took about a third of synwatch's CPU time; with this
//! table, the sources counting of `sources.rs`, the engine's prefetching (`Tally::queue`)
//! and SYN-ACKs counted without a lookup, watching the whole flood went from 0.38 s of CPU
//! to under 0.04 s.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::capture::decode::Segment;

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

/// Slots per set: eight 8-byte slots fill one 64-byte cache line.
const WAYS: usize = 8;
/// A stamp: milliseconds, counted modulo 2^31 (24.8 days). Ages are differences of two
/// stamps, right as long as no entry outlives 24 days; `expire` forgets every entry after at
/// most the kernel's half-open lifetime (minutes).
const MILLIS: u32 = (1 << 31) - 1;

/// Eight handshakes on one cache line (the alignment makes sure a set never straddles two).
/// Slot `way` is `tags[way]`, 32 bits of the handshake's hash (0: the slot is free), and
/// `stamps[way]`, when its SYN was seen (`MILLIS`). The tags sit side by
/// side so that comparing all eight is two vector instructions (see [`Set::ways_with`]).
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(64))]
struct Set {
    tags: [u32; WAYS],
    stamps: [u32; WAYS],
}

impl Set {
    /// A bit for each way whose tag is `tag`: no branch per way, so the compiler can compare
    /// the eight at once.
    fn ways_with(&self, tag: u32) -> u32 {
        let mut bits = 0;
        for way in 0..WAYS {
            bits |= u32::from(self.tags[way] == tag) << way;
        }
        bits
    }

    /// The way holding the handshake seen longest before `now` (a stamp).
    fn oldest(&self, now: u32) -> usize {
        let (mut oldest, mut oldest_age) = (0, 0);
        for way in 0..WAYS {
            let age = now.wrapping_sub(self.stamps[way]) & MILLIS;
            if age > oldest_age {
                (oldest, oldest_age) = (way, age);
            }
        }
        oldest
    }

    /// The first way whose tag is `tag`.
    fn find(&self, tag: u32) -> Option<usize> {
        let bits = self.ways_with(tag);
        (bits != 0).then(|| bits.trailing_zeros() as usize)
    }

    fn free(&mut self, way: usize) {
        self.tags[way] = 0;
        self.stamps[way] = 0;
    }
}

/// Where a handshake lives: its set and its tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Place {
    set: usize,
    tag: u32,
}

/// A segment's place in the table, from [`HandshakeTable::locate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Located(Place);

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

/// Half-open handshakes seen on the wire, at most `capacity` of them.
#[derive(Debug)]
pub struct HandshakeTable {
    sets: Box<[Set]>,
    hasher: FoldState,
    len: usize,
    /// Entries pushed out because their set was full.
    pub evictions: u64,
    /// Entries forgotten because they outlived the kernel's half-open lifetime.
    pub expired: u64,
    /// The most entries the table ever held.
    pub peak: usize,
}

impl HandshakeTable {
    /// A table of at least `capacity` slots: rounded up to whole sets of eight.
    #[cfg(test)]
    pub fn new(capacity: usize) -> HandshakeTable {
        HandshakeTable::try_new(capacity).expect("a test table fits in memory")
    }

    /// A table of at least `capacity` slots, or an error (not an abort) when the memory cannot
    /// be had: the capacity comes from the command line.
    pub fn try_new(capacity: usize) -> Result<HandshakeTable, std::collections::TryReserveError> {
        let sets = capacity.max(1).div_ceil(WAYS);
        let mut storage: Vec<Set> = Vec::new();
        storage.try_reserve_exact(sets)?;
        // Zeroed slots are free slots.
        storage.resize(sets, Set::default());
        Ok(HandshakeTable {
            sets: storage.into_boxed_slice(),
            hasher: FoldState::new(),
            len: 0,
            evictions: 0,
            expired: 0,
            peak: 0,
        })
    }

    /// How many handshakes the table can hold.
    pub fn capacity(&self) -> usize {
        self.sets.len() * WAYS
    }

    /// Half-open handshakes right now.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Account for one segment. `watched(port)` says whether a server port is watched.
    pub fn observe(
        &mut self,
        segment: &Segment,
        now: Duration,
        watched: impl Fn(u16) -> bool,
    ) -> Seen {
        if let Some(seen) = Self::without_lookup(segment, &watched) {
            return seen;
        }
        let located = self.locate(segment);
        self.observe_located(segment, located, now, watched)
    }

    /// What a segment means when the table has nothing to do with it: the server's SYN-ACK
    /// is counted, not looked up. The handshake completes with the client's ACK, and a
    /// client only sends that ACK in answer to a SYN-ACK, so matching the SYN-ACK to its
    /// SYN would tell us nothing the ACK does not. (It is half of a flood's packets: looking
    /// each up cost a sixth of synwatch's CPU, measured side by side under `make bench`.)
    /// `None`: [`locate`](Self::locate) the segment and observe it.
    pub fn without_lookup(segment: &Segment, watched: impl Fn(u16) -> bool) -> Option<Seen> {
        let syn_ack = segment.syn() && segment.ack() && !segment.rst();
        syn_ack.then(|| {
            if watched(segment.source.port()) {
                Seen::SynAck
            } else {
                Seen::Other
            }
        })
    }

    /// The first half of [`observe`](Self::observe): where `segment`'s handshake lives, with
    /// the memory of its set already on its way to the cache. The engine locates a batch of
    /// segments before it observes any of them (see `Tally::queue` for why).
    pub fn locate(&self, segment: &Segment) -> Located {
        // Keyed from the client's side: SYNs and the final ACK come from the client. (A reset
        // may come from either side; `observe_located` looks both ways.)
        let place = self.place(segment.source, segment.destination);
        super::prefetch(&self.sets[place.set]);
        Located(place)
    }

    /// The second half of [`observe`](Self::observe), for a segment [`locate`](Self::locate)
    /// has placed.
    pub fn observe_located(
        &mut self,
        segment: &Segment,
        Located(place): Located,
        now: Duration,
        watched: impl Fn(u16) -> bool,
    ) -> Seen {
        if segment.rst() {
            // Either side may reset; the handshake is gone whichever way it was keyed.
            self.remove(place);
            self.remove(self.place(segment.destination, segment.source));
            return Seen::Reset;
        }
        match (segment.syn(), segment.ack()) {
            (true, false) if watched(segment.destination.port()) => {
                if self.find(place).is_some() {
                    return Seen::SynRetransmit;
                }
                self.insert(place, stamp(now));
                Seen::Syn
            }
            // The client's first ACK after its SYN: the handshake is complete.
            (false, true) => match self.find(place) {
                Some(way) => {
                    self.free(place.set, way);
                    Seen::Completed
                }
                None => Seen::Other,
            },
            _ => Seen::Other,
        }
    }

    /// The set and tag of the handshake from `client` to `server`.
    #[inline]
    fn place(&self, client: SocketAddr, server: SocketAddr) -> Place {
        let mut hasher = self.hasher.build_hasher();
        match (client.ip(), server.ip()) {
            (IpAddr::V4(c), IpAddr::V4(s)) => {
                hasher.write_u64(u64::from(c.to_bits()) << 32 | u64::from(s.to_bits()));
            }
            (c, s) => {
                for address in [c, s] {
                    let bits = match address {
                        IpAddr::V4(v4) => v4.to_ipv6_mapped().to_bits(),
                        IpAddr::V6(v6) => v6.to_bits(),
                    };
                    hasher.write_u64((bits >> 64) as u64);
                    hasher.write_u64(bits as u64);
                }
            }
        }
        // The family bit keeps 10.0.0.1 apart from its IPv4-mapped IPv6 twin.
        hasher.write_u64(
            u64::from(client.port())
                | u64::from(server.port()) << 16
                | u64::from(client.is_ipv6()) << 32,
        );
        let hash = hasher.finish();
        Place {
            // The high half of hash × sets is a number in 0..sets, as evenly spread as the
            // hash, without a division (Lemire, "A fast alternative to the modulo reduction").
            set: ((u128::from(hash) * self.sets.len() as u128) >> 64) as usize,
            // The low half of the hash; 0 is taken (free slot), so it becomes 1.
            tag: (hash as u32).max(1),
        }
    }

    fn find(&self, place: Place) -> Option<usize> {
        self.sets[place.set].find(place.tag)
    }

    /// Add a handshake the table does not hold yet (`observe` has just looked).
    fn insert(&mut self, place: Place, stamp: u32) {
        let set = &mut self.sets[place.set];
        let way = match set.find(0) {
            Some(free) => {
                self.len += 1;
                free
            }
            None => {
                // Full: forget the oldest handshake of this set. Under a flood it is almost
                // surely spoofed.
                self.evictions += 1;
                set.oldest(stamp)
            }
        };
        set.tags[way] = place.tag;
        set.stamps[way] = stamp;
        self.peak = self.peak.max(self.len);
    }

    fn remove(&mut self, place: Place) {
        if let Some(way) = self.find(place) {
            self.free(place.set, way);
        }
    }

    fn free(&mut self, set: usize, way: usize) {
        self.sets[set].free(way);
        self.len -= 1;
    }

    /// Forget handshakes first seen `lifetime` or longer before `now`: by then the kernel has
    /// given up on them too (see `Sysctls::half_open_lifetime_secs`). One pass over the table
    /// (512 KiB by default), once an interval.
    pub fn expire(&mut self, now: Duration, lifetime: Duration) {
        let now = stamp(now);
        let lifetime = u32::try_from(lifetime.as_millis()).unwrap_or(MILLIS);
        for set in self.sets.iter_mut() {
            for way in 0..WAYS {
                if set.tags[way] != 0 && now.wrapping_sub(set.stamps[way]) & MILLIS >= lifetime {
                    set.free(way);
                    self.len -= 1;
                    self.expired += 1;
                }
            }
        }
    }
}

/// A time as a slot's stamp: milliseconds modulo 2^31.
fn stamp(time: Duration) -> u32 {
    (time.as_millis() as u32) & MILLIS
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::decode::decode_frame;
    use crate::capture::decode::tests::{
        IPV4_ACK, IPV4_FIN_ACK, IPV4_SYN, IPV4_SYN_ACK, SPOOFED_SYN,
    };
    use std::net::{IpAddr, SocketAddr};

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
    fn capacity_is_rounded_up_to_whole_sets_of_eight() {
        assert_eq!(HandshakeTable::new(1).capacity(), 8);
        assert_eq!(HandshakeTable::new(500).capacity(), 504);
        assert_eq!(HandshakeTable::new(65_536).capacity(), 65_536);
    }

    #[test]
    fn full_set_evicts_its_oldest_and_counts_it() {
        // One set of eight: every handshake lands in it.
        let mut table = HandshakeTable::new(8);
        let mut syn = seg(&SPOOFED_SYN);
        for port in 1..=10u16 {
            syn.source.set_port(port);
            let when = NOW + Duration::from_millis(u64::from(port));
            assert_eq!(table.observe(&syn, when, watched), Seen::Syn);
        }
        assert_eq!(table.len(), 8);
        assert_eq!(table.peak, 8);
        assert_eq!(table.evictions, 2);
        // Ports 1 and 2 were the oldest: gone. Port 3 is still there.
        let later = NOW + Duration::from_millis(20);
        syn.source.set_port(3);
        assert_eq!(table.observe(&syn, later, watched), Seen::SynRetransmit);
        syn.source.set_port(1);
        assert_eq!(table.observe(&syn, later, watched), Seen::Syn);
    }

    #[test]
    fn a_flood_of_distinct_sources_never_grows_the_table() {
        let mut table = HandshakeTable::new(500);
        let mut syn = seg(&SPOOFED_SYN);
        for n in 0..20_000u32 {
            syn.source = SocketAddr::new(IpAddr::from(n.to_be_bytes()), 40_000);
            table.observe(&syn, NOW, watched);
        }
        assert!(table.peak <= table.capacity());
        assert!(table.len() > 450, "{}", table.len());
        assert_eq!(table.len() as u64 + table.evictions, 20_000);
    }

    #[test]
    fn completed_handshakes_free_their_slot() {
        let mut table = HandshakeTable::new(8);
        for _ in 0..100 {
            table.observe(&seg(&IPV4_SYN), NOW, watched);
            table.observe(&seg(&IPV4_SYN_ACK), NOW, watched);
            assert_eq!(
                table.observe(&seg(&IPV4_ACK), NOW, watched),
                Seen::Completed
            );
        }
        assert!(table.is_empty());
        assert_eq!(table.evictions, 0);
    }

    #[test]
    fn an_ack_without_a_syn_completes_nothing() {
        let mut table = HandshakeTable::new(8);
        assert_eq!(table.observe(&seg(&IPV4_ACK), NOW, watched), Seen::Other);
        assert!(table.is_empty());
        // The SYN-ACK is counted without touching the table.
        assert_eq!(
            table.observe(&seg(&IPV4_SYN_ACK), NOW, watched),
            Seen::SynAck
        );
        assert!(table.is_empty());
        assert_eq!(
            HandshakeTable::without_lookup(&seg(&IPV4_SYN_ACK), |_| false),
            Some(Seen::Other),
            "a SYN-ACK from an unwatched port"
        );
        assert_eq!(
            HandshakeTable::without_lookup(&seg(&IPV4_SYN), watched),
            None
        );
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

//! Who is sending the SYNs (lab 05): SYNs per source address over one interval, for the
//! "distinct sources" count, the top senders, and the spoofed-sources hint.
//!
//! A real client population is a few addresses sending a few SYNs each; a spoofed flood is a
//! new random address for every SYN (`hping3 --rand-source`). So under a flood this map gains
//! an entry per packet, each at a random place in memory, and waiting for that memory is most
//! of what counting costs. Two things keep it cheap:
//! - small entries: an IPv4 address is kept as its 32 bits with a 32-bit count, 8 bytes an
//!   entry (as `IpAddr` and `u64` in a `HashMap` it would be 32), in an open-addressing table
//!   we own ([`V4Counts`]); IPv6 senders, rare in these labs, get a plain `HashMap`;
//! - asking for memory early: [`SourceCounts::prefetch`] starts loading an address's slot some
//!   packets before [`SourceCounts::count`] needs it, so the waits for several packets overlap
//!   instead of queueing (the engine does this for a batch of packets at a time).
//!
//! The number of addresses is capped, so a flood of forged addresses cannot grow the map
//! without bound; past the cap the count reads "at least".

use std::cmp::Reverse;
use std::collections::hash_map::Entry;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::handshakes::FoldState;
use super::Source;

/// SYNs per source address, at most `cap` addresses.
#[derive(Debug)]
pub struct SourceCounts {
    v4: V4Counts,
    v6: HashMap<u128, u32, FoldState>,
    cap: usize,
    capped: bool,
}

impl SourceCounts {
    pub fn new(cap: usize) -> SourceCounts {
        SourceCounts {
            v4: V4Counts::new(),
            v6: HashMap::default(),
            cap,
            capped: false,
        }
    }

    /// Count one SYN from `address`.
    pub fn count(&mut self, address: IpAddr) {
        let may_add = self.len() < self.cap;
        let counted = match address {
            IpAddr::V4(v4) => self.v4.count(v4.to_bits(), may_add),
            IpAddr::V6(v6) => match self.v6.entry(v6.to_bits()) {
                Entry::Occupied(seen) => {
                    let syn = seen.into_mut();
                    *syn = syn.saturating_add(1);
                    true
                }
                Entry::Vacant(new) if may_add => {
                    new.insert(1);
                    true
                }
                Entry::Vacant(_) => false,
            },
        };
        if !counted {
            self.capped = true;
        }
    }

    /// Start fetching the memory that counting `address` will read (see the module's notes).
    pub fn prefetch(&self, address: IpAddr) {
        if let IpAddr::V4(v4) = address {
            self.v4.prefetch(v4.to_bits());
        }
    }

    /// Distinct addresses counted (at least this many if [`capped`](Self::capped)).
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether some addresses were not counted because the map was full.
    pub fn capped(&self) -> bool {
        self.capped
    }

    /// The `n` addresses that sent the most SYNs, most first; ties by address, so the list is
    /// stable. A heap of `n` entries, not a sort of every address: a flood has tens of
    /// thousands of them. IPv4 addresses, the many, are ranked as one integer each (SYNs in
    /// the high half, the address inverted in the low half: more SYNs, then a lower address,
    /// is a larger key), so the pass over the table compares integers, not `IpAddr`s.
    pub fn top(&self, n: usize) -> Vec<Source> {
        if n == 0 {
            return Vec::new();
        }
        let mut best_v4: BinaryHeap<Reverse<u64>> = BinaryHeap::with_capacity(n + 1);
        for (bits, syn) in self.v4.iter() {
            let key = u64::from(syn) << 32 | u64::from(!bits);
            if best_v4.len() < n {
                best_v4.push(Reverse(key));
            } else if best_v4.peek().is_some_and(|Reverse(worst)| key > *worst) {
                best_v4.pop();
                best_v4.push(Reverse(key));
            }
        }
        let v4 = best_v4.into_iter().map(|Reverse(key)| {
            let address = IpAddr::V4(Ipv4Addr::from_bits(!(key as u32)));
            (address, (key >> 32) as u32)
        });
        let v6 = (self.v6.iter()).map(|(&bits, &syn)| (IpAddr::V6(Ipv6Addr::from_bits(bits)), syn));
        // The IPv4 finalists and every IPv6 address, ranked together.
        let mut all: Vec<(Reverse<u32>, IpAddr)> = v4
            .chain(v6)
            .map(|(address, syn)| (Reverse(syn), address))
            .collect();
        all.sort_unstable();
        all.truncate(n);
        all.into_iter()
            .map(|(Reverse(syn), address)| Source {
                address,
                syn: u64::from(syn),
            })
            .collect()
    }

    pub fn clear(&mut self) {
        self.v4.clear();
        self.v6.clear();
        self.capped = false;
    }
}

/// SYNs per IPv4 address: an open-addressing table with linear probing. Each address has a
/// home slot picked by its hash; if another address sits there, it goes to the next free slot
/// after it. A lookup walks from the home slot to the address or to a free slot, which at the
/// table's load (at most three quarters full) is a few slots: usually the same cache line.
#[derive(Debug)]
struct V4Counts {
    /// A power-of-two number of slots, so `hash & mask` picks one.
    slots: Vec<V4Slot>,
    len: usize,
    hasher: FoldState,
}

/// One address and its SYNs; a count of 0 marks a free slot (every counted address has sent
/// at least one), so 0.0.0.0 needs no special case.
#[derive(Debug, Clone, Copy, Default)]
struct V4Slot {
    address: u32,
    syn: u32,
}

impl V4Counts {
    /// Slots at first; the table doubles when three quarters are taken, and keeps its size
    /// from one interval to the next.
    const INITIAL_SLOTS: usize = 1024;

    fn new() -> V4Counts {
        V4Counts {
            slots: vec![V4Slot::default(); Self::INITIAL_SLOTS],
            len: 0,
            hasher: FoldState::new(),
        }
    }

    fn home(&self, address: u32) -> usize {
        let mut hasher = self.hasher.build_hasher();
        hasher.write_u32(address);
        hasher.finish() as usize & (self.slots.len() - 1)
    }

    /// Add one SYN from `address`; a new address only if `may_add`. False if not counted.
    fn count(&mut self, address: u32, may_add: bool) -> bool {
        let mask = self.slots.len() - 1;
        let mut index = self.home(address);
        loop {
            let slot = &mut self.slots[index];
            if slot.syn == 0 {
                if !may_add {
                    return false;
                }
                *slot = V4Slot { address, syn: 1 };
                self.len += 1;
                if self.len * 4 > self.slots.len() * 3 {
                    self.grow();
                }
                return true;
            }
            if slot.address == address {
                slot.syn = slot.syn.saturating_add(1);
                return true;
            }
            index = (index + 1) & mask;
        }
    }

    /// Start loading the home slot of `address`, so it is in the cache when `count` comes to
    /// it.
    fn prefetch(&self, address: u32) {
        super::prefetch(&self.slots[self.home(address)]);
    }

    /// Twice the slots; every address moves to its home in the bigger table.
    fn grow(&mut self) {
        let bigger = vec![V4Slot::default(); self.slots.len() * 2];
        let old = std::mem::replace(&mut self.slots, bigger);
        let mask = self.slots.len() - 1;
        for slot in old.into_iter().filter(|slot| slot.syn != 0) {
            let mut index = self.home(slot.address);
            while self.slots[index].syn != 0 {
                index = (index + 1) & mask;
            }
            self.slots[index] = slot;
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    fn iter(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.slots
            .iter()
            .filter(|slot| slot.syn != 0)
            .map(|slot| (slot.address, slot.syn))
    }

    fn clear(&mut self) {
        if self.len > 0 {
            self.slots.fill(V4Slot::default());
            self.len = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(text: &str) -> IpAddr {
        text.parse().expect("test address")
    }

    #[test]
    fn top_lists_most_syns_first_then_lower_address() {
        let mut sources = SourceCounts::new(100);
        for (text, times) in [
            ("10.0.0.9", 1),
            ("10.0.0.3", 3),
            ("fd00::1", 3),
            ("10.0.0.1", 1),
        ] {
            for _ in 0..times {
                sources.count(address(text));
            }
        }
        assert_eq!(sources.len(), 4);
        let top = sources.top(3);
        let listed: Vec<(String, u64)> =
            top.iter().map(|s| (s.address.to_string(), s.syn)).collect();
        assert_eq!(
            listed,
            [
                ("10.0.0.3".to_string(), 3),
                ("fd00::1".to_string(), 3),
                ("10.0.0.1".to_string(), 1)
            ]
        );
    }

    #[test]
    fn top_agrees_with_sorting_every_address() {
        // Many ties (1 to 4 SYNs each), IPv4 and IPv6 mixed: the integer ranking of IPv4
        // must order exactly as (most SYNs, then lowest address) does.
        let mut sources = SourceCounts::new(100_000);
        let mut all: HashMap<IpAddr, u64> = HashMap::new();
        let mut state = 12345u32;
        for i in 0..20_000u32 {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let address = if i % 10 == 0 {
                IpAddr::V6(Ipv6Addr::from_bits(u128::from(state % 500)))
            } else {
                IpAddr::V4(Ipv4Addr::from_bits(state % 8_000))
            };
            sources.count(address);
            *all.entry(address).or_default() += 1;
        }
        let mut expected: Vec<(Reverse<u64>, IpAddr)> =
            all.into_iter().map(|(a, syn)| (Reverse(syn), a)).collect();
        expected.sort_unstable();
        for n in [1, 7, 100, 10_000] {
            let top: Vec<(u64, IpAddr)> = sources
                .top(n)
                .into_iter()
                .map(|s| (s.syn, s.address))
                .collect();
            let want: Vec<(u64, IpAddr)> = expected
                .iter()
                .take(n)
                .map(|&(Reverse(syn), a)| (syn, a))
                .collect();
            assert_eq!(top, want, "top {n}");
        }
    }

    #[test]
    fn the_v4_table_grows_and_keeps_every_count() {
        let mut sources = SourceCounts::new(100_000);
        for n in 1..=5_000u32 {
            for _ in 0..=(n % 3) {
                sources.count(IpAddr::from(n.to_be_bytes()));
            }
        }
        assert_eq!(sources.len(), 5_000);
        let total: u64 = (1..=5_000u64).map(|n| n % 3 + 1).sum();
        assert_eq!(sources.top(5_000).iter().map(|s| s.syn).sum::<u64>(), total);
        // 0.0.0.0 is an address like any other.
        sources.count(IpAddr::from([0, 0, 0, 0]));
        assert_eq!(sources.len(), 5_001);
    }

    #[test]
    fn past_the_cap_new_addresses_are_not_counted_but_known_ones_are() {
        let mut sources = SourceCounts::new(2);
        sources.count(address("10.0.0.1"));
        sources.count(address("10.0.0.2"));
        sources.count(address("10.0.0.3"));
        sources.count(address("10.0.0.1"));
        assert_eq!(sources.len(), 2);
        assert!(sources.capped());
        assert_eq!(sources.top(1)[0].syn, 2);
        sources.clear();
        assert!(sources.is_empty());
        assert!(!sources.capped());
    }
}

//! Who is sending the SYNs (lab 05): SYNs per source address over one interval, for the
//! "distinct sources" count, the top senders, and the spoofed-sources hint.
//!
//! A real client population is a few addresses sending a few SYNs each; a spoofed flood is a
//! new random address for every SYN (`hping3 --rand-source`). Counting every forged address
//! exactly would mean a table that gains an entry per packet, each at a random place in
//! memory, which under a flood no cache holds. So the work is split:
//! - **exact, for the first [`SourceCounts::new`]`(cap)` addresses of an interval**: an
//!   IPv4 address and its count take 8 bytes in an open-addressing table we own
//!   ([`V4Counts`]; IPv6 senders, rare in these labs, get a plain `HashMap`). A sender
//!   counted once keeps being counted all interval, so a real heavy sender, which shows up
//!   in the first milliseconds, is ranked exactly even under a flood;
//! - **estimated, past the cap**: the number of distinct addresses comes from a
//!   HyperLogLog sketch ([`Sketch`]): 4096 one-byte registers, a standard error of 1.6%
//!   however many addresses a flood forges. The count then reads `~35012`.
//!
//! Both stay small enough for the processor's caches, and the memory is bounded whatever
//! the flood. [`SourceCounts::prefetch`] starts loading an address's slot some packets before
//! [`SourceCounts::count`] needs it (the engine does this for a batch of packets at a time).

use std::cmp::Reverse;
use std::collections::hash_map::Entry;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::handshakes::FoldState;
use super::Source;

/// SYNs per source address: exact for the first `cap` addresses, then estimated.
#[derive(Debug)]
pub struct SourceCounts {
    v4: V4Counts,
    v6: HashMap<u128, u32, FoldState>,
    cap: usize,
    /// Past the cap: every address of the interval, as a sketch (allocated on first need).
    sketch: Option<Box<Sketch>>,
    estimating: bool,
    hasher: FoldState,
}

impl SourceCounts {
    pub fn new(cap: usize) -> SourceCounts {
        SourceCounts {
            v4: V4Counts::new(),
            v6: HashMap::default(),
            cap,
            sketch: None,
            estimating: false,
            hasher: FoldState::new(),
        }
    }

    /// Count one SYN from `address`.
    pub fn count(&mut self, address: IpAddr) {
        let may_add = self.exact_len() < self.cap;
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
        // An address the exact table has no room for: from now on this interval's distinct
        // count is the sketch's, and the sketch must know every address, so it starts with
        // the ones counted exactly so far. (An address already in the exact table is in the
        // sketch too; adding it again would change nothing.)
        if !counted {
            if !self.estimating {
                self.start_estimating();
            }
            let hash = self.hash(address);
            if let Some(sketch) = self.sketch.as_mut() {
                sketch.add(hash);
            }
        }
    }

    fn start_estimating(&mut self) {
        let mut sketch = self.sketch.take().unwrap_or_default();
        sketch.clear();
        for (bits, _) in self.v4.iter() {
            sketch.add(self.hash(IpAddr::V4(Ipv4Addr::from_bits(bits))));
        }
        for &bits in self.v6.keys() {
            sketch.add(self.hash(IpAddr::V6(Ipv6Addr::from_bits(bits))));
        }
        self.sketch = Some(sketch);
        self.estimating = true;
    }

    fn hash(&self, address: IpAddr) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        match address {
            IpAddr::V4(v4) => hasher.write_u32(v4.to_bits()),
            IpAddr::V6(v6) => {
                let bits = v6.to_bits();
                hasher.write_u64((bits >> 64) as u64);
                hasher.write_u64(bits as u64);
                // Keeps 10.0.0.1 apart from ::10.0.0.1.
                hasher.write_u8(6);
            }
        }
        hasher.finish()
    }

    fn exact_len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Start fetching the memory that counting `address` will read (see the module's notes).
    pub fn prefetch(&self, address: IpAddr) {
        if let IpAddr::V4(v4) = address {
            self.v4.prefetch(v4.to_bits());
        }
    }

    /// Distinct addresses this interval: exact, or the sketch's estimate if
    /// [`estimated`](Self::estimated).
    pub fn len(&self) -> usize {
        match &self.sketch {
            Some(sketch) if self.estimating => sketch.estimate(),
            _ => self.exact_len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.exact_len() == 0
    }

    /// More addresses came than the exact table holds: [`len`](Self::len) is an estimate,
    /// and [`top`](Self::top) ranks the senders among the first `cap` addresses.
    pub fn estimated(&self) -> bool {
        self.estimating
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

    /// Start a new interval. The tables keep their memory: a flood fills them again.
    pub fn clear(&mut self) {
        self.v4.clear();
        self.v6.clear();
        self.estimating = false;
    }
}

/// Registers of the sketch: 2^12. HyperLogLog's standard error is 1.04 / sqrt(registers),
/// 1.6% here, for 4 KiB.
const SKETCH_BITS: u32 = 12;
const REGISTERS: usize = 1 << SKETCH_BITS;

/// A HyperLogLog sketch (Flajolet, Fusy, Gandouet, Meunier, 2007): how many *distinct*
/// addresses were added, in 4 KiB however many there were.
///
/// The idea: hash each address to 64 random-looking bits. In a list of n random numbers,
/// the longest run of leading zero bits is about log2(n) long, so remembering only the
/// longest run seen estimates n; an address seen twice hashes the same and changes nothing.
/// One register is a noisy guess, so the first 12 bits of the hash choose one of 4096
/// registers, each keeping the longest run (plus one) among its addresses, and the estimate
/// combines them with a harmonic mean. For small counts, when many registers are still 0,
/// counting the empty registers is more precise ("linear counting", Whang et al. 1990; the
/// switch point as in Heule, Nunkesser, Hall, "HyperLogLog in practice", 2013).
#[derive(Debug, Clone)]
pub struct Sketch {
    registers: [u8; REGISTERS],
}

impl Default for Sketch {
    fn default() -> Self {
        Sketch {
            registers: [0; REGISTERS],
        }
    }
}

impl Sketch {
    /// Add one hashed address.
    pub fn add(&mut self, hash: u64) {
        // The estimate trusts every bit of the hash to be a fair coin, more than a table
        // index needs: MurmurHash3's finalizer (fmix64) mixes the table hash once more.
        // Without it, 5 000 consecutive addresses were estimated as 9 129.
        let mut hash = hash;
        hash ^= hash >> 33;
        hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
        hash ^= hash >> 33;
        hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        hash ^= hash >> 33;
        let register = (hash >> (64 - SKETCH_BITS)) as usize;
        // The remaining bits, with a 1 placed after them so the run is at most 52 zeros.
        let rest = (hash << SKETCH_BITS) | (1 << (SKETCH_BITS - 1));
        let run = rest.leading_zeros() as u8 + 1;
        if run > self.registers[register] {
            self.registers[register] = run;
        }
    }

    /// About how many distinct hashes were added.
    pub fn estimate(&self) -> usize {
        let m = REGISTERS as f64;
        let mut sum = 0.0;
        let mut empty = 0usize;
        for &run in &self.registers {
            sum += 1.0 / (1u64 << run) as f64;
            empty += usize::from(run == 0);
        }
        // The bias correction for m >= 128 registers (Flajolet et al., figure 3).
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let raw = alpha * m * m / sum;
        let estimate = if raw <= 2.5 * m && empty > 0 {
            m * (m / empty as f64).ln()
        } else {
            raw
        };
        estimate.round() as usize
    }

    pub fn clear(&mut self) {
        self.registers.fill(0);
    }
}

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
    fn past_the_cap_known_addresses_are_still_counted_and_the_rest_estimated() {
        let mut sources = SourceCounts::new(2);
        sources.count(address("10.0.0.1"));
        sources.count(address("10.0.0.2"));
        assert!(!sources.estimated());
        sources.count(address("10.0.0.3"));
        sources.count(address("10.0.0.1"));
        sources.count(address("10.0.0.3"));
        assert!(sources.estimated());
        // Three distinct addresses; the sketch is exact this small (linear counting).
        assert_eq!(sources.len(), 3);
        assert_eq!(sources.top(1)[0].syn, 2);
        assert_eq!(
            sources.top(5).len(),
            2,
            "only the exactly counted are ranked"
        );
        sources.clear();
        assert!(sources.is_empty());
        assert!(!sources.estimated());
        sources.count(address("10.0.0.9"));
        assert_eq!(sources.len(), 1, "a new interval counts exactly again");
    }

    #[test]
    fn the_estimate_of_a_flood_of_forged_addresses_is_within_a_few_percent() {
        // Consecutive addresses (the worst case for a weak hash) and random ones, IPv4 and
        // IPv6. The standard error is 1.6%; 6% is almost four of them.
        let mut state = 7u32;
        for distinct in [5_000u32, 35_000, 200_000] {
            for random in [false, true] {
                let mut sources = SourceCounts::new(4_096);
                let mut seen = std::collections::HashSet::new();
                for i in 0..distinct {
                    state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    let bits = if random { state } else { 0x0a00_0000 + i };
                    seen.insert(bits);
                    sources.count(IpAddr::V4(Ipv4Addr::from_bits(bits)));
                    // Every address twice: repeats must not count.
                    sources.count(IpAddr::V4(Ipv4Addr::from_bits(bits)));
                }
                let exact = seen.len() as f64;
                let estimate = sources.len() as f64;
                assert!(sources.estimated());
                assert!(
                    (estimate - exact).abs() <= exact * 0.06,
                    "{distinct} addresses (random: {random}): estimated {estimate}"
                );
            }
            let mut v6 = SourceCounts::new(4_096);
            for i in 0..distinct {
                v6.count(IpAddr::V6(Ipv6Addr::from_bits(
                    0xfd00 << 112 | u128::from(i),
                )));
            }
            let estimate = v6.len() as f64;
            assert!((estimate - f64::from(distinct)).abs() <= f64::from(distinct) * 0.06);
        }
    }
}

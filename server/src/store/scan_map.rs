//! Hash map and set whose SCAN cursor never misses an element that stays present.
//!
//! Entries live densely in a `Vec` (like IndexMap: O(1) random access for SPOP, SRANDMEMBER,
//! RANDOMKEY and expiry sampling); a separate open-addressing index (Robin Hood, backward-shift
//! deletion, power-of-two size) maps each key to its entry. SCAN walks the index by *home bucket*
//! (`hash & mask`) with Redis's reverse-binary cursor (dict.c `dictScan`): an element's home
//! bucket depends only on its hash and the table size, never on inserts or deletes of others,
//! and the reverse-binary order stays valid across growing and shrinking. So every element
//! present for a whole scan is returned, at least once.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{BuildHasher, Hash};

use crate::store::db::Hasher;

/// Index slot: folded hash of the key and the position of its entry (`EMPTY` when free).
#[derive(Clone, Copy)]
struct Slot {
    hash: u32,
    idx: u32,
}

const EMPTY: u32 = u32::MAX;
const FREE: Slot = Slot { hash: 0, idx: EMPTY };
const MIN_SLOTS: usize = 4;

/// Map with dense entries and a scan-stable index (see the module docs).
#[derive(Clone)]
pub struct ScanMap<K, V> {
    entries: Vec<(K, V)>,
    slots: Box<[Slot]>,
    hasher: Hasher,
}

impl<K, V> Default for ScanMap<K, V> {
    fn default() -> Self {
        ScanMap { entries: Vec::new(), slots: Box::default(), hasher: Hasher::default() }
    }
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for ScanMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.entries.iter().map(|(k, v)| (k, v))).finish()
    }
}

/// Redis's reverse-binary cursor increment over the bits in `mask`; 0 after the last bucket.
#[inline]
fn next_cursor(cursor: u64, mask: u64) -> u64 {
    (cursor | !mask).reverse_bits().wrapping_add(1).reverse_bits()
}

impl<K, V> ScanMap<K, V> {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entry at dense position `i` (positions change when another entry is removed).
    pub fn get_index(&self, i: usize) -> Option<(&K, &V)> {
        self.entries.get(i).map(|(k, v)| (k, v))
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&K, &V)> + ExactSizeIterator {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut V)> {
        self.entries.iter_mut().map(|(k, v)| (&*k, v))
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &K> + ExactSizeIterator {
        self.entries.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + ExactSizeIterator {
        self.entries.iter().map(|(_, v)| v)
    }

    pub fn clear(&mut self) {
        self.entries = Vec::new();
        self.slots = Box::default();
    }

    #[inline]
    fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    #[inline]
    fn dist(&self, pos: usize, hash: u32) -> usize {
        pos.wrapping_sub(hash as usize) & self.mask()
    }

    /// Visits every entry whose home bucket is `cursor & mask`; returns the next cursor (0: done).
    pub fn scan<'a>(&'a self, cursor: u64, mut visit: impl FnMut(&'a K, &'a V)) -> u64 {
        if self.slots.is_empty() {
            return 0;
        }
        let mask = self.mask();
        let home = cursor as usize & mask;
        let (mut pos, mut d) = (home, 0);
        loop {
            let s = self.slots[pos];
            if s.idx == EMPTY {
                break;
            }
            let sd = self.dist(pos, s.hash);
            // Robin Hood keeps each run ordered by home bucket: a smaller displacement means a
            // later home, so no entry of `home` follows.
            if sd < d {
                break;
            }
            if sd == d {
                let (k, v) = &self.entries[s.idx as usize];
                visit(k, v);
            }
            pos = (pos + 1) & mask;
            d += 1;
        }
        next_cursor(cursor, mask as u64)
    }

    /// Puts `s` into the index (Robin Hood: the entry farther from home keeps the slot).
    fn place(slots: &mut [Slot], mut s: Slot) {
        let mask = slots.len() - 1;
        let mut pos = s.hash as usize & mask;
        let mut d = 0;
        loop {
            let cur = slots[pos];
            if cur.idx == EMPTY {
                slots[pos] = s;
                return;
            }
            let cd = pos.wrapping_sub(cur.hash as usize) & mask;
            if cd < d {
                slots[pos] = s;
                s = cur;
                d = cd;
            }
            pos = (pos + 1) & mask;
            d += 1;
        }
    }

    /// Rebuilds the index with `n` slots (a power of two), without rehashing any key.
    fn resize(&mut self, n: usize) {
        let mut slots = vec![FREE; n].into_boxed_slice();
        for &s in self.slots.iter().filter(|s| s.idx != EMPTY) {
            Self::place(&mut slots, s);
        }
        self.slots = slots;
    }

    /// Frees index slot `pos`, shifting the rest of its run back one place.
    fn erase_slot(&mut self, mut pos: usize) {
        let mask = self.mask();
        loop {
            let next = (pos + 1) & mask;
            let n = self.slots[next];
            if n.idx == EMPTY || self.dist(next, n.hash) == 0 {
                self.slots[pos] = FREE;
                return;
            }
            self.slots[pos] = n;
            pos = next;
        }
    }

    /// Index slot that points at entry `idx` (whose folded hash is `hash`).
    fn slot_of_index(&self, hash: u32, idx: usize) -> usize {
        let mask = self.mask();
        let mut pos = hash as usize & mask;
        while self.slots[pos].idx as usize != idx {
            pos = (pos + 1) & mask;
        }
        pos
    }

    /// Shrinks the index when it is under 1/8 full, so scans and memory follow the live size.
    fn maybe_shrink(&mut self) {
        let n = self.slots.len();
        if n > MIN_SLOTS && self.entries.len() * 8 < n {
            let want = (self.entries.len() * 2).next_power_of_two().max(MIN_SLOTS);
            self.resize(want);
            self.entries.shrink_to(want);
        }
    }
}

impl<K: Hash + Eq, V> ScanMap<K, V> {
    #[inline]
    fn hash_of<Q: Hash + ?Sized>(&self, key: &Q) -> u32 {
        let h = self.hasher.hash_one(key);
        (h ^ (h >> 32)) as u32
    }

    /// Index slot holding `key`.
    fn find<Q>(&self, hash: u32, key: &Q) -> Option<usize>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.mask();
        let (mut pos, mut d) = (hash as usize & mask, 0);
        loop {
            let s = self.slots[pos];
            if s.idx == EMPTY || self.dist(pos, s.hash) < d {
                return None;
            }
            if s.hash == hash && self.entries[s.idx as usize].0.borrow() == key {
                return Some(pos);
            }
            pos = (pos + 1) & mask;
            d += 1;
        }
    }

    pub fn get_index_of<Q>(&self, key: &Q) -> Option<usize>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.find(self.hash_of(key), key).map(|pos| self.slots[pos].idx as usize)
    }

    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get_index_of(key).is_some()
    }

    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get_index_of(key).map(|i| &self.entries[i].1)
    }

    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get_index_of(key).map(|i| &mut self.entries[i].1)
    }

    /// Inserts or replaces the value (keeping the stored key); returns (position, old value).
    pub fn insert_full(&mut self, key: K, value: V) -> (usize, Option<V>) {
        let hash = self.hash_of(&key);
        if let Some(pos) = self.find(hash, &key) {
            let i = self.slots[pos].idx as usize;
            return (i, Some(std::mem::replace(&mut self.entries[i].1, value)));
        }
        if (self.entries.len() + 1) * 8 > self.slots.len() * 7 {
            self.resize((self.slots.len() * 2).max(MIN_SLOTS));
        }
        let i = self.entries.len();
        assert!(i < EMPTY as usize, "ScanMap holds at most 2^32 - 1 entries");
        self.entries.push((key, value));
        Self::place(&mut self.slots, Slot { hash, idx: i as u32 });
        (i, None)
    }

    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.insert_full(key, value).1
    }

    /// Removes the entry at index slot `pos`; the last entry moves into its dense position.
    fn remove_at_slot(&mut self, pos: usize) -> (usize, K, V) {
        let i = self.slots[pos].idx as usize;
        self.erase_slot(pos);
        let last = self.entries.len() - 1;
        if i != last {
            let h = self.hash_of(&self.entries[last].0);
            let lp = self.slot_of_index(h, last);
            self.slots[lp].idx = i as u32;
        }
        let (k, v) = self.entries.swap_remove(i);
        self.maybe_shrink();
        (i, k, v)
    }

    pub fn swap_remove_full<Q>(&mut self, key: &Q) -> Option<(usize, K, V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let pos = self.find(self.hash_of(key), key)?;
        Some(self.remove_at_slot(pos))
    }

    pub fn swap_remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.swap_remove_full(key).map(|(_, _, v)| v)
    }

    /// Removes the entry at dense position `i`.
    pub fn swap_remove_index(&mut self, i: usize) -> Option<(K, V)> {
        let key = &self.entries.get(i)?.0;
        let pos = self.slot_of_index(self.hash_of(key), i);
        let (_, k, v) = self.remove_at_slot(pos);
        Some((k, v))
    }
}

impl<K, V> std::ops::Index<usize> for ScanMap<K, V> {
    type Output = V;
    fn index(&self, i: usize) -> &V {
        &self.entries[i].1
    }
}

impl<K, V> std::ops::IndexMut<usize> for ScanMap<K, V> {
    fn index_mut(&mut self, i: usize) -> &mut V {
        &mut self.entries[i].1
    }
}

impl<K: Hash + Eq, V> FromIterator<(K, V)> for ScanMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut m = ScanMap::default();
        for (k, v) in iter {
            m.insert(k, v);
        }
        m
    }
}

/// Set with the same scan guarantee (a `ScanMap` to unit values).
#[derive(Clone)]
pub struct ScanSet<K> {
    map: ScanMap<K, ()>,
}

impl<K> Default for ScanSet<K> {
    fn default() -> Self {
        ScanSet { map: ScanMap::default() }
    }
}

impl<K: fmt::Debug> fmt::Debug for ScanSet<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.map.keys()).finish()
    }
}

impl<K> ScanSet<K> {
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn get_index(&self, i: usize) -> Option<&K> {
        self.map.get_index(i).map(|(k, _)| k)
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &K> + ExactSizeIterator {
        self.map.keys()
    }

    /// One SCAN step (see `ScanMap::scan`).
    pub fn scan<'a>(&'a self, cursor: u64, mut visit: impl FnMut(&'a K)) -> u64 {
        self.map.scan(cursor, |k, _| visit(k))
    }
}

impl<K: Hash + Eq> ScanSet<K> {
    /// Adds `key`; false when it was already present.
    pub fn insert(&mut self, key: K) -> bool {
        self.map.insert(key, ()).is_none()
    }

    pub fn contains<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.contains_key(key)
    }

    pub fn swap_remove<Q>(&mut self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.swap_remove(key).is_some()
    }

    pub fn swap_remove_index(&mut self, i: usize) -> Option<K> {
        self.map.swap_remove_index(i).map(|(k, _)| k)
    }
}

impl<K: Hash + Eq> FromIterator<K> for ScanSet<K> {
    fn from_iter<I: IntoIterator<Item = K>>(iter: I) -> Self {
        let mut s = ScanSet::default();
        for k in iter {
            s.insert(k);
        }
        s
    }
}

impl<K> IntoIterator for ScanSet<K> {
    type Item = K;
    type IntoIter = std::iter::Map<std::vec::IntoIter<(K, ())>, fn((K, ())) -> K>;
    fn into_iter(self) -> Self::IntoIter {
        self.map.entries.into_iter().map(|(k, _)| k)
    }
}

impl<'a, K> IntoIterator for &'a ScanSet<K> {
    type Item = &'a K;
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (K, ())>, fn(&'a (K, ())) -> &'a K>;
    fn into_iter(self) -> Self::IntoIter {
        self.map.entries.iter().map(|(k, _)| k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn full_scan(m: &ScanMap<u64, u64>) -> HashSet<u64> {
        let mut seen = HashSet::new();
        let mut cursor = 0;
        loop {
            cursor = m.scan(cursor, |k, _| {
                seen.insert(*k);
            });
            if cursor == 0 {
                return seen;
            }
        }
    }

    #[test]
    fn map_basics() {
        let mut m: ScanMap<u64, u64> = ScanMap::default();
        for i in 0..1000 {
            assert_eq!(m.insert(i, i * 2), None);
        }
        assert_eq!(m.insert(7, 0), Some(14));
        assert_eq!(m.len(), 1000);
        for i in (0..1000).step_by(2) {
            assert_eq!(m.swap_remove(&i), Some(if i == 7 { 0 } else { i * 2 }));
        }
        assert_eq!(m.len(), 500);
        for i in 0..1000 {
            assert_eq!(m.get(&i).is_some(), i % 2 == 1, "key {i}");
        }
        for i in 0..m.len() {
            let (k, _) = m.get_index(i).unwrap();
            assert_eq!(m.get_index_of(k), Some(i));
        }
        assert_eq!(full_scan(&m).len(), 500);
        while !m.is_empty() {
            m.swap_remove_index(0);
        }
        assert!(m.slots.len() <= MIN_SLOTS);
    }

    /// Keys present for a whole scan come back although others are deleted and inserted between
    /// steps and the index grows and shrinks meanwhile.
    #[test]
    fn scan_keeps_stable_keys_under_churn() {
        let mut m: ScanMap<u64, u64> = ScanMap::default();
        let stable: Vec<u64> = (0..3000).collect();
        for &k in &stable {
            m.insert(k, 0);
        }
        for k in 10_000..40_000 {
            m.insert(k, 0);
        }
        let (mut seen, mut sizes) = (HashSet::new(), vec![m.slots.len()]);
        let (mut cursor, mut step) = (0u64, 0u64);
        loop {
            for _ in 0..32 {
                cursor = m.scan(cursor, |k, _| {
                    seen.insert(*k);
                });
                if cursor == 0 {
                    break;
                }
            }
            step += 1;
            for k in (10_000 + (step - 1) * 300)..(10_000 + step * 300) {
                m.swap_remove(&k);
            }
            if (20..30).contains(&step) {
                for k in (step * 1_000_000)..(step * 1_000_000 + 4000) {
                    m.insert(k, 0);
                }
            }
            if (60..70).contains(&step) {
                for k in ((step - 40) * 1_000_000)..((step - 40) * 1_000_000 + 4000) {
                    m.swap_remove(&k);
                }
            }
            if sizes.last() != Some(&m.slots.len()) {
                sizes.push(m.slots.len());
            }
            if cursor == 0 {
                break;
            }
        }
        let missing = stable.iter().filter(|k| !seen.contains(k)).count();
        assert_eq!(missing, 0, "stable keys missed; index sizes {sizes:?}");
        assert!(sizes.windows(2).any(|w| w[1] > w[0]), "never grew: {sizes:?}");
        assert!(sizes.windows(2).any(|w| w[1] < w[0]), "never shrank: {sizes:?}");
    }

    #[test]
    fn set_basics() {
        let mut s: ScanSet<Vec<u8>> = ScanSet::default();
        assert!(s.insert(b"a".to_vec()));
        assert!(!s.insert(b"a".to_vec()));
        assert!(s.insert(b"b".to_vec()));
        assert!(s.contains(&b"a"[..]));
        assert!(s.swap_remove(&b"a"[..]));
        assert!(!s.contains(&b"a"[..]));
        assert_eq!(s.iter().count(), 1);
        let all: Vec<Vec<u8>> = s.into_iter().collect();
        assert_eq!(all, vec![b"b".to_vec()]);
    }
}

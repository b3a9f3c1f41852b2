//! Compact encodings of small collections (Redis's listpack and intset) and their thresholds.
//!
//! `Packed` keeps a sequence of byte strings in one allocation (a 4-byte count, then each element
//! as a LEB128 length and its bytes); `IntSet` keeps sorted integers at the smallest width that
//! fits them all. Both grow by exactly what an insert needs, trading CPU (linear scans, moves) for
//! memory, as Redis does below its `*-max-listpack-*` / `set-max-intset-entries` limits.

use crate::config::Config;

/// The thresholds below which sets, hashes and sorted sets stay compact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodingLimits {
    pub set_max_intset_entries: usize,
    pub set_max_listpack_entries: usize,
    pub set_max_listpack_value: usize,
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
    pub zset_max_listpack_entries: usize,
    pub zset_max_listpack_value: usize,
}

impl EncodingLimits {
    /// From the values in the config's `encoding.*` knob order (`ENCODING_KNOBS`).
    pub fn from_array(v: [usize; 7]) -> EncodingLimits {
        EncodingLimits {
            set_max_intset_entries: v[0],
            set_max_listpack_entries: v[1],
            set_max_listpack_value: v[2],
            hash_max_listpack_entries: v[3],
            hash_max_listpack_value: v[4],
            zset_max_listpack_entries: v[5],
            zset_max_listpack_value: v[6],
        }
    }

    /// The values in the config's `encoding.*` knob order (the inverse of `from_array`).
    pub fn to_array(self) -> [usize; 7] {
        [
            self.set_max_intset_entries,
            self.set_max_listpack_entries,
            self.set_max_listpack_value,
            self.hash_max_listpack_entries,
            self.hash_max_listpack_value,
            self.zset_max_listpack_entries,
            self.zset_max_listpack_value,
        ]
    }
}

impl From<&Config> for EncodingLimits {
    fn from(c: &Config) -> EncodingLimits {
        EncodingLimits {
            set_max_intset_entries: c.set_max_intset_entries,
            set_max_listpack_entries: c.set_max_listpack_entries,
            set_max_listpack_value: c.set_max_listpack_value,
            hash_max_listpack_entries: c.hash_max_listpack_entries,
            hash_max_listpack_value: c.hash_max_listpack_value,
            zset_max_listpack_entries: c.zset_max_listpack_entries,
            zset_max_listpack_value: c.zset_max_listpack_value,
        }
    }
}

impl Default for EncodingLimits {
    /// The config's defaults (`KNOBS`), which are Redis's.
    fn default() -> Self {
        EncodingLimits::from(&Config::default())
    }
}

/// Byte strings packed into one buffer (see the module docs). Empty buffer = no elements.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Packed {
    buf: Vec<u8>,
}

const HEADER: usize = 4;

impl std::fmt::Debug for Packed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter().map(String::from_utf8_lossy)).finish()
    }
}

/// Encoded size of a LEB128 length.
fn varint_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

fn write_varint(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Decodes the element starting at `pos`: (its bytes' range start, end).
#[inline]
fn read_element(buf: &[u8], mut pos: usize) -> (usize, usize) {
    let mut n = 0usize;
    let mut shift = 0;
    loop {
        let b = buf[pos];
        pos += 1;
        n |= usize::from(b & 0x7f) << shift;
        if b < 0x80 {
            return (pos, pos + n);
        }
        shift += 7;
    }
}

/// Iterator over a `Packed`'s elements with each one's byte offset.
pub struct PackedIter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for PackedIter<'a> {
    /// (offset of the element's length prefix, element bytes)
    type Item = (usize, &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let at = self.pos;
        let (s, e) = read_element(self.buf, at);
        self.pos = e;
        Some((at, &self.buf[s..e]))
    }
}

impl Packed {
    /// Number of elements.
    #[inline]
    pub fn len(&self) -> usize {
        if self.buf.is_empty() {
            0
        } else {
            u32::from_le_bytes(self.buf[..HEADER].try_into().expect("header")) as usize
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn set_len(&mut self, n: usize) {
        if n == 0 {
            self.buf = Vec::new();
        } else {
            self.buf[..HEADER].copy_from_slice(&(n as u32).to_le_bytes());
        }
    }

    /// Elements with their offsets, in order.
    #[inline]
    pub fn entries(&self) -> PackedIter<'_> {
        PackedIter { buf: &self.buf, pos: HEADER.min(self.buf.len()) }
    }

    /// Elements in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.entries().map(|(_, e)| e)
    }

    /// Offset just past the element at `at`.
    pub fn end_of(&self, at: usize) -> usize {
        read_element(&self.buf, at).1
    }

    /// Byte length of the buffer (the end offset, where `insert_at` appends).
    pub fn end(&self) -> usize {
        self.buf.len().max(HEADER)
    }

    /// Inserts `elements` before the element at byte offset `at` (`end()` appends).
    pub fn insert_at(&mut self, at: usize, elements: &[&[u8]]) {
        if self.buf.is_empty() {
            self.buf.reserve_exact(HEADER);
            self.buf.extend_from_slice(&[0; HEADER]);
        }
        let mut enc = Vec::with_capacity(elements.iter().map(|e| varint_len(e.len()) + e.len()).sum());
        for e in elements {
            write_varint(&mut enc, e.len());
            enc.extend_from_slice(e);
        }
        self.buf.reserve_exact(enc.len());
        self.buf.splice(at..at, enc);
        let n = self.len() + elements.len();
        self.set_len(n);
    }

    /// Appends elements at the end.
    pub fn push(&mut self, elements: &[&[u8]]) {
        let end = self.end();
        self.insert_at(end, elements);
    }

    /// Removes the `count` elements in bytes `start..end`.
    pub fn remove_range(&mut self, start: usize, end: usize, count: usize) {
        let n = self.len() - count;
        self.buf.drain(start..end);
        self.set_len(n);
        if n > 0 && self.buf.capacity() > self.buf.len() + 64 {
            self.buf.shrink_to_fit();
        }
    }

    /// Replaces the element at byte offset `at` with `with` (count unchanged).
    pub fn replace(&mut self, at: usize, with: &[u8]) {
        let end = self.end_of(at);
        let mut enc = Vec::with_capacity(varint_len(with.len()) + with.len());
        write_varint(&mut enc, with.len());
        enc.extend_from_slice(with);
        if enc.len() > end - at {
            self.buf.reserve_exact(enc.len() - (end - at));
        }
        self.buf.splice(at..end, enc);
    }

    /// Heap bytes held.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }
}

/// Sorted distinct integers, each stored at the set's width (2, 4 or 8 bytes; it only widens).
/// The first byte of the buffer is the width; an empty buffer is an empty set.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct IntSet {
    buf: Vec<u8>,
}

impl std::fmt::Debug for IntSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Smallest width (bytes) that holds `v`.
fn width_of(v: i64) -> usize {
    if i16::try_from(v).is_ok() {
        2
    } else if i32::try_from(v).is_ok() {
        4
    } else {
        8
    }
}

impl IntSet {
    #[inline]
    fn width(&self) -> usize {
        self.buf.first().map_or(2, |&w| usize::from(w))
    }

    pub fn len(&self) -> usize {
        if self.buf.is_empty() {
            0
        } else {
            (self.buf.len() - 1) / self.width()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The `i`-th smallest member.
    #[inline]
    pub fn get(&self, i: usize) -> i64 {
        let w = self.width();
        let at = 1 + i * w;
        let b = &self.buf[at..at + w];
        match w {
            2 => i64::from(i16::from_le_bytes([b[0], b[1]])),
            4 => i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            _ => i64::from_le_bytes(b.try_into().expect("8 bytes")),
        }
    }

    fn put(buf: &mut [u8], w: usize, i: usize, v: i64) {
        let at = 1 + i * w;
        buf[at..at + w].copy_from_slice(&v.to_le_bytes()[..w]);
    }

    /// Position of `v`, or where it would be inserted.
    pub fn search(&self, v: i64) -> Result<usize, usize> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.get(mid).cmp(&v) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }

    pub fn contains(&self, v: i64) -> bool {
        self.search(v).is_ok()
    }

    /// Adds `v`; false if it was a member.
    pub fn insert(&mut self, v: i64) -> bool {
        let Err(pos) = self.search(v) else { return false };
        let need = width_of(v);
        let n = self.len();
        if self.buf.is_empty() || need > self.width() {
            let w = need.max(self.width());
            let mut buf = vec![0; 1 + (n + 1) * w];
            buf[0] = w as u8;
            for i in 0..n {
                let x = self.get(i);
                Self::put(&mut buf, w, if i < pos { i } else { i + 1 }, x);
            }
            Self::put(&mut buf, w, pos, v);
            self.buf = buf;
        } else {
            let w = self.width();
            let at = 1 + pos * w;
            self.buf.reserve_exact(w);
            self.buf.splice(at..at, v.to_le_bytes()[..w].iter().copied());
        }
        true
    }

    /// Removes `v`; false if it was not a member.
    pub fn remove(&mut self, v: i64) -> bool {
        let Ok(pos) = self.search(v) else { return false };
        self.remove_index(pos);
        true
    }

    /// Removes and returns the `i`-th smallest member.
    pub fn remove_index(&mut self, i: usize) -> i64 {
        let v = self.get(i);
        if self.len() == 1 {
            self.buf = Vec::new();
        } else {
            let w = self.width();
            self.buf.drain(1 + i * w..1 + (i + 1) * w);
        }
        v
    }

    /// Members in ascending order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = i64> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Heap bytes held.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }
}

/// Redis's `sdigits10`: characters of `v` in decimal (with the sign).
pub fn decimal_len(v: i64) -> usize {
    itoa::Buffer::new().format(v).len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_insert_remove_replace() {
        let mut p = Packed::default();
        assert!(p.is_empty());
        p.push(&[b"a", b""]);
        let long = vec![b'x'; 300];
        p.push(&[&long]);
        assert_eq!(p.len(), 3);
        assert_eq!(p.iter().collect::<Vec<_>>(), vec![&b"a"[..], b"", &long[..]]);
        let (at, _) = p.entries().nth(1).unwrap();
        p.insert_at(at, &[b"mid"]);
        assert_eq!(p.iter().collect::<Vec<_>>(), vec![&b"a"[..], b"mid", b"", &long[..]]);
        let (at, _) = p.entries().nth(3).unwrap();
        p.replace(at, b"short");
        assert_eq!(p.iter().last().unwrap(), b"short");
        let (at, _) = p.entries().next().unwrap();
        let end = p.end_of(p.end_of(at));
        p.remove_range(at, end, 2);
        assert_eq!(p.iter().collect::<Vec<_>>(), vec![&b""[..], b"short"]);
        let (at, _) = p.entries().next().unwrap();
        let end = p.end();
        p.remove_range(at, end, 2);
        assert!(p.is_empty());
        assert_eq!(p.capacity(), 0);
    }

    #[test]
    fn intset_widens_and_stays_sorted() {
        let mut s = IntSet::default();
        for v in [5, -3, 100, 5, 0] {
            s.insert(v);
        }
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![-3, 0, 5, 100]);
        assert_eq!(s.capacity(), 1 + 4 * 2);
        assert!(s.insert(i64::from(i32::MAX) + 1));
        assert!(s.insert(i64::MIN));
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![i64::MIN, -3, 0, 5, 100, i64::from(i32::MAX) + 1]);
        assert_eq!(s.width(), 8);
        assert!(s.contains(100) && !s.contains(101));
        assert!(s.remove(-3) && !s.remove(-3));
        assert_eq!(s.len(), 5);
        assert_eq!(s.remove_index(0), i64::MIN);
        for v in [0, 5, 100, i64::from(i32::MAX) + 1] {
            assert!(s.remove(v));
        }
        assert!(s.is_empty());
        let mut t = IntSet::default();
        t.insert(70000);
        assert_eq!(t.width(), 4);
        t.insert(-70000);
        assert_eq!(t.iter().collect::<Vec<_>>(), vec![-70000, 70000]);
    }

    #[test]
    fn decimal_len_counts_the_sign() {
        assert_eq!(decimal_len(0), 1);
        assert_eq!(decimal_len(-12), 3);
        assert_eq!(decimal_len(i64::MIN), 20);
    }
}

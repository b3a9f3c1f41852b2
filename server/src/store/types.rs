//! Sorted set and stream containers.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use crate::store::compact::{EncodingLimits, Packed};
use crate::store::db::{Bytes, Map};

/// A score with a total order (NaN is never stored).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score(pub f64);

impl Eq for Score {}

impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Score {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.partial_cmp(&other.0).unwrap_or(Ordering::Equal)
    }
}

/// Sorted set as a table: member -> score plus (score, member) order, like Redis's dict + skiplist.
#[derive(Debug, Clone, Default)]
pub struct ZSetTable {
    scores: Map<Bytes, f64>,
    order: BTreeSet<(Score, Bytes)>,
}

impl ZSetTable {
    fn insert(&mut self, member: &[u8], score: f64) -> Option<f64> {
        match self.scores.get_mut(member) {
            Some(old) => {
                let prev = *old;
                if prev != score {
                    let key: Bytes = member.into();
                    self.order.remove(&(Score(prev), key.clone()));
                    self.order.insert((Score(score), key));
                    *old = score;
                }
                Some(prev)
            }
            None => {
                let key: Bytes = member.into();
                self.scores.insert(key.clone(), score);
                self.order.insert((Score(score), key));
                None
            }
        }
    }
}

/// Sorted set: a listpack (`Packed` member, score, member, score, ... in (score, member) order,
/// scores as 8 raw bytes) below `zset-max-listpack-*`, else a `ZSetTable`; converted one way.
#[derive(Debug, Clone)]
pub enum ZSet {
    Packed(Packed),
    Table(Box<ZSetTable>),
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet::Packed(Packed::default())
    }
}

/// Decodes a packed score: 8 bytes are an f64, fewer a sign-extended little-endian integer.
fn score_of(raw: &[u8]) -> f64 {
    if raw.len() == 8 {
        return f64::from_le_bytes(raw.try_into().expect("8 bytes"));
    }
    let mut b = [0u8; 8];
    b[..raw.len()].copy_from_slice(raw);
    let shift = 64 - 8 * raw.len() as u32;
    if raw.is_empty() {
        0.0
    } else {
        ((i64::from_le_bytes(b) << shift) >> shift) as f64
    }
}

/// Encodes a score for a packed zset into `buf`, returning its length: an integral score below
/// 2^52 in magnitude as the fewest bytes of its two's complement (0 bytes for 0), else 8 f64 bytes.
fn encode_score(score: f64, buf: &mut [u8; 8]) -> usize {
    if score.fract() == 0.0 && score.abs() < (1u64 << 52) as f64 {
        let v = score as i64;
        let fits = |n: usize| {
            let sh = 64 - 8 * n as u32;
            (v << sh) >> sh == v
        };
        let n = if v == 0 { 0 } else { (1..=7).find(|&n| fits(n)).expect("under 2^52 fits in 7 bytes") };
        buf[..n].copy_from_slice(&v.to_le_bytes()[..n]);
        return n;
    }
    *buf = score.to_le_bytes();
    8
}

/// Ascending (member, score) iterator of either encoding.
pub enum ZIter<'a> {
    Packed(std::vec::IntoIter<(&'a [u8], f64)>),
    Table(std::collections::btree_set::Iter<'a, (Score, Bytes)>),
}

impl<'a> Iterator for ZIter<'a> {
    type Item = (&'a [u8], f64);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            ZIter::Packed(it) => it.next(),
            ZIter::Table(it) => it.next().map(|(s, m)| (&**m, s.0)),
        }
    }
}

impl DoubleEndedIterator for ZIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match self {
            ZIter::Packed(it) => it.next_back(),
            ZIter::Table(it) => it.next_back().map(|(s, m)| (&**m, s.0)),
        }
    }
}

/// (offset of the member, member, score) of each pair of a packed zset.
fn pairs(p: &Packed) -> impl Iterator<Item = (usize, &[u8], f64)> {
    let mut it = p.entries();
    std::iter::from_fn(move || {
        let (at, m) = it.next()?;
        let (_, s) = it.next().expect("a score follows each member");
        Some((at, m, score_of(s)))
    })
}

impl ZSet {
    /// The encoding for a new zset about to get `size_hint` pairs whose longest member has
    /// `max_len` bytes (Redis's `zsetTypeCreate`).
    pub fn create(size_hint: usize, max_len: usize, lim: &EncodingLimits) -> ZSet {
        if size_hint <= lim.zset_max_listpack_entries && max_len <= lim.zset_max_listpack_value {
            ZSet::default()
        } else {
            ZSet::Table(Box::default())
        }
    }

    pub fn len(&self) -> usize {
        match self {
            ZSet::Packed(p) => p.len() / 2,
            ZSet::Table(t) => t.scores.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Redis's OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        match self {
            ZSet::Packed(_) => "listpack",
            ZSet::Table(_) => "skiplist",
        }
    }

    /// Whether ZSCAN returns it whole, scores as stored (a listpack in Redis).
    pub fn is_compact(&self) -> bool {
        matches!(self, ZSet::Packed(_))
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Packed(p) => pairs(p).find(|(_, m, _)| *m == member).map(|(_, _, s)| s),
            ZSet::Table(t) => t.scores.get(member).copied(),
        }
    }

    fn convert_to_table(&mut self) {
        if let ZSet::Packed(p) = self {
            let mut t = ZSetTable::default();
            for (_, m, s) in pairs(p) {
                t.insert(m, s);
            }
            *self = ZSet::Table(Box::new(t));
        }
    }

    /// Inserts or updates; returns the previous score. -0 is stored as 0 (Redis prints it as 0).
    /// A new member that would pass the entry or value limit converts to a table first.
    pub fn insert(&mut self, member: &[u8], score: f64, lim: &EncodingLimits) -> Option<f64> {
        let score = if score == 0.0 { 0.0 } else { score };
        if let ZSet::Packed(p) = self {
            let found = pairs(p).find(|(_, m, _)| *m == member).map(|(at, _, s)| (at, s));
            match found {
                Some((_, prev)) if prev == score => return Some(prev),
                Some((at, prev)) => {
                    let end = p.end_of(p.end_of(at));
                    p.remove_range(at, end, 2);
                    Self::packed_insert(p, member, score);
                    return Some(prev);
                }
                None if p.len() / 2 < lim.zset_max_listpack_entries
                    && member.len() <= lim.zset_max_listpack_value =>
                {
                    Self::packed_insert(p, member, score);
                    return None;
                }
                None => self.convert_to_table(),
            }
        }
        let ZSet::Table(t) = self else { unreachable!("converted") };
        t.insert(member, score)
    }

    /// Inserts a new pair at its place in (score, member) order.
    fn packed_insert(p: &mut Packed, member: &[u8], score: f64) {
        let key = (Score(score), member);
        let at = pairs(p).find(|&(_, m, s)| (Score(s), m) > key).map_or(p.end(), |(at, _, _)| at);
        let mut buf = [0u8; 8];
        let n = encode_score(score, &mut buf);
        p.insert_at(at, &[member, &buf[..n]]);
    }

    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            ZSet::Packed(p) => {
                let Some((at, _, _)) = pairs(p).find(|(_, m, _)| *m == member) else { return false };
                let end = p.end_of(p.end_of(at));
                p.remove_range(at, end, 2);
                true
            }
            ZSet::Table(t) => match t.scores.swap_remove(member) {
                Some(s) => {
                    t.order.remove(&(Score(s), member.into()));
                    true
                }
                None => false,
            },
        }
    }

    /// 0-based rank in ascending order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        match self {
            ZSet::Packed(p) => pairs(p).position(|(_, m, _)| m == member),
            ZSet::Table(t) => {
                let s = *t.scores.get(member)?;
                Some(t.order.range(..(Score(s), Bytes::from(member))).count())
            }
        }
    }

    /// Ascending iterator over (member, score).
    pub fn iter(&self) -> ZIter<'_> {
        match self {
            ZSet::Packed(p) => {
                ZIter::Packed(pairs(p).map(|(_, m, s)| (m, s)).collect::<Vec<_>>().into_iter())
            }
            ZSet::Table(t) => ZIter::Table(t.order.iter()),
        }
    }

    /// One ZSCAN step over the member table (see `ScanMap::scan`); a packed zset is visited whole.
    pub fn scan<'a>(&'a self, cursor: u64, mut visit: impl FnMut(&'a [u8], f64)) -> u64 {
        match self {
            ZSet::Packed(p) => {
                pairs(p).for_each(|(_, m, s)| visit(m, s));
                0
            }
            ZSet::Table(t) => t.scores.scan(cursor, |m, s| visit(m, *s)),
        }
    }

    fn pop_packed(p: &mut Packed, last: bool) -> Option<(Bytes, f64)> {
        let (at, m, s) = if last { pairs(p).last()? } else { pairs(p).next()? };
        let m: Bytes = m.into();
        let end = p.end_of(p.end_of(at));
        p.remove_range(at, end, 2);
        Some((m, s))
    }

    pub fn pop_min(&mut self) -> Option<(Bytes, f64)> {
        match self {
            ZSet::Packed(p) => Self::pop_packed(p, false),
            ZSet::Table(t) => {
                let (s, m) = t.order.pop_first()?;
                t.scores.swap_remove(&m);
                Some((m, s.0))
            }
        }
    }

    pub fn pop_max(&mut self) -> Option<(Bytes, f64)> {
        match self {
            ZSet::Packed(p) => Self::pop_packed(p, true),
            ZSet::Table(t) => {
                let (s, m) = t.order.pop_last()?;
                t.scores.swap_remove(&m);
                Some((m, s.0))
            }
        }
    }
}

/// A stream entry ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub fn format(&self) -> String {
        format!("{}-{}", self.ms, self.seq)
    }
}

/// Append-only log of field/value entries.
#[derive(Debug, Clone, Default)]
pub struct Stream {
    pub entries: Vec<(StreamId, Vec<(Bytes, Bytes)>)>,
    pub last_id: StreamId,
    pub entries_added: u64,
}

impl Stream {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lim(entries: usize, value: usize) -> EncodingLimits {
        EncodingLimits {
            zset_max_listpack_entries: entries,
            zset_max_listpack_value: value,
            ..EncodingLimits::default()
        }
    }

    #[test]
    fn packed_scores_round_trip() {
        for s in [
            0.0,
            1.0,
            -1.0,
            127.0,
            128.0,
            -129.0,
            65535.0,
            1e15,
            -4503599627370495.0,
            0.5,
            1e300,
            f64::INFINITY,
        ] {
            let mut buf = [0u8; 8];
            let n = encode_score(s, &mut buf);
            assert_eq!(score_of(&buf[..n]), s, "{s}");
        }
        let mut buf = [0u8; 8];
        assert_eq!(encode_score(0.0, &mut buf), 0);
        assert_eq!(encode_score(100.0, &mut buf), 1);
        assert_eq!(encode_score(-200.0, &mut buf), 2);
        assert_eq!(encode_score(0.25, &mut buf), 8);
    }

    #[test]
    fn conversions_follow_redis() {
        // Observed on Redis 8.0.2 (zset-max-listpack-entries 2, -value 5).
        let l = lim(2, 5);
        assert_eq!(ZSet::create(3, 1, &l).encoding(), "skiplist", "3 pairs, even if they dedup");
        assert_eq!(ZSet::create(1, 6, &l).encoding(), "skiplist");
        let mut z = ZSet::create(1, 1, &l);
        z.insert(b"a", 1.0, &l);
        z.insert(b"b", 2.0, &l);
        z.insert(b"a", 5.0, &l);
        assert_eq!(z.encoding(), "listpack");
        z.insert(b"c", 3.0, &l);
        assert_eq!(z.encoding(), "skiplist");
        let mut z = ZSet::create(1, 1, &l);
        z.insert(b"a", 1.0, &l);
        z.insert(b"abcdef", 1.0, &l);
        assert_eq!(z.encoding(), "skiplist");
        assert_eq!(ZSet::create(1, 1, &lim(0, 64)).encoding(), "skiplist");
    }

    #[test]
    fn both_encodings_answer_the_same() {
        for l in [EncodingLimits::default(), lim(0, 0), lim(3, 64)] {
            let mut z = ZSet::default();
            for (m, s) in [(&b"b"[..], 2.0), (b"a", 2.0), (b"c", -1.0), (b"d", f64::INFINITY), (b"c", 3.0)] {
                z.insert(m, s, &l);
            }
            assert_eq!(z.insert(b"e", -0.0, &l), None);
            let order: Vec<(&[u8], f64)> = z.iter().collect();
            assert_eq!(
                order,
                vec![(&b"e"[..], 0.0), (b"a", 2.0), (b"b", 2.0), (b"c", 3.0), (b"d", f64::INFINITY)],
                "{l:?}"
            );
            assert_eq!(z.iter().next_back().unwrap().0, b"d");
            assert_eq!(z.rank(b"b"), Some(2));
            assert_eq!(z.score(b"c"), Some(3.0));
            assert!(z.remove(b"a") && !z.remove(b"a"));
            assert_eq!(z.pop_min().unwrap().0.as_ref(), b"e");
            assert_eq!(z.pop_max().unwrap().0.as_ref(), b"d");
            let mut seen = Vec::new();
            let mut cursor = 0;
            loop {
                cursor = z.scan(cursor, |m, s| seen.push((m.to_vec(), s)));
                if cursor == 0 {
                    break;
                }
            }
            seen.sort_by(|a, b| a.0.cmp(&b.0));
            assert_eq!(seen, vec![(b"b".to_vec(), 2.0), (b"c".to_vec(), 3.0)]);
            assert_eq!(z.len(), 2);
        }
    }
}

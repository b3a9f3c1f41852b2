//! Sorted set and stream containers.

use std::cmp::Ordering;
use std::collections::BTreeSet;

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

/// Sorted set: member -> score plus (score, member) order, like Redis's dict + skiplist.
#[derive(Debug, Clone, Default)]
pub struct ZSet {
    scores: Map<Bytes, f64>,
    order: BTreeSet<(Score, Bytes)>,
    /// Redis would hold this zset as a skiplist: it once had more than 128 members or a member
    /// over 64 bytes (Redis never converts back). ZSCAN's form depends on it.
    outgrew_listpack: bool,
}

/// Redis's default `zset-max-listpack-entries` / `-value` (also the hash and set limits).
pub const LISTPACK_MAX_ENTRIES: usize = 128;
pub const LISTPACK_MAX_VALUE: usize = 64;

impl ZSet {
    pub fn len(&self) -> usize {
        self.scores.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.scores.get(member).copied()
    }

    /// Inserts or updates; returns the previous score. -0 is stored as 0 (Redis prints it as 0).
    pub fn insert(&mut self, member: &[u8], score: f64) -> Option<f64> {
        let score = if score == 0.0 { 0.0 } else { score };
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
                if self.scores.len() > LISTPACK_MAX_ENTRIES || member.len() > LISTPACK_MAX_VALUE {
                    self.outgrew_listpack = true;
                }
                self.order.insert((Score(score), key));
                None
            }
        }
    }

    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self.scores.swap_remove(member) {
            Some(s) => {
                self.order.remove(&(Score(s), member.into()));
                true
            }
            None => false,
        }
    }

    /// 0-based rank in ascending order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let s = self.score(member)?;
        Some(self.order.range(..(Score(s), Bytes::from(member))).count())
    }

    /// Ascending iterator over (member, score).
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&[u8], f64)> {
        self.order.iter().map(|(s, m)| (&**m, s.0))
    }

    /// Whether Redis would scan this zset as a skiplist (paged, "%.17g" scores).
    pub fn outgrew_listpack(&self) -> bool {
        self.outgrew_listpack
    }

    /// One ZSCAN step over the member table (see `ScanMap::scan`).
    pub fn scan<'a>(&'a self, cursor: u64, mut visit: impl FnMut(&'a [u8], f64)) -> u64 {
        self.scores.scan(cursor, |m, s| visit(m, *s))
    }

    pub fn pop_min(&mut self) -> Option<(Bytes, f64)> {
        let (s, m) = self.order.pop_first()?;
        self.scores.swap_remove(&m);
        Some((m, s.0))
    }

    pub fn pop_max(&mut self) -> Option<(Bytes, f64)> {
        let (s, m) = self.order.pop_last()?;
        self.scores.swap_remove(&m);
        Some((m, s.0))
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

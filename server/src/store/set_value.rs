//! A set value in one of Redis's three encodings: intset, listpack (`Packed`) or hash table,
//! converted one way (never back), at the same thresholds and moments as Redis 8.0's t_set.c.

use crate::protocol::frame::parse_i64;
use crate::store::compact::{decimal_len, EncodingLimits, IntSet, Packed};
use crate::store::db::{Bytes, Set};

#[derive(Debug, Clone)]
pub enum SetValue {
    Ints(IntSet),
    Packed(Packed),
    Table(Box<Set<Bytes>>),
}

impl Default for SetValue {
    fn default() -> Self {
        SetValue::Ints(IntSet::default())
    }
}

impl SetValue {
    /// The encoding for a new set whose first member is `first`, about to get `size_hint` members
    /// (Redis's `setTypeCreate`).
    pub fn create(first: &[u8], size_hint: usize, lim: &EncodingLimits) -> SetValue {
        if parse_i64(first).is_some() && size_hint <= lim.set_max_intset_entries {
            SetValue::Ints(IntSet::default())
        } else if size_hint <= lim.set_max_listpack_entries {
            SetValue::Packed(Packed::default())
        } else {
            SetValue::Table(Box::default())
        }
    }

    pub fn len(&self) -> usize {
        match self {
            SetValue::Ints(s) => s.len(),
            SetValue::Packed(p) => p.len(),
            SetValue::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Redis's OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        match self {
            SetValue::Ints(_) => "intset",
            SetValue::Packed(_) => "listpack",
            SetValue::Table(_) => "hashtable",
        }
    }

    /// Whether SSCAN returns it whole (a compact encoding).
    pub fn is_compact(&self) -> bool {
        !matches!(self, SetValue::Table(_))
    }

    pub fn contains(&self, m: &[u8]) -> bool {
        match self {
            SetValue::Ints(s) => parse_i64(m).is_some_and(|v| s.contains(v)),
            SetValue::Packed(p) => p.iter().any(|e| e == m),
            SetValue::Table(t) => t.contains(m),
        }
    }

    /// Converts to a hash table.
    fn convert_to_table(&mut self) {
        let mut t: Set<Bytes> = Set::default();
        self.for_each(|m| {
            t.insert(m.into());
        });
        *self = SetValue::Table(Box::new(t));
    }

    /// Adds `m`; false if it was a member (Redis's `setTypeAddAux`).
    pub fn insert(&mut self, m: &[u8], lim: &EncodingLimits) -> bool {
        match self {
            SetValue::Ints(s) => {
                if let Some(v) = parse_i64(m) {
                    if !s.insert(v) {
                        return false;
                    }
                    if s.len() > lim.set_max_intset_entries {
                        self.convert_to_table();
                    }
                    return true;
                }
                let n = s.len();
                let widest = if n == 0 { 0 } else { decimal_len(s.get(0)).max(decimal_len(s.get(n - 1))) };
                if n < lim.set_max_listpack_entries
                    && m.len() <= lim.set_max_listpack_value
                    && widest <= lim.set_max_listpack_value
                {
                    let mut p = Packed::default();
                    let texts: Vec<String> = s.iter().map(|v| v.to_string()).collect();
                    let mut all: Vec<&[u8]> = texts.iter().map(|t| t.as_bytes()).collect();
                    all.push(m);
                    p.push(&all);
                    *self = SetValue::Packed(p);
                } else {
                    self.convert_to_table();
                    let SetValue::Table(t) = self else { unreachable!("converted") };
                    t.insert(m.into());
                }
                true
            }
            SetValue::Packed(p) => {
                if p.iter().any(|e| e == m) {
                    return false;
                }
                if p.len() < lim.set_max_listpack_entries && m.len() <= lim.set_max_listpack_value {
                    p.push(&[m]);
                } else {
                    self.convert_to_table();
                    let SetValue::Table(t) = self else { unreachable!("converted") };
                    t.insert(m.into());
                }
                true
            }
            SetValue::Table(t) => t.insert(m.into()),
        }
    }

    /// Removes `m`; false if it was not a member. The encoding stays (like Redis).
    pub fn remove(&mut self, m: &[u8]) -> bool {
        match self {
            SetValue::Ints(s) => parse_i64(m).is_some_and(|v| s.remove(v)),
            SetValue::Packed(p) => {
                let Some((at, _)) = p.entries().find(|(_, e)| *e == m) else { return false };
                let end = p.end_of(at);
                p.remove_range(at, end, 1);
                true
            }
            SetValue::Table(t) => t.swap_remove(m),
        }
    }

    /// Calls `f` on every member (intset members as their decimal text).
    pub fn for_each(&self, mut f: impl FnMut(&[u8])) {
        match self {
            SetValue::Ints(s) => {
                let mut buf = itoa::Buffer::new();
                for v in s.iter() {
                    f(buf.format(v).as_bytes());
                }
            }
            SetValue::Packed(p) => p.iter().for_each(f),
            SetValue::Table(t) => t.iter().for_each(|m| f(m)),
        }
    }

    /// Every member, owned.
    pub fn members(&self) -> Vec<Bytes> {
        let mut v = Vec::with_capacity(self.len());
        self.for_each(|m| v.push(m.into()));
        v
    }

    /// The member at position `i` (0..len), for random picks; O(i) when packed.
    pub fn member_at(&self, i: usize) -> Bytes {
        match self {
            SetValue::Ints(s) => itoa::Buffer::new().format(s.get(i)).as_bytes().into(),
            SetValue::Packed(p) => p.iter().nth(i).expect("in range").into(),
            SetValue::Table(t) => t.get_index(i).expect("in range").clone(),
        }
    }

    /// Removes and returns the member at position `i` (0..len).
    pub fn remove_at(&mut self, i: usize) -> Bytes {
        match self {
            SetValue::Ints(s) => itoa::Buffer::new().format(s.remove_index(i)).as_bytes().into(),
            SetValue::Packed(p) => {
                let (at, m) = p.entries().nth(i).expect("in range");
                let m: Bytes = m.into();
                let end = p.end_of(at);
                p.remove_range(at, end, 1);
                m
            }
            SetValue::Table(t) => t.swap_remove_index(i).expect("in range"),
        }
    }

    /// One SSCAN step over a hash table (see `ScanMap::scan`); a compact set is visited whole.
    pub fn scan(&self, cursor: u64, mut visit: impl FnMut(&[u8])) -> u64 {
        match self {
            SetValue::Table(t) => t.scan(cursor, |m| visit(m)),
            compact => {
                compact.for_each(visit);
                0
            }
        }
    }

    /// A set holding `members` (distinct), built as Redis builds S*STORE results: from an empty
    /// intset, member by member.
    pub fn from_members(members: impl IntoIterator<Item = Bytes>, lim: &EncodingLimits) -> SetValue {
        let mut s = SetValue::default();
        for m in members {
            s.insert(&m, lim);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lim(intset: usize, entries: usize, value: usize) -> EncodingLimits {
        EncodingLimits {
            set_max_intset_entries: intset,
            set_max_listpack_entries: entries,
            set_max_listpack_value: value,
            ..EncodingLimits::default()
        }
    }

    fn sorted(s: &SetValue) -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> = s.members().into_iter().map(|m| m.to_vec()).collect();
        v.sort();
        v
    }

    #[test]
    fn conversions_follow_redis() {
        // Observed on Redis 8.0.2 with OBJECT ENCODING (set-max-intset-entries 4, listpack 3).
        let l = lim(4, 3, 64);
        let mut a = SetValue::create(b"1", 3, &l);
        for m in [b"1", b"2", b"3"] {
            assert!(a.insert(m, &l));
        }
        assert_eq!(a.encoding(), "intset");
        a.insert(b"x", &l);
        assert_eq!(a.encoding(), "hashtable", "3 ints are not < 3 listpack entries");
        let mut b = SetValue::create(b"1", 2, &l);
        b.insert(b"1", &l);
        b.insert(b"2", &l);
        b.insert(b"x", &l);
        assert_eq!(b.encoding(), "listpack");
        assert_eq!(sorted(&b), vec![b"1".to_vec(), b"2".to_vec(), b"x".to_vec()]);
        assert!(!b.insert(b"2", &l), "already a member");
        b.insert(b"w", &l);
        assert_eq!(b.encoding(), "hashtable");
        assert_eq!(b.len(), 4);
        let mut c = SetValue::create(b"1", 5, &l);
        assert_eq!(c.encoding(), "hashtable");
        c.insert(b"1", &l);
        let l5 = lim(512, 128, 5);
        let mut i = SetValue::create(b"12345", 1, &l5);
        i.insert(b"12345", &l5);
        i.insert(b"abcde", &l5);
        assert_eq!(i.encoding(), "listpack");
        let mut j = SetValue::create(b"123456", 1, &l5);
        j.insert(b"123456", &l5);
        j.insert(b"ab", &l5);
        assert_eq!(j.encoding(), "hashtable", "the widest integer is over the value limit");
        assert_eq!(SetValue::create(b"-0", 1, &l5).encoding(), "listpack");
        let mut m = SetValue::create(b"ab", 1, &l5);
        m.insert(b"ab", &l5);
        m.insert(b"abcdef", &l5);
        assert_eq!(m.encoding(), "hashtable");
        let zero = lim(0, 0, 64);
        let mut v = SetValue::create(b"1", 1, &zero);
        v.insert(b"1", &zero);
        assert_eq!(v.encoding(), "hashtable");
        let mut grow = SetValue::create(b"1", 1, &lim(2, 128, 64));
        for m in [b"1", b"2", b"3"] {
            grow.insert(m, &lim(2, 128, 64));
        }
        assert_eq!(grow.encoding(), "hashtable", "an intset past its limit becomes a table");
    }

    #[test]
    fn every_encoding_answers_the_same() {
        let l = EncodingLimits::default();
        let members: Vec<&[u8]> = vec![b"7", b"-3", b"x", b"", b"9223372036854775807", b"007"];
        for limits in [l, lim(0, 0, 0), lim(1000, 1000, 1000)] {
            let mut s = SetValue::default();
            for m in &members {
                assert!(s.insert(m, &limits));
            }
            assert_eq!(s.len(), members.len());
            for m in &members {
                assert!(s.contains(m), "{limits:?} {m:?}");
            }
            assert!(!s.contains(b"7 "));
            assert!(!s.contains(b"07"));
            assert!(s.remove(b"007") && !s.remove(b"007"));
            let picked = s.member_at(2);
            assert!(s.contains(&picked));
            let popped = s.remove_at(0);
            assert!(!s.contains(&popped));
            assert_eq!(s.len(), members.len() - 2);
            let mut seen = Vec::new();
            let mut cursor = 0;
            loop {
                cursor = s.scan(cursor, |m| seen.push(m.to_vec()));
                if cursor == 0 {
                    break;
                }
            }
            seen.sort();
            assert_eq!(seen, sorted(&s));
        }
    }

    #[test]
    fn store_results_start_as_intsets() {
        let l = EncodingLimits::default();
        let ints = SetValue::from_members([Bytes::from(&b"1"[..]), Bytes::from(&b"2"[..])], &l);
        assert_eq!(ints.encoding(), "intset");
        let mixed = SetValue::from_members([Bytes::from(&b"1"[..]), Bytes::from(&b"x"[..])], &l);
        assert_eq!(mixed.encoding(), "listpack");
    }
}

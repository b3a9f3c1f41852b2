//! A hash value as a listpack (`Packed` field, value, field, value, ...) or a hash table,
//! converted one way at Redis 8.0's `hash-max-listpack-entries` / `-value` thresholds.

use crate::store::compact::{EncodingLimits, Packed};
use crate::store::db::{Bytes, Map};

#[derive(Debug, Clone)]
pub enum HashValue {
    Packed(Packed),
    Table(Box<Map<Bytes, Vec<u8>>>),
}

impl Default for HashValue {
    fn default() -> Self {
        HashValue::Packed(Packed::default())
    }
}

/// Offset of `field`'s entry in a packed hash, and of its value.
fn find(p: &Packed, field: &[u8]) -> Option<(usize, usize)> {
    let mut it = p.entries();
    while let Some((at, f)) = it.next() {
        let (vat, _) = it.next().expect("a value follows each field");
        if f == field {
            return Some((at, vat));
        }
    }
    None
}

impl HashValue {
    pub fn len(&self) -> usize {
        match self {
            HashValue::Packed(p) => p.len() / 2,
            HashValue::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Redis's OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        match self {
            HashValue::Packed(_) => "listpack",
            HashValue::Table(_) => "hashtable",
        }
    }

    /// Whether HSCAN returns it whole.
    pub fn is_compact(&self) -> bool {
        matches!(self, HashValue::Packed(_))
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            HashValue::Packed(p) => {
                let mut it = p.iter();
                while let Some(f) = it.next() {
                    let v = it.next().expect("a value follows each field");
                    if f == field {
                        return Some(v);
                    }
                }
                None
            }
            HashValue::Table(t) => t.get(field).map(|v| &v[..]),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    fn convert_to_table(&mut self) {
        if let HashValue::Packed(p) = self {
            let mut t: Map<Bytes, Vec<u8>> = Map::default();
            {
                let mut it = p.iter();
                while let Some(f) = it.next() {
                    t.insert(f.into(), it.next().expect("a value follows each field").to_vec());
                }
            }
            *self = HashValue::Table(Box::new(t));
        }
    }

    /// Before an HSET of `pairs` pairs: more pairs than the entry limit make a table at once
    /// (Redis's `hashTypeTryConversion` sizes for them, duplicates or not).
    pub fn prepare(&mut self, pairs: usize, lim: &EncodingLimits) {
        if pairs > lim.hash_max_listpack_entries {
            self.convert_to_table();
        }
    }

    /// Sets `field` to `value`; true if the field is new. A field or value over the value limit,
    /// or an entry count over the entry limit, converts to a table (Redis's `hashTypeSet`).
    pub fn insert(&mut self, field: &[u8], value: &[u8], lim: &EncodingLimits) -> bool {
        if field.len() > lim.hash_max_listpack_value || value.len() > lim.hash_max_listpack_value {
            self.convert_to_table();
        }
        match self {
            HashValue::Packed(p) => {
                if let Some((_, vat)) = find(p, field) {
                    p.replace(vat, value);
                    return false;
                }
                p.push(&[field, value]);
                if p.len() / 2 > lim.hash_max_listpack_entries {
                    self.convert_to_table();
                }
                true
            }
            HashValue::Table(t) => t.insert(field.into(), value.to_vec()).is_none(),
        }
    }

    /// Removes `field`; false if it was not there. The encoding stays.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            HashValue::Packed(p) => {
                let Some((at, vat)) = find(p, field) else { return false };
                let end = p.end_of(vat);
                p.remove_range(at, end, 2);
                true
            }
            HashValue::Table(t) => t.swap_remove(field).is_some(),
        }
    }

    /// Calls `f` on every (field, value).
    pub fn for_each(&self, mut f: impl FnMut(&[u8], &[u8])) {
        match self {
            HashValue::Packed(p) => {
                let mut it = p.iter();
                while let Some(k) = it.next() {
                    f(k, it.next().expect("a value follows each field"));
                }
            }
            HashValue::Table(t) => t.iter().for_each(|(k, v)| f(k, v)),
        }
    }

    /// One HSCAN step over a table (see `ScanMap::scan`); a packed hash is visited whole.
    pub fn scan<'a>(&'a self, cursor: u64, mut visit: impl FnMut(&'a [u8], &'a [u8])) -> u64 {
        match self {
            HashValue::Table(t) => t.scan(cursor, |k, v| visit(k, v)),
            HashValue::Packed(p) => {
                let mut it = p.iter();
                while let Some(k) = it.next() {
                    visit(k, it.next().expect("a value follows each field"));
                }
                0
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lim(entries: usize, value: usize) -> EncodingLimits {
        EncodingLimits {
            hash_max_listpack_entries: entries,
            hash_max_listpack_value: value,
            ..EncodingLimits::default()
        }
    }

    #[test]
    fn conversions_follow_redis() {
        // Observed on Redis 8.0.2 (hash-max-listpack-entries 2, -value 5).
        let l = lim(2, 5);
        let mut h = HashValue::default();
        h.prepare(3, &l);
        assert_eq!(h.encoding(), "hashtable", "3 pairs in one HSET, duplicates or not");
        let mut h = HashValue::default();
        assert!(h.insert(b"a", b"1", &l));
        assert!(!h.insert(b"a", b"2", &l));
        assert!(h.insert(b"b", b"3", &l));
        assert_eq!(h.encoding(), "listpack");
        h.insert(b"c", b"1", &l);
        assert_eq!(h.encoding(), "hashtable");
        let mut h = HashValue::default();
        h.insert(b"abcde", b"12345", &l);
        assert_eq!(h.encoding(), "listpack");
        h.insert(b"a", b"123456", &l);
        assert_eq!(h.encoding(), "hashtable");
        let mut h = HashValue::default();
        h.insert(b"a", b"1", &lim(0, 64));
        assert_eq!(h.encoding(), "hashtable");
    }

    #[test]
    fn both_encodings_answer_the_same() {
        for l in [EncodingLimits::default(), lim(0, 0), lim(3, 4)] {
            let mut h = HashValue::default();
            for (f, v) in [(&b"f1"[..], &b"v1"[..]), (b"", b""), (b"long-field", b"x"), (b"f1", b"again")] {
                h.insert(f, v, &l);
            }
            assert_eq!(h.len(), 3);
            assert_eq!(h.get(b"f1"), Some(&b"again"[..]));
            assert_eq!(h.get(b""), Some(&b""[..]));
            assert_eq!(h.get(b"nope"), None);
            assert!(h.remove(b"") && !h.remove(b""));
            let mut seen = Vec::new();
            let mut cursor = 0;
            loop {
                cursor = h.scan(cursor, |f, v| seen.push((f.to_vec(), v.to_vec())));
                if cursor == 0 {
                    break;
                }
            }
            seen.sort();
            assert_eq!(
                seen,
                vec![(b"f1".to_vec(), b"again".to_vec()), (b"long-field".to_vec(), b"x".to_vec())]
            );
            assert!(h.remove(b"f1") && h.remove(b"long-field"));
            assert!(h.is_empty());
        }
    }
}

//! Keyspace keys: up to 22 bytes inline in the entry (no allocation), longer ones on the heap.
//!
//! Most keys are short (`key:000000001234`); a `Box<[u8]>` would cost a 32-byte heap chunk plus
//! its 16-byte pointer for each, this costs 24 bytes in place.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// Longest key kept inline.
pub const INLINE: usize = 22;

#[derive(Clone)]
pub enum Key {
    Inline(u8, [u8; INLINE]),
    Heap(Box<[u8]>),
}

impl Key {
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Key::Inline(n, b) => &b[..usize::from(*n)],
            Key::Heap(b) => b,
        }
    }
}

impl From<&[u8]> for Key {
    #[inline]
    fn from(s: &[u8]) -> Key {
        if s.len() <= INLINE {
            let mut b = [0u8; INLINE];
            b[..s.len()].copy_from_slice(s);
            Key::Inline(s.len() as u8, b)
        } else {
            Key::Heap(s.into())
        }
    }
}

impl Deref for Key {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Borrow<[u8]> for Key {
    #[inline]
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

/// Hashes exactly as the `[u8]` it holds, so lookups by `&[u8]` find it.
impl Hash for Key {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state)
    }
}

impl PartialEq for Key {
    #[inline]
    fn eq(&self, other: &Key) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Key {}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn short_keys_are_inline_and_hash_like_slices() {
        assert_eq!(std::mem::size_of::<Key>(), 24);
        let h = crate::store::db::Hasher::default();
        for s in [&b""[..], b"k", &[7u8; INLINE], &[8u8; INLINE + 1]] {
            let k = Key::from(s);
            assert_eq!(k.as_bytes(), s);
            assert_eq!(matches!(k, Key::Inline(..)), s.len() <= INLINE);
            assert_eq!(h.hash_one(&k), h.hash_one(s));
            assert_eq!(k, k.clone());
        }
    }
}

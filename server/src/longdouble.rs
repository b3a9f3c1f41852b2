//! Long double arithmetic for INCRBYFLOAT/HINCRBYFLOAT, done in C exactly like Redis.

use std::os::raw::{c_char, c_int, c_long};

extern "C" {
    fn rso_ld_valid(s: *const c_char, len: usize, finite: *mut c_int) -> c_int;
    fn rso_ld_add(
        cur: *const c_char,
        curlen: usize,
        incr: *const c_char,
        incrlen: usize,
        out: *mut c_char,
        outlen: usize,
    ) -> c_long;
}

/// Why an addition failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddError {
    CurrentNotFloat,
    IncrementNotFloat,
    NotFinite,
}

/// Parses like Redis's `string2ld`: Some(is_finite) when valid.
pub fn validate(s: &[u8]) -> Option<bool> {
    let mut finite: c_int = 0;
    // SAFETY: pointer/length describe a live slice; the C side copies at most `len` bytes.
    let ok = unsafe { rso_ld_valid(s.as_ptr().cast(), s.len(), &mut finite) };
    (ok == 1).then_some(finite == 1)
}

/// `cur` (None = 0) plus `incr`, formatted as Redis stores the result.
pub fn add(cur: Option<&[u8]>, incr: &[u8]) -> Result<String, AddError> {
    let mut out = vec![0u8; 5 * 1024 + 64];
    let (cp, cl) = match cur {
        Some(c) => (c.as_ptr().cast(), c.len()),
        None => (std::ptr::null(), 0),
    };
    // SAFETY: all pointers describe live buffers of the given lengths; `out` is writable.
    let n =
        unsafe { rso_ld_add(cp, cl, incr.as_ptr().cast(), incr.len(), out.as_mut_ptr().cast(), out.len()) };
    match n {
        -1 => Err(AddError::CurrentNotFloat),
        -2 => Err(AddError::IncrementNotFloat),
        n if n < 0 => Err(AddError::NotFinite),
        n => {
            out.truncate(n as usize);
            Ok(String::from_utf8_lossy(&out).into_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_redis_output() {
        let a = add(None, b"0.1").unwrap();
        assert_eq!(a, "0.1");
        assert_eq!(add(Some(a.as_bytes()), b"0.2").unwrap(), "0.3");
        assert_eq!(add(Some(b"10.5"), b"0.1").unwrap(), "10.6");
        assert_eq!(add(Some(b"1.1"), b"2.2").unwrap(), "3.3");
        assert_eq!(add(Some(b"-1"), b"1").unwrap(), "0");
        assert_eq!(add(Some(b"1e20"), b"10.6").unwrap(), "100000000000000000008");
        assert_eq!(add(Some(b"x"), b"1"), Err(AddError::CurrentNotFloat));
        assert_eq!(add(None, b" 1"), Err(AddError::IncrementNotFloat));
        assert_eq!(add(None, b"inf"), Err(AddError::NotFinite));
        assert_eq!(validate(b"inf"), Some(false));
        assert_eq!(validate(b"nan"), None);
        assert_eq!(validate(b"1.5"), Some(true));
    }
}

//! Number parsing and long double arithmetic done in C exactly like Redis (strtod/strtold
//! semantics: hex floats, ERANGE checks, NUL handling, x87 long double sums).

use std::os::raw::{c_char, c_int, c_long};

extern "C" {
    fn rso_string2d(s: *const c_char, len: usize, out: *mut f64) -> c_int;
    fn rso_range_item(s: *const c_char, len: usize, out: *mut f64, exclusive: *mut c_int) -> c_int;
    fn rso_ld_valid(s: *const c_char, len: usize, finite: *mut c_int) -> c_int;
    fn rso_ld_add(
        cur: *const c_char,
        curlen: usize,
        incr: *const c_char,
        incrlen: usize,
        out: *mut c_char,
        outlen: usize,
    ) -> c_long;
    fn rso_ld2string_auto(value: f64, out: *mut c_char, outlen: usize) -> c_long;
}

/// Why an addition failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddError {
    CurrentNotFloat,
    IncrementNotFloat,
    NotFinite,
}

/// Parses a score like Redis's `string2d` (ZADD, ZINCRBY).
pub fn string2d(s: &[u8]) -> Option<f64> {
    let mut v = 0.0f64;
    // SAFETY: pointer/length describe a live slice; the C side copies at most `len` bytes.
    let ok = unsafe { rso_string2d(s.as_ptr().cast(), s.len(), &mut v) };
    (ok == 1).then_some(v)
}

/// Parses a score-range bound like Redis's `zslParseRange`: (value, exclusive).
pub fn range_item(s: &[u8]) -> Option<(f64, bool)> {
    let mut v = 0.0f64;
    let mut ex: c_int = 0;
    // SAFETY: as above; `v` and `ex` are valid for writes.
    let ok = unsafe { rso_range_item(s.as_ptr().cast(), s.len(), &mut v, &mut ex) };
    (ok == 1).then_some((v, ex == 1))
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

/// A score as ZSCAN prints it for a skiplist-encoded zset (Redis's `ld2string`, LD_STR_AUTO:
/// "%.17Lg", so 0.1 reads 0.10000000000000001).
pub fn format_auto(value: f64) -> String {
    let mut out = [0u8; 64];
    // SAFETY: `out` is a writable buffer of the given length; the C side NUL-terminates within it.
    let n = unsafe { rso_ld2string_auto(value, out.as_mut_ptr().cast(), out.len()) };
    String::from_utf8_lossy(&out[..n.max(0) as usize]).into_owned()
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
        assert_eq!(add(Some(b"1\0"), b"1"), Err(AddError::CurrentNotFloat));
        assert_eq!(add(None, b"1\x002"), Err(AddError::IncrementNotFloat));
    }

    #[test]
    fn zscan_score_text() {
        assert_eq!(format_auto(0.1), "0.10000000000000001");
        assert_eq!(format_auto(3.0), "3");
        assert_eq!(format_auto(1e20), "1e+20");
        assert_eq!(format_auto(1.5e-7), "1.4999999999999999e-07");
        assert_eq!(format_auto(f64::INFINITY), "inf");
        assert_eq!(format_auto(f64::NEG_INFINITY), "-inf");
    }

    #[test]
    fn strtod_semantics() {
        assert_eq!(string2d(b"0x10"), Some(16.0));
        assert_eq!(string2d(b"4.9e-325"), None);
        assert_eq!(string2d(b"1e400"), None);
        assert_eq!(string2d(b"nan"), None);
        assert_eq!(string2d(b" 1"), None);
        assert_eq!(string2d(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(range_item(b""), Some((0.0, false)));
        assert_eq!(range_item(b"("), Some((0.0, true)));
        assert_eq!(range_item(b"\x000"), Some((0.0, false)));
        assert_eq!(range_item(b"1e5000"), Some((f64::INFINITY, false)));
        assert_eq!(range_item(b"(1.5"), Some((1.5, true)));
        assert_eq!(range_item(b"x"), None);
    }
}

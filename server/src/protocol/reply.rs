//! RESP2/RESP3 reply encoding straight into a reused output buffer (no per-reply allocation).
//!
//! The protocol of the client being served is a thread-local flag set before each command, so
//! handlers stay protocol-agnostic except where RESP3 changes a reply's shape (maps, sets,
//! score pairs, verbatim strings).

use std::cell::Cell;

thread_local! {
    static RESP3: Cell<bool> = const { Cell::new(false) };
    /// Error replies encoded on this thread since the last `take_error_replies`.
    static ERROR_REPLIES: Cell<u64> = const { Cell::new(0) };
}

/// Error replies written on this thread since the last call (INFO total_error_replies counts
/// every error a client receives, nested ones in EXEC included, like Redis's afterErrorReply).
#[inline]
pub fn take_error_replies() -> u64 {
    ERROR_REPLIES.with(|c| c.replace(0))
}

/// Error replies written on this thread and not yet taken.
pub fn pending_error_replies() -> u64 {
    ERROR_REPLIES.with(|c| c.get())
}

/// Selects the protocol of the replies written next on this thread.
#[inline]
pub fn set_resp3(on: bool) {
    RESP3.with(|c| c.set(on));
}

/// Whether replies written now use RESP3.
#[inline]
pub fn is_resp3() -> bool {
    RESP3.with(|c| c.get())
}

/// Appends RESP2 replies to a byte buffer.
pub trait Reply {
    fn simple(&mut self, s: &[u8]);
    fn error(&mut self, s: &str);
    fn int(&mut self, n: i64);
    fn bulk(&mut self, b: &[u8]);
    fn null(&mut self);
    fn null_array(&mut self);
    fn array(&mut self, n: usize);
    fn ok(&mut self);
    fn double(&mut self, d: f64);
    /// A map of `n` key/value pairs (RESP2: a flat array of 2n items).
    fn map(&mut self, n: usize);
    /// A set of `n` members (RESP2: an array).
    fn set(&mut self, n: usize);
    /// Human-readable text (RESP3 verbatim "txt"; RESP2 bulk string).
    fn verbatim(&mut self, text: &[u8]);
}

impl Reply for Vec<u8> {
    #[inline]
    fn simple(&mut self, s: &[u8]) {
        self.push(b'+');
        self.extend_from_slice(s);
        self.extend_from_slice(b"\r\n");
    }

    #[inline]
    fn error(&mut self, s: &str) {
        ERROR_REPLIES.with(|c| c.set(c.get() + 1));
        self.push(b'-');
        // Redis replaces newlines in error strings with spaces to keep the protocol intact.
        self.extend(s.bytes().map(|c| if c == b'\r' || c == b'\n' { b' ' } else { c }));
        self.extend_from_slice(b"\r\n");
    }

    #[inline]
    fn int(&mut self, n: i64) {
        self.push(b':');
        let mut b = itoa::Buffer::new();
        self.extend_from_slice(b.format(n).as_bytes());
        self.extend_from_slice(b"\r\n");
    }

    #[inline]
    fn bulk(&mut self, b: &[u8]) {
        self.push(b'$');
        let mut ib = itoa::Buffer::new();
        self.extend_from_slice(ib.format(b.len()).as_bytes());
        self.extend_from_slice(b"\r\n");
        self.extend_from_slice(b);
        self.extend_from_slice(b"\r\n");
    }

    #[inline]
    fn null(&mut self) {
        self.extend_from_slice(if is_resp3() { b"_\r\n" } else { b"$-1\r\n" });
    }

    #[inline]
    fn null_array(&mut self) {
        self.extend_from_slice(if is_resp3() { b"_\r\n" } else { b"*-1\r\n" });
    }

    fn map(&mut self, n: usize) {
        if is_resp3() {
            self.push(b'%');
            self.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
            self.extend_from_slice(b"\r\n");
        } else {
            self.array(n * 2);
        }
    }

    fn set(&mut self, n: usize) {
        if is_resp3() {
            self.push(b'~');
            self.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
            self.extend_from_slice(b"\r\n");
        } else {
            self.array(n);
        }
    }

    fn verbatim(&mut self, text: &[u8]) {
        if is_resp3() {
            self.push(b'=');
            self.extend_from_slice(itoa::Buffer::new().format(text.len() + 4).as_bytes());
            self.extend_from_slice(b"\r\ntxt:");
            self.extend_from_slice(text);
            self.extend_from_slice(b"\r\n");
        } else {
            self.bulk(text);
        }
    }

    #[inline]
    fn array(&mut self, n: usize) {
        self.push(b'*');
        let mut b = itoa::Buffer::new();
        self.extend_from_slice(b.format(n).as_bytes());
        self.extend_from_slice(b"\r\n");
    }

    #[inline]
    fn ok(&mut self) {
        self.extend_from_slice(b"+OK\r\n");
    }

    fn double(&mut self, d: f64) {
        let s = format_double(d);
        if is_resp3() {
            self.push(b',');
            self.extend_from_slice(s.as_bytes());
            self.extend_from_slice(b"\r\n");
        } else {
            self.bulk(s.as_bytes());
        }
    }
}

/// Formats a score like Redis's `fpconv_dtoa` (shortest round-trip digits, same exponent rules).
pub fn format_double(d: f64) -> String {
    if d.is_nan() {
        return "nan".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if d == 0.0 {
        return if d.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let (neg, digits, k) = shortest_digits(d);
    let ndigits = digits.len() as i32;
    let exp = (k + ndigits - 1).abs();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if k >= 0 && exp < ndigits + 7 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', k as usize));
        return out;
    }
    if k < 0 && (k > -7 || exp < 4) {
        let offset = ndigits - k.abs();
        if offset <= 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-offset) as usize));
            out.push_str(&digits);
        } else {
            out.push_str(&digits[..offset as usize]);
            out.push('.');
            out.push_str(&digits[offset as usize..]);
        }
        return out;
    }
    let nd = ndigits.min(18 - i32::from(neg)) as usize;
    out.push_str(&digits[..1]);
    if nd > 1 {
        out.push('.');
        out.push_str(&digits[1..nd]);
    }
    out.push('e');
    out.push(if k + ndigits - 1 < 0 { '-' } else { '+' });
    out.push_str(&exp.to_string());
    out
}

/// Shortest round-trip decimal digits of |d| and the power of ten of the last digit.
fn shortest_digits(d: f64) -> (bool, String, i32) {
    let mut buf = ryu::Buffer::new();
    let s = buf.format_finite(d);
    let neg = s.starts_with('-');
    let s = s.trim_start_matches('-');
    let (mant, e) = match s.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (s, 0),
    };
    let (int_part, frac_part) = mant.split_once('.').unwrap_or((mant, ""));
    let frac_part = frac_part.trim_end_matches('0');
    let mut digits = format!("{int_part}{frac_part}");
    let mut k = e - frac_part.len() as i32;
    let lead = digits.len() - digits.trim_start_matches('0').len();
    digits.drain(..lead);
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
        k += 1;
    }
    (neg, digits, k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_like_redis() {
        assert_eq!(format_double(1e20), "1e+20");
        assert_eq!(format_double(0.1), "0.1");
        assert_eq!(format_double(1e-7), "1e-7");
        assert_eq!(format_double(123456789012345678.0), "123456789012345680");
        assert_eq!(format_double(1.5e-5), "0.000015");
        assert_eq!(format_double(1e21), "1e+21");
        assert_eq!(format_double(3.0), "3");
        assert_eq!(format_double(-2.5), "-2.5");
        assert_eq!(format_double(f64::INFINITY), "inf");
    }

    #[test]
    fn encodings() {
        let mut v = Vec::new();
        v.int(-5);
        v.bulk(b"ab");
        v.null();
        v.array(2);
        v.error("ERR x\ny");
        assert_eq!(v, b":-5\r\n$2\r\nab\r\n$-1\r\n*2\r\n-ERR x y\r\n");
    }
}

//! RESP2 request parser: multibulk and inline commands, zero-copy over the read buffer.
//!
//! A parsed command is a list of byte ranges. Multibulk arguments point into the read buffer
//! itself; inline arguments (which may be quoted and escaped) are unescaped into a scratch buffer.
//! Error strings match Redis's `processMultibulkBuffer` / `processInlineBuffer` byte for byte.
//!
//! A multibulk request that arrives over many reads is parsed once: `ParseState` remembers how
//! many arguments are still due and where the next one starts (Redis's `multibulklen`/`bulklen`),
//! so each read costs time in its own bytes and a request of many small arguments parses in
//! time linear in its size.

/// Largest bulk string Redis accepts (`proto-max-bulk-len` default, 512 MB).
pub const MAX_BULK_LEN: usize = 512 * 1024 * 1024;
/// Largest inline request or multibulk header line before Redis gives up (`PROTO_INLINE_MAX_SIZE`).
pub const MAX_INLINE_LEN: usize = 64 * 1024;

/// Where the argument ranges of a parsed command point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgSource {
    /// Ranges index the read buffer passed to `parse_command`.
    Buffer,
    /// Ranges index the scratch buffer (inline command, unescaped).
    Scratch,
}

/// Outcome of one parse attempt at the start of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A whole command: `consumed` bytes; arguments are in `args` (may be empty: skip it).
    Command { consumed: usize, source: ArgSource },
    /// More bytes are needed; `need` is the total buffer length known to be required, if known.
    Incomplete { need: usize },
    /// The client broke the protocol: reply with this error and close the connection.
    Error(&'static str),
}

/// Progress through a multibulk request that has not fully arrived yet.
///
/// While `remaining > 0`, the caller's `args` hold the ranges of the arguments already parsed
/// (offsets from the start of the request) and `pos` is where the next `$` header starts. The
/// caller must pass the same request start on the next call (moving the bytes is fine: the
/// offsets are relative to the request).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ParseState {
    remaining: i64,
    pos: usize,
    /// Bytes examined by every call since creation (a cost meter: linear parsing keeps it
    /// proportional to the input, whatever the read sizes).
    scanned: u64,
}

impl ParseState {
    /// Whether a multibulk request is partly parsed.
    pub fn in_progress(&self) -> bool {
        self.remaining > 0
    }

    /// Bytes the parser has examined so far.
    pub fn scanned(&self) -> u64 {
        self.scanned
    }

    fn reset(&mut self) {
        self.remaining = 0;
        self.pos = 0;
    }
}

/// Parses strictly like Redis's `string2ll` (no '+', no leading zeros, optional '-').
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let (neg, digits) = if s[0] == b'-' { (true, &s[1..]) } else { (false, s) };
    if digits.is_empty() {
        return None;
    }
    if digits.len() == 1 && digits[0] == b'0' {
        return if neg { None } else { Some(0) };
    }
    if !(b'1'..=b'9').contains(&digits[0]) {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if neg {
        if v > (i64::MAX as u64) + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else if v > i64::MAX as u64 {
        None
    } else {
        Some(v as i64)
    }
}

fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    // Redis looks for '\r' and then assumes '\n' follows.
    memchr_byte(b'\r', &buf[from..]).map(|i| from + i)
}

#[inline]
fn memchr_byte(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

/// Parses one command from the start of `buf`, from scratch (no state kept between calls).
///
/// `max_bulk` caps a single bulk length (the smaller of 512 MB and the query-buffer limit).
pub fn parse_command(
    buf: &[u8],
    args: &mut Vec<(usize, usize)>,
    scratch: &mut Vec<u8>,
    max_bulk: usize,
) -> Parsed {
    parse_command_resume(buf, args, scratch, max_bulk, &mut ParseState::default())
}

/// Parses one command from the start of `buf`, resuming where `state` stopped on this request.
///
/// `args` must be the vector passed on the previous call while `state.in_progress()`.
pub fn parse_command_resume(
    buf: &[u8],
    args: &mut Vec<(usize, usize)>,
    scratch: &mut Vec<u8>,
    max_bulk: usize,
    state: &mut ParseState,
) -> Parsed {
    let from = if state.in_progress() { state.pos } else { 0 };
    let parsed = if state.in_progress() {
        parse_args(buf, args, max_bulk, state)
    } else {
        args.clear();
        if buf.is_empty() {
            return Parsed::Incomplete { need: 1 };
        }
        if buf[0] == b'*' {
            parse_multibulk(buf, args, max_bulk, state)
        } else {
            parse_inline(buf, args, scratch)
        }
    };
    let upto = match &parsed {
        Parsed::Command { consumed, .. } => *consumed,
        _ => buf.len(),
    };
    state.scanned += upto.saturating_sub(from) as u64;
    if !matches!(parsed, Parsed::Incomplete { .. }) {
        state.reset();
    }
    parsed
}

fn parse_multibulk(
    buf: &[u8],
    args: &mut Vec<(usize, usize)>,
    max_bulk: usize,
    state: &mut ParseState,
) -> Parsed {
    if let Some((count, nl)) = fast_len(buf, 1) {
        return start_args(buf, args, max_bulk, count as i64, nl + 2, state);
    }
    let Some(nl) = find_crlf(buf, 1) else {
        if buf.len() > MAX_INLINE_LEN {
            return Parsed::Error("ERR Protocol error: too big mbulk count string");
        }
        return Parsed::Incomplete { need: buf.len() + 1 };
    };
    if nl > MAX_INLINE_LEN {
        return Parsed::Error("ERR Protocol error: too big mbulk count string");
    }
    let count = match parse_i64(&buf[1..nl]) {
        Some(n) if n <= i64::from(i32::MAX) => n,
        _ => return Parsed::Error("ERR Protocol error: invalid multibulk length"),
    };
    start_args(buf, args, max_bulk, count, nl + 2, state)
}

/// Starts on `count` bulk arguments at `pos` (just after the multibulk header line).
fn start_args(
    buf: &[u8],
    args: &mut Vec<(usize, usize)>,
    max_bulk: usize,
    count: i64,
    pos: usize,
    state: &mut ParseState,
) -> Parsed {
    if count <= 0 {
        if pos > buf.len() {
            return Parsed::Incomplete { need: pos };
        }
        return Parsed::Command { consumed: pos, source: ArgSource::Buffer };
    }
    // Do not trust the declared count for allocation; grow as arguments actually arrive.
    args.reserve((count as usize).min(1024));
    state.remaining = count;
    state.pos = pos;
    parse_args(buf, args, max_bulk, state)
}

/// Parses the `state.remaining` bulk arguments due from `state.pos`; on `Incomplete` the state
/// points at the first argument not yet complete, so the next call starts there.
fn parse_args(buf: &[u8], args: &mut Vec<(usize, usize)>, max_bulk: usize, state: &mut ParseState) -> Parsed {
    let mut pos = state.pos;
    while state.remaining > 0 {
        state.pos = pos;
        if pos >= buf.len() {
            return Parsed::Incomplete { need: pos + 1 };
        }
        if buf[pos] != b'$' {
            return Parsed::Error(expected_dollar_error(buf[pos]));
        }
        // Fast path: a plain decimal length ("$64\r"), parsed while scanning for '\r'.
        if let Some((len, nl)) = fast_len(buf, pos + 1) {
            if len > MAX_BULK_LEN {
                return Parsed::Error("ERR Protocol error: invalid bulk length");
            }
            if len > max_bulk {
                return Parsed::Error(TOO_BIG_QUERY);
            }
            let start = nl + 2;
            let end = start + len;
            if end + 2 > buf.len() {
                return Parsed::Incomplete { need: end + 2 };
            }
            args.push((start, end));
            pos = end + 2;
            state.remaining -= 1;
            continue;
        }
        let Some(nl) = find_crlf(buf, pos + 1) else {
            if buf.len() - pos > MAX_INLINE_LEN {
                return Parsed::Error("ERR Protocol error: too big bulk count string");
            }
            return Parsed::Incomplete { need: buf.len() + 1 };
        };
        if nl - pos > MAX_INLINE_LEN {
            return Parsed::Error("ERR Protocol error: too big bulk count string");
        }
        let len = match parse_i64(&buf[pos + 1..nl]) {
            Some(n) if n >= 0 && (n as u64) <= MAX_BULK_LEN as u64 => n as usize,
            _ => return Parsed::Error("ERR Protocol error: invalid bulk length"),
        };
        if len > max_bulk {
            return Parsed::Error(TOO_BIG_QUERY);
        }
        let start = nl + 2;
        let end = start + len;
        // The two bytes after the payload are the CRLF; like Redis, they are skipped unchecked.
        if end + 2 > buf.len() {
            return Parsed::Incomplete { need: end + 2 };
        }
        args.push((start, end));
        pos = end + 2;
        state.remaining -= 1;
    }
    state.pos = pos;
    Parsed::Command { consumed: pos, source: ArgSource::Buffer }
}

/// Parses "<digits>\r" at `from` when it is a canonical non-negative number of at most 9 digits
/// (the common case); anything else (sign, leading zero, long, incomplete) takes the strict path.
#[inline]
fn fast_len(buf: &[u8], from: usize) -> Option<(usize, usize)> {
    let first = *buf.get(from)?;
    if !(b'1'..=b'9').contains(&first) {
        return None;
    }
    let mut v = (first - b'0') as usize;
    let end = (from + 10).min(buf.len());
    let mut i = from + 1;
    while i < end {
        let c = buf[i];
        if c == b'\r' {
            return Some((v, i));
        }
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as usize;
        i += 1;
    }
    None
}

/// Error for a query that would exceed `buffers.max_size`.
pub const TOO_BIG_QUERY: &str = "ERR Protocol error: too big query buffer (exceeds buffers.max_size)";

fn expected_dollar_error(got: u8) -> &'static str {
    // Redis formats "expected '$', got '%c'"; build the 256 variants lazily once.
    static TABLE: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        (0u8..=255)
            .map(|c| {
                let s = format!("ERR Protocol error: expected '$', got '{}'", c as char);
                &*Box::leak(s.into_boxed_str())
            })
            .collect()
    })[got as usize]
}

fn parse_inline(buf: &[u8], args: &mut Vec<(usize, usize)>, scratch: &mut Vec<u8>) -> Parsed {
    let Some(nl) = memchr_byte(b'\n', buf) else {
        if buf.len() > MAX_INLINE_LEN {
            return Parsed::Error("ERR Protocol error: too big inline request");
        }
        return Parsed::Incomplete { need: buf.len() + 1 };
    };
    if nl > MAX_INLINE_LEN {
        return Parsed::Error("ERR Protocol error: too big inline request");
    }
    let mut line = &buf[..nl];
    if line.last() == Some(&b'\r') {
        line = &line[..line.len() - 1];
    }
    scratch.clear();
    if !split_args(line, args, scratch) {
        return Parsed::Error("ERR Protocol error: unbalanced quotes in request");
    }
    Parsed::Command { consumed: nl + 1, source: ArgSource::Scratch }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Splits an inline line like Redis's `sdssplitargs` (quotes, escapes); false on bad quoting.
pub fn split_args(line: &[u8], args: &mut Vec<(usize, usize)>, out: &mut Vec<u8>) -> bool {
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= n {
            return true;
        }
        let start = out.len();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                if i >= n {
                    return false;
                }
                let c = line[i];
                if c == b'\\'
                    && i + 3 < n
                    && line[i + 1] == b'x'
                    && hex_val(line[i + 2]).is_some()
                    && hex_val(line[i + 3]).is_some()
                {
                    out.push(hex_val(line[i + 2]).unwrap() * 16 + hex_val(line[i + 3]).unwrap());
                    i += 3;
                } else if c == b'\\' && i + 1 < n {
                    i += 1;
                    out.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if c == b'"' {
                    // Closing quote must be followed by a space or the end.
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return false;
                    }
                    i += 1;
                    break;
                } else {
                    out.push(c);
                }
            } else if in_sq {
                if i >= n {
                    return false;
                }
                let c = line[i];
                if c == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    i += 1;
                    out.push(b'\'');
                } else if c == b'\'' {
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return false;
                    }
                    i += 1;
                    break;
                } else {
                    out.push(c);
                }
            } else {
                if i >= n {
                    break;
                }
                match line[i] {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => {
                        i += 1;
                        break;
                    }
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    c => out.push(c),
                }
            }
            i += 1;
        }
        args.push((start, out.len()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(buf: &[u8]) -> (Parsed, Vec<Vec<u8>>) {
        let mut args = Vec::new();
        let mut scratch = Vec::new();
        let p = parse_command(buf, &mut args, &mut scratch, MAX_BULK_LEN);
        let vals = match &p {
            Parsed::Command { source: ArgSource::Buffer, .. } => {
                args.iter().map(|&(s, e)| buf[s..e].to_vec()).collect()
            }
            Parsed::Command { source: ArgSource::Scratch, .. } => {
                args.iter().map(|&(s, e)| scratch[s..e].to_vec()).collect()
            }
            _ => Vec::new(),
        };
        (p, vals)
    }

    #[test]
    fn multibulk_whole() {
        let buf = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n";
        let (p, v) = parse(buf);
        assert_eq!(p, Parsed::Command { consumed: buf.len(), source: ArgSource::Buffer });
        assert_eq!(v, vec![b"SET".to_vec(), b"k".to_vec(), b"hello".to_vec()]);
    }

    #[test]
    fn multibulk_split_at_every_byte() {
        let buf = b"*3\r\n$3\r\nSET\r\n$4\r\nk\r\n\0\r\n$0\r\n\r\n";
        for cut in 0..buf.len() {
            let (p, _) = parse(&buf[..cut]);
            assert!(matches!(p, Parsed::Incomplete { .. }), "cut {cut}: {p:?}");
        }
        let (p, v) = parse(buf);
        assert!(matches!(p, Parsed::Command { .. }));
        assert_eq!(v, vec![b"SET".to_vec(), b"k\r\n\0".to_vec(), Vec::new()]);
    }

    /// Feeds `buf` to one `ParseState` in growing prefixes of `step` bytes, like reads arriving.
    fn parse_growing(buf: &[u8], step: usize) -> (Parsed, Vec<Vec<u8>>, ParseState) {
        let (mut args, mut scratch, mut state) = (Vec::new(), Vec::new(), ParseState::default());
        let mut len = 0;
        loop {
            len = (len + step).min(buf.len());
            let p = parse_command_resume(&buf[..len], &mut args, &mut scratch, MAX_BULK_LEN, &mut state);
            if matches!(p, Parsed::Incomplete { .. }) && len < buf.len() {
                continue;
            }
            let vals = args.iter().map(|&(s, e)| buf[s..e].to_vec()).collect();
            return (p, vals, state);
        }
    }

    #[test]
    fn resumed_parse_equals_whole_parse_at_every_split() {
        let buf = b"*4\r\n$3\r\nSET\r\n$4\r\nk\r\n\0\r\n$0\r\n\r\n$-0\r\n";
        let whole = b"*3\r\n$3\r\nSET\r\n$4\r\nk\r\n\0\r\n$0\r\n\r\n";
        let (want, want_vals) = parse(whole);
        for step in 1..whole.len() {
            let (p, v, state) = parse_growing(whole, step);
            assert_eq!((&p, &v), (&want, &want_vals), "step {step}");
            assert!(!state.in_progress());
        }
        // An error after arguments that arrived earlier is the same error, and resets the state.
        for step in 1..buf.len() {
            let (p, _, state) = parse_growing(buf, step);
            assert_eq!(p, Parsed::Error("ERR Protocol error: invalid bulk length"), "step {step}");
            assert!(!state.in_progress());
        }
    }

    #[test]
    fn many_small_arguments_parse_in_linear_work() {
        // One RPUSH of 100k 8-byte elements arriving 1 KiB at a time: a parser that re-scans
        // from '*' on every read examines ~ n^2 / (2 * 1024) bytes (about 600 MB here).
        let n = 100_000;
        let mut buf = format!("*{}\r\n$5\r\nRPUSH\r\n$1\r\nk\r\n", n + 2).into_bytes();
        for i in 0..n {
            buf.extend_from_slice(format!("$8\r\n{i:08}\r\n").as_bytes());
        }
        let (p, v, state) = parse_growing(&buf, 1024);
        assert_eq!(p, Parsed::Command { consumed: buf.len(), source: ArgSource::Buffer });
        assert_eq!(v.len(), n + 2);
        assert_eq!(v[n + 1], format!("{:08}", n - 1).into_bytes());
        let reads = buf.len().div_ceil(1024) as u64;
        // Each read re-examines at most the one argument it split (14 bytes here).
        assert!(
            state.scanned() <= buf.len() as u64 + reads * 16,
            "examined {} bytes for a {}-byte request",
            state.scanned(),
            buf.len()
        );
    }

    #[test]
    fn inline_split_at_every_byte() {
        let buf = b"SET  \"a b\" 'c'\r\n";
        for cut in 0..buf.len() {
            let (p, _) = parse(&buf[..cut]);
            assert!(matches!(p, Parsed::Incomplete { .. }), "cut {cut}: {p:?}");
        }
        let (p, v) = parse(buf);
        assert_eq!(p, Parsed::Command { consumed: buf.len(), source: ArgSource::Scratch });
        assert_eq!(v, vec![b"SET".to_vec(), b"a b".to_vec(), b"c".to_vec()]);
    }

    #[test]
    fn inline_escapes_and_errors() {
        let (_, v) = parse(b"ECHO \"\\x41\\n\"\n");
        assert_eq!(v, vec![b"ECHO".to_vec(), b"A\n".to_vec()]);
        let (p, _) = parse(b"ECHO \"abc\n");
        assert_eq!(p, Parsed::Error("ERR Protocol error: unbalanced quotes in request"));
        let (p, v) = parse(b"\r\n");
        assert_eq!(p, Parsed::Command { consumed: 2, source: ArgSource::Scratch });
        assert!(v.is_empty());
        let big = vec![b'a'; MAX_INLINE_LEN + 10];
        assert_eq!(parse(&big).0, Parsed::Error("ERR Protocol error: too big inline request"));
    }

    #[test]
    fn protocol_errors() {
        assert_eq!(parse(b"*x\r\n").0, Parsed::Error("ERR Protocol error: invalid multibulk length"));
        assert_eq!(
            parse(b"*3000000000\r\n").0,
            Parsed::Error("ERR Protocol error: invalid multibulk length")
        );
        assert_eq!(parse(b"*1\r\n$-1\r\n").0, Parsed::Error("ERR Protocol error: invalid bulk length"));
        assert_eq!(
            parse(b"*1\r\n$1073741824\r\n").0,
            Parsed::Error("ERR Protocol error: invalid bulk length")
        );
        assert_eq!(parse(b"*1\r\n:1\r\n").0, Parsed::Error("ERR Protocol error: expected '$', got ':'"));
        assert_eq!(parse(b"*0\r\n").0, Parsed::Command { consumed: 4, source: ArgSource::Buffer });
        assert_eq!(parse(b"*-1\r\n").0, Parsed::Command { consumed: 5, source: ArgSource::Buffer });
    }

    #[test]
    fn bulk_over_limit_is_rejected_before_payload() {
        let mut args = Vec::new();
        let mut scratch = Vec::new();
        let p = parse_command(b"*1\r\n$2000\r\n", &mut args, &mut scratch, 1000);
        assert_eq!(p, Parsed::Error(TOO_BIG_QUERY));
    }

    #[test]
    fn random_input_never_panics_and_stays_in_bounds() {
        // A deterministic stand-in for the cargo-fuzz target (fuzz/): RESP-ish byte soup.
        let alphabet: &[u8] = b"*$\r\n0123456789-+:\"' abcPING\\x";
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut args = Vec::new();
        let mut scratch = Vec::new();
        for _ in 0..20_000 {
            let len = (next() % 64) as usize;
            let buf: Vec<u8> = (0..len)
                .map(|_| {
                    let r = next();
                    if r % 8 == 0 {
                        (r >> 8) as u8
                    } else {
                        alphabet[(r >> 8) as usize % alphabet.len()]
                    }
                })
                .collect();
            match parse_command(&buf, &mut args, &mut scratch, 1 << 20) {
                Parsed::Command { consumed, source } => {
                    assert!(consumed > 0 && consumed <= buf.len());
                    let base_len = if source == ArgSource::Buffer { buf.len() } else { scratch.len() };
                    assert!(args.iter().all(|&(s, e)| s <= e && e <= base_len));
                }
                Parsed::Incomplete { need } => assert!(need > buf.len()),
                Parsed::Error(_) => {}
            }
        }
    }

    #[test]
    fn fast_and_strict_length_paths_agree() {
        for (input, ok) in [
            (&b"*1\r\n$3\r\nabc\r\n"[..], true),
            (b"*1\r\n$03\r\nabc\r\n", false),
            (b"*1\r\n$+3\r\nabc\r\n", false),
            (b"*01\r\n$3\r\nabc\r\n", false),
            (b"*1\r\n$999999999\r\n", false),
            (b"*1\r\n$0\r\n\r\n", true),
        ] {
            let (p, _) = parse(input);
            assert_eq!(
                matches!(p, Parsed::Command { .. }),
                ok,
                "{:?}: {p:?}",
                String::from_utf8_lossy(input)
            );
        }
        assert_eq!(
            parse(b"*1\r\n$999999999\r\n").0,
            Parsed::Error("ERR Protocol error: invalid bulk length")
        );
    }

    #[test]
    fn strict_integers() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"01"), None);
        assert_eq!(parse_i64(b"+1"), None);
        assert_eq!(parse_i64(b"-0"), None);
        assert_eq!(parse_i64(b" 1"), None);
        assert_eq!(parse_i64(b""), None);
    }
}

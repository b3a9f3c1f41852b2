//! A bound on the reply one command may queue (`buffers.max_reply_size`).
//!
//! The output limit between commands cannot stop one command whose reply size comes from an
//! argument rather than from the data (SRANDMEMBER with a negative count): Redis builds such a
//! reply until memory runs out. Here the command checks its reply against the limit before and
//! while building it, and answers an error naming the limit instead.

use crate::protocol::reply::Reply;

/// Smallest encoding of one bulk-string element (`$0\r\n\r\n`).
pub const MIN_BULK_REPLY: u64 = 6;

/// Where a command's reply starts in the output buffer, and how large it may grow.
#[derive(Debug, Clone, Copy)]
pub struct ReplyBudget {
    mark: usize,
    limit: usize,
}

impl ReplyBudget {
    /// A budget of `limit` bytes for the reply about to be appended to `out`.
    pub fn new(out: &[u8], limit: usize) -> ReplyBudget {
        ReplyBudget { mark: out.len(), limit }
    }

    /// Whether `elements` replies of at least `min_each` bytes each cannot fit.
    pub fn cannot_fit(&self, elements: u64, min_each: u64) -> bool {
        elements.saturating_mul(min_each) > self.limit as u64
    }

    /// Whether the reply appended since `new` is already over the limit.
    #[inline]
    pub fn exceeded(&self, out: &[u8]) -> bool {
        out.len() - self.mark > self.limit
    }

    /// Drops the partial reply and answers the error naming the limit.
    pub fn reject(&self, out: &mut Vec<u8>) {
        out.truncate(self.mark);
        out.error(&format!("ERR reply exceeds buffers.max_reply_size ({} bytes)", self.limit));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_and_rejects() {
        let mut out = b"+OK\r\n".to_vec();
        let budget = ReplyBudget::new(&out, 10);
        assert!(!budget.cannot_fit(1, MIN_BULK_REPLY));
        assert!(budget.cannot_fit(2, MIN_BULK_REPLY));
        assert!(budget.cannot_fit(u64::MAX, MIN_BULK_REPLY));
        out.extend_from_slice(b"$3\r\nabc\r\n");
        assert!(!budget.exceeded(&out));
        out.extend_from_slice(b"$3\r\nabc\r\n");
        assert!(budget.exceeded(&out));
        budget.reject(&mut out);
        assert_eq!(out, b"+OK\r\n-ERR reply exceeds buffers.max_reply_size (10 bytes)\r\n");
    }
}

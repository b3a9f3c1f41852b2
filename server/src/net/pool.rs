//! Response pool: reusable reply buffers, so replying does not allocate per request.

/// A per-thread stack of cleared reply buffers.
pub struct ResponsePool {
    free: Vec<Vec<u8>>,
    capacity: usize,
    buffer_size: usize,
    /// Buffers that grew beyond this are shrunk before reuse, bounding pooled memory.
    retain_limit: usize,
    pub allocations: u64,
}

impl ResponsePool {
    /// A pool keeping at most `capacity` buffers, allocated on first use.
    pub fn new(capacity: usize, buffer_size: usize) -> ResponsePool {
        ResponsePool {
            free: Vec::with_capacity(capacity.min(1024)),
            capacity,
            buffer_size,
            retain_limit: (buffer_size * 4).max(1 << 20),
            allocations: 0,
        }
    }

    /// An empty buffer: pooled if one is free, else freshly allocated with `buffer_size`.
    #[inline]
    pub fn take(&mut self) -> Vec<u8> {
        match self.free.pop() {
            Some(b) => b,
            None => {
                self.allocations += 1;
                Vec::with_capacity(self.buffer_size)
            }
        }
    }

    /// Returns a buffer for reuse (dropped when the pool is full).
    #[inline]
    pub fn give(&mut self, mut buf: Vec<u8>) {
        if self.free.len() >= self.capacity || buf.capacity() == 0 {
            return;
        }
        buf.clear();
        if buf.capacity() > self.retain_limit {
            buf.shrink_to(self.buffer_size);
        }
        self.free.push(buf);
    }

    pub fn len(&self) -> usize {
        self.free.len()
    }

    pub fn is_empty(&self) -> bool {
        self.free.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_and_bounds() {
        let mut p = ResponsePool::new(2, 64);
        assert_eq!(p.len(), 0);
        let a = p.take();
        let b = p.take();
        let c = p.take();
        assert_eq!(p.allocations, 3);
        p.give(a);
        p.give(b);
        p.give(c);
        assert_eq!(p.len(), 2);
        let reused = p.take();
        assert_eq!(p.allocations, 3, "a pooled buffer is reused, not allocated");
        p.give(reused);
        let mut zero = ResponsePool::new(0, 64);
        let d = zero.take();
        zero.give(d);
        assert!(zero.is_empty());
    }
}

//! The global allocator, wrapped to count live heap bytes (INFO `used_memory`, `maxmemory`).
//!
//! Like Redis's zmalloc, every allocation and free adjusts a counter, so `used_memory` is a true
//! figure read in O(1) instead of a walk over the data. Each thread adds to its own cache-line
//! slot with a plain load and store (no locked instruction on the hot path); a reader sums the
//! slots. Threads beyond `SLOTS - 1` share the last slot through an atomic add.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

const SLOTS: usize = 64;

#[repr(align(64))]
struct Slot(AtomicI64);

#[allow(clippy::declare_interior_mutable_const)]
const ZERO: Slot = Slot(AtomicI64::new(0));
static COUNTERS: [Slot; SLOTS] = [ZERO; SLOTS];
/// Slots handed out so far (readers sum only these).
static ASSIGNED: AtomicUsize = AtomicUsize::new(0);
/// Whether a counting allocator is installed (else `used_memory` is unknown).
static INSTALLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

thread_local! {
    /// This thread's slot + 1 (0 = not assigned yet). Const-initialised: no allocation, no destructor.
    static MY_SLOT: Cell<usize> = const { Cell::new(0) };
}

#[inline]
fn add(delta: i64) {
    let slot = MY_SLOT.try_with(|s| {
        let v = s.get();
        if v != 0 {
            return v - 1;
        }
        let i = ASSIGNED.fetch_add(1, Ordering::Relaxed).min(SLOTS - 1);
        s.set(i + 1);
        i
    });
    match slot {
        Ok(i) if i < SLOTS - 1 => {
            // Only this thread writes slot i: a plain load + store is enough.
            let c = &COUNTERS[i].0;
            c.store(c.load(Ordering::Relaxed) + delta, Ordering::Relaxed);
        }
        _ => {
            COUNTERS[SLOTS - 1].0.fetch_add(delta, Ordering::Relaxed);
        }
    }
}

/// Live heap bytes requested through the global allocator (0 when it is not a [`Counting`]).
pub fn used_memory() -> usize {
    let n = ASSIGNED.load(Ordering::Relaxed).min(SLOTS - 1);
    let mut sum: i64 = COUNTERS[SLOTS - 1].0.load(Ordering::Relaxed);
    for c in &COUNTERS[..n] {
        sum += c.0.load(Ordering::Relaxed);
    }
    sum.max(0) as usize
}

/// Whether `used_memory` is a real figure (a counting allocator is the global allocator).
pub fn is_counting() -> bool {
    INSTALLED.load(Ordering::Relaxed)
}

/// Wraps allocator `A`, counting the bytes it hands out and takes back.
pub struct Counting<A>(pub A);

unsafe impl<A: GlobalAlloc> GlobalAlloc for Counting<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = self.0.alloc(layout);
        if !p.is_null() {
            add(layout.size() as i64);
            if !INSTALLED.load(Ordering::Relaxed) {
                INSTALLED.store(true, Ordering::Relaxed);
            }
        }
        p
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = self.0.alloc_zeroed(layout);
        if !p.is_null() {
            add(layout.size() as i64);
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        self.0.dealloc(ptr, layout);
        add(-(layout.size() as i64));
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = self.0.realloc(ptr, layout, new_size);
        if !p.is_null() {
            add(new_size as i64 - layout.size() as i64);
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_live_bytes_of_this_process() {
        assert!(is_counting(), "lib.rs installs the counting allocator");
        let before = used_memory();
        let big: Vec<u8> = Vec::with_capacity(64 << 20);
        let during = used_memory();
        drop(big);
        let after = used_memory();
        // Other test threads allocate too: only a 64 MiB step is unmistakable.
        assert!(during >= before + (60 << 20), "{before} -> {during}");
        assert!(after + (60 << 20) <= during, "{during} -> {after}");
    }
}

//! Background freeing (Redis's lazyfree): UNLINK and FLUSHALL/FLUSHDB ASYNC hand what they
//! removed to a thread that drops it, so the command answers without paying for the frees.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Values whose free effort (allocations) is at most this are dropped inline (Redis: 64).
pub const LAZYFREE_THRESHOLD: usize = 64;

type Garbage = Box<dyn Send>;

/// Counters and the pause switch shared with the freeing thread.
#[derive(Default)]
struct Progress {
    pending: AtomicU64,
    freed: AtomicU64,
    paused: AtomicBool,
}

/// The freeing thread and the channel to it; dropping the `Reclaimer` finishes its queue.
pub struct Reclaimer {
    tx: Option<Sender<Garbage>>,
    progress: Arc<Progress>,
    thread: Option<JoinHandle<()>>,
}

impl Reclaimer {
    /// Starts the freeing thread (if it cannot start, everything is freed inline).
    pub fn new() -> Reclaimer {
        let (tx, rx) = channel::<Garbage>();
        let progress = Arc::new(Progress::default());
        let p = Arc::clone(&progress);
        let thread = std::thread::Builder::new()
            .name("lazy-free".into())
            .spawn(move || {
                for garbage in rx {
                    while p.paused.load(Ordering::Acquire) {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    drop(garbage);
                    p.freed.fetch_add(1, Ordering::Relaxed);
                    p.pending.fetch_sub(1, Ordering::Relaxed);
                }
            })
            .ok();
        Reclaimer { tx: thread.as_ref().map(|_| tx), progress, thread }
    }

    /// Drops `garbage` on the freeing thread.
    pub fn free<T: Send + 'static>(&self, garbage: T) {
        let Some(tx) = &self.tx else { return drop(garbage) };
        self.progress.pending.fetch_add(1, Ordering::Relaxed);
        if let Err(back) = tx.send(Box::new(garbage)) {
            self.progress.pending.fetch_sub(1, Ordering::Relaxed);
            drop(back.0);
        }
    }

    /// Jobs handed over and not yet freed (INFO's `lazyfree_pending_objects`).
    pub fn pending(&self) -> u64 {
        self.progress.pending.load(Ordering::Relaxed)
    }

    /// Jobs freed so far (INFO's `lazyfreed_objects`).
    pub fn freed(&self) -> u64 {
        self.progress.freed.load(Ordering::Relaxed)
    }

    /// Holds the freeing thread before its next drop while the guard lives (tests, diagnostics).
    pub fn pause(&self) -> ReclaimPause {
        self.progress.paused.store(true, Ordering::Release);
        ReclaimPause(Arc::clone(&self.progress))
    }
}

/// While alive, the freeing thread frees nothing more (see `Reclaimer::pause`).
pub struct ReclaimPause(Arc<Progress>);

impl Drop for ReclaimPause {
    fn drop(&mut self) {
        self.0.paused.store(false, Ordering::Release);
    }
}

impl Default for Reclaimer {
    fn default() -> Self {
        Reclaimer::new()
    }
}

impl Drop for Reclaimer {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn wait_until(what: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !what() {
            assert!(Instant::now() < deadline, "timed out");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn frees_on_its_thread_and_counts() {
        let r = Reclaimer::new();
        let pause = r.pause();
        r.free(vec![0u8; 1 << 20]);
        r.free(String::from("x"));
        assert_eq!(r.pending(), 2);
        assert_eq!(r.freed(), 0);
        drop(pause);
        wait_until(|| r.pending() == 0);
        assert_eq!(r.freed(), 2);
    }
}

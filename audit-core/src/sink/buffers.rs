//! Record buffers handed back from the writer to the threads that make records.
//!
//! Each record's JSON is serialized by the calling thread and sealed by the writer's. If the
//! writer freed the buffer, every record would be allocated on one thread and freed on the
//! other, and both would contend for the allocator's arena lock (perf saw 10 % of a caller's
//! samples waking that lock's waiters). Instead the writer collects the buffers of the
//! records it seals ([`Spent`]) and hands them back, a few dozen at a time, to a
//! [`BufferPool`] that callers take from (`Writer::take_buffers`). Neither side ever waits
//! on the pool: both only `try_lock` it, and a buffer that finds no room is freed.

use std::sync::Mutex;

/// Buffers kept in the pool at most, and the largest kept: enough for the records of a few
/// milliseconds in flight, without holding on to outsized ones (at most 1 MiB in the pool).
const POOL_MAX: usize = 512;
const BUFFER_BYTES_MAX: usize = 2048;
/// Buffers the writer hands back at a time.
const HAND_BACK_EVERY: usize = 32;

/// Empty buffers for callers to serialize records into.
#[derive(Debug, Default)]
pub(crate) struct BufferPool(Mutex<Vec<String>>);

impl BufferPool {
    /// Up to `max` buffers; fewer, or none, when there are not so many or the pool is busy.
    pub(crate) fn take(&self, max: usize) -> Vec<String> {
        match self.0.try_lock() {
            Ok(mut pool) => {
                let from = pool.len().saturating_sub(max);
                pool.drain(from..).collect()
            }
            Err(_) => Vec::new(),
        }
    }
}

/// The buffers of the records the writer has sealed, on their way back to a [`BufferPool`].
#[derive(Debug, Default)]
pub(crate) struct Spent(Vec<String>);

impl Spent {
    /// Keep `buffer` (cleared) for the pool, handing a few dozen back at a time: a batch can
    /// hold thousands of records while the callers go on making new ones.
    pub(crate) fn keep(&mut self, mut buffer: String, pool: &BufferPool) {
        if buffer.capacity() <= BUFFER_BYTES_MAX {
            buffer.clear();
            self.0.push(buffer);
            if self.0.len() >= HAND_BACK_EVERY {
                self.hand_back(pool);
            }
        }
    }

    /// Hand the buffers kept so far to `pool`. When it is busy they wait for the next try;
    /// beyond what it can take they are freed here.
    pub(crate) fn hand_back(&mut self, pool: &BufferPool) {
        if self.0.is_empty() {
            return;
        }
        if let Ok(mut spares) = pool.0.try_lock() {
            let room = POOL_MAX.saturating_sub(spares.len());
            let from = self.0.len().saturating_sub(room);
            spares.extend(self.0.drain(from..));
            drop(spares);
            self.0.clear();
        } else if self.0.len() > POOL_MAX {
            self.0.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Buffers come back cleared, a few dozen at a time, never more than the pool holds,
    /// never outsized ones; a busy pool makes them wait, not the writer.
    #[test]
    fn buffers_come_back_within_bounds() {
        let pool = BufferPool::default();
        let mut spent = Spent::default();
        for _ in 0..HAND_BACK_EVERY - 1 {
            spent.keep(String::from("x").repeat(100), &pool);
        }
        assert!(pool.take(usize::MAX).is_empty(), "not yet handed back");
        spent.keep("x".repeat(BUFFER_BYTES_MAX + 1), &pool); // outsized: dropped
        spent.keep("x".repeat(10), &pool);
        let back = pool.take(usize::MAX);
        assert_eq!(back.len(), HAND_BACK_EVERY);
        assert!(back.iter().all(|b| b.is_empty() && b.capacity() >= 10));
        for _ in 0..POOL_MAX * 2 {
            spent.keep(String::with_capacity(64), &pool);
        }
        spent.hand_back(&pool);
        assert_eq!(pool.take(usize::MAX).len(), POOL_MAX);
        // Busy: kept for the next try.
        let guard = pool.0.lock().unwrap();
        for _ in 0..HAND_BACK_EVERY {
            spent.keep(String::with_capacity(64), &pool);
        }
        drop(guard);
        spent.hand_back(&pool);
        assert_eq!(pool.take(3).len(), 3);
        assert_eq!(pool.take(usize::MAX).len(), HAND_BACK_EVERY - 3);
    }
}

//! The sealing key's state file, rewritten off the sealing path.
//!
//! The sealing key evolves every `L` records (`docs/FORMAT.md`, section 5.1), and its state
//! file is rewritten each time so that the old epoch key is gone from disk too: a temporary
//! file, `fsync`, `rename`, `fsync` of the directory. Those two `fsync`s cost about as much
//! as sealing the 1024 records of a default epoch, and a writer that waited for them could
//! not keep up with its callers. A [`StateFile`] hands each new state to a thread of its own,
//! which writes the newest one it has (a state replaced before it was written is skipped:
//! only the newest matters), while sealing goes on; and it rewrites the file at most once
//! per interval ([`DEFAULT_INTERVAL`] unless told otherwise), so that a high record rate
//! does not turn into a stream of `fsync`s competing with the writer for the CPU and disk.
//!
//! The file is therefore behind the key in memory by at most the interval plus one rewrite,
//! and never ahead of it: the chain can always be continued from it (a writer that opens the
//! log evolves the key forward to the epoch of its next record). A failed rewrite is reported
//! by the next [`submit`](StateFile::submit) or [`wait`](StateFile::wait); `wait` and a drop
//! write the newest state at once, without waiting for the interval.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use crate::keys::{write_private_atomic, KeyError, SealingKey};

/// How often at most the state file is rewritten, by default: 50 times a second.
///
/// ```
/// use std::time::Duration;
/// use audit_core::{keys::SealingKey, seal::{Sealer, DEFAULT_KEY_STATE_INTERVAL}};
/// assert_eq!(DEFAULT_KEY_STATE_INTERVAL, Duration::from_millis(20));
/// // A writer that wants fewer rewrites: at most 10 a second.
/// let dir = tempfile::tempdir()?;
/// let (key, _) = SealingKey::generate("k1", 1024)?;
/// let sealer = Sealer::new_chain(key)?
///     .persist_key_every(dir.path().join("writer.key"), DEFAULT_KEY_STATE_INTERVAL * 5)?;
/// assert_eq!(sealer.key().kid(), "k1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(20);

/// Rewrites one state file from a thread of its own (see the [module docs](self)).
pub(crate) struct StateFile {
    path: PathBuf,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    pending: Mutex<Pending>,
    changed: Condvar,
}

#[derive(Default)]
struct Pending {
    /// The newest state not yet written (the key's text form: zeroized when dropped).
    next: Option<Zeroizing<String>>,
    writing: bool,
    failed: Option<KeyError>,
    /// Callers waiting for the newest state to be written: it is, without the interval.
    urgent: usize,
    stop: bool,
    /// Rewrites made (the first, synchronous, write not counted).
    writes: u64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl StateFile {
    /// Write `key`'s state to `path` now, then keep a thread to rewrite it, at most once
    /// per `interval`.
    pub(crate) fn create(
        path: PathBuf,
        key: &SealingKey,
        interval: Duration,
    ) -> Result<StateFile, KeyError> {
        key.store(&path)?;
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
            changed: Condvar::new(),
        });
        let (thread_path, thread_shared) = (path.clone(), shared.clone());
        let thread = std::thread::Builder::new()
            .name("audit-key-state".into())
            .spawn(move || run(&thread_path, &thread_shared, interval))
            .map_err(|source| KeyError::Io {
                path: path.clone(),
                source,
            })?;
        Ok(StateFile {
            path,
            shared,
            thread: Some(thread),
        })
    }

    /// Have `key`'s state written, without waiting for it; an earlier rewrite that failed is
    /// reported here (and this state is not taken).
    pub(crate) fn submit(&self, key: &SealingKey) -> Result<(), KeyError> {
        let mut pending = self.shared.lock();
        if let Some(e) = pending.failed.take() {
            return Err(e);
        }
        pending.next = Some(key.to_text());
        drop(pending);
        self.shared.changed.notify_all();
        Ok(())
    }

    /// Wait until every state submitted so far is written (or failed: the failure is
    /// returned).
    pub(crate) fn wait(&self) -> Result<(), KeyError> {
        match self.idle().failed.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Wait until nothing is pending or being written (the newest state is written at once).
    fn idle(&self) -> MutexGuard<'_, Pending> {
        let mut pending = self.shared.lock();
        pending.urgent += 1;
        self.shared.changed.notify_all();
        while pending.next.is_some() || pending.writing {
            pending = self
                .shared
                .changed
                .wait(pending)
                .unwrap_or_else(|p| p.into_inner());
        }
        pending.urgent -= 1;
        pending
    }
}

impl Drop for StateFile {
    /// Writes the last state submitted, then ends the thread.
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.changed.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if let Some(e) = self.shared.lock().failed.take() {
            eprintln!(
                "audit-core: the sealing key's state file {} could not be rewritten: {e}",
                self.path.display()
            );
        }
    }
}

impl std::fmt::Debug for StateFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateFile")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn run(path: &Path, shared: &Shared, interval: Duration) {
    let mut pending = shared.lock();
    let mut last = Instant::now();
    loop {
        let due = last + interval;
        let now = Instant::now();
        if pending.next.is_some() && now < due && pending.urgent == 0 && !pending.stop {
            // Written at most once per interval: wait for it (or for someone in a hurry).
            pending = shared
                .changed
                .wait_timeout(pending, due - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        } else if let Some(text) = pending.next.take() {
            pending.writing = true;
            drop(pending);
            let result = write_private_atomic(path, text.as_bytes());
            drop(text);
            last = Instant::now();
            pending = shared.lock();
            pending.writing = false;
            pending.writes += 1;
            if let Err(e) = result {
                pending.failed = Some(e);
            }
            shared.changed.notify_all();
        } else if pending.stop {
            return;
        } else {
            pending = shared
                .changed
                .wait(pending)
                .unwrap_or_else(|p| p.into_inner());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SealingKey {
        SealingKey::generate("k1", 4).expect("key").0
    }

    /// Every state submitted reaches the file, the newest last; `wait` returns once it is
    /// there, and a drop writes what is still pending.
    #[test]
    fn the_newest_state_reaches_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("writer.key");
        let mut key = key();
        let state = StateFile::create(path.clone(), &key, Duration::ZERO).unwrap();
        assert_eq!(SealingKey::load(&path).unwrap().epoch(), 0);
        for epoch in 1..=50 {
            assert!(key.advance_to(epoch).unwrap());
            state.submit(&key).unwrap();
        }
        state.wait().unwrap();
        assert_eq!(SealingKey::load(&path).unwrap().epoch(), 50);
        assert!(key.advance_to(51).unwrap());
        state.submit(&key).unwrap();
        drop(state);
        let stored = SealingKey::load(&path).unwrap();
        assert_eq!(stored.epoch(), 51);
        assert_eq!(*stored.to_text(), *key.to_text());
    }

    /// A rewrite that fails is reported once, by the next `wait` or `submit`.
    #[test]
    fn a_failed_rewrite_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let path = sub.join("writer.key");
        let mut key = key();
        let state = StateFile::create(path.clone(), &key, Duration::ZERO).unwrap();
        std::fs::remove_file(&path).unwrap();
        std::fs::remove_dir(&sub).unwrap(); // the directory is gone: the rewrite fails
        assert!(key.advance_to(1).unwrap());
        state.submit(&key).unwrap();
        let err = state.wait().unwrap_err();
        assert!(matches!(err, KeyError::Io { .. }), "{err}");
        assert!(state.wait().is_ok(), "reported once");
        assert!(key.advance_to(2).unwrap());
        state.submit(&key).unwrap();
        assert!(state.wait().is_err());
        assert!(key.advance_to(3).unwrap());
        state.submit(&key).unwrap();
        // The failure of this one is seen by the submit after it.
        drop(state.idle());
        assert!(key.advance_to(4).unwrap());
        assert!(state.submit(&key).is_err());
    }

    /// Within the interval nothing is rewritten however often the key evolves; `wait`
    /// writes the newest state at once, in one rewrite.
    #[test]
    fn rewrites_wait_for_the_interval_unless_asked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("writer.key");
        let mut key = key();
        let state = StateFile::create(path.clone(), &key, Duration::from_secs(3600)).unwrap();
        for epoch in 1..=10 {
            assert!(key.advance_to(epoch).unwrap());
            state.submit(&key).unwrap();
        }
        assert_eq!(state.shared.lock().writes, 0);
        assert_eq!(SealingKey::load(&path).unwrap().epoch(), 0);
        state.wait().unwrap();
        assert_eq!(state.shared.lock().writes, 1);
        assert_eq!(SealingKey::load(&path).unwrap().epoch(), 10);
        assert!(key.advance_to(11).unwrap());
        state.submit(&key).unwrap();
        drop(state); // written at once too
        assert_eq!(SealingKey::load(&path).unwrap().epoch(), 11);
    }
}

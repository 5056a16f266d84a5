//! Syncs the files a rotation leaves behind, on a thread of its own.
//!
//! With [`Durability::Os`](crate::sink::writer::Durability::Os) nothing else waits for the
//! disk, but a rotation `fdatasync`s the file it closes: for a 256 MiB file that takes a
//! tenth of a second here, during which a writer that did it itself would take no records
//! and its callers would fill the queue and wait. The writer hands the file to a [`Closer`]
//! instead and goes on with the new one; [`wait`](Closer::wait) (at a flush or shutdown)
//! returns once every file handed over is synced. The thread is started with the writer,
//! not at the first rotation, so that its memory is there from the start.

use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use crate::sink::file::{ClosedFile, SinkError};

/// What to do with a sync that failed (the writer reports it as its own failures).
pub(crate) type OnError = Box<dyn Fn(&SinkError) + Send>;

/// A thread that syncs closed files (see the [module docs](self)).
pub(crate) struct Closer {
    tx: Option<Sender<(ClosedFile, Pending)>>,
    /// Files handed over and not yet synced.
    pending: Arc<(Mutex<usize>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Closer {
    /// Start the thread; `on_error` is called there for each sync that fails.
    pub(crate) fn spawn(on_error: OnError) -> std::io::Result<Closer> {
        let (tx, rx) = channel::<(ClosedFile, Pending)>();
        let pending = Arc::new((Mutex::new(0usize), Condvar::new()));
        let thread = std::thread::Builder::new()
            .name("audit-log-close".into())
            .spawn(move || {
                // Each file is counted done when its `Pending` drops: after its sync, or,
                // if `on_error` (the application's alert) panics and ends this thread, with
                // the channel; `wait` cannot hang on a file nobody will sync.
                for (closed, _pending) in rx {
                    if let Err(e) = closed.sync() {
                        on_error(&e);
                    }
                }
            })?;
        Ok(Closer {
            tx: Some(tx),
            pending,
            thread: Some(thread),
        })
    }

    /// Have `closed` synced; it is given back if the thread is gone.
    pub(crate) fn sync(&self, closed: ClosedFile) -> Result<(), ClosedFile> {
        let Some(tx) = &self.tx else {
            return Err(closed);
        };
        tx.send((closed, Pending::new(&self.pending)))
            .map_err(|e| e.0 .0)
    }

    /// Wait until every file handed over is synced.
    pub(crate) fn wait(&self) {
        let (count, changed) = &*self.pending;
        let mut count = count.lock().unwrap_or_else(|p| p.into_inner());
        while *count > 0 {
            count = changed.wait(count).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// One file handed over and not done with: counted while it lives.
struct Pending(Arc<(Mutex<usize>, Condvar)>);

impl Pending {
    fn new(count: &Arc<(Mutex<usize>, Condvar)>) -> Pending {
        *count.0.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        Pending(count.clone())
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let (count, changed) = &*self.0;
        let mut count = count.lock().unwrap_or_else(|p| p.into_inner());
        *count = count.saturating_sub(1);
        changed.notify_all();
    }
}

impl Drop for Closer {
    /// Syncs what is still pending, then ends the thread.
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for Closer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Closer").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SealingKey;
    use crate::record::{Outcome, Record};
    use crate::sink::file::{FileLog, FileLogOptions, IoOp};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A log whose syncs fail, and files it rotated away from.
    fn closed_files(dir: &std::path::Path, n: usize) -> Vec<ClosedFile> {
        let hook =
            Arc::new(|op: IoOp| (op == IoOp::Sync).then(|| std::io::Error::other("injected")));
        let opts = FileLogOptions {
            fault_hook: Some(hook),
            ..FileLogOptions::default()
        };
        let (key, _) = SealingKey::generate("k1", 1024).unwrap();
        let mut log = FileLog::open_dir(dir, "audit", key, opts).unwrap();
        (0..n)
            .map(|_| {
                let r = Record::new("auth.login", Outcome::Success, std::time::UNIX_EPOCH);
                log.append(r.unwrap()).unwrap();
                log.rotate_unsynced().unwrap()
            })
            .collect()
    }

    /// Every failure is reported; `wait` returns once all are done, even when the report
    /// panics (the thread is then gone, and later files are given back to sync elsewhere).
    #[test]
    fn failures_are_reported_and_wait_never_hangs() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = closed_files(dir.path(), 4).into_iter();
        let reported = Arc::new(AtomicUsize::new(0));
        let seen = reported.clone();
        let closer = Closer::spawn(Box::new(move |_e| {
            if seen.fetch_add(1, Ordering::SeqCst) == 2 {
                panic!("an alert that panics");
            }
        }))
        .unwrap();
        for _ in 0..3 {
            assert!(closer.sync(files.next().unwrap()).is_ok());
        }
        closer.wait();
        assert_eq!(reported.load(Ordering::SeqCst), 3);
        // The thread ends with the panic: the next file is either given back or dropped
        // with the channel, and `wait` returns either way.
        if let Err(back) = closer.sync(files.next().unwrap()) {
            assert!(back.path().exists());
        }
        closer.wait();
    }
}

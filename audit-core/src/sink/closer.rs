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
    tx: Option<Sender<ClosedFile>>,
    /// Files handed over and not yet synced.
    pending: Arc<(Mutex<usize>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Closer {
    /// Start the thread; `on_error` is called there for each sync that fails.
    pub(crate) fn spawn(on_error: OnError) -> std::io::Result<Closer> {
        let (tx, rx) = channel::<ClosedFile>();
        let pending = Arc::new((Mutex::new(0usize), Condvar::new()));
        let done = pending.clone();
        let thread = std::thread::Builder::new()
            .name("audit-log-close".into())
            .spawn(move || {
                for closed in rx {
                    if let Err(e) = closed.sync() {
                        on_error(&e);
                    }
                    let (count, changed) = &*done;
                    *count.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
                    changed.notify_all();
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
        *self.pending.0.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        tx.send(closed).map_err(|e| {
            *self.pending.0.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
            e.0
        })
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

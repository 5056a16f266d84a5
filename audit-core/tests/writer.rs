//! The background writer: concurrency, group commit, rotation, checkpoints and every
//! failure policy, each ending with the verifier's word on what was written.

use std::io;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use audit_core::checkpoint::read_witness;
use audit_core::keys::{SealingKey, VerificationKey};
use audit_core::record::{Outcome, Record};
use audit_core::sink::file::{FileLog, FileLogOptions, IoOp};
use audit_core::sink::writer::{
    AlertFn, Durability, FailurePolicy, SubmitError, Witness, Writer, WriterConfig,
};
use audit_core::verify::{log_files_in, Report, Verdict, Verifier};

fn record(n: u64) -> Record {
    let mut r = Record::new("data.update", Outcome::Success, SystemTime::now()).unwrap();
    r.set_actor(format!("user-{}", n % 7));
    r.set_field("n", n as i64);
    r
}

fn open(dir: &Path, opts: FileLogOptions) -> (FileLog, VerificationKey) {
    let (sk, vk) = SealingKey::generate("k1", 64).unwrap();
    (FileLog::open_dir(dir, "audit", sk, opts).unwrap(), vk)
}

/// Submits the records of `range` one at a time; each must be accepted.
fn submit_each(writer: &Writer, range: Range<u64>) {
    for i in range {
        writer.submit(record(i)).unwrap();
    }
}

/// Submits records `t * per..(t + 1) * per` from each thread `t` of `threads` at once; each
/// call returns only once its record is accepted (on disk, with `Durability::EveryRecord`).
fn submit_from_threads(writer: &Writer, threads: u64, per: u64) {
    std::thread::scope(|s| {
        for t in 0..threads {
            let w = writer.clone();
            s.spawn(move || submit_each(&w, t * per..(t + 1) * per));
        }
    });
}

/// Records `0..n` through a writer, then a flush and a clean shutdown; the stopped writer.
fn write_all(log: FileLog, config: WriterConfig, n: u64) -> Writer {
    let (writer, guard) = Writer::spawn(log, config).unwrap();
    submit_each(&writer, 0..n);
    writer.flush().unwrap();
    guard.shutdown().unwrap();
    writer
}

fn verify(dir: &Path, vk: &VerificationKey) -> Report {
    Verifier::new(vk.clone().into()).verify_dir(dir).unwrap()
}

/// The log verifies OK (the findings are shown if not).
fn assert_verifies(dir: &Path, vk: &VerificationKey) {
    let report = verify(dir, vk);
    assert_eq!(report.verdict(), Verdict::Ok, "{:?}", report.findings);
}

/// The log verifies and holds exactly the records `0..n`, in order.
fn assert_verifies_with_records_in_order(dir: &Path, vk: &VerificationKey, n: i64) {
    assert_verifies(dir, vk);
    assert_eq!(numbers(dir), (0..n).collect::<Vec<_>>());
}

/// The log verifies and holds each of the records `0..n` once, in whatever order
/// concurrent callers wrote them.
fn assert_verifies_with_each_once(dir: &Path, vk: &VerificationKey, n: u64) {
    assert_verifies(dir, vk);
    let mut ns = numbers(dir);
    ns.sort_unstable();
    assert_eq!(ns, (0..n as i64).collect::<Vec<_>>());
}

/// The `fields.n` of every record in the log, in order.
fn numbers(dir: &Path) -> Vec<i64> {
    let mut out = Vec::new();
    for f in log_files_in(dir).unwrap() {
        for line in std::fs::read_to_string(f).unwrap().lines() {
            let v = audit_core::canonical::parse(line).unwrap();
            if let Some(n) = v.get_path("fields.n").and_then(|n| n.as_i64()) {
                out.push(n);
            }
        }
    }
    out
}

/// With `Durability::Os` a rotated file is synced on a thread of its own: every one is
/// synced by the time the writer stops, a failure there is reported like the writer's own,
/// and the log is whole.
#[test]
fn os_durability_syncs_rotated_files_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let syncs = Arc::new(AtomicUsize::new(0));
    let counted = syncs.clone();
    let hook = Arc::new(move |op: IoOp| {
        let closing = std::thread::current().name() == Some("audit-log-close");
        if op != IoOp::Sync || !closing {
            return None;
        }
        // The first sync of a rotated file fails.
        (counted.fetch_add(1, Ordering::SeqCst) == 0).then(|| io::Error::other("injected"))
    });
    let opts = FileLogOptions {
        fault_hook: Some(hook),
        ..FileLogOptions::default()
    };
    let (log, vk) = open(dir.path(), opts);
    let (alert, alerts_seen) = alerts();
    let config = WriterConfig {
        durability: Durability::Os,
        rotate_bytes: Some(4096),
        on_failure: Some(alert),
        ..WriterConfig::default()
    };
    let writer = write_all(log, config, 200);
    let m = writer.metrics();
    assert!(m.rotations >= 3, "{m:?}");
    // Every rotated file, on the background thread, by the time the writer has stopped.
    assert_eq!(syncs.load(Ordering::SeqCst) as u64, m.rotations, "{m:?}");
    assert_eq!(
        (m.failures, alerts_seen.load(Ordering::SeqCst)),
        (1, 1),
        "{m:?}"
    );
    assert_verifies_with_records_in_order(dir.path(), &vk, 200);
}

/// The key's state file follows the lines a crash would leave: after `sync` (or
/// `advance_key_state` where nothing syncs), never after a mere `write_sealed`.
#[test]
fn the_key_state_file_follows_the_synced_lines() {
    use audit_core::keys::SealingKey;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("writer.key");
    let (key, _) = SealingKey::generate("k1", 4).unwrap();
    let opts = FileLogOptions {
        key_state_path: Some(state.clone()),
        key_state_interval: Some(Duration::ZERO),
        ..FileLogOptions::default()
    };
    let mut log = FileLog::open_dir(&dir.path().join("logs"), "audit", key, opts).unwrap();
    let epoch = |log: &mut FileLog| {
        log.sync_key_state().unwrap();
        SealingKey::load(&state).unwrap().epoch()
    };
    let start = epoch(&mut log);
    let mut batch = Vec::new();
    for i in 0..12 {
        log.seal_into(&record(i).into(), &mut batch).unwrap();
    }
    log.write_sealed(&batch).unwrap();
    let now = log.sealer().key().epoch();
    assert!(now > start, "the key evolved ({start} -> {now})");
    assert_eq!(
        epoch(&mut log),
        start,
        "written, not synced: the file waits"
    );
    log.sync().unwrap();
    assert_eq!(epoch(&mut log), now);
    batch.clear();
    for i in 12..20 {
        log.seal_into(&record(i).into(), &mut batch).unwrap();
    }
    log.write_sealed(&batch).unwrap();
    log.advance_key_state();
    assert_eq!(epoch(&mut log), log.sealer().key().epoch());
}

/// The JSON buffers of written records come back from the writer, empty, and a layout
/// cache writes later records into them; the log is what it would be without.
#[test]
fn record_buffers_come_back_for_reuse() {
    use audit_core::flat::FlatRecord;
    use audit_core::layout::LayoutCache;
    use audit_core::redact::Policy;

    let dir = tempfile::tempdir().unwrap();
    let (log, vk) = open(dir.path(), FileLogOptions::default());
    let (writer, guard) = Writer::spawn(log, WriterConfig::default()).unwrap();
    assert!(writer.take_buffers(16).is_empty(), "nothing written yet");
    let mut cache = LayoutCache::new();
    let mut reused = 0;
    for n in 0..100 {
        if cache.buffers() == 0 {
            cache.add_buffers(writer.take_buffers(16));
        }
        let before = cache.buffers();
        let mut flat = FlatRecord::new("data.update", Outcome::Success, SystemTime::now()).unwrap();
        flat.set_actor(format!("user-{}", n % 7));
        flat.set_field("n", n);
        let unsealed = cache.unsealed(flat, Policy::builtin());
        if before > 0 {
            assert_eq!(cache.buffers(), before - 1, "a buffer was used");
            reused += 1;
        }
        writer.submit_unsealed_nowait(unsealed).unwrap();
        if n % 10 == 9 {
            // The buffers of this cycle are back before the flush returns.
            writer.flush().unwrap();
        }
    }
    assert!(
        reused >= 50,
        "{reused} of 100 records were written into reused buffers"
    );
    let back = writer.take_buffers(1000);
    assert!(!back.is_empty() && back.len() <= 1000, "{}", back.len());
    assert!(back.iter().all(|b| b.is_empty() && b.capacity() > 0));
    guard.shutdown().unwrap();
    assert_verifies_with_records_in_order(dir.path(), &vk, 100);
}

#[test]
fn many_threads_hundreds_of_thousands_of_records_contiguous() {
    let dir = tempfile::tempdir().unwrap();
    let (log, vk) = open(dir.path(), FileLogOptions::default());
    let config = WriterConfig {
        queue_capacity: 256,
        ..WriterConfig::default()
    };
    let (writer, guard) = Writer::spawn(log, config).unwrap();
    let threads = 8;
    let per = 25_000u64;
    submit_from_threads(&writer, threads, per);
    guard.shutdown().unwrap();
    let m = writer.metrics();
    assert_eq!(m.records_written, threads * per + 2, "{m:?}"); // + start and stop
    assert_eq!((m.dropped, m.failures, m.queue_depth), (0, 0, 0));
    assert_verifies_with_each_once(dir.path(), &vk, threads * per);
}

#[test]
fn every_record_durability_shares_fsyncs_between_concurrent_callers() {
    let dir = tempfile::tempdir().unwrap();
    let (log, vk) = open(dir.path(), FileLogOptions::default());
    let config = WriterConfig {
        durability: Durability::EveryRecord,
        ..WriterConfig::default()
    };
    let (writer, guard) = Writer::spawn(log, config).unwrap();
    let before = writer.metrics().fsyncs;
    let threads = 16u64;
    let per = 50u64;
    // Each call returns only once its record is on disk.
    submit_from_threads(&writer, threads, per);
    let fsyncs = writer.metrics().fsyncs - before;
    assert!(
        fsyncs < threads * per,
        "group commit: {fsyncs} fsyncs for {} records",
        threads * per
    );
    guard.shutdown().unwrap();
    assert_verifies(dir.path(), &vk);
}

#[test]
fn rotation_by_size_keeps_one_chain_across_files() {
    let dir = tempfile::tempdir().unwrap();
    let (log, vk) = open(dir.path(), FileLogOptions::default());
    let config = WriterConfig {
        rotate_bytes: Some(4096),
        ..WriterConfig::default()
    };
    let (writer, guard) = Writer::spawn(log, config).unwrap();
    submit_each(&writer, 0..300);
    guard.shutdown().unwrap();
    let files = log_files_in(dir.path()).unwrap();
    assert!(files.len() > 5, "{files:?}");
    assert_eq!(writer.metrics().rotations as usize, files.len() - 1);
    assert_verifies_with_records_in_order(dir.path(), &vk, 300);
    // Reopening continues the newest file's chain.
    let (sk_again, _) = (vk.to_sealing_key(), ());
    let log = FileLog::open_dir(dir.path(), "audit", sk_again, FileLogOptions::default()).unwrap();
    let (writer, guard) = Writer::spawn(log, WriterConfig::default()).unwrap();
    writer.submit(record(300)).unwrap();
    guard.shutdown().unwrap();
    assert_verifies(dir.path(), &vk);
}

#[test]
fn checkpoints_reach_the_witness_and_catch_a_cut_tail() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let witness = dir.path().join("audit.witness");
    let (log, vk) = open(&logs, FileLogOptions::default());
    let config = WriterConfig {
        witness: Some(Witness::File(witness.clone())),
        checkpoint_records: 10,
        ..WriterConfig::default()
    };
    write_all(log, config, 100);
    let cps = read_witness(&witness).unwrap();
    assert!(cps.len() >= 2, "{}", cps.len());
    let verifier = || Verifier::new(vk.clone().into()).with_checkpoints(cps.clone());
    assert_eq!(verifier().verify_dir(&logs).unwrap().verdict(), Verdict::Ok);
    // Cut the last three records: the final checkpoint (written at shutdown) sees it.
    let file = log_files_in(&logs).unwrap().pop().unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    let keep: Vec<&str> = text.split_inclusive('\n').collect();
    std::fs::write(&file, keep[..keep.len() - 3].concat()).unwrap();
    assert_eq!(
        verifier().verify_dir(&logs).unwrap().verdict(),
        Verdict::Truncated
    );
}

#[test]
fn a_checkpoint_callback_is_called() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _vk) = open(dir.path(), FileLogOptions::default());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let config = WriterConfig {
        witness: Some(Witness::Callback(Arc::new(move |cp| {
            s2.lock().unwrap().push(cp.seq)
        }))),
        checkpoint_records: 5,
        ..WriterConfig::default()
    };
    let (writer, guard) = Writer::spawn(log, config).unwrap();
    submit_each(&writer, 0..20);
    guard.shutdown().unwrap();
    let seen = seen.lock().unwrap();
    assert!(!seen.is_empty());
    assert!(seen.windows(2).all(|w| w[0] <= w[1]));
}

/// Fails the operations of kind `op` with `kind` while the returned counter is above zero
/// (each failure counts it down).
fn failing(op: IoOp, kind: io::ErrorKind) -> (FileLogOptions, Arc<AtomicUsize>) {
    let left = Arc::new(AtomicUsize::new(0));
    let l2 = left.clone();
    let hook = Arc::new(move |o: IoOp| {
        if o == op && l2.load(Ordering::SeqCst) > 0 {
            l2.fetch_sub(1, Ordering::SeqCst);
            return Some(io::Error::new(kind, "injected"));
        }
        None
    });
    (
        FileLogOptions {
            fault_hook: Some(hook),
            ..FileLogOptions::default()
        },
        left,
    )
}

fn alerts() -> (AlertFn, Arc<AtomicU64>) {
    let count = Arc::new(AtomicU64::new(0));
    let c2 = count.clone();
    (
        Arc::new(move |_f: &audit_core::sink::writer::WriterFailure<'_>| {
            c2.fetch_add(1, Ordering::SeqCst);
        }),
        count,
    )
}

#[test]
fn block_policy_retries_a_full_disk_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (opts, left) = failing(IoOp::Write, io::ErrorKind::StorageFull);
    let (log, vk) = open(dir.path(), opts);
    let (alert, alerts_seen) = alerts();
    let config = WriterConfig {
        durability: Durability::EveryRecord,
        failure: FailurePolicy::Block {
            retry_every: Duration::from_millis(5),
        },
        on_failure: Some(alert),
        ..WriterConfig::default()
    };
    let (writer, guard) = Writer::spawn(log, config).unwrap();
    writer.submit(record(0)).unwrap();
    left.store(3, Ordering::SeqCst); // the disk is full for the next three writes
    submit_each(&writer, 1..20);
    guard.shutdown().unwrap();
    let m = writer.metrics();
    assert_eq!((m.failures, m.dropped), (3, 0), "{m:?}");
    assert_eq!(alerts_seen.load(Ordering::SeqCst), 3);
    assert_verifies_with_records_in_order(dir.path(), &vk, 20);
}

#[test]
fn block_policy_retries_a_failing_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let (opts, left) = failing(IoOp::Sync, io::ErrorKind::Other);
    let (log, vk) = open(dir.path(), opts);
    let config = WriterConfig {
        durability: Durability::EveryRecord,
        failure: FailurePolicy::Block {
            retry_every: Duration::from_millis(5),
        },
        ..WriterConfig::default()
    };
    let (writer, guard) = Writer::spawn(log, config).unwrap();
    left.store(2, Ordering::SeqCst);
    submit_each(&writer, 0..5);
    guard.shutdown().unwrap();
    assert_eq!(writer.metrics().failures, 2);
    assert_verifies_with_records_in_order(dir.path(), &vk, 5);
}

#[test]
fn fail_closed_refuses_further_records_and_leaves_a_verifiable_log() {
    let dir = tempfile::tempdir().unwrap();
    // Permission lost under the writer (e.g. the file made read-only and reopened by
    // rotation, or an EACCES from a network filesystem).
    let (opts, left) = failing(IoOp::Write, io::ErrorKind::PermissionDenied);
    let (log, vk) = open(dir.path(), opts);
    let (alert, alerts_seen) = alerts();
    let config = WriterConfig {
        durability: Durability::EveryRecord,
        failure: FailurePolicy::FailClosed,
        on_failure: Some(alert),
        ..WriterConfig::default()
    };
    let (writer, guard) = Writer::spawn(log, config).unwrap();
    submit_each(&writer, 0..5);
    left.store(usize::MAX, Ordering::SeqCst);
    let err = writer.submit(record(5)).unwrap_err();
    assert!(matches!(err, SubmitError::FailedClosed(_)), "{err}");
    assert!(matches!(
        writer.submit(record(6)),
        Err(SubmitError::FailedClosed(_))
    ));
    assert!(writer.failed().is_some());
    let m = writer.metrics();
    assert_eq!(m.dropped, 1, "{m:?}");
    assert_eq!(alerts_seen.load(Ordering::SeqCst), 1);
    let _ = guard.shutdown();
    // The half-written line was cut back: what is there verifies.
    assert_verifies_with_records_in_order(dir.path(), &vk, 5);
}

/// After failing closed, the records sealed but never written are lost (and reported):
/// no checkpoint, at a flush or at shutdown, may vouch for them, or an intact log would
/// look cut.
#[test]
fn fail_closed_checkpoints_only_what_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let witness = dir.path().join("audit.witness");
    let (opts, left) = failing(IoOp::Write, io::ErrorKind::PermissionDenied);
    let (log, vk) = open(&logs, opts);
    let config = WriterConfig {
        durability: Durability::EveryRecord,
        failure: FailurePolicy::FailClosed,
        witness: Some(Witness::File(witness.clone())),
        ..WriterConfig::default()
    };
    let (writer, guard) = Writer::spawn(log, config).unwrap();
    submit_each(&writer, 0..5);
    writer.flush().unwrap();
    left.store(usize::MAX, Ordering::SeqCst);
    assert!(matches!(
        writer.submit(record(5)),
        Err(SubmitError::FailedClosed(_))
    ));
    assert!(writer.flush().is_err());
    let _ = guard.shutdown();
    let cps = read_witness(&witness).unwrap();
    assert!(!cps.is_empty());
    let report = Verifier::new(vk.into())
        .with_checkpoints(cps)
        .verify_dir(&logs)
        .unwrap();
    assert_eq!(report.verdict(), Verdict::Ok, "{:?}", report.findings);
    assert_eq!(numbers(&logs), (0..5).collect::<Vec<_>>());
}

#[test]
fn continue_policy_keeps_a_backlog_then_documents_what_it_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let (opts, left) = failing(IoOp::Write, io::ErrorKind::StorageFull);
    let (log, vk) = open(dir.path(), opts);
    let config = WriterConfig {
        durability: Durability::EveryRecord,
        failure: FailurePolicy::Continue {
            max_pending_bytes: 2048,
        },
        ..WriterConfig::default()
    };
    let (writer, guard) = Writer::spawn(log, config).unwrap();
    writer.submit(record(0)).unwrap();
    left.store(usize::MAX, Ordering::SeqCst);
    let mut not_written = 0;
    for i in 1..40 {
        if writer.submit(record(i)).is_err() {
            not_written += 1;
        }
    }
    assert!(not_written > 0);
    let m = writer.metrics();
    assert!(m.dropped > 0 && m.failures > 0, "{m:?}");
    left.store(0, Ordering::SeqCst); // the disk recovers
    writer.flush().unwrap();
    guard.shutdown().unwrap();
    assert_verifies(dir.path(), &vk);
    let text: String = log_files_in(dir.path())
        .unwrap()
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    let dropped_in_log: i64 = text
        .lines()
        .filter(|l| l.contains("\"audit.log.dropped\""))
        .map(|l| {
            let v = audit_core::canonical::parse(l).unwrap();
            v.get_path("fields.dropped_records")
                .unwrap()
                .as_i64()
                .unwrap()
        })
        .sum();
    assert_eq!(
        dropped_in_log as u64, m.dropped,
        "the drop is documented in the chain"
    );
    // Kept records: the first, and the backlog written after recovery.
    let kept = numbers(dir.path());
    assert_eq!(kept.len() as u64 + m.dropped, 40);
}

#[test]
fn rotation_by_age() {
    let dir = tempfile::tempdir().unwrap();
    let (log, vk) = open(dir.path(), FileLogOptions::default());
    // Any file is older than a nanosecond by the time a batch is written: every batch
    // (one record each, since each caller waits for its fsync) ends in a rotation.
    let config = WriterConfig {
        durability: Durability::EveryRecord,
        rotate_age: Some(Duration::from_nanos(1)),
        ..WriterConfig::default()
    };
    let (writer, guard) = Writer::spawn(log, config).unwrap();
    submit_each(&writer, 0..4);
    guard.shutdown().unwrap();
    assert!(writer.metrics().rotations >= 4, "{:?}", writer.metrics());
    assert_verifies_with_records_in_order(dir.path(), &vk, 4);
}

/// Runs `f` on a thread of its own and fails the test if it has not finished within
/// `limit` (a lost wake-up would otherwise hang the test run instead of failing it).
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(v) => {
            handle.join().unwrap();
            v
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("not finished within {limit:?}: a caller was never woken")
        }
        // The closure panicked: report its panic.
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Err(p) => std::panic::resume_unwind(p),
            Ok(()) => unreachable!("the result was sent or the closure panicked"),
        },
    }
}

#[test]
fn every_record_group_commit_wakes_every_caller_under_stress() {
    // 64 callers, a queue of 8: callers also wait for room in the queue, and batches of
    // every size are written while others are still queueing. Every call must return
    // (no lost wake-up), each once, with Ok, and fsyncs must be shared.
    let dir = tempfile::tempdir().unwrap();
    let (log, vk) = open(dir.path(), FileLogOptions::default());
    let config = WriterConfig {
        durability: Durability::EveryRecord,
        queue_capacity: 8,
        ..WriterConfig::default()
    };
    let (writer, guard) = Writer::spawn(log, config).unwrap();
    let threads = 64u64;
    let per = 60u64;
    let before = writer.metrics();
    let w = writer.clone();
    let returned = within(Duration::from_secs(120), move || {
        let returned = Arc::new(AtomicU64::new(0));
        std::thread::scope(|s| {
            for t in 0..threads {
                let (w, returned) = (w.clone(), returned.clone());
                s.spawn(move || {
                    for i in 0..per {
                        w.submit(record(t * per + i)).unwrap();
                        returned.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        });
        returned.load(Ordering::Relaxed)
    });
    assert_eq!(returned, threads * per);
    let after = writer.metrics();
    let records = after.records_written - before.records_written;
    let fsyncs = after.fsyncs - before.fsyncs;
    // Each call returned after its record was written and fsynced.
    assert_eq!(records, threads * per, "{after:?}");
    assert_eq!(after.queue_depth, 0, "{after:?}");
    assert!(
        fsyncs * 2 <= records,
        "group commit: {fsyncs} fsyncs for {records} records from {threads} callers"
    );
    guard.shutdown().unwrap();
    assert_verifies_with_each_once(dir.path(), &vk, threads * per);
}

#[test]
fn every_record_caller_gets_the_result_of_its_own_record_when_the_disk_fails() {
    // 16 callers submit until the log fails closed under them (writes start failing after
    // a few batches). Every call returns exactly once; a call that returned Ok has its
    // record in the log, and a record in the log was acknowledged with Ok: no waiter of a
    // failed batch is told Ok, and no acknowledged record is missing.
    let dir = tempfile::tempdir().unwrap();
    let writes = Arc::new(AtomicUsize::new(0));
    let w2 = writes.clone();
    let hook = Arc::new(move |o: IoOp| {
        if o == IoOp::Write && w2.fetch_add(1, Ordering::SeqCst) >= 40 {
            return Some(io::Error::new(io::ErrorKind::PermissionDenied, "injected"));
        }
        None
    });
    let opts = FileLogOptions {
        fault_hook: Some(hook),
        ..FileLogOptions::default()
    };
    let (log, vk) = open(dir.path(), opts);
    let config = WriterConfig {
        durability: Durability::EveryRecord,
        failure: FailurePolicy::FailClosed,
        ..WriterConfig::default()
    };
    let (writer, guard) = Writer::spawn(log, config).unwrap();
    let threads = 16u64;
    let w = writer.clone();
    let (acked, refused) = within(Duration::from_secs(120), move || {
        let acked = Mutex::new(Vec::new());
        let refused = AtomicU64::new(0);
        std::thread::scope(|s| {
            for t in 0..threads {
                let (w, acked, refused) = (w.clone(), &acked, &refused);
                s.spawn(move || {
                    for i in 0.. {
                        let n = t * 1_000_000 + i;
                        match w.submit(record(n)) {
                            Ok(()) => acked.lock().unwrap().push(n as i64),
                            Err(SubmitError::FailedClosed(_)) => {
                                refused.fetch_add(1, Ordering::Relaxed);
                                break;
                            }
                            Err(e) => panic!("unexpected {e}"),
                        }
                    }
                });
            }
        });
        (acked.into_inner().unwrap(), refused.into_inner())
    });
    assert!(writer.failed().is_some());
    assert!(
        !acked.is_empty(),
        "some batches were written before the failure"
    );
    assert_eq!(refused, threads, "every caller is refused once, then stops");
    let _ = guard.shutdown();
    assert_verifies(dir.path(), &vk);
    let mut in_log = numbers(dir.path());
    in_log.sort_unstable();
    let mut acked = acked;
    acked.sort_unstable();
    assert_eq!(in_log, acked);
}

//! `Durability::EveryRecord` in async code: an audited call returns only once its record is
//! on disk, but it awaits the fsync instead of blocking its executor's thread, so that other
//! tasks run meanwhile and concurrent calls share fsyncs (group commit).

use audit_layer::audit_core::keys::SealingKey;
use audit_layer::{audited, AuditLayer, Durability};
use tracing_subscriber::prelude::*;

#[audited(event = "payment.capture", actor = %user, skip_all)]
async fn capture(user: String) -> Result<(), String> {
    tokio::task::yield_now().await;
    Ok(())
}

#[test]
fn concurrent_async_calls_share_fsyncs_on_one_thread() {
    let dir = tempfile::tempdir().unwrap();
    let (sealing, _) = SealingKey::generate("k1", 1024).unwrap();
    let (audit, guard) = AuditLayer::builder()
        .log_file(dir.path().join("audit.log"))
        .sealing_key(sealing)
        .durability(Durability::EveryRecord)
        .without_process_fallback()
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(audit);
    let _default = tracing::subscriber::set_default(subscriber);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let before = guard.metrics();
    const CALLS: u64 = 32;
    rt.block_on(async {
        let tasks: Vec<_> = (0..CALLS)
            .map(|i| tokio::spawn(capture(format!("user-{i}"))))
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
    });
    let after = guard.metrics();
    // Every call returned after its record was written and synced...
    assert_eq!(after.records_written - before.records_written, CALLS);
    // ...and they shared fsyncs: a blocking wait would have taken one fsync per call, since
    // the runtime has a single thread.
    let fsyncs = after.fsyncs - before.fsyncs;
    assert!(fsyncs < CALLS / 2, "{fsyncs} fsyncs for {CALLS} calls");
    drop(guard);
    let log = std::fs::read_to_string(dir.path().join("audit.log")).unwrap();
    assert_eq!(log.matches("payment.capture").count() as u64, CALLS);
}

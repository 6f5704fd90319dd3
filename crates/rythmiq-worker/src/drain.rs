//! `rythmiq worker --drain`: a shutdown signal that also fires once the queue has nothing left for this worker
//! (nothing ready, delayed for a retry, or running), for batch runs and tests.

use std::time::Duration;

use rythmiq_db::Database;
use tokio::sync::watch;

/// How often the queue is counted while draining.
const DRAIN_POLL: Duration = Duration::from_millis(500);

/// A shutdown receiver that turns true when `shutdown` does or when the queue is empty, whichever comes first.
/// A failed count is not "empty": an unreachable database never ends a drain early.
pub fn drain_when_idle(db: Database, mut shutdown: watch::Receiver<bool>) -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(DRAIN_POLL) => {}
                _ = shutdown.changed() => { let _ = tx.send(true); return; }
            }
            if db.queue_depth().await.is_ok_and(|d| d.ready + d.delayed + d.running == 0) {
                let _ = tx.send(true);
                return;
            }
        }
    });
    rx
}

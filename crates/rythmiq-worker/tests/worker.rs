//! The worker pool end to end on the embedded database and real corpus documents: every job done exactly once
//! with one set of seven metrics rows, bad input dead-lettered without retries, and a clean shutdown.

use std::sync::Arc;
use std::time::Duration;

use rythmiq_db::{Database, DbConfig, JobState, NewJob};
use rythmiq_storage::{LocalStore, ObjectStore};
use rythmiq_suite::{corpus_bytes, test_config};
use rythmiq_worker::{run_workers, StoreFactory, WorkerConfig};

async fn embedded_db(dir: &std::path::Path) -> Database {
    let config = DbConfig { sqlite_path: dir.join("rythmiq.db"), ..DbConfig::default() };
    let db = config.connect().await.expect("embedded database");
    db.migrate().await.expect("migrations");
    db
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_processes_every_job_once_and_dead_letters_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let store = LocalStore::new(&store_dir).unwrap();
    let db = embedded_db(dir.path()).await;
    let docs = ["tess_phototest.tif", "sroie_323.jpg", "tess_eurotext.tif"];
    let mut ids = Vec::new();
    for name in docs {
        let bytes = corpus_bytes(name);
        let sha = rythmiq_types::sha256_hex(&bytes);
        let key = format!("inputs/{sha}");
        store.put(&key, bytes, "image/octet-stream").await.unwrap();
        ids.push(db.enqueue(&NewJob::new(key, sha, "test-config")).await.unwrap().id);
    }
    store.put("inputs/broken", b"definitely not an image".to_vec(), "text/plain").await.unwrap();
    let broken = db.enqueue(&NewJob::new("inputs/broken", "broken-sha", "test-config")).await.unwrap().id;

    let stores: StoreFactory = {
        let dir = store_dir.clone();
        Arc::new(move || Ok(Arc::new(LocalStore::new(&dir).map_err(|e| e.to_string())?) as Arc<dyn ObjectStore>))
    };
    let config =
        WorkerConfig { concurrency: 2, poll_secs: 0.2, worker_id: Some("test".into()), ..WorkerConfig::default() };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let pool = tokio::spawn(run_workers(db.clone(), test_config(), stores, config, stop_rx));

    // Wait (bounded) until every job has finished, then shut down.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let mut all_done = true;
        for id in ids.iter().chain([&broken]) {
            all_done &= db.get_job(*id).await.unwrap().state.is_finished();
        }
        if all_done {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "jobs did not finish in time");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop_tx.send(true).unwrap();
    let summary =
        tokio::time::timeout(Duration::from_secs(30), pool).await.expect("shutdown in time").unwrap().unwrap();
    assert_eq!(summary.succeeded, 3, "{summary:?}");
    assert_eq!(summary.dead_lettered, 1, "{summary:?}");
    assert_eq!(summary.stale, 0);

    for id in &ids {
        let status = db.get_job(*id).await.unwrap();
        assert_eq!(status.state, JobState::Succeeded, "{status:?}");
        let key = status.result_key.clone().expect("result key");
        assert!(store.exists(&key).await.unwrap(), "result {key} uploaded");
        let rows = db.metrics_for_job(*id).await.unwrap();
        assert_eq!(rows.len(), 7, "one row per stage, exactly one set");
        assert!(rows.iter().any(|r| r.stage == rythmiq_types::Stage::Ocr && r.cpu_seconds > 0.0));
    }
    let status = db.get_job(broken).await.unwrap();
    assert_eq!(status.state, JobState::DeadLettered);
    assert_eq!(status.attempts, 1, "bad input is not retried: {status:?}");
}

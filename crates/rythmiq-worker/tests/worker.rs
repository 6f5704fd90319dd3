//! The worker pool end to end on the embedded database and real corpus documents: every job done exactly once
//! with one set of seven metrics rows under the result key intake decided, bad input dead-lettered without
//! retries, jobs admitted under another config or whose stored input changed refused with their typed kinds, and
//! a clean shutdown.

use std::sync::Arc;
use std::time::Duration;

use rythmiq_db::{Database, DbConfig, JobKeys, JobState, NewJob};
use rythmiq_storage::{LocalStore, ObjectStore};
use rythmiq_suite::{corpus_bytes, test_config};
use rythmiq_types::ErrorKind;
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
    // What intake computes: the fingerprint of the same config the workers run.
    let fingerprint = test_config().fingerprint().expect("fingerprint of the test config");
    let docs = ["tess_phototest.tif", "sroie_323.jpg", "tess_eurotext.tif"];
    let mut ids = Vec::new();
    for name in docs {
        let bytes = corpus_bytes(name);
        let keys = JobKeys::new(rythmiq_types::sha256_hex(&bytes), fingerprint.as_str());
        let key = keys.input_key("inputs/");
        store.put(&key, bytes, "image/octet-stream").await.unwrap();
        ids.push(db.enqueue(&NewJob::new(key, keys)).await.unwrap().id);
    }
    let garbage = b"definitely not an image".to_vec();
    let garbage_keys = JobKeys::new(rythmiq_types::sha256_hex(&garbage), fingerprint.as_str());
    store.put("inputs/broken", garbage.clone(), "text/plain").await.unwrap();
    let broken = db.enqueue(&NewJob::new("inputs/broken", garbage_keys)).await.unwrap().id;
    // Admitted by an API running another config: refused before anything is fetched.
    let photo = rythmiq_types::sha256_hex(&corpus_bytes("tess_phototest.tif"));
    let other_config = JobKeys::new(photo.as_str(), "fingerprint-of-another-config");
    let mismatched = db.enqueue(&NewJob::new(format!("inputs/{photo}"), other_config)).await.unwrap().id;
    // Admitted with other bytes than the ones now stored under its key.
    let changed = JobKeys::new("0".repeat(64), fingerprint.as_str());
    let changed = db.enqueue(&NewJob::new("inputs/broken", changed)).await.unwrap().id;

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
        for id in ids.iter().chain([&broken, &mismatched, &changed]) {
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
    assert_eq!(summary.dead_lettered, 3, "{summary:?}");
    assert_eq!(summary.stale, 0);

    for id in &ids {
        let status = db.get_job(*id).await.unwrap();
        assert_eq!(status.state, JobState::Succeeded, "{status:?}");
        let key = &status.keys.result_key;
        assert_eq!(key, &format!("results/{}/{fingerprint}.json", status.keys.content_sha256));
        assert!(store.exists(key).await.unwrap(), "result {key} uploaded under the key intake decided");
        let rows = db.metrics_for_job(*id).await.unwrap();
        assert_eq!(rows.len(), 7, "one row per stage, exactly one set");
        assert!(rows.iter().any(|r| r.stage == rythmiq_types::Stage::Ocr && r.cpu_seconds > 0.0));
    }
    let status = db.get_job(broken).await.unwrap();
    assert_eq!(status.state, JobState::DeadLettered);
    assert_eq!(status.attempts, 1, "bad input is not retried: {status:?}");

    let status = db.get_job(mismatched).await.unwrap();
    assert_eq!((status.state, status.attempts), (JobState::DeadLettered, 1), "not retried: {status:?}");
    assert_eq!(status.error_kind, Some(ErrorKind::ConfigMismatch));
    let message = status.error_message.unwrap_or_default();
    assert!(message.contains("fingerprint-of-another-config") && message.contains(&fingerprint), "{message}");
    assert!(!store.exists(&status.keys.result_key).await.unwrap(), "no result under the other config's key");
    assert!(db.metrics_for_job(mismatched).await.unwrap().is_empty(), "no stage ran");

    let status = db.get_job(changed).await.unwrap();
    assert_eq!((status.state, status.attempts), (JobState::DeadLettered, 1), "not retried: {status:?}");
    assert_eq!(status.error_kind, Some(ErrorKind::InputMismatch));
    let rows = db.metrics_for_job(changed).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.stage).collect::<Vec<_>>(), [rythmiq_types::Stage::Fetch], "fetch only");
}

//! The conformance suite on the embedded SQLite backend (always runs: it needs only a temp folder).

mod suite;

conformance_tests!(suite::sqlite_db);

/// Not a test of its own: the body of the worker process that `killed_worker_job_completed_once_by_another`
/// starts and kills. Without the environment variable it returns at once.
#[tokio::test]
#[ignore = "helper process for the killed-worker test"]
async fn child_worker_process() {
    if let Ok(url) = std::env::var(suite::CHILD_URL_VAR) {
        suite::child_worker_main(&url).await;
    }
}

#[tokio::test]
async fn embedded_default_creates_its_folder_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/data/rythmiq.db");
    let config = rythmiq_db::DbConfig { sqlite_path: path.clone(), ..rythmiq_db::DbConfig::default() };
    let db = config.connect().await.unwrap();
    assert_eq!(db.backend(), rythmiq_db::BackendKind::Sqlite);
    db.migrate().await.unwrap();
    db.migrate().await.unwrap();
    let id = db.enqueue(&suite::job(1)).await.unwrap().id;
    db.close().await;
    assert!(path.exists());
    // A restart keeps the queue.
    let db = config.connect().await.unwrap();
    db.migrate().await.unwrap();
    assert_eq!(db.get_job(id).await.unwrap().state, rythmiq_db::JobState::Queued);
    db.close().await;
}

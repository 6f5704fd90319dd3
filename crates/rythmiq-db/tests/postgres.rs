//! The conformance suite on PostgreSQL, then what only PostgreSQL has: the migrations on an empty database, the
//! readiness framework's appendix commands verbatim, and the dashboard views and function against hand-computed
//! values. Needs DATABASE_URL; without it these tests print SKIPPED, or fail when RYTHMIQ_REQUIRE_POSTGRES is set.

mod suite;

use std::time::Duration;

use rythmiq_db::{BackendKind, Wake};
use sqlx::{Connection, PgConnection, Row};
use suite::{assert_close, utc};

conformance_tests!(suite::postgres_db);

/// Not a test of its own: the body of the worker process that `killed_worker_job_completed_once_by_another`
/// starts and kills. Without the environment variable it returns at once.
#[tokio::test]
#[ignore = "helper process for the killed-worker test"]
async fn child_worker_process() {
    if let Ok(url) = std::env::var(suite::CHILD_URL_VAR) {
        suite::child_worker_main(&url).await;
    }
}

async fn tables(conn: &mut PgConnection) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_class WHERE relname IN ('jobs', 'cpu_metrics', 'cpu_metrics_daily',
         'rythmiq_settings', 'stage_breakdown', 'path_distribution', 'cold_start_frequency',
         'error_rate_by_kind', 'daily_burn')",
    )
    .fetch_one(conn)
    .await
    .unwrap()
}

async fn raw(t: &suite::TestDb) -> PgConnection {
    PgConnection::connect(&t.url).await.expect("raw connection")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_apply_to_an_empty_database_and_rerun_idempotently() {
    let Some(t) = suite::postgres_empty_db().await else { return };
    assert_eq!(t.db.backend(), BackendKind::Postgres);
    let mut conn = raw(&t).await;
    assert_eq!(tables(&mut conn).await, 0, "starts empty");
    // Two processes starting at once both migrate; the advisory lock serialises them.
    let other = t.reopen().await;
    let (a, b) = tokio::join!(t.db.migrate(), other.migrate());
    a.unwrap();
    b.unwrap();
    t.db.migrate().await.unwrap();
    assert_eq!(tables(&mut conn).await, 9);
    let applied: i64 =
        sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success").fetch_one(&mut conn).await.unwrap();
    // Every file of the folder, whichever branch added it.
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations/postgres"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "sql"))
        .count() as i64;
    assert_eq!(applied, files);
    other.close().await;
    conn.close().await.unwrap();
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appendix_commands_work_verbatim() {
    let Some(t) = suite::postgres_db().await else { return };
    t.db.insert_metrics(&suite::boundary_rows()).await.unwrap();
    // Rows from now, for the current month and the 7-day export.
    let mut recent = suite::boundary_rows();
    recent.truncate(7);
    for row in &mut recent {
        row.created_at = None;
        row.run_id = uuid::Uuid::nil();
    }
    t.db.insert_metrics(&recent).await.unwrap();
    let mut conn = raw(&t).await;

    let usage = sqlx::query("SELECT * FROM get_monthly_cpu_usage();").fetch_one(&mut conn).await.unwrap();
    assert_eq!(usage.try_get::<i64, _>("documents").unwrap(), 1);
    assert_close(usage.try_get("cpu_hours_used").unwrap(), 1.5 / 3600.0, "current month hours");
    assert_close(usage.try_get("budget_cpu_hours").unwrap(), 200.0, "default budget");

    sqlx::query("REFRESH MATERIALIZED VIEW cpu_metrics_daily;").execute(&mut conn).await.unwrap();
    sqlx::query("REFRESH MATERIALIZED VIEW CONCURRENTLY cpu_metrics_daily;").execute(&mut conn).await.unwrap();
    t.db.refresh_daily_view().await.unwrap();
    let days: i64 =
        sqlx::query_scalar("SELECT count(DISTINCT day) FROM cpu_metrics_daily").fetch_one(&mut conn).await.unwrap();
    assert_eq!(days, 4, "31 Jan, 1 Feb, 10 Feb and today");

    // The export, to STDOUT instead of a file on the server (same query and options).
    let mut stream = conn
        .copy_out_raw(
            "COPY (SELECT * FROM cpu_metrics WHERE created_at > now() - interval '7 days') TO STDOUT CSV HEADER",
        )
        .await
        .unwrap();
    let mut csv = Vec::new();
    while let Some(chunk) = std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
        csv.extend_from_slice(&chunk.unwrap());
    }
    drop(stream);
    let csv = String::from_utf8(csv).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + 7, "header and this week's seven rows:\n{csv}");
    assert!(lines[0].starts_with("id,job_id,attempt,run_id,document_id,worker_id,stage,path,"), "{}", lines[0]);
    assert!(lines[0].ends_with(",error_kind,created_at"), "{}", lines[0]);
    assert_eq!(lines[0].split(',').count(), 27, "every column: {}", lines[0]);

    // The same commands through psql, exactly as the framework's appendix types them, when psql is installed.
    if let Ok(out) = std::process::Command::new("psql")
        .args([t.url.as_str(), "-X", "-v", "ON_ERROR_STOP=1", "-At"])
        .args(["-c", "SELECT * FROM get_monthly_cpu_usage();"])
        .args(["-c", "REFRESH MATERIALIZED VIEW cpu_metrics_daily;"])
        .args([
            "-c",
            "COPY (SELECT * FROM cpu_metrics WHERE created_at > now() - interval '7 days') TO STDOUT CSV HEADER;",
        ])
        .output()
    {
        assert!(out.status.success(), "psql: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("REFRESH MATERIALIZED VIEW"), "{text}");
        assert_eq!(text.lines().filter(|l| l.contains(",fetch,") || l.contains(",ocr,")).count(), 2, "{text}");
    } else {
        eprintln!("psql not installed: appendix commands checked through sqlx only");
    }
    conn.close().await.unwrap();
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_views_return_hand_computed_values() {
    let Some(t) = suite::postgres_db().await else { return };
    t.db.insert_metrics(&suite::boundary_rows()).await.unwrap();
    // February's daily share: 0.028 / 28 = 0.001 h = 3.6 s; January's: 0.028 / 31 h = 3.2516 s.
    t.db.set_monthly_budget_hours(0.028).await.unwrap();
    let mut conn = raw(&t).await;
    // Buckets are UTC whatever the session's zone: 23:59:59.5 UTC on 31 January stays in January.
    sqlx::query("SET TimeZone = 'America/Los_Angeles'").execute(&mut conn).await.unwrap();

    let feb = sqlx::query("SELECT * FROM get_monthly_cpu_usage(NULL, '2026-02-15T00:00:00Z')")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(feb.try_get::<chrono::NaiveDate, _>("month_start").unwrap().to_string(), "2026-02-01");
    assert_eq!(feb.try_get::<i64, _>("documents").unwrap(), 3);
    assert_close(feb.try_get("cpu_hours_used").unwrap(), 4.5 / 3600.0, "hours");
    assert_close(feb.try_get("cpu_seconds_per_document").unwrap(), 1.5, "per document");
    assert_close(feb.try_get("budget_cpu_hours").unwrap(), 0.028, "stored budget");
    assert_close(feb.try_get("percent_of_budget").unwrap(), 100.0 * 4.5 / 3600.0 / 0.028, "percent");
    assert_close(feb.try_get("projected_month_end_hours").unwrap(), 2.0 * 4.5 / 3600.0, "projection");
    let jan: f64 =
        sqlx::query_scalar("SELECT cpu_hours_used FROM get_monthly_cpu_usage(300, '2026-01-31T23:59:59.9Z')")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_close(jan, 1.5 / 3600.0, "january, a tenth of a second before the boundary");

    let ocr = sqlx::query(
        "SELECT documents, runs, skipped_runs, cpu_seconds_total, cpu_seconds_per_document, percent_of_cpu
         FROM stage_breakdown WHERE month = '2026-02-01' AND stage = 'ocr'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(ocr.try_get::<i64, _>("documents").unwrap(), 3);
    assert_close(ocr.try_get("cpu_seconds_total").unwrap(), 2.5, "ocr total");
    assert_close(ocr.try_get("cpu_seconds_per_document").unwrap(), 2.5 / 3.0, "ocr per document");
    let share: f64 = ocr.try_get("percent_of_cpu").unwrap();
    assert_close(share, 100.0 * 2.5 / 4.5, "ocr share");
    let stage_order: Vec<String> = sqlx::query_scalar("SELECT stage FROM stage_breakdown WHERE month = '2026-02-01'")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        stage_order,
        ["fetch", "quality_scoring", "pre_ocr", "enhancement", "ocr", "schema_adaptation", "upload"]
    );
    let jan_total: f64 =
        sqlx::query_scalar("SELECT sum(cpu_seconds_total) FROM stage_breakdown WHERE month = '2026-01-01'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_close(jan_total, 1.5, "january stage total");

    let paths: Vec<(String, i64, f64, f64)> = sqlx::query_as(
        "SELECT path, documents, percent_of_documents::float8, cpu_seconds_per_document
         FROM path_distribution ORDER BY month, path",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(paths.len(), 4);
    assert_eq!((paths[0].0.as_str(), paths[0].1), ("fast", 1)); // January: A alone.
    assert_close(paths[0].2, 100.0, "january fast share");
    assert_eq!(paths[1..].iter().map(|p| p.0.as_str()).collect::<Vec<_>>(), ["fast", "standard", "unrouted"]);
    assert_close(paths[2].2, 100.0 / 3.0, "february standard share");
    assert_close(paths[2].3, 3.3, "standard cpu per document");

    #[allow(clippy::type_complexity)]
    let cold: Vec<(chrono::NaiveDate, i64, i64, f64, Option<f64>, Option<f64>)> = sqlx::query_as(
        "SELECT day, documents, cold_starts, cold_start_percent::float8, cold_cpu_seconds_per_document,
                warm_cpu_seconds_per_document
         FROM cold_start_frequency",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(cold.len(), 3);
    assert_eq!((cold[0].0.to_string(), cold[0].1, cold[0].2), ("2026-01-31".into(), 1, 1));
    assert_close(cold[0].3, 100.0, "cold share on 31 January");
    assert_close(cold[0].4.unwrap(), 1.5, "cold cpu");
    assert_eq!(cold[0].5, None);
    assert_eq!((cold[2].1, cold[2].2), (2, 0));
    assert_close(cold[2].5.unwrap(), 0.6, "warm cpu on 10 February: (1.0 + 0.2) / 2");

    let errors: Vec<(chrono::NaiveDate, String, i64, i64, f64)> = sqlx::query_as(
        "SELECT day, error_kind, failed_documents, documents, error_rate_percent::float8 FROM error_rate_by_kind",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(
        (errors[0].0.to_string(), errors[0].1.as_str(), errors[0].2, errors[0].3),
        ("2026-02-10".into(), "not_found", 1, 2)
    );
    assert_close(errors[0].4, 50.0, "error rate");

    let burn: Vec<(chrono::NaiveDate, f64, f64, f64, String)> = sqlx::query_as(
        "SELECT day, cpu_hours, daily_budget_hours, percent_of_daily_budget::float8, alert FROM daily_burn",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(burn.len(), 3);
    assert_close(burn[0].2, 0.028 / 31.0, "january daily share");
    assert_close(burn[0].3, 100.0 * (1.5 / 3600.0) / (0.028 / 31.0), "31 January burn");
    assert_eq!(burn[0].4, "ok");
    assert_close(burn[1].2, 0.001, "february daily share");
    assert_close(burn[1].3, 100.0 * 3.3 / 3.6, "1 February burn");
    assert_eq!(burn[1].4, "warning");
    assert_close(burn[2].1, 1.2 / 3600.0, "10 February hours");
    assert_eq!(burn[2].4, "ok");

    sqlx::query("REFRESH MATERIALIZED VIEW cpu_metrics_daily").execute(&mut conn).await.unwrap();
    #[allow(clippy::type_complexity)]
    let daily: Vec<(chrono::NaiveDate, String, String, i64, f64, f64, Option<f64>)> = sqlx::query_as(
        "SELECT day, stage, path, documents, cpu_seconds_total, cpu_seconds_per_document, wall_seconds_p95
         FROM cpu_metrics_daily WHERE stage IN ('ocr', 'pre_ocr') ORDER BY day, stage, path",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let find = |day: &str, stage: &str, path: &str| {
        daily
            .iter()
            .find(|r| r.0.to_string() == day && r.1 == stage && r.2 == path)
            .unwrap_or_else(|| panic!("no row {day} {stage} {path}: {daily:?}"))
    };
    let a_ocr = find("2026-01-31", "ocr", "fast");
    assert_eq!(a_ocr.3, 1);
    assert_close(a_ocr.4, 1.0, "A ocr");
    assert_close(a_ocr.6.unwrap(), 2.0, "A ocr wall p95");
    assert_eq!(find("2026-01-31", "pre_ocr", "fast").6, None, "skipped stages have no wall percentile");
    assert_close(find("2026-02-01", "ocr", "standard").4, 2.0, "B ocr");
    assert!(daily.iter().all(|r| r.2 != "unrouted"), "D reached fetch only");
    let unrouted: i64 = sqlx::query_scalar("SELECT documents FROM cpu_metrics_daily WHERE path = 'unrouted'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(unrouted, 1);
    conn.close().await.unwrap();
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_from_another_process_wakes_a_waiting_worker() {
    let Some(t) = suite::postgres_db().await else { return };
    // The first wait opens the LISTEN connection; give it a moment so the NOTIFY below is not sent before it.
    assert_eq!(t.db.wait_for_work(Duration::from_millis(500)).await, Wake::TimedOut);
    let waiter = {
        let db = t.db.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            (db.wait_for_work(Duration::from_secs(20)).await, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let producer = t.reopen().await;
    producer.enqueue(&suite::job(1)).await.unwrap();
    let (wake, waited) = waiter.await.unwrap();
    assert_eq!(wake, Wake::Notified, "NOTIFY from another connection");
    assert!(waited < Duration::from_secs(10), "{waited:?}");
    producer.close().await;
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_month_boundary_row_at_midnight_belongs_to_the_new_month() {
    let Some(t) = suite::postgres_db().await else { return };
    t.db.insert_metrics(&suite::boundary_rows()).await.unwrap();
    let jan = t.db.monthly_usage(utc(2026, 1, 31, 23, 59, 59, 999), None).await.unwrap();
    let feb = t.db.monthly_usage(utc(2026, 2, 1, 0, 0, 0, 0), None).await.unwrap();
    assert_eq!((jan.documents, feb.documents), (1, 3));
    // At February's first instant nothing of the month has elapsed: no projection rather than infinity.
    assert_eq!(feb.projected_month_end_hours, None);
    t.cleanup().await;
}

/// The month's arithmetic lives in Rust (`Database::monthly_usage`, both databases) and, for the appendix's psql
/// users, in `get_monthly_cpu_usage()`: the two agree on every figure, at the month's first instant, mid-month,
/// at its last millisecond and in an empty month, with the stored budget and with an override.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monthly_usage_in_rust_equals_the_sql_function() {
    let Some(t) = suite::postgres_db().await else { return };
    t.db.insert_metrics(&suite::boundary_rows()).await.unwrap();
    t.db.set_monthly_budget_hours(0.028).await.unwrap();
    let mut conn = raw(&t).await;
    let instants = [
        utc(2026, 1, 16, 12, 0, 0, 0),
        utc(2026, 1, 31, 23, 59, 59, 999),
        utc(2026, 2, 1, 0, 0, 0, 0),
        utc(2026, 2, 15, 0, 0, 0, 0),
        utc(2026, 3, 20, 6, 30, 0, 0),
    ];
    let mut compared = 0;
    for as_of in instants {
        for budget in [None, Some(10.0)] {
            let rust = t.db.monthly_usage(as_of, budget).await.unwrap();
            let sql = sqlx::query("SELECT * FROM get_monthly_cpu_usage($1, $2)")
                .bind(budget)
                .bind(as_of)
                .fetch_one(&mut conn)
                .await
                .unwrap();
            let what = format!("{as_of} budget {budget:?}");
            assert_eq!(rust.month_start, sql.try_get::<chrono::NaiveDate, _>("month_start").unwrap(), "{what}");
            assert_eq!(rust.documents, sql.try_get::<i64, _>("documents").unwrap(), "{what}");
            assert_close(rust.cpu_hours_used, sql.try_get("cpu_hours_used").unwrap(), &what);
            assert_close(rust.budget_cpu_hours, sql.try_get("budget_cpu_hours").unwrap(), &what);
            assert_close(rust.percent_of_budget, sql.try_get("percent_of_budget").unwrap(), &what);
            let per_doc: Option<f64> = sql.try_get("cpu_seconds_per_document").unwrap();
            assert_eq!(rust.cpu_seconds_per_document.is_some(), per_doc.is_some(), "{what}");
            if let (Some(a), Some(b)) = (rust.cpu_seconds_per_document, per_doc) {
                assert_close(a, b, &what);
            }
            let projected: Option<f64> = sql.try_get("projected_month_end_hours").unwrap();
            assert_eq!(rust.projected_month_end_hours.is_some(), projected.is_some(), "{what}");
            if let (Some(a), Some(b)) = (rust.projected_month_end_hours, projected) {
                assert_close(a, b, &what);
            }
            compared += 1;
        }
    }
    assert_eq!(compared, 10);
    conn.close().await.unwrap();
    t.cleanup().await;
}

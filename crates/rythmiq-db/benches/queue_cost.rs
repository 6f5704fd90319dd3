//! What the queue itself costs per job on PostgreSQL: enqueue, claim, heartbeat, and complete with seven
//! `cpu_metrics` rows, run back to back on one connection. Prints the client process's CPU-seconds and the wall time
//! per job (and, when the server runs on this host, its backend's CPU), then hands the same loop to criterion.
//!
//! `DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p rythmiq-db --bench queue_cost`
//! (creates and drops a scratch database; `RYTHMIQ_BENCH_JOBS` sets the job count, default 2000).

use std::time::{Duration, Instant};

use cpu_time::ProcessTime;
use criterion::Criterion;
use rythmiq_db::{Database, DbConfig, JobKeys, MetricsRow, NewJob};
use rythmiq_types::{DocumentRun, ModelKind, OptimisationFlags, PathKind, Stage, StageRecord};
use sqlx::{Connection, PgConnection};

const LEASE: Duration = Duration::from_secs(60);
/// The readiness framework's target: 0.72 CPU-seconds per document keeps 1,000 documents a day within budget.
const TARGET_CPU_SECONDS_PER_DOCUMENT: f64 = 0.72;

fn document(n: u64) -> DocumentRun {
    DocumentRun {
        document_id: format!("doc-{n}"),
        path: Some(PathKind::Standard),
        rerouted: false,
        quality_score: Some(0.7),
        cold_start: false,
        model_load_cpu_seconds: 0.0,
        stages: Stage::ALL
            .iter()
            .map(|&stage| StageRecord {
                stage,
                cpu_seconds: 0.05,
                helper_cpu_seconds: 0.0,
                wall_seconds: 0.06,
                skipped: false,
            })
            .collect(),
        model: ModelKind::Fast,
        flags: OptimisationFlags::default(),
        input_bytes: 250_000,
        pages: 1,
        error: None,
        result_key: None,
        cache_hit: false,
        pages_by_engine: Default::default(),
    }
}

/// Per-operation totals over a run.
#[derive(Default)]
struct Totals {
    cpu: [Duration; 4],
    wall: [Duration; 4],
}

/// One job's life through the queue; `seq` keeps idempotency keys distinct across runs.
async fn one_job(db: &Database, seq: u64, totals: &mut Totals) {
    let rows = MetricsRow::from_run(&document(seq), "bench-worker");
    let job = NewJob::new(format!("inputs/{seq}.png"), JobKeys::new(format!("{seq:064x}"), "bench-config"));
    // Each call timed on its own; the clock reads cost well under a microsecond.
    macro_rules! timed {
        ($op:expr, $call:expr) => {{
            let (cpu0, wall0) = (ProcessTime::now(), Instant::now());
            let out = $call;
            totals.cpu[$op] += cpu0.elapsed();
            totals.wall[$op] += wall0.elapsed();
            out
        }};
    }
    assert!(timed!(0, db.enqueue(&job).await.unwrap()).created);
    let claimed = timed!(1, db.claim("bench-worker", LEASE).await.unwrap()).expect("the job just enqueued");
    assert!(timed!(2, db.heartbeat(claimed.attempt, LEASE).await.unwrap()));
    timed!(3, db.complete(claimed.attempt, &claimed.keys.result_key, &rows).await.unwrap());
}

/// utime + stime of a local process, from /proc; `None` when the server is on another host.
fn process_cpu(pid: i32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on every Linux we run on.
    Some(Duration::from_millis(ticks * 10))
}

fn main() {
    let Ok(admin_url) = std::env::var("DATABASE_URL") else {
        eprintln!("queue_cost: SKIPPED, set DATABASE_URL to a PostgreSQL server (scripts/lib/postgres.sh)");
        return;
    };
    let n_jobs: u64 = std::env::var("RYTHMIQ_BENCH_JOBS").ok().and_then(|n| n.parse().ok()).unwrap_or(2000);
    // One thread: the client's CPU is then exactly this benchmark's queue calls plus the runtime under them.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let name = format!("rythmiq_bench_{}", std::process::id());
    let url = rythmiq_db::url_with_database(&admin_url, &name);
    let (db, backend_pid) = rt.block_on(async {
        let mut admin = PgConnection::connect(&admin_url).await.expect("connect to DATABASE_URL");
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.unwrap();
        let config = DbConfig { url: Some(url.clone()), max_connections: 1, ..DbConfig::default() };
        let db = config.connect().await.unwrap();
        db.migrate().await.unwrap();
        // The pool's single connection: its server process is the backend doing our work.
        (db, backend_pid_of_pool(&url).await)
    });

    // Warm up: prepared statements, caches, the first extension of the tables.
    let mut seq = 0u64;
    rt.block_on(async {
        let mut scratch = Totals::default();
        for _ in 0..200 {
            one_job(&db, seq, &mut scratch).await;
            seq += 1;
        }
    });

    let mut totals = Totals::default();
    let server_before = backend_pid.and_then(process_cpu);
    let (cpu0, wall0) = (ProcessTime::now(), Instant::now());
    rt.block_on(async {
        for _ in 0..n_jobs {
            one_job(&db, seq, &mut totals).await;
            seq += 1;
        }
    });
    let (client_cpu, wall) = (cpu0.elapsed(), wall0.elapsed());
    let server_cpu = server_before.zip(backend_pid.and_then(process_cpu)).map(|(before, after)| after - before);

    let per_job = |d: Duration| d.as_secs_f64() / n_jobs as f64;
    println!("queue cost on PostgreSQL, {n_jobs} jobs back to back on one connection:");
    println!("  client CPU per job: {:>8.1} us", per_job(client_cpu) * 1e6);
    println!("  wall per job:       {:>8.1} us", per_job(wall) * 1e6);
    for (op, label) in ["enqueue", "claim", "heartbeat", "complete (7 metrics rows)"].iter().enumerate() {
        println!(
            "    {label:<26} client CPU {:>7.1} us, wall {:>7.1} us",
            per_job(totals.cpu[op]) * 1e6,
            per_job(totals.wall[op]) * 1e6
        );
    }
    let mut total_cpu = per_job(client_cpu);
    match server_cpu {
        Some(server) => {
            println!(
                "  server backend CPU per job: {:>8.1} us (10 ms tick resolution over the run)",
                per_job(server) * 1e6
            );
            total_cpu += per_job(server);
        }
        None => println!("  server backend CPU: not measured (server not on this host)"),
    }
    println!(
        "  client + server share of a {TARGET_CPU_SECONDS_PER_DOCUMENT} CPU-s document: {:.3}%",
        100.0 * total_cpu / TARGET_CPU_SECONDS_PER_DOCUMENT
    );

    let mut criterion = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    criterion.bench_function("queue_job_lifecycle_7_metrics_rows", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut scratch = Totals::default();
                let started = Instant::now();
                for _ in 0..iters {
                    one_job(&db, seq, &mut scratch).await;
                    seq += 1;
                }
                started.elapsed()
            })
        })
    });
    criterion.final_summary();

    rt.block_on(async {
        db.close().await;
        let mut admin = PgConnection::connect(&admin_url).await.unwrap();
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await.unwrap();
    });
}

/// The server pid of the one connection the pool will use: with `max_connections = 1` the pool's connection is
/// the only other session on the scratch database.
async fn backend_pid_of_pool(url: &str) -> Option<i32> {
    let mut probe = PgConnection::connect(url).await.ok()?;
    let pid: Option<i32> = sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
         AND backend_type = 'client backend' LIMIT 1",
    )
    .fetch_optional(&mut probe)
    .await
    .ok()?;
    probe.close().await.ok()?;
    pid
}

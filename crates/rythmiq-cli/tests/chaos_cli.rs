//! The reliability suite: `rythmiq serve` and `rythmiq worker` processes on one database, given hostile input,
//! killed, cut off from their database and overloaded, after which the queue is checked in SQL. The processes run
//! the shipped default engine (`auto`: both engines loaded, so kills also land inside PP-OCR's inference).
//!
//! 1. **Catalogue**: every generated malformed input (`rythmiq_suite::catalogue`, over 40) is submitted to the API
//!    and must be refused with its status and error code, or accepted and failed once by the worker with its
//!    error kind (a few odd but valid ones must succeed).
//! 2. **Overload burst**: with the queue empty, a burst of distinct documents is submitted at once against
//!    `max_queue_depth`. Accepted must not exceed the limit plus what finished during the burst; the rest are 429.
//! 3. **Kills and an outage**: documents are enqueued and worker processes are SIGKILLed at random moments (the
//!    seed is printed; `RYTHMIQ_CHAOS_SEED` replays it) and replaced; in the middle, the database goes away for a
//!    few seconds (PostgreSQL: connections refused and every session of the test database terminated; or the
//!    command in `RYTHMIQ_CHAOS_DB_RESTART`, which `scripts/chaos` sets to restart its own server; SQLite: an
//!    exclusive lock held on the file).
//! 4. **Invariants, in SQL**: no job lost (every known job exists, every valid document succeeded with its result
//!    stored), none with two successful runs, exactly one set of `cpu_metrics` rows (one per stage) per successful
//!    run, nothing left queued or running.
//!
//! It prints the figures (inputs tried, kills, lost, duplicated, stuck) and fails unless lost, duplicated and stuck
//! are 0. CI runs the reduced form (seconds of OCR on small pages); `RYTHMIQ_CHAOS=full` (`scripts/chaos`) runs
//! more documents, kills and outages. PostgreSQL when `DATABASE_URL` is set, else the embedded SQLite file.

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use rythmiq_suite::catalogue::{catalogue, Expect, MAX_BODY_BYTES};
use support::{http, repo_root, rythmiq, Process, Rng};

/// How much of everything: the reduced form for CI, the full one for `scripts/chaos`.
#[derive(Debug)]
struct Scale {
    /// Documents enqueued for the kill phase.
    kill_docs: usize,
    /// Worker SIGKILLs.
    kills: usize,
    /// Database outages during the kill phase.
    outages: usize,
    /// How long an outage lasts.
    outage: Duration,
    /// Worker processes alive at once during the kill phase (one slot each).
    workers: usize,
    /// Simultaneous submissions in the burst, and the queue limit they meet.
    burst: usize,
    queue_limit: usize,
    /// Longest wait for the queue to empty after each phase.
    settle: Duration,
}

impl Scale {
    fn from_env() -> Scale {
        if std::env::var("RYTHMIQ_CHAOS").is_ok_and(|v| v == "full") {
            Scale {
                kill_docs: 120,
                kills: 40,
                outages: 3,
                // Past SQLite's 10 s busy timeout, so the lock is an outage there too, not only a stall.
                outage: Duration::from_secs(12),
                workers: 2,
                burst: 120,
                queue_limit: 25,
                settle: Duration::from_secs(600),
            }
        } else {
            Scale {
                kill_docs: 16,
                kills: 6,
                outages: 1,
                outage: Duration::from_secs(3),
                workers: 2,
                burst: 40,
                queue_limit: 10,
                settle: Duration::from_secs(180),
            }
        }
    }
}

/// Lease and heartbeat short enough that a killed worker's job is reclaimed in seconds.
fn config_toml(scale: &Scale) -> String {
    format!(
        "[worker]\nlease_secs = 3.0\nheartbeat_secs = 1.0\npoll_secs = 0.2\nshutdown_grace_secs = 5.0\n\
         finish_retry_secs = 20.0\n\n[database]\nacquire_timeout_secs = 2.0\nretry_base_secs = 0.2\n\
         retry_max_secs = 1.0\n\n[api]\nmax_queue_depth = {}\nmax_body_bytes = {MAX_BODY_BYTES}\n\
         retry_after_secs = 1\npoll_hint_secs = 1\n",
        scale.queue_limit
    )
}

// ---- the database, as the test reads it ----

enum Backend {
    Sqlite { path: PathBuf },
    Postgres { admin_url: String, name: String, url: String },
}

impl Backend {
    /// PostgreSQL (a fresh database of the test's own) when `DATABASE_URL` is set, else SQLite in `data_dir`.
    fn new(data_dir: &Path) -> Backend {
        match std::env::var("DATABASE_URL").ok().filter(|url| !url.trim().is_empty()) {
            Some(admin_url) => {
                let name = format!("rythmiq_chaos_{}", std::process::id());
                block_on(async {
                    use sqlx::Connection;
                    let mut admin = sqlx::PgConnection::connect(&admin_url).await.expect("connect to DATABASE_URL");
                    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut admin)
                        .await
                        .unwrap();
                    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.expect("create database");
                });
                let url = rythmiq_db::url_with_database(&admin_url, &name);
                Backend::Postgres { admin_url, name, url }
            }
            None => {
                assert!(
                    std::env::var_os("RYTHMIQ_REQUIRE_POSTGRES").is_none_or(|v| v == "0"),
                    "RYTHMIQ_REQUIRE_POSTGRES is set but DATABASE_URL is not"
                );
                Backend::Sqlite { path: data_dir.join("rythmiq.db") }
            }
        }
    }

    fn label(&self) -> &'static str {
        match self {
            Backend::Sqlite { .. } => "sqlite",
            Backend::Postgres { .. } => "postgres",
        }
    }

    /// Points a `rythmiq` command at this database.
    fn apply(&self, cmd: &mut Command) {
        if let Backend::Postgres { url, .. } = self {
            cmd.env("DATABASE_URL", url);
        }
    }

    /// One integer from `sql` (a count), on a fresh connection: an outage may have killed the last one.
    fn count(&self, sql: &str) -> i64 {
        block_on(async {
            use sqlx::Connection;
            match self {
                Backend::Sqlite { path } => {
                    let options =
                        sqlx::sqlite::SqliteConnectOptions::new().filename(path).busy_timeout(Duration::from_secs(20));
                    let mut conn = sqlx::SqliteConnection::connect_with(&options).await.expect("open sqlite");
                    sqlx::query_scalar::<_, i64>(sql)
                        .fetch_one(&mut conn)
                        .await
                        .unwrap_or_else(|e| panic!("{sql}: {e}"))
                }
                Backend::Postgres { url, .. } => {
                    let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
                    sqlx::query_scalar::<_, i64>(sql)
                        .fetch_one(&mut conn)
                        .await
                        .unwrap_or_else(|e| panic!("{sql}: {e}"))
                }
            }
        })
    }

    /// Every job: (id, status, result_key).
    fn jobs(&self) -> Vec<(String, String, Option<String>, Option<String>)> {
        let sql = "SELECT CAST(id AS TEXT), status, result_key, error_kind FROM jobs";
        block_on(async {
            use sqlx::Connection;
            match self {
                Backend::Sqlite { path } => {
                    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
                    let mut conn = sqlx::SqliteConnection::connect_with(&options).await.expect("open sqlite");
                    sqlx::query_as(sql).fetch_all(&mut conn).await.expect("read jobs")
                }
                Backend::Postgres { url, .. } => {
                    let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
                    sqlx::query_as(sql).fetch_all(&mut conn).await.expect("read jobs")
                }
            }
        })
    }

    /// Takes the database away for `outage`, then gives it back.
    fn outage(&self, outage: Duration) {
        match self {
            Backend::Postgres { admin_url, name, .. } => {
                if let Ok(restart) = std::env::var("RYTHMIQ_CHAOS_DB_RESTART") {
                    // A real restart of a server the caller owns (scripts/chaos starts one for this).
                    let status = Command::new("bash").args(["-c", &restart]).status().expect("run the restart command");
                    assert!(status.success(), "{restart}: {status}");
                    return;
                }
                // The shared server stays up: this database refuses new sessions and loses its open ones, which
                // is what a restart looks like from the workers' side.
                block_on(async {
                    use sqlx::Connection;
                    let mut admin = sqlx::PgConnection::connect(admin_url).await.expect("connect to DATABASE_URL");
                    sqlx::query(&format!("ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false"))
                        .execute(&mut admin)
                        .await
                        .unwrap();
                    let terminate = format!(
                        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE datname = '{name}' AND pid <> pg_backend_pid()) t"
                    );
                    let started = Instant::now();
                    // Sessions that were mid-handshake when connections closed still get in: keep cutting.
                    while started.elapsed() < outage {
                        sqlx::query_scalar::<_, i64>(&terminate).fetch_one(&mut admin).await.unwrap();
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                    sqlx::query(&format!("ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true"))
                        .execute(&mut admin)
                        .await
                        .unwrap();
                });
            }
            Backend::Sqlite { path } => block_on(async {
                use sqlx::Connection;
                let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
                let mut conn = sqlx::SqliteConnection::connect_with(&options).await.expect("open sqlite");
                sqlx::query("BEGIN EXCLUSIVE").execute(&mut conn).await.expect("lock the database");
                tokio::time::sleep(outage).await;
                sqlx::query("ROLLBACK").execute(&mut conn).await.expect("unlock");
            }),
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Backend::Postgres { admin_url, name, .. } = self {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            let _ = std::thread::spawn(move || {
                block_on(async {
                    use sqlx::Connection;
                    if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .execute(&mut admin)
                            .await;
                    }
                })
            })
            .join();
        }
    }
}

fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
}

// ---- the suite ----

/// A small page with a few lines of text (quick to OCR), made distinct by a tag after its last byte: TIFF readers
/// find the directory by offset and ignore what follows, so each copy is a different document with the same text.
fn page(tag: &str) -> Vec<u8> {
    let mut bytes = std::fs::read(repo_root().join("corpus/tess_phototest.tif")).expect("corpus page");
    bytes.extend_from_slice(format!("chaos:{tag}").as_bytes());
    bytes
}

struct Run {
    scale: Scale,
    seed: u64,
    data_dir: tempfile::TempDir,
    config_path: PathBuf,
    backend: Backend,
    /// Every job id the test learnt, with whether it must succeed.
    known: HashMap<String, bool>,
    inputs_tried: usize,
    catalogue_mismatches: Vec<String>,
    kills: usize,
    kills_mid_job: usize,
    outages: usize,
    /// Workers that exited by themselves (started while the database was away) and were started again.
    worker_restarts: usize,
    burst_accepted: usize,
    burst_refused: usize,
    burst_finished_meanwhile: i64,
}

impl Run {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = rythmiq(self.data_dir.path());
        self.backend.apply(&mut cmd);
        // The shipped default engine (`auto`: PP-OCR and Tesseract both loaded in every worker).
        cmd.env("RUST_LOG", "warn").env_remove("RYTHMIQ_ENGINE").arg("--config").arg(&self.config_path).args(args);
        cmd
    }

    fn pending(&self) -> i64 {
        self.backend.count("SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')")
    }

    /// Waits until nothing is queued or running, up to the scale's limit; false if it never happened.
    fn settle(&self) -> bool {
        let deadline = Instant::now() + self.scale.settle;
        while self.pending() > 0 {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        true
    }

    /// Phase 1: every catalogue entry, one at a time; then the accepted ones' outcomes.
    fn catalogue(&mut self, addr: &str) {
        let mut accepted: Vec<(String, &'static str, Expect)> = Vec::new();
        let entries = catalogue(&repo_root().join("corpus"));
        assert!(entries.len() >= 40, "the catalogue has {} entries", entries.len());
        for entry in entries {
            self.inputs_tried += 1;
            let (mut status, mut body) = (0, String::new());
            for _ in 0..100 {
                (status, body) = http(addr, "POST", "/v1/documents", entry.content_type.as_deref(), &entry.body);
                if status != 429 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            match (&entry.expect, status) {
                (Expect::Refused { status: want, code }, got) => {
                    let got_code = json["error"]["code"].as_str().unwrap_or("");
                    if (got, got_code) != (*want, *code) {
                        self.catalogue_mismatches.push(format!("{}: want {want} {code}, got {got} {body}", entry.name));
                    }
                }
                (_, 202) => {
                    let id = json["id"].as_str().expect("an id").to_string();
                    self.known.insert(id.clone(), entry.expect == Expect::Succeeds);
                    accepted.push((id, entry.name, entry.expect.clone()));
                }
                (_, got) => self.catalogue_mismatches.push(format!("{}: want 202, got {got} {body}", entry.name)),
            }
        }
        assert!(self.settle(), "the catalogue's jobs did not finish");
        for (id, name, expect) in accepted {
            let (code, body) = http(addr, "GET", &format!("/v1/documents/{id}"), None, b"");
            let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            let (state, kind, attempts) =
                (json["status"].as_str().unwrap_or(""), json["error"]["kind"].as_str(), json["attempts"].as_u64());
            let ok = match expect {
                Expect::Succeeds => code == 200 && state == "succeeded",
                // Failed once: a permanent kind is never retried.
                Expect::Fails { kind: want } => {
                    code == 200 && state == "dead_lettered" && kind == Some(want) && attempts == Some(1)
                }
                Expect::Refused { .. } => false,
            };
            if !ok {
                self.catalogue_mismatches.push(format!("{name}: want {expect:?}, got {code} {body}"));
            }
        }
    }

    /// Phase 2: `burst` distinct documents at once against the queue limit.
    fn burst(&mut self, addr: &str) {
        assert!(self.settle(), "the queue did not empty before the burst");
        let barrier = Arc::new(Barrier::new(self.scale.burst));
        let threads: Vec<_> = (0..self.scale.burst)
            .map(|i| {
                let (addr, barrier) = (addr.to_string(), barrier.clone());
                let doc = page(&format!("burst-{}-{i}", self.seed));
                std::thread::spawn(move || {
                    barrier.wait();
                    http(&addr, "POST", "/v1/documents", Some("image/tiff"), &doc)
                })
            })
            .collect();
        let answers: Vec<(u16, String)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let mut ids = Vec::new();
        for (status, body) in &answers {
            self.inputs_tried += 1;
            match status {
                202 => {
                    let json: serde_json::Value = serde_json::from_str(body).unwrap();
                    let id = json["id"].as_str().unwrap().to_string();
                    self.known.insert(id.clone(), true);
                    ids.push(id);
                    self.burst_accepted += 1;
                }
                429 => self.burst_refused += 1,
                other => panic!("burst: a submission answered {other}: {body}"),
            }
        }
        // The limit counts unfinished jobs: every accepted job is either still unfinished (at most the limit) or
        // finished during the burst.
        let list = ids.iter().map(|id| format!("'{id}'")).collect::<Vec<_>>().join(", ");
        self.burst_finished_meanwhile = if ids.is_empty() {
            0
        } else {
            self.backend.count(&format!(
                "SELECT count(*) FROM jobs WHERE CAST(id AS TEXT) IN ({list}) AND status IN ('succeeded', 'dead')"
            ))
        };
        assert!(self.burst_accepted >= 1, "the burst accepted nothing");
        assert!(
            self.burst_accepted as i64 <= self.scale.queue_limit as i64 + self.burst_finished_meanwhile,
            "the queue limit did not hold: {} accepted against a limit of {} ({} finished meanwhile)",
            self.burst_accepted,
            self.scale.queue_limit,
            self.burst_finished_meanwhile
        );
        assert!(self.settle(), "the burst's jobs did not finish");
    }

    /// Queues `self.scale.kill_docs` distinct pages named by `tag` with `rythmiq enqueue`; each must succeed.
    fn enqueue_kill_docs(&mut self, tag: &str) {
        let dir = self.data_dir.path().join(format!("kill-docs-{tag}"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut enqueue = self.command(&["enqueue"]);
        for i in 0..self.scale.kill_docs {
            let path = dir.join(format!("{i}.tif"));
            std::fs::write(&path, page(&format!("kill-{}-{tag}-{i}", self.seed))).unwrap();
            enqueue.arg(path);
        }
        let out = enqueue.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        // A TSV table: the header, then one `job_id  status  file` line per file.
        for line in String::from_utf8_lossy(&out.stdout).lines().skip(1) {
            let id = line.split('\t').next().unwrap().to_string();
            self.known.insert(id, true);
            self.inputs_tried += 1;
        }
    }

    /// Phase 3: enqueue, then SIGKILL workers at random moments, with database outages in between.
    fn kills(&mut self) {
        self.enqueue_kill_docs("a");
        let mut rng = Rng::new(self.seed);
        let spawn =
            |run: &Run| Process::spawn(run.command(&["worker", "--concurrency", "1", "--metrics-addr", "127.0.0.1:0"]));
        let mut workers: Vec<Process> = (0..self.scale.workers).map(|_| spawn(self)).collect();
        let outage_at: Vec<usize> =
            (0..self.scale.outages).map(|i| (i + 1) * self.scale.kills / (self.scale.outages + 1)).collect();
        for k in 0..self.scale.kills {
            if outage_at.contains(&k) {
                self.backend.outage(self.scale.outage);
                self.outages += 1;
            }
            // A random moment: often mid-OCR, sometimes during start-up or between jobs.
            std::thread::sleep(Duration::from_millis(rng.range(300, 2500)));
            self.supervise(&mut workers);
            // The last kill, when none has yet landed on a running job, waits for one to run (on a quiet machine
            // the small pages are read quickly and random moments can all fall between jobs).
            if k + 1 == self.scale.kills && self.kills_mid_job == 0 {
                if self.pending() == 0 {
                    self.enqueue_kill_docs("b");
                }
                let limit = Instant::now() + Duration::from_secs(30);
                while self.running_on(&workers).is_empty() && Instant::now() < limit {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            // A worker holding a running job if there is one (the kill this suite is about), else any.
            let busy = self.running_on(&workers);
            let victim = if busy.is_empty() {
                rng.range(0, workers.len() as u64) as usize
            } else {
                busy[rng.range(0, busy.len() as u64) as usize]
            };
            let pid = workers[victim].child.id();
            let mid_job = self
                .backend
                .count(&format!("SELECT count(*) FROM jobs WHERE status = 'running' AND locked_by LIKE '%-{pid}-%'"));
            let old = std::mem::replace(&mut workers[victim], spawn(self));
            old.kill();
            self.kills += 1;
            self.kills_mid_job += usize::from(mid_job > 0);
        }
        // Whatever is still unfinished after this counts as stuck.
        let deadline = Instant::now() + self.scale.settle;
        while self.pending() > 0 && Instant::now() < deadline {
            self.supervise(&mut workers);
            std::thread::sleep(Duration::from_millis(200));
        }
        for worker in workers {
            // A worker started a moment ago (the last kill's replacement) may not have installed its SIGTERM
            // handler yet; what is checked here is the clean stop of a running worker, so wait until it runs.
            let up = Instant::now() + Duration::from_secs(60);
            while !worker.output().contains("probes listening on") && Instant::now() < up {
                std::thread::sleep(Duration::from_millis(50));
            }
            let (status, output) = worker.terminate();
            assert!(status.success(), "a worker did not stop cleanly: {status}\n{output}");
        }
    }

    /// The indexes of the workers that hold a running job now.
    fn running_on(&self, workers: &[Process]) -> Vec<usize> {
        (0..workers.len())
            .filter(|&i| {
                let pid = workers[i].child.id();
                self.backend.count(&format!(
                    "SELECT count(*) FROM jobs WHERE status = 'running' AND locked_by LIKE '%-{pid}-%'"
                )) > 0
            })
            .collect()
    }

    /// What a process supervisor (Kubernetes, systemd) does: a worker that exited on its own is started again. A
    /// worker exits by itself when it cannot reach the database at start-up (it fails fast rather than serve
    /// nothing), which happens to the ones started during an outage.
    fn supervise(&mut self, workers: &mut [Process]) {
        for slot in workers.iter_mut() {
            if let Ok(Some(status)) = slot.child.try_wait() {
                let output = slot.output();
                assert!(
                    output.contains("connecting to the database") || output.contains("applying migrations"),
                    "a worker exited by itself ({status}) for another reason than the outage:\n{output}"
                );
                self.worker_restarts += 1;
                *slot =
                    Process::spawn(self.command(&["worker", "--concurrency", "1", "--metrics-addr", "127.0.0.1:0"]));
            }
        }
    }

    /// Phase 4: the invariants, in SQL. Returns (lost, duplicated, stuck, bad metric sets).
    fn invariants(&self) -> (usize, i64, i64, i64) {
        let jobs = self.backend.jobs();
        let by_id: HashMap<&str, (&str, Option<&str>)> =
            jobs.iter().map(|(id, status, key, _)| (id.as_str(), (status.as_str(), key.as_deref()))).collect();
        let store = self.data_dir.path().join("store");
        let mut lost = Vec::new();
        for (id, must_succeed) in &self.known {
            match by_id.get(id.as_str()) {
                None => lost.push(format!("{id}: no such job")),
                Some((status, _)) if *must_succeed && *status != "succeeded" => {
                    let (_, _, _, kind) = jobs.iter().find(|j| &j.0 == id).unwrap();
                    lost.push(format!("{id}: {status} ({kind:?})"));
                }
                Some(("succeeded", key)) => match key {
                    Some(key) if store.join(key).is_file() => {}
                    _ => lost.push(format!("{id}: succeeded without a stored result ({key:?})")),
                },
                Some(_) => {}
            }
        }
        if !lost.is_empty() {
            eprintln!("lost: {lost:#?}");
        }
        let duplicated = self.backend.count(
            "SELECT count(*) FROM (SELECT job_id FROM cpu_metrics WHERE job_id IS NOT NULL AND error_kind IS NULL \
             GROUP BY job_id HAVING count(DISTINCT run_id) > 1) d",
        );
        let stuck = self.backend.count("SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')");
        // One successful run per succeeded job, and seven rows (one per stage) per successful run.
        let missing_runs = self.backend.count(
            "SELECT count(*) FROM jobs j WHERE j.status = 'succeeded' AND (SELECT count(DISTINCT m.run_id) \
             FROM cpu_metrics m WHERE m.job_id = j.id AND m.error_kind IS NULL) <> 1",
        );
        let bad_sets = self.backend.count(
            "SELECT count(*) FROM (SELECT run_id FROM cpu_metrics WHERE job_id IS NOT NULL AND error_kind IS NULL \
             GROUP BY run_id HAVING count(*) <> 7 OR count(DISTINCT stage) <> 7) r",
        );
        (lost.len(), duplicated, stuck, missing_runs + bad_sets)
    }
}

#[test]
fn the_service_loses_and_duplicates_nothing_under_hostile_input_kills_outages_and_overload() {
    let scale = Scale::from_env();
    let seed = std::env::var("RYTHMIQ_CHAOS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    });
    eprintln!("chaos: seed {seed} (replay with RYTHMIQ_CHAOS_SEED={seed}), scale {scale:?}");
    let data_dir = tempfile::tempdir().unwrap();
    let config_path = data_dir.path().join("chaos.toml");
    std::fs::write(&config_path, config_toml(&scale)).unwrap();
    let backend = Backend::new(data_dir.path());
    let mut run = Run {
        scale,
        seed,
        config_path,
        backend,
        data_dir,
        known: HashMap::new(),
        inputs_tried: 0,
        catalogue_mismatches: Vec::new(),
        kills: 0,
        kills_mid_job: 0,
        outages: 0,
        worker_restarts: 0,
        burst_accepted: 0,
        burst_refused: 0,
        burst_finished_meanwhile: 0,
    };
    let started = Instant::now();
    let (serve, addr) = Process::listening(run.command(&["serve", "--listen", "127.0.0.1:0", "--concurrency", "1"]));
    run.catalogue(&addr);
    let after_catalogue = started.elapsed();
    run.burst(&addr);
    run.kills();
    let (lost, duplicated, stuck, bad_metric_sets) = run.invariants();
    let (status, serve_output) = serve.terminate();
    println!(
        "chaos ({}, seed {seed}, {:.0} s): inputs tried {}, catalogue mismatches {}, burst {} accepted / {} refused \
         against a limit of {} ({} finished meanwhile), kills {} ({} mid-job), database outages {} ({} workers restarted), \
         lost {lost}, duplicated {duplicated}, stuck {stuck}, bad cpu_metrics sets {bad_metric_sets}",
        run.backend.label(),
        started.elapsed().as_secs_f64(),
        run.inputs_tried,
        run.catalogue_mismatches.len(),
        run.burst_accepted,
        run.burst_refused,
        run.scale.queue_limit,
        run.burst_finished_meanwhile,
        run.kills,
        run.kills_mid_job,
        run.outages,
        run.worker_restarts,
    );
    eprintln!("chaos: catalogue took {:.1} s", after_catalogue.as_secs_f64());
    assert!(run.catalogue_mismatches.is_empty(), "catalogue mismatches:\n{}", run.catalogue_mismatches.join("\n"));
    assert_eq!((lost, duplicated, stuck, bad_metric_sets), (0, 0, 0, 0), "serve's log:\n{serve_output}");
    assert!(status.success(), "serve did not stop cleanly: {status}\n{serve_output}");
    assert!(run.kills_mid_job > 0, "no kill landed on a running job: the kill phase tested nothing");
}

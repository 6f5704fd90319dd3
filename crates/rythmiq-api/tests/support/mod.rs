//! Test support for the black-box API tests: a real database (PostgreSQL from `DATABASE_URL`, else a temp SQLite
//! file), a real store (a temp directory, or the S3 server at `RYTHMIQ_TEST_S3_ENDPOINT`), the server on port 0,
//! and a tiny HTTP/1.1 client over a `TcpStream`.
//!
//! The client is hand-written rather than a dependency: the tests need exact control of what goes on the wire
//! (a body sent in halves, a chunked body, headers without a body), and a general client would hide it.

#![allow(dead_code)] // each test binary uses part of it

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use rythmiq_api::{ApiConfig, AppState};
use rythmiq_db::{Database, DbConfig};
use rythmiq_storage::{LocalStore, ObjectStore, S3Config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The output fingerprint every test job is enqueued under.
pub const CONFIG_HASH: &str = "test-fingerprint-v1";
/// Small, so that the oversized-body cases stay fast.
pub const MAX_BODY_BYTES: u64 = 64 * 1024;
pub const TOKEN: &str = "test-token-0123456789abcdef";

/// The config the tests start from: loopback, small limits, short hints.
pub fn test_config() -> ApiConfig {
    ApiConfig {
        listen_addr: "127.0.0.1:0".parse().unwrap(),
        max_body_bytes: MAX_BODY_BYTES,
        max_queue_depth: 100,
        retry_after_secs: 7,
        poll_hint_secs: 1,
        shutdown_grace_secs: 10,
        ..ApiConfig::default()
    }
}

/// The process-wide Prometheus recorder: `metrics` allows one per process, and the tests share the process.
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| PrometheusBuilder::new().install_recorder().expect("install the prometheus recorder")).clone()
}

// ---- database ----

/// A migrated database of the test's own, dropped at the end (PostgreSQL) or deleted with its folder (SQLite).
pub struct TestDb {
    pub db: Database,
    _sqlite_dir: Option<tempfile::TempDir>,
    /// (admin URL, database name) to drop.
    pg_drop: Option<(String, String)>,
}

impl TestDb {
    pub async fn new() -> TestDb {
        let url_opt = std::env::var("DATABASE_URL").ok().filter(|url| !url.trim().is_empty());
        let require_pg = std::env::var_os("RYTHMIQ_REQUIRE_POSTGRES").is_some_and(|v| v != "0");
        match url_opt {
            Some(admin_url) => {
                use sqlx::Connection;
                let name = format!("rythmiq_api_test_{}", uuid::Uuid::new_v4().simple());
                let mut admin = sqlx::PgConnection::connect(&admin_url).await.expect("connect to DATABASE_URL");
                sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.expect("create database");
                let _ = admin.close().await;
                let db =
                    DbConfig { url: Some(rythmiq_db::url_with_database(&admin_url, &name)), ..DbConfig::default() }
                        .connect()
                        .await
                        .expect("connect to the test database");
                db.migrate().await.expect("migrate");
                TestDb { db, _sqlite_dir: None, pg_drop: Some((admin_url, name)) }
            }
            None if require_pg => panic!("RYTHMIQ_REQUIRE_POSTGRES is set but DATABASE_URL is not"),
            None => {
                let dir = tempfile::tempdir().expect("tempdir");
                let config = DbConfig { url: None, sqlite_path: dir.path().join("rythmiq.db"), ..DbConfig::default() };
                let db = config.connect().await.expect("open sqlite");
                db.migrate().await.expect("migrate");
                TestDb { db, _sqlite_dir: Some(dir), pg_drop: None }
            }
        }
    }
}

impl Drop for TestDb {
    /// Drops the PostgreSQL database from a runtime of our own: the test's runtime may be unwinding or gone.
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.pg_drop.take() {
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                rt.block_on(async {
                    use sqlx::Connection;
                    if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .execute(&mut admin)
                            .await;
                    }
                });
            })
            .join();
        }
    }
}

// ---- store ----

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    Local,
    S3,
}

/// The store a test runs against, and the bucket and prefix its `s3://` URIs name.
pub struct TestStore {
    pub store: Arc<dyn ObjectStore>,
    /// The bucket, for S3.
    pub s3_bucket: Option<String>,
    /// The store's key prefix inside the bucket, for building `s3://bucket/{prefix}/key` URIs.
    pub s3_prefix: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestStore {
    /// `None` (after a visible skip line) for S3 when no server is configured and none is required.
    pub async fn new(kind: StoreKind, case: &str) -> Option<TestStore> {
        match kind {
            StoreKind::Local => {
                let dir = tempfile::tempdir().expect("tempdir");
                let store = LocalStore::new(dir.path()).expect("local store");
                Some(TestStore { store: Arc::new(store), s3_bucket: None, s3_prefix: String::new(), _dir: Some(dir) })
            }
            StoreKind::S3 => {
                let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
                let Some(endpoint) = var("RYTHMIQ_TEST_S3_ENDPOINT") else {
                    if var("RYTHMIQ_REQUIRE_S3").is_some_and(|v| v != "0") {
                        panic!("RYTHMIQ_REQUIRE_S3 is set but RYTHMIQ_TEST_S3_ENDPOINT is not: see scripts/lib/s3.sh");
                    }
                    // Straight to stderr: libtest captures eprintln! of passing tests, and a skip must show.
                    let _ = writeln!(std::io::stderr(), "skipped {case} on s3: RYTHMIQ_TEST_S3_ENDPOINT is not set");
                    return None;
                };
                assert!(
                    var("AWS_ACCESS_KEY_ID").is_some() && var("AWS_SECRET_ACCESS_KEY").is_some(),
                    "RYTHMIQ_TEST_S3_ENDPOINT is set but AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY are not"
                );
                let bucket = s3_bucket();
                let config = |prefix: &str| S3Config {
                    prefix: prefix.to_string(),
                    endpoint: Some(endpoint.clone()),
                    region: Some("us-east-1".into()),
                    connect_timeout_secs: 2,
                    operation_timeout_secs: 30,
                    max_attempts: 2,
                    ..S3Config::new(bucket)
                };
                // Once per process. The store that creates the bucket lives and dies inside the initialiser, on
                // the runtime of whichever test gets there first, so no connection pool crosses runtimes (and
                // concurrent creations, which s3s-fs answers with a 500, cannot happen).
                static CREATED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
                CREATED
                    .get_or_init(|| async {
                        config("").build().unwrap().ensure_bucket().await.expect("create the test bucket");
                    })
                    .await;
                // A prefix per case: the store sits under one, as production stores may. Kept short: s3s-fs names
                // a metadata file after base64(bucket) + base64(key), and file names stop at 255 bytes.
                let prefix = format!("t/{case}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
                let store = config(&prefix).build().unwrap();
                Some(TestStore {
                    store: Arc::new(store),
                    s3_bucket: Some(bucket.to_string()),
                    s3_prefix: prefix,
                    _dir: None,
                })
            }
        }
    }
}

/// One bucket per test process.
fn s3_bucket() -> &'static str {
    static BUCKET: OnceLock<String> = OnceLock::new();
    BUCKET.get_or_init(|| {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        format!("rq-api-{}-{}", std::process::id(), nanos % 1_000_000)
    })
}

// ---- server ----

/// A database, a store and the state to serve them with.
pub struct Fixture {
    pub db: TestDb,
    pub store: TestStore,
}

impl Fixture {
    pub async fn new(kind: StoreKind, case: &str) -> Option<Fixture> {
        let store = TestStore::new(kind, case).await?;
        Some(Fixture { db: TestDb::new().await, store })
    }

    pub async fn local(case: &str) -> Fixture {
        Fixture::new(StoreKind::Local, case).await.expect("the local store is always there")
    }

    /// Ready, with metrics, serving `config`.
    pub fn state(&self, config: ApiConfig) -> AppState {
        let mut state = AppState::new(self.db.db.clone(), self.store.store.clone(), config, CONFIG_HASH);
        state.prometheus = Some(prometheus());
        state.ready = Arc::new(AtomicBool::new(true));
        state
    }
}

/// The API running on 127.0.0.1 on a free port, until `shutdown` or drop.
pub struct TestServer {
    pub addr: SocketAddr,
    shutdown_tx: Option<oneshot::Sender<()>>,
    pub task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub async fn start(state: AppState) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().unwrap();
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(rythmiq_api::serve(listener, state, async move {
            let _ = shutdown_rx.await;
        }));
        TestServer { addr, shutdown_tx: Some(shutdown_tx), task: Some(task) }
    }

    /// Sends the shutdown signal without waiting.
    pub fn signal_shutdown(&mut self) {
        if let Some(tx) = self.shutdown_tx.take() {
            let _ = tx.send(());
        }
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
        request(self.addr, "GET", path, headers, None).await
    }

    pub async fn post(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> HttpResponse {
        request(self.addr, "POST", path, headers, Some(body)).await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.signal_shutdown();
    }
}

// ---- HTTP client ----

/// A parsed HTTP/1.1 response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The stable error code of a JSON error answer.
    pub fn error_code(&self) -> String {
        let json = self.json();
        json["error"]["code"].as_str().unwrap_or_else(|| panic!("no error code in {json}")).to_string()
    }
}

/// Sends one request with `Connection: close` and reads the response to EOF. With a body, `Content-Length` is set
/// unless `headers` set it (or `Transfer-Encoding`) themselves.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body_opt: Option<&[u8]>,
) -> HttpResponse {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    let sets_length = headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("transfer-encoding"));
    if let Some(body) = body_opt {
        if !sets_length {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
    }
    head.push_str("\r\n");
    let mut raw = head.into_bytes();
    raw.extend_from_slice(body_opt.unwrap_or_default());
    send_raw(addr, &raw).await
}

/// Writes `raw` (from a task of its own, ignoring write errors: the server may answer and close before reading
/// it all) and reads the response.
pub async fn send_raw(addr: SocketAddr, raw: &[u8]) -> HttpResponse {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut read_half, mut write_half) = stream.into_split();
    let raw = raw.to_vec();
    let writer = tokio::spawn(async move {
        let _ = write_half.write_all(&raw).await;
        // Keep the write half open until the response is read: shutting it down could end the request early.
        write_half
    });
    let response = read_response(&mut read_half).await;
    drop(writer.await);
    response
}

/// Reads a whole response (the server closes the connection after it: every request says `Connection: close`).
pub async fn read_response<R: tokio::io::AsyncRead + Unpin>(reader: &mut R) -> HttpResponse {
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), reader.read_to_end(&mut raw))
        .await
        .expect("response within 30 s")
        .expect("read the response");
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> HttpResponse {
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header terminator in {:?}", String::from_utf8_lossy(raw)));
    let head = std::str::from_utf8(&raw[..head_end]).expect("ASCII headers");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status code");
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let rest = &raw[head_end + 4..];
    let chunked =
        headers.iter().any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked { decode_chunked(rest) } else { rest.to_vec() };
    HttpResponse { status, headers, body }
}

fn decode_chunked(mut data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").expect("chunk size line");
        let size_text = std::str::from_utf8(&data[..line_end]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).expect("chunk size");
        data = &data[line_end + 2..];
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

// ---- documents ----

/// A body that passes the magic-number sniff: the PNG signature and an IHDR start, then `n` bytes derived from
/// `seed` (distinct seeds give distinct content hashes). The API never decodes it.
pub fn png(seed: u64, n: usize) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while bytes.len() < 16 + n {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(16 + n);
    bytes
}

/// Lower-case hex sha256, as the API names stored inputs.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

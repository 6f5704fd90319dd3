//! Black-box tests of the HTTP API: the server on 127.0.0.1 port 0, a real database (PostgreSQL when
//! `DATABASE_URL` is set, else a temp SQLite file) and a real store (a temp directory; the S3 server at
//! `RYTHMIQ_TEST_S3_ENDPOINT` too when set), spoken to over plain HTTP/1.1. Jobs are moved along through the
//! queue's own API (claim, complete, fail), standing in for a worker.

mod support;

use std::time::Duration;

use rythmiq_api::ApiConfig;
use rythmiq_db::JobId;
use rythmiq_types::ErrorKind;
use support::*;
use tokio::io::AsyncWriteExt;

const LEASE: Duration = Duration::from_secs(60);

/// Submit, poll, complete through the queue as a worker would, fetch the result; duplicates get the same job.
async fn submit_poll_complete_fetch(kind: StoreKind) {
    let Some(fx) = Fixture::new(kind, "lifecycle").await else {
        return;
    };
    let server = TestServer::start(fx.state(test_config())).await;
    let doc = png(1, 4000);

    let resp = server.post("/v1/documents", &[("Content-Type", "image/png")], &doc).await;
    assert_eq!(resp.status, 202, "{}", resp.text());
    let body = resp.json();
    let id = body["id"].as_str().unwrap().to_string();
    assert_eq!(body["status"], "queued");
    assert_eq!(body["duplicate"], false);
    assert_eq!(body["status_url"], format!("/v1/documents/{id}"));
    assert_eq!(resp.header("location"), Some(format!("/v1/documents/{id}").as_str()));
    assert_eq!(resp.header("retry-after"), Some("1"), "poll hint");
    // The bytes are stored content-addressed, and the job points at them.
    let input_key = format!("inputs/{}", sha256_hex(&doc));
    assert_eq!(fx.store.store.get(&input_key).await.unwrap(), doc);

    let resp = server.get(&format!("/v1/documents/{id}"), &[]).await;
    assert_eq!(resp.status, 200);
    let status = resp.json();
    assert_eq!(status["status"], "queued");
    assert_eq!(status["attempts"], 0);
    assert!(status["enqueued_at"].is_string() && status["started_at"].is_null() && status["latency_seconds"].is_null());
    assert!(status["result_url"].is_null() && status["error"].is_null());
    let resp = server.get(&format!("/v1/documents/{id}/result"), &[]).await;
    assert_eq!((resp.status, resp.error_code().as_str()), (409, "not_ready"));

    // The same bytes again: the same job, flagged as a duplicate.
    let resp = server.post("/v1/documents", &[("Content-Type", "image/png")], &doc).await;
    assert_eq!(resp.status, 202);
    assert_eq!(resp.json()["id"], id.as_str());
    assert_eq!(resp.json()["duplicate"], true);

    // A worker claims it...
    let claimed = fx.db.db.claim("test-worker", LEASE).await.unwrap().expect("the job is claimable");
    assert_eq!(claimed.id().to_string(), id);
    assert_eq!(claimed.input_key, input_key);
    assert_eq!(claimed.keys, rythmiq_types::intake::JobKeys::new(sha256_hex(&doc), CONFIG_HASH), "intake's keys");
    let status = server.get(&format!("/v1/documents/{id}"), &[]).await.json();
    assert_eq!((status["status"].as_str(), status["attempts"].as_u64()), (Some("running"), Some(1)));
    assert!(status["started_at"].is_string());

    // ...and completes it with a result document in the store.
    let result_key = format!("results/{}/{CONFIG_HASH}.json", claimed.keys.content_sha256);
    assert_eq!(claimed.keys.result_key, result_key);
    let result = serde_json::json!({ "schema_version": 1, "text": "hello world", "words": [] });
    fx.store.store.put(&result_key, serde_json::to_vec(&result).unwrap(), "application/json").await.unwrap();
    fx.db.db.complete(claimed.attempt, &result_key, &[]).await.unwrap();

    let status = server.get(&format!("/v1/documents/{id}"), &[]).await.json();
    assert_eq!(status["status"], "succeeded");
    assert_eq!(status["result_url"], format!("/v1/documents/{id}/result"));
    assert!(status["finished_at"].is_string());
    assert!(status["latency_seconds"].as_f64().is_some_and(|s| s >= 0.0), "{status}");
    let resp = server.get(&format!("/v1/documents/{id}/result"), &[]).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert_eq!(resp.json(), result);

    // A duplicate of a finished job says so, rather than pretending to be queued.
    let resp = server.post("/v1/documents", &[("Content-Type", "application/octet-stream")], &doc).await;
    assert_eq!((resp.json()["status"].as_str(), resp.json()["duplicate"].as_bool()), (Some("succeeded"), Some(true)));
    assert_eq!(resp.header("retry-after"), None);
}

#[tokio::test]
async fn submit_poll_complete_fetch_on_local_store() {
    submit_poll_complete_fetch(StoreKind::Local).await;
}

#[tokio::test]
async fn submit_poll_complete_fetch_on_s3() {
    submit_poll_complete_fetch(StoreKind::S3).await;
}

/// `{"s3_uri": ...}` submissions: an object in the configured bucket (under the store's prefix) is enqueued in
/// place; other buckets, missing objects and non-images are refused.
#[tokio::test]
async fn s3_uri_submissions_on_s3() {
    let Some(fx) = Fixture::new(StoreKind::S3, "s3_uri").await else {
        return;
    };
    let server = TestServer::start(fx.state(test_config())).await;
    let bucket = fx.store.s3_bucket.clone().unwrap();
    let prefix = &fx.store.s3_prefix;
    let server = &server;
    let submit = |uri: String| async move {
        let body = serde_json::to_vec(&serde_json::json!({ "s3_uri": uri })).unwrap();
        server.post("/v1/documents", &[("Content-Type", "application/json")], &body).await
    };

    let doc = png(2, 3000);
    fx.store.store.put("uploads/page-1.png", doc.clone(), "image/png").await.unwrap();
    let resp = submit(format!("s3://{bucket}/{prefix}/uploads/page-1.png")).await;
    assert_eq!(resp.status, 202, "{}", resp.text());
    let id: JobId = resp.json()["id"].as_str().unwrap().parse().unwrap();
    let job = fx.db.db.get_job(id).await.unwrap();
    assert_eq!(job.input_key, "uploads/page-1.png", "enqueued in place, not copied");
    assert_eq!(job.keys.content_sha256, sha256_hex(&doc));

    let resp = submit(format!("s3://{bucket}/{prefix}/uploads/missing.png")).await;
    assert_eq!((resp.status, resp.error_code().as_str()), (422, "not_found"));
    let resp = submit(format!("s3://some-other-bucket/{prefix}/uploads/page-1.png")).await;
    assert_eq!((resp.status, resp.error_code().as_str()), (422, "bucket_not_allowed"));
    let resp = submit(format!("s3://{bucket}/elsewhere/page-1.png")).await;
    assert_eq!((resp.status, resp.error_code().as_str()), (422, "invalid_s3_uri"));
    let resp = submit("https://example.com/a.png".to_string()).await;
    assert_eq!((resp.status, resp.error_code().as_str()), (422, "invalid_s3_uri"));
    fx.store.store.put("uploads/doc.txt", b"just some text, not a document".to_vec(), "text/plain").await.unwrap();
    let resp = submit(format!("s3://{bucket}/{prefix}/uploads/doc.txt")).await;
    assert_eq!((resp.status, resp.error_code().as_str()), (422, "unsupported_format"));
}

#[tokio::test]
async fn s3_uri_refused_without_a_configured_bucket() {
    let fx = Fixture::local("s3_uri_local").await;
    let server = TestServer::start(fx.state(test_config())).await;
    let body = br#"{"s3_uri": "s3://rythmiq-inputs/a.png"}"#;
    let resp = server.post("/v1/documents", &[("Content-Type", "application/json")], body).await;
    assert_eq!((resp.status, resp.error_code().as_str()), (422, "bucket_not_allowed"));
    let resp = server.post("/v1/documents", &[("Content-Type", "application/json")], br#"{"uri": 1}"#).await;
    assert_eq!((resp.status, resp.error_code().as_str()), (400, "invalid_request"));
}

#[tokio::test]
async fn multipart_upload_is_the_same_document() {
    let fx = Fixture::local("multipart").await;
    let server = TestServer::start(fx.state(test_config())).await;
    let doc = png(3, 2000);
    let mut form = b"--b0undary\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n".to_vec();
    form.extend_from_slice(b"--b0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.png\"\r\n");
    form.extend_from_slice(b"Content-Type: image/png\r\n\r\n");
    form.extend_from_slice(&doc);
    form.extend_from_slice(b"\r\n--b0undary--\r\n");
    let multipart = [("Content-Type", "multipart/form-data; boundary=b0undary")];
    let resp = server.post("/v1/documents", &multipart, &form).await;
    assert_eq!(resp.status, 202, "{}", resp.text());
    let id = resp.json()["id"].as_str().unwrap().to_string();
    // The raw upload of the same bytes is a duplicate: the form wrapper is not part of the document.
    let resp = server.post("/v1/documents", &[("Content-Type", "image/png")], &doc).await;
    assert_eq!((resp.json()["id"].as_str(), resp.json()["duplicate"].as_bool()), (Some(id.as_str()), Some(true)));

    let resp = server.post("/v1/documents", &multipart, b"--b0undary--\r\n").await;
    assert_eq!((resp.status, resp.error_code().as_str()), (400, "invalid_request"));
}

#[tokio::test]
async fn full_queue_answers_429_with_retry_after() {
    let fx = Fixture::local("backpressure").await;
    let server = TestServer::start(fx.state(ApiConfig { max_queue_depth: 2, ..test_config() })).await;
    for seed in 10..12 {
        let resp = server.post("/v1/documents", &[("Content-Type", "image/png")], &png(seed, 100)).await;
        assert_eq!(resp.status, 202);
    }
    let resp = server.post("/v1/documents", &[("Content-Type", "image/png")], &png(12, 100)).await;
    assert_eq!((resp.status, resp.error_code().as_str()), (429, "queue_full"));
    assert_eq!(resp.header("retry-after"), Some("7"));
    // A finished job frees its place.
    let claimed = fx.db.db.claim("test-worker", LEASE).await.unwrap().unwrap();
    fx.db.db.complete(claimed.attempt, &claimed.keys.result_key, &[]).await.unwrap();
    let resp = server.post("/v1/documents", &[("Content-Type", "image/png")], &png(12, 100)).await;
    assert_eq!(resp.status, 202);
}

#[tokio::test]
async fn bearer_token_guards_v1_only() {
    let fx = Fixture::local("auth").await;
    let config = ApiConfig { auth_token: Some(TOKEN.to_string()), ..test_config() };
    let server = TestServer::start(fx.state(config)).await;
    let doc = png(20, 500);
    let good = format!("Bearer {TOKEN}");
    let wrong = format!("Bearer {TOKEN}x");

    for auth_opt in [None, Some(wrong.as_str()), Some("Basic dXNlcjpwYXNz"), Some("Bearer ")] {
        let mut headers = vec![("Content-Type", "image/png")];
        headers.extend(auth_opt.map(|auth| ("Authorization", auth)));
        let resp = server.post("/v1/documents", &headers, &doc).await;
        assert_eq!((resp.status, resp.error_code().as_str()), (401, "unauthorized"), "{auth_opt:?}");
        assert_eq!(resp.header("www-authenticate"), Some("Bearer"));
        assert!(!resp.text().contains(TOKEN));
    }
    let resp = server.post("/v1/documents", &[("Content-Type", "image/png"), ("Authorization", &good)], &doc).await;
    assert_eq!(resp.status, 202);
    let id = resp.json()["id"].as_str().unwrap().to_string();
    assert_eq!(server.get(&format!("/v1/documents/{id}"), &[]).await.status, 401);
    assert_eq!(server.get(&format!("/v1/documents/{id}/result"), &[]).await.status, 401);
    assert_eq!(server.get(&format!("/v1/documents/{id}"), &[("Authorization", &good)]).await.status, 200);
    // Unknown /v1 routes and wrong methods answer 401 like known ones without the token (the route table cannot
    // be probed), and 404/405 with it.
    assert_eq!(server.get("/v1/no-such-route", &[]).await.status, 401);
    assert_eq!(server.get("/v1", &[]).await.status, 401);
    assert_eq!(server.get("/v1/documents", &[]).await.status, 401);
    assert_eq!(server.post(&format!("/v1/documents/{id}"), &[], b"").await.status, 401);
    assert_eq!(server.get("/v1/no-such-route", &[("Authorization", &good)]).await.status, 404);
    assert_eq!(server.get("/v1/documents", &[("Authorization", &good)]).await.status, 405);
    // Outside /v1 an unknown route is a plain 404.
    assert_eq!(server.get("/no-such-route", &[]).await.status, 404);
    // Probes and the scrape stay open: kubelets and Prometheus carry no token.
    assert_eq!(server.get("/healthz", &[]).await.status, 200);
    assert_eq!(server.get("/readyz", &[]).await.status, 200);
    assert_eq!(server.get("/metrics", &[]).await.status, 200);
}

#[tokio::test]
async fn invalid_submissions_are_refused_before_enqueueing() {
    let fx = Fixture::local("validation").await;
    let server = TestServer::start(fx.state(test_config())).await;
    let png_type = [("Content-Type", "image/png")];

    let resp = server.post("/v1/documents", &png_type, b"").await;
    assert_eq!((resp.status, resp.error_code().as_str()), (400, "empty_body"));

    // Declared too large: answered from the headers, before a byte of body is sent (as `Expect: 100-continue`
    // clients such as curl do for large uploads).
    let too_long = (MAX_BODY_BYTES + 1).to_string();
    let resp = request(
        server.addr,
        "POST",
        "/v1/documents",
        &[("Content-Type", "image/png"), ("Content-Length", &too_long), ("Expect", "100-continue")],
        None,
    )
    .await;
    assert_eq!((resp.status, resp.error_code().as_str()), (413, "too_large"));

    // Too large without a declared length: chunked, cut off while reading.
    let big = png(30, MAX_BODY_BYTES as usize + 1000);
    let mut chunked = Vec::new();
    for chunk in big.chunks(8 * 1024) {
        chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        chunked.extend_from_slice(chunk);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let resp = request(
        server.addr,
        "POST",
        "/v1/documents",
        &[("Content-Type", "image/png"), ("Transfer-Encoding", "chunked")],
        Some(&chunked),
    )
    .await;
    assert_eq!((resp.status, resp.error_code().as_str()), (413, "too_large"));

    // PDFs are documents (one intake for the API, `enqueue` and `ocr`); other declared types are refused.
    for content_type in ["text/plain", "application/x-www-form-urlencoded"] {
        let resp = server.post("/v1/documents", &[("Content-Type", content_type)], &png(31, 100)).await;
        assert_eq!((resp.status, resp.error_code().as_str()), (415, "unsupported_media_type"), "{content_type}");
    }
    for body in [&b"just some text, not an image"[..], b"PK\x03\x04zip"] {
        let resp = server.post("/v1/documents", &[("Content-Type", "application/octet-stream")], body).await;
        assert_eq!((resp.status, resp.error_code().as_str()), (422, "unsupported_format"));
        // Declaring an image type does not make text one.
        let resp = server.post("/v1/documents", &png_type, body).await;
        assert_eq!((resp.status, resp.error_code().as_str()), (422, "unsupported_format"));
    }
    // Nothing above reached the queue.
    assert_eq!(fx.db.db.queue_depth().await.unwrap().pending(), 0);

    let resp = server.get("/v1/documents/not-a-uuid", &[]).await;
    assert_eq!((resp.status, resp.error_code().as_str()), (400, "invalid_id"));
    let unknown = JobId::new_random();
    let resp = server.get(&format!("/v1/documents/{unknown}"), &[]).await;
    assert_eq!((resp.status, resp.error_code().as_str()), (404, "not_found"));
    let resp = server.get(&format!("/v1/documents/{unknown}/result"), &[]).await;
    assert_eq!((resp.status, resp.error_code().as_str()), (404, "not_found"));
    let resp = server.get("/v2/nothing", &[]).await;
    assert_eq!((resp.status, resp.error_code().as_str()), (404, "not_found"));
    let resp = server.get("/v1/documents", &[]).await;
    assert_eq!((resp.status, resp.error_code().as_str()), (405, "method_not_allowed"));
}

#[tokio::test]
async fn dead_lettered_job_reports_its_error_and_has_no_result() {
    let fx = Fixture::local("dead").await;
    let server = TestServer::start(fx.state(test_config())).await;
    let resp = server.post("/v1/documents", &[("Content-Type", "image/png")], &png(40, 100)).await;
    let id = resp.json()["id"].as_str().unwrap().to_string();
    let claimed = fx.db.db.claim("test-worker", LEASE).await.unwrap().unwrap();
    fx.db.db.fail(claimed.attempt, ErrorKind::CorruptImage, "truncated PNG data", &[]).await.unwrap();

    let status = server.get(&format!("/v1/documents/{id}"), &[]).await.json();
    assert_eq!(status["status"], "dead_lettered");
    assert_eq!(status["error"]["kind"], "corrupt_image");
    assert_eq!(status["error"]["message"], "truncated PNG data");
    assert!(status["result_url"].is_null());
    let resp = server.get(&format!("/v1/documents/{id}/result"), &[]).await;
    assert_eq!((resp.status, resp.error_code().as_str()), (409, "dead_lettered"));
}

#[tokio::test]
async fn probes_and_metrics() {
    let fx = Fixture::local("probes").await;
    let state = fx.state(test_config());
    state.ready.store(false, std::sync::atomic::Ordering::Release);
    let ready = state.ready.clone();
    let server = TestServer::start(state).await;

    assert_eq!(server.get("/healthz", &[]).await.status, 200);
    let resp = server.get("/readyz", &[]).await;
    assert_eq!((resp.status, resp.error_code().as_str()), (503, "not_ready"));
    ready.store(true, std::sync::atomic::Ordering::Release);
    assert_eq!(server.get("/readyz", &[]).await.status, 200);

    server.post("/v1/documents", &[("Content-Type", "image/png")], &png(50, 100)).await;
    let resp = server.get("/metrics", &[]).await;
    assert_eq!(resp.status, 200);
    assert!(resp.header("content-type").unwrap().starts_with("text/plain"));
    let text = resp.text();
    for needle in [
        "rythmiq_queue_depth{state=\"ready\"}",
        "rythmiq_queue_depth{state=\"dead_lettered\"}",
        "rythmiq_month_cpu_used_seconds",
        "rythmiq_month_cpu_budget_seconds",
        "process_cpu_seconds_total ",
        "process_resident_memory_bytes ",
        "rythmiq_http_requests_total{route=\"/v1/documents\",method=\"POST\",status=\"202\"}",
        "rythmiq_api_submissions_total{outcome=\"created\"}",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    // Job ids never become labels.
    assert!(!text.contains("/v1/documents/0") && !text.contains("unmatched\",method=\"GET\",status=\"200"));

    // Without a recorder handle the scrape is off.
    let mut state = fx.state(test_config());
    state.prometheus = None;
    let bare = TestServer::start(state).await;
    assert_eq!(bare.get("/metrics", &[]).await.status, 404);
}

#[tokio::test]
async fn database_outage_answers_503_without_detail() {
    let fx = Fixture::local("outage").await;
    let server = TestServer::start(fx.state(test_config())).await;
    let resp = server.post("/v1/documents", &[("Content-Type", "image/png")], &png(60, 100)).await;
    let id = resp.json()["id"].as_str().unwrap().to_string();
    fx.db.db.close().await;

    let resp = server.post("/v1/documents", &[("Content-Type", "image/png")], &png(61, 100)).await;
    assert_eq!((resp.status, resp.error_code().as_str()), (503, "unavailable"));
    assert_eq!(resp.header("retry-after"), Some("7"));
    let message = resp.json()["error"]["message"].as_str().unwrap().to_lowercase();
    for leak in ["select", "sqlite", "pool", "/tmp", "postgres"] {
        assert!(!message.contains(leak), "{message}");
    }
    let resp = server.get(&format!("/v1/documents/{id}"), &[]).await;
    assert_eq!((resp.status, resp.error_code().as_str()), (503, "unavailable"));
    assert_eq!(server.get("/readyz", &[]).await.status, 503);
    assert_eq!(server.get("/healthz", &[]).await.status, 200, "liveness does not depend on the database");
}

/// `serve` returns after the shutdown signal only once the request in flight (an upload sent in two halves, the
/// second after the signal) has been answered.
#[tokio::test]
async fn graceful_shutdown_finishes_the_request_in_flight() {
    let fx = Fixture::local("shutdown").await;
    let mut server = TestServer::start(fx.state(test_config())).await;
    let doc = png(70, 20_000);
    let head = format!(
        "POST /v1/documents HTTP/1.1\r\nHost: {}\r\nContent-Type: image/png\r\nContent-Length: {}\r\n\r\n",
        server.addr,
        doc.len()
    );
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&doc[..doc.len() / 2]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await; // the server is now reading the body

    server.signal_shutdown();
    let mut task = server.task.take().unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(500), &mut task).await.is_err(),
        "serve returned with a request in flight"
    );

    stream.write_all(&doc[doc.len() / 2..]).await.unwrap();
    let resp = read_response(&mut stream).await;
    assert_eq!(resp.status, 202, "{}", resp.text());
    let served =
        tokio::time::timeout(Duration::from_secs(5), task).await.expect("serve returns once the request is done");
    served.unwrap().unwrap();
    // The job really was enqueued by the request that straddled the shutdown.
    assert_eq!(fx.db.db.queue_depth().await.unwrap().ready, 1);
}

/// A client that never finishes its request cannot hold shutdown beyond the grace period.
#[tokio::test]
async fn graceful_shutdown_gives_up_after_the_grace_period() {
    let fx = Fixture::local("shutdown_grace").await;
    let mut server = TestServer::start(fx.state(ApiConfig { shutdown_grace_secs: 1, ..test_config() })).await;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let head = "POST /v1/documents HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 1000\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&png(71, 10)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let started = std::time::Instant::now();
    server.signal_shutdown();
    let task = server.task.take().unwrap();
    let served =
        tokio::time::timeout(Duration::from_secs(10), task).await.expect("serve returns after the grace period");
    served.unwrap().unwrap();
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(900) && waited < Duration::from_secs(5), "waited {waited:?}");
}

/// Issue 11, defect 5: a slow-loris body (a declared length, a few bytes, then silence) is answered 408 and the
/// connection closed after `body_idle_timeout_secs`, instead of holding a slot (and its buffer) indefinitely.
#[tokio::test]
async fn a_stalled_body_times_out_with_408() {
    use tokio::io::AsyncReadExt;
    let fx = Fixture::local("slowloris").await;
    let server =
        TestServer::start(fx.state(ApiConfig { body_idle_timeout_secs: 1, body_timeout_secs: 3, ..test_config() }))
            .await;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /v1/documents HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: {}\r\n\r\n",
        MAX_BODY_BYTES - 1
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&[0x89, b'P', b'N', b'G']).await.unwrap();
    let started = std::time::Instant::now();
    let mut response = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut response)).await;
    assert!(read.is_ok(), "the server held the stalled request for 20 s");
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("request_timeout"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(fx.db.db.queue_depth().await.unwrap().pending(), 0);
}

/// Reads from `stream` until the server closes it, for at most `limit`: `Some(elapsed)` when it closed (EOF or a
/// reset), `None` when it was still open at the limit.
async fn closed_within(stream: &mut tokio::net::TcpStream, limit: Duration) -> Option<Duration> {
    use tokio::io::AsyncReadExt;
    let started = std::time::Instant::now();
    let mut sink = Vec::new();
    match tokio::time::timeout(limit, stream.read_to_end(&mut sink)).await {
        Ok(_) => Some(started.elapsed()),
        Err(_) => None,
    }
}

/// Issue 11, defect 5 (header part): a slow-loris head (the request line dribbled out a byte at a time, never
/// finished) is cut off after `header_read_timeout_secs`, however steadily the bytes arrive.
#[tokio::test]
async fn a_slow_request_head_is_closed_after_the_header_timeout() {
    let fx = Fixture::local("slow_head").await;
    let server = TestServer::start(fx.state(ApiConfig { header_read_timeout_secs: 1, ..test_config() })).await;
    let stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let (mut read_half, mut write_half) = stream.into_split();
    let started = std::time::Instant::now();
    // A byte every 200 ms for up to 8 s: never idle long enough for an idle timeout to explain the close.
    let dribble = tokio::spawn(async move {
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ".iter().cycle().take(40) {
            if write_half.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let mut sink = Vec::new();
    let read =
        tokio::time::timeout(Duration::from_secs(6), tokio::io::AsyncReadExt::read_to_end(&mut read_half, &mut sink))
            .await;
    dribble.abort();
    assert!(read.is_ok(), "a head still arriving after 6 s was not cut off");
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(4), "closed after {elapsed:?}");
    assert!(sink.is_empty(), "a half head got an answer: {:?}", String::from_utf8_lossy(&sink));

    // A connection that never sends a byte is closed the same way.
    let mut silent = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let closed = closed_within(&mut silent, Duration::from_secs(6)).await;
    assert!(closed.is_some_and(|t| t < Duration::from_secs(4)), "a silent connection was held: {closed:?}");
}

/// A keep-alive connection that goes quiet after its response is closed after `header_read_timeout_secs`; one
/// that keeps asking is served every time.
#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    use tokio::io::AsyncReadExt;
    let fx = Fixture::local("idle_keep_alive").await;
    let server = TestServer::start(fx.state(ApiConfig { header_read_timeout_secs: 1, ..test_config() })).await;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    for _ in 0..3 {
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        // Read one whole response: its head, then Content-Length bytes.
        let mut raw = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await.unwrap().unwrap();
            assert!(n > 0, "closed mid-response: {:?}", String::from_utf8_lossy(&raw));
            raw.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&raw).to_string();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len: usize = head
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
                    .and_then(|v| v.parse().ok())
                    .expect("content-length");
                if body.len() >= len {
                    assert!(head.starts_with("HTTP/1.1 200"), "{text}");
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await; // under the timeout: still open
    }
    let closed = closed_within(&mut stream, Duration::from_secs(6)).await;
    assert!(closed.is_some_and(|t| t < Duration::from_secs(3)), "idle keep-alive connection held: {closed:?}");
}

"""Rythmiq One load test for locust, as the readiness framework runs it:

    locust -f locustfile.py --host http://localhost:8000 --headless -u 50 -r 10 -t 300s --csv=results/load_test

Each simulated user submits a burst of DOCS_PER_USER documents (default 5) to POST /v1/documents, then polls each
one until it is done, and stops. Besides the HTTP requests, the end-to-end latency of every document (submit to
done) is reported to locust as its own request type, `E2E document`, so that it lands in the CSV percentiles
(`load_test_stats.csv`, columns 50%/95%/99%, in ms). Failures are classified as `timeout`, `server_error` or
`validation` (and `rejected_429`) in `load_test_failures.csv`.

Every submitted document is distinct: a corpus page with a unique marker in its metadata (a JPEG comment, a PNG
text chunk, trailing bytes for TIFF), so no cache can serve a repeat. Environment:
    RYTHMIQ_CORPUS        source pages (default: the repository's corpus/)
    RYTHMIQ_DOCS_PER_USER documents per user (default 5)
    RYTHMIQ_DOC_TIMEOUT   seconds before a document counts as a timeout (default 120)
    RYTHMIQ_API_TOKEN     bearer token, when the API requires one
"""

import itertools
import os
import pathlib
import struct
import threading
import time
import zlib

from locust import FastHttpUser, events, task
from locust.exception import StopUser

HERE = pathlib.Path(__file__).resolve().parent
CORPUS = pathlib.Path(os.environ.get("RYTHMIQ_CORPUS", HERE.parent.parent / "corpus"))
DOCS_PER_USER = int(os.environ.get("RYTHMIQ_DOCS_PER_USER", "5"))
DOC_TIMEOUT = float(os.environ.get("RYTHMIQ_DOC_TIMEOUT", "120"))
POLL_SECONDS = 0.25
TOKEN = os.environ.get("RYTHMIQ_API_TOKEN")

TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".tif": "image/tiff", ".tiff": "image/tiff"}
SOURCES = sorted(p for p in CORPUS.iterdir() if p.suffix.lower() in TYPES)
if not SOURCES:
    raise SystemExit(f"no images in {CORPUS}")
_counter = itertools.count()
_lock = threading.Lock()


class DocumentFailure(Exception):
    """A document that did not finish; its name (timeout, server_error, validation, rejected_429) is the kind."""


def distinct_document():
    """The next corpus page, made distinct by a unique marker: (file name, content type, bytes)."""
    with _lock:
        i = next(_counter)
    source = SOURCES[i % len(SOURCES)]
    data = source.read_bytes()
    marker = f"rythmiq-locust {os.getpid()} {i}".encode()
    ext = source.suffix.lower()
    if ext in (".jpg", ".jpeg"):
        data = b"\xff\xd8\xff\xfe" + struct.pack(">H", len(marker) + 2) + marker + data[2:]
    elif ext == ".png":
        chunk = b"tEXt" + b"Comment\x00" + marker
        crc = struct.pack(">I", zlib.crc32(chunk) & 0xFFFFFFFF)
        data = data[:-12] + struct.pack(">I", len(chunk) - 4) + chunk + crc + data[-12:]
    else:
        data = data + marker
    return source.name, TYPES[ext], data


def report_e2e(environment, started, exception=None):
    environment.events.request.fire(
        request_type="E2E",
        name="document",
        response_time=(time.time() - started) * 1000.0,
        response_length=0,
        exception=exception,
        context={},
    )


class DocumentUser(FastHttpUser):
    """Submits a burst of documents, polls them to completion, then stops."""

    def headers(self, content_type=None):
        h = {}
        if TOKEN:
            h["Authorization"] = f"Bearer {TOKEN}"
        if content_type:
            h["Content-Type"] = content_type
        return h

    @task
    def burst(self):
        pending = {}
        for _ in range(DOCS_PER_USER):
            name, content_type, data = distinct_document()
            started = time.time()
            with self.client.post("/v1/documents", data=data, headers=self.headers(content_type),
                                  name="POST /v1/documents", catch_response=True) as resp:
                if resp.status_code == 202:
                    pending[resp.json()["id"]] = started
                    resp.success()
                    continue
                kind = ("rejected_429" if resp.status_code == 429
                        else "validation" if 400 <= resp.status_code < 500 else "server_error")
                resp.failure(kind)
                report_e2e(self.environment, started, DocumentFailure(kind))
        while pending:
            time.sleep(POLL_SECONDS)
            for job_id, started in list(pending.items()):
                with self.client.get(f"/v1/documents/{job_id}", headers=self.headers(),
                                     name="GET /v1/documents/{id}", catch_response=True) as resp:
                    if resp.status_code != 200:
                        resp.failure("server_error")
                        continue
                    resp.success()
                    status = resp.json().get("status")
                if status == "succeeded":
                    report_e2e(self.environment, started)
                    del pending[job_id]
                elif status == "dead_lettered":
                    report_e2e(self.environment, started, DocumentFailure("server_error"))
                    del pending[job_id]
                elif time.time() - started > DOC_TIMEOUT:
                    report_e2e(self.environment, started, DocumentFailure("timeout"))
                    del pending[job_id]
        raise StopUser()

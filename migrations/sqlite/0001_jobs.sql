-- The embedded (single-machine) job queue: the same table as migrations/postgres/0001_jobs.sql in SQLite types.
-- Timestamps are UTC text 'YYYY-MM-DDTHH:MM:SS.sssZ', fixed width, so text comparison is time order; the crate
-- always writes them in that format. ids are hyphenated UUID text.
CREATE TABLE jobs (
    id              TEXT    PRIMARY KEY,
    idempotency_key TEXT    NOT NULL UNIQUE,
    input_key       TEXT    NOT NULL,
    content_sha256  TEXT    NOT NULL,
    config_hash     TEXT    NOT NULL,
    priority        INTEGER NOT NULL DEFAULT 0,
    status          TEXT    NOT NULL DEFAULT 'queued'
                            CHECK (status IN ('queued', 'running', 'succeeded', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts    INTEGER NOT NULL DEFAULT 5 CHECK (max_attempts >= 1),
    attempt_token   INTEGER NOT NULL DEFAULT 0,
    run_after       TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    locked_by       TEXT,
    locked_until    TEXT,
    enqueued_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    started_at      TEXT,
    finished_at     TEXT,
    result_key      TEXT,
    error_kind      TEXT,
    error_message   TEXT,
    CHECK (status <> 'running' OR (locked_until IS NOT NULL AND locked_by IS NOT NULL))
);

CREATE INDEX jobs_ready_idx ON jobs (priority DESC, run_after, enqueued_at) WHERE status = 'queued';
CREATE INDEX jobs_lease_idx ON jobs (locked_until) WHERE status = 'running';
CREATE INDEX jobs_dead_idx ON jobs (finished_at) WHERE status = 'dead';

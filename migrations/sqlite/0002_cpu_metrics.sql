-- The embedded cpu_metrics store: the same columns as migrations/postgres/0002_cpu_metrics.sql in SQLite types
-- (booleans 0/1, timestamps fixed-width UTC text, uuids hyphenated text).
CREATE TABLE cpu_metrics (
    id                  INTEGER PRIMARY KEY,
    job_id              TEXT,
    attempt             INTEGER,
    run_id              TEXT    NOT NULL,
    document_id         TEXT    NOT NULL,
    worker_id           TEXT    NOT NULL,
    stage               TEXT    NOT NULL CHECK (stage IN ('fetch', 'quality_scoring', 'pre_ocr', 'enhancement',
                                    'ocr', 'schema_adaptation', 'upload')),
    path                TEXT    CHECK (path IN ('fast', 'standard')),
    rerouted            INTEGER NOT NULL DEFAULT 0,
    quality_score       REAL,
    cpu_seconds         REAL    NOT NULL CHECK (cpu_seconds >= 0),
    helper_cpu_seconds  REAL    NOT NULL CHECK (helper_cpu_seconds >= 0),
    wall_seconds        REAL    NOT NULL CHECK (wall_seconds >= 0),
    skipped             INTEGER NOT NULL,
    cold_start          INTEGER NOT NULL,
    model_load_cpu_seconds REAL NOT NULL DEFAULT 0,
    ocr_threads         INTEGER NOT NULL,
    model               TEXT    NOT NULL,
    max_working_side_px INTEGER,
    skip_pre_ocr_above  REAL,
    result_cache        INTEGER NOT NULL,
    flags               TEXT    NOT NULL,
    cache_hit           INTEGER NOT NULL,
    pages               INTEGER NOT NULL,
    input_bytes         INTEGER NOT NULL,
    error_kind          TEXT,
    created_at          TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (run_id, stage)
);

CREATE INDEX cpu_metrics_created_at_idx ON cpu_metrics (created_at);
CREATE INDEX cpu_metrics_job_idx ON cpu_metrics (job_id) WHERE job_id IS NOT NULL;

CREATE TABLE rythmiq_settings (
    singleton                INTEGER PRIMARY KEY DEFAULT 1 CHECK (singleton = 1),
    monthly_cpu_budget_hours REAL    NOT NULL DEFAULT 200 CHECK (monthly_cpu_budget_hours > 0)
);
INSERT INTO rythmiq_settings DEFAULT VALUES;

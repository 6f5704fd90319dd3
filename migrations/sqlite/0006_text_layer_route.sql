-- Issue 10: PDF pages with a usable text layer take a third route, `text_layer` (no OCR), beside fast and
-- standard; the path CHECK allows it. SQLite cannot alter a CHECK constraint, so the table is rebuilt under the
-- same name (no RENAME: the dashboard views refer to cpu_metrics by name and keep working once it exists again).
-- A merge that adds columns to cpu_metrics before this migration must add them here too.
CREATE TABLE cpu_metrics_0006 AS SELECT * FROM cpu_metrics;
DROP TABLE cpu_metrics;
CREATE TABLE cpu_metrics (
    id                  INTEGER PRIMARY KEY,
    job_id              TEXT,
    attempt             INTEGER,
    run_id              TEXT    NOT NULL,
    document_id         TEXT    NOT NULL,
    worker_id           TEXT    NOT NULL,
    stage               TEXT    NOT NULL CHECK (stage IN ('fetch', 'quality_scoring', 'pre_ocr', 'enhancement',
                                    'ocr', 'schema_adaptation', 'upload')),
    path                TEXT    CHECK (path IN ('text_layer', 'fast', 'standard')),
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

INSERT INTO cpu_metrics (id, job_id, attempt, run_id, document_id, worker_id, stage, path, rerouted, quality_score, cpu_seconds, helper_cpu_seconds, wall_seconds, skipped, cold_start, model_load_cpu_seconds, ocr_threads, model, max_working_side_px, skip_pre_ocr_above, result_cache, flags, cache_hit, pages, input_bytes, error_kind, created_at)
SELECT id, job_id, attempt, run_id, document_id, worker_id, stage, path, rerouted, quality_score, cpu_seconds, helper_cpu_seconds, wall_seconds, skipped, cold_start, model_load_cpu_seconds, ocr_threads, model, max_working_side_px, skip_pre_ocr_above, result_cache, flags, cache_hit, pages, input_bytes, error_kind, created_at FROM cpu_metrics_0006;
DROP TABLE cpu_metrics_0006;

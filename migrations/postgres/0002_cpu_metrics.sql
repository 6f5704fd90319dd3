-- What each document cost: one row per document run per stage, written by the worker (in the same transaction
-- that finishes the job attempt) and by the bench. The readiness framework's budget is read from these rows.
CREATE TABLE cpu_metrics (
    id                  bigint           GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- NULL for bench rows. No foreign key: metrics outlive pruned jobs, and the bench has no job.
    job_id              uuid,
    -- The job attempt these rows belong to (NULL for bench rows).
    attempt             integer,
    -- One id per document run (one attempt of one document): the unit "documents" counts below.
    run_id              uuid             NOT NULL,
    document_id         text             NOT NULL,
    worker_id           text             NOT NULL,
    stage               text             NOT NULL CHECK (stage IN ('fetch', 'quality_scoring', 'pre_ocr',
                                             'enhancement', 'ocr', 'schema_adaptation', 'upload')),
    -- NULL when the document failed before routing.
    path                text             CHECK (path IN ('fast', 'standard')),
    -- Document-level facts (like cold_start, pages and input_bytes) are repeated on each of the run's rows:
    -- aggregate them over one row per run_id, never by summing rows.
    -- The fast path's OCR had low confidence and the document was run again on the standard path.
    rerouted            boolean          NOT NULL DEFAULT false,
    quality_score       double precision,
    -- Thread CPU of the stage including its helper threads (OpenMP), seconds.
    cpu_seconds         double precision NOT NULL CHECK (cpu_seconds >= 0),
    -- The part of cpu_seconds spent on helper threads.
    helper_cpu_seconds  double precision NOT NULL CHECK (helper_cpu_seconds >= 0),
    wall_seconds        double precision NOT NULL CHECK (wall_seconds >= 0),
    -- The stage did not run on this path; recorded so every document has all seven rows.
    skipped             boolean          NOT NULL,
    -- First document on a fresh engine: its ocr stage includes the model load.
    cold_start          boolean          NOT NULL,
    -- CPU this document spent loading models (0 when warm); already inside its ocr/pre_ocr cpu_seconds.
    model_load_cpu_seconds double precision NOT NULL DEFAULT 0,
    -- The optimisation flags in force (readiness framework, table 5.1), one column each so they can be grouped on.
    ocr_threads         integer          NOT NULL,
    model               text             NOT NULL,
    max_working_side_px integer,
    skip_pre_ocr_above  double precision,
    result_cache        boolean          NOT NULL,
    -- OptimisationFlags::label(), for grouping by the whole combination.
    flags               text             NOT NULL,
    cache_hit           boolean          NOT NULL,
    pages               integer          NOT NULL,
    input_bytes         bigint           NOT NULL,
    -- Set on every row of a failed run.
    error_kind          text,
    created_at          timestamptz      NOT NULL DEFAULT now(),
    -- A run has one row per stage: a second set of rows for the same run is a bug, not data.
    UNIQUE (run_id, stage)
);

-- Time-range reads (the month function, the dashboards, the 7-day export).
CREATE INDEX cpu_metrics_created_at_idx ON cpu_metrics (created_at);
CREATE INDEX cpu_metrics_job_idx ON cpu_metrics (job_id) WHERE job_id IS NOT NULL;
CREATE INDEX cpu_metrics_errors_idx ON cpu_metrics (created_at, error_kind) WHERE error_kind IS NOT NULL;

-- Operator-tunable settings; one row. The monthly CPU budget is the readiness framework's hard constraint.
CREATE TABLE rythmiq_settings (
    singleton                boolean          PRIMARY KEY DEFAULT true CHECK (singleton),
    monthly_cpu_budget_hours double precision NOT NULL DEFAULT 200 CHECK (monthly_cpu_budget_hours > 0)
);
INSERT INTO rythmiq_settings DEFAULT VALUES;

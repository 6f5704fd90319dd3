-- The durable job queue `rythmiq worker` consumes: one row per submitted document, idempotent on content + config.
-- Attempts are counted on the row; what each attempt cost lives in cpu_metrics (0002).
--
-- Lifecycle: queued -> running -> succeeded | queued (retry, run_after in the future) | dead (dead-lettered).
-- A running row is owned by whoever holds `attempt_token` until `locked_until`; after that any worker may claim it
-- again, which bumps the token and so fences the previous owner out of complete/fail/heartbeat.
CREATE TABLE jobs (
    id              uuid        PRIMARY KEY,
    -- content_sha256 ':' config_hash: the same bytes under the same output-affecting config are one job.
    idempotency_key text        NOT NULL UNIQUE,
    input_key       text        NOT NULL,
    content_sha256  text        NOT NULL,
    config_hash     text        NOT NULL,
    -- Higher runs first.
    priority        integer     NOT NULL DEFAULT 0,
    status          text        NOT NULL DEFAULT 'queued'
                                CHECK (status IN ('queued', 'running', 'succeeded', 'dead')),
    -- Attempts started so far; a graceful release gives its attempt back.
    attempts        integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts    integer     NOT NULL DEFAULT 5 CHECK (max_attempts >= 1),
    -- Fencing token: incremented by every claim, never reused, so a stale owner can never match it again.
    attempt_token   bigint      NOT NULL DEFAULT 0,
    -- Not claimable before this (retry backoff).
    run_after       timestamptz NOT NULL DEFAULT now(),
    locked_by       text,
    locked_until    timestamptz,
    enqueued_at     timestamptz NOT NULL DEFAULT now(),
    -- First claim; with enqueued_at and finished_at this gives queue wait and end-to-end latency.
    started_at      timestamptz,
    finished_at     timestamptz,
    result_key      text,
    -- The last failure (kept while retrying, cleared on success; the dead-letter reason once dead).
    error_kind      text,
    error_message   text,
    CHECK (status <> 'running' OR (locked_until IS NOT NULL AND locked_by IS NOT NULL))
);

-- The claim query's two sources: ready queued jobs in claim order, and running jobs whose lease ran out.
-- Partial, so finished jobs (the bulk of the table) cost these indexes nothing.
CREATE INDEX jobs_ready_idx ON jobs (priority DESC, run_after, enqueued_at) WHERE status = 'queued';
CREATE INDEX jobs_lease_idx ON jobs (locked_until) WHERE status = 'running';
CREATE INDEX jobs_dead_idx ON jobs (finished_at) WHERE status = 'dead';

-- Wake idle workers when a job becomes claimable now. NOTIFY is delivered at commit and identical payloads in one
-- transaction collapse, so a bulk enqueue sends one wake-up. Workers also poll, because a transaction-mode
-- pooler drops LISTEN/NOTIFY.
CREATE FUNCTION jobs_notify_queued() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('rythmiq_jobs', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER jobs_notify_insert AFTER INSERT ON jobs
    FOR EACH ROW WHEN (NEW.status = 'queued') EXECUTE FUNCTION jobs_notify_queued();
-- Released jobs are claimable at once; retried ones only after their backoff, which polling covers.
CREATE TRIGGER jobs_notify_requeue AFTER UPDATE OF status ON jobs
    FOR EACH ROW WHEN (NEW.status = 'queued' AND OLD.status <> 'queued' AND NEW.run_after <= now())
    EXECUTE FUNCTION jobs_notify_queued();

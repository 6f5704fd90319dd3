-- Claim the next job, in one statement. PostgreSQL; $1 worker id, $2 lease seconds, $3 MAX_INTERRUPTIONS.
-- First, jobs whose worker was lost for the last allowed time are dead-lettered as `interrupted`; then the next
-- claimable job (ready queued, or running with an expired lease) is leased under a new attempt token.
WITH reaped AS (
    UPDATE jobs
    SET status = 'dead', finished_at = now(), locked_by = NULL, locked_until = NULL,
        interruptions = interruptions + 1,
        error_kind = 'interrupted', error_message = 'worker lost (lease expired) too many times'
    WHERE id IN (SELECT id FROM jobs
                 WHERE status = 'running' AND locked_until < now() AND interruptions + 1 >= $3
                 FOR UPDATE SKIP LOCKED)
    RETURNING id
), next AS (
    SELECT id FROM jobs
    WHERE (status = 'queued' AND run_after <= now())
       OR (status = 'running' AND locked_until < now() AND interruptions + 1 < $3)
    ORDER BY priority DESC, run_after, enqueued_at
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
UPDATE jobs AS j
SET status = 'running',
    -- A reclaim after a lost worker re-runs the interrupted attempt (same number) and counts an interruption.
    attempts = CASE WHEN j.status = 'running' THEN j.attempts ELSE j.attempts + 1 END,
    interruptions = CASE WHEN j.status = 'running' THEN j.interruptions + 1 ELSE j.interruptions END,
    attempt_token = j.attempt_token + 1,
    locked_by = $1,
    locked_until = now() + make_interval(secs => $2),
    started_at = coalesce(j.started_at, now())
FROM next
WHERE j.id = next.id
RETURNING CAST(j.id AS TEXT) AS id, j.attempt_token, j.attempts, j.max_attempts, j.input_key, j.content_sha256,
          j.config_hash, j.result_key, j.priority, j.enqueued_at, j.locked_until

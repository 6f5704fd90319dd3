-- Claim the next job (inside BEGIN IMMEDIATE, after the reaping statement). SQLite; $1 now, $2 worker id,
-- $3 lease end, $4 MAX_INTERRUPTIONS. A reclaim after a lost worker re-runs the interrupted attempt (same number)
-- and counts an interruption.
UPDATE jobs
SET attempts = CASE WHEN status = 'running' THEN attempts ELSE attempts + 1 END,
    interruptions = CASE WHEN status = 'running' THEN interruptions + 1 ELSE interruptions END,
    status = 'running', attempt_token = attempt_token + 1,
    locked_by = $2, locked_until = $3, started_at = coalesce(started_at, $1)
WHERE id = (SELECT id FROM jobs
            WHERE (status = 'queued' AND run_after <= $1)
               OR (status = 'running' AND locked_until < $1 AND interruptions + 1 < $4)
            ORDER BY priority DESC, run_after, enqueued_at
            LIMIT 1)
RETURNING CAST(id AS TEXT) AS id, attempt_token, attempts, max_attempts, input_key, content_sha256, config_hash,
          result_key, priority, enqueued_at, locked_until

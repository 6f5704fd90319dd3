-- Enqueue unless the idempotency key exists; either way one row: the job's id and whether this call created it.
-- PostgreSQL; $1 id, $2 idempotency key, $3 input key, $4 content sha256, $5 config fingerprint, $6 result key,
-- $7 priority, $8 max attempts.
WITH inserted AS (
    INSERT INTO jobs (id, idempotency_key, input_key, content_sha256, config_hash, result_key, priority, max_attempts)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id
)
SELECT id, true AS created FROM inserted
UNION ALL
SELECT id, false AS created FROM jobs WHERE idempotency_key = $2
LIMIT 1

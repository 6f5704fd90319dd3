-- CPU per stage over [$1, $2): both dialects run this text (floats cast, so each decodes as f64 on either).
-- Per-document figures divide by every document of the range, including those that skipped the stage.
WITH scope AS (
    SELECT * FROM cpu_metrics WHERE created_at >= $1 AND created_at < $2
), totals AS (
    SELECT count(DISTINCT run_id) AS documents, sum(cpu_seconds) AS cpu_seconds FROM scope
)
SELECT s.stage,
       count(*) FILTER (WHERE NOT s.skipped)                                                  AS runs,
       count(*) FILTER (WHERE s.skipped)                                                      AS skipped_runs,
       CAST(sum(s.cpu_seconds) AS DOUBLE PRECISION)                                           AS cpu_seconds_total,
       CAST(1.0 * sum(s.cpu_seconds) / t.documents AS DOUBLE PRECISION)                       AS cpu_seconds_per_document,
       CAST(1.0 * sum(s.wall_seconds) / t.documents AS DOUBLE PRECISION)                      AS wall_seconds_per_document,
       CAST(coalesce(100.0 * sum(s.cpu_seconds) / nullif(t.cpu_seconds, 0), 0.0) AS DOUBLE PRECISION)
                                                                                               AS percent_of_cpu
FROM scope s CROSS JOIN totals t
GROUP BY s.stage, t.documents, t.cpu_seconds

-- Documents per path over [$1, $2), one row per document run (its rows share the path); both dialects.
WITH runs AS (
    SELECT min(path) AS path, sum(cpu_seconds) AS cpu_seconds
    FROM cpu_metrics WHERE created_at >= $1 AND created_at < $2
    GROUP BY run_id
)
SELECT path,
       count(*)                                                           AS documents,
       CAST(100.0 * count(*) / sum(count(*)) OVER () AS DOUBLE PRECISION) AS percent_of_documents,
       CAST(avg(cpu_seconds) AS DOUBLE PRECISION)                         AS cpu_seconds_per_document
FROM runs
GROUP BY path

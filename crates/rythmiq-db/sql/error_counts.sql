-- Failed document runs per error kind over [$1, $2); both dialects.
SELECT error_kind, count(DISTINCT run_id) AS documents
FROM cpu_metrics
WHERE created_at >= $1 AND created_at < $2 AND error_kind IS NOT NULL
GROUP BY error_kind

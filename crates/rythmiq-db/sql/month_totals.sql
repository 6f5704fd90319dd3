-- The raw totals of one UTC month [$1, $2) and the stored budget; both dialects. The arithmetic on them (hours,
-- percent, projection) is `MonthlyUsage::from_totals` in Rust, the one copy besides the SQL function that the
-- readiness framework's appendix runs in psql (migrations/postgres/0003_dashboards.sql), which a PostgreSQL test
-- keeps equal to it.
SELECT CAST(coalesce(sum(cpu_seconds), 0.0) AS DOUBLE PRECISION)                   AS cpu_seconds,
       count(DISTINCT run_id)                                                      AS documents,
       CAST((SELECT monthly_cpu_budget_hours FROM rythmiq_settings LIMIT 1) AS DOUBLE PRECISION) AS stored_budget_hours
FROM cpu_metrics
WHERE created_at >= $1 AND created_at < $2

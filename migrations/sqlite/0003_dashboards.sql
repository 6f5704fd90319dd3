-- The dashboard views of migrations/postgres/0003_dashboards.sql that SQLite can express: no materialized view,
-- no get_monthly_cpu_usage() function (rythmiq-db computes it in Rust), no wall P95. Days and months are UTC.
CREATE VIEW stage_breakdown AS
WITH month_totals AS (
    SELECT strftime('%Y-%m-01', created_at) AS month,
           count(DISTINCT run_id)           AS documents,
           sum(cpu_seconds)                 AS cpu_seconds
    FROM cpu_metrics
    GROUP BY 1
), per_stage AS (
    SELECT strftime('%Y-%m-01', created_at)     AS month,
           stage,
           sum(cpu_seconds)                     AS cpu_seconds_total,
           sum(wall_seconds)                    AS wall_seconds_total,
           count(*) FILTER (WHERE NOT skipped)  AS runs,
           count(*) FILTER (WHERE skipped)      AS skipped_runs
    FROM cpu_metrics
    GROUP BY 1, 2
)
SELECT s.month,
       s.stage,
       t.documents,
       s.runs,
       s.skipped_runs,
       s.cpu_seconds_total,
       s.cpu_seconds_total / t.documents                       AS cpu_seconds_per_document,
       s.wall_seconds_total / t.documents                      AS wall_seconds_per_document,
       100.0 * s.cpu_seconds_total / nullif(t.cpu_seconds, 0)  AS percent_of_cpu
FROM per_stage s
JOIN month_totals t USING (month)
ORDER BY s.month, CASE s.stage WHEN 'fetch' THEN 1 WHEN 'quality_scoring' THEN 2 WHEN 'pre_ocr' THEN 3
                  WHEN 'enhancement' THEN 4 WHEN 'ocr' THEN 5 WHEN 'schema_adaptation' THEN 6 ELSE 7 END;

CREATE VIEW path_distribution AS
WITH runs AS (
    SELECT strftime('%Y-%m-01', min(created_at)) AS month,
           coalesce(min(path), 'unrouted')        AS path,
           max(rerouted)                          AS rerouted,
           sum(cpu_seconds)                       AS cpu_seconds
    FROM cpu_metrics
    GROUP BY run_id
)
SELECT month,
       path,
       count(*)                                                     AS documents,
       count(*) FILTER (WHERE rerouted)                             AS rerouted_documents,
       100.0 * count(*) / sum(count(*)) OVER (PARTITION BY month)   AS percent_of_documents,
       avg(cpu_seconds)                                             AS cpu_seconds_per_document
FROM runs
GROUP BY month, path
ORDER BY month, path;

CREATE VIEW cold_start_frequency AS
WITH runs AS (
    SELECT date(min(created_at)) AS day,
           max(cold_start)       AS cold,
           max(model_load_cpu_seconds) AS model_load_cpu_seconds,
           sum(cpu_seconds)      AS cpu_seconds
    FROM cpu_metrics
    GROUP BY run_id
)
SELECT day,
       count(*)                                          AS documents,
       count(*) FILTER (WHERE cold)                      AS cold_starts,
       100.0 * count(*) FILTER (WHERE cold) / count(*)   AS cold_start_percent,
       avg(cpu_seconds) FILTER (WHERE cold)              AS cold_cpu_seconds_per_document,
       avg(cpu_seconds) FILTER (WHERE NOT cold)          AS warm_cpu_seconds_per_document,
       avg(model_load_cpu_seconds) FILTER (WHERE cold)   AS model_load_cpu_seconds_per_cold_start
FROM runs
GROUP BY day
ORDER BY day;

CREATE VIEW error_rate_by_kind AS
WITH runs AS (
    SELECT date(min(created_at)) AS day,
           min(error_kind)       AS error_kind
    FROM cpu_metrics
    GROUP BY run_id
), per_day AS (
    SELECT day, count(*) AS documents FROM runs GROUP BY day
)
SELECT r.day,
       r.error_kind,
       count(*)                          AS failed_documents,
       d.documents,
       100.0 * count(*) / d.documents    AS error_rate_percent
FROM runs r
JOIN per_day d USING (day)
WHERE r.error_kind IS NOT NULL
GROUP BY r.day, r.error_kind, d.documents
ORDER BY r.day, r.error_kind;

CREATE VIEW daily_burn AS
WITH days AS (
    SELECT date(created_at)               AS day,
           sum(cpu_seconds) / 3600.0      AS cpu_hours,
           count(DISTINCT run_id)         AS documents
    FROM cpu_metrics
    GROUP BY 1
), shares AS (
    SELECT d.*,
           (SELECT s.monthly_cpu_budget_hours FROM rythmiq_settings s LIMIT 1)
             / CAST(strftime('%d', date(d.day, 'start of month', '+1 month', '-1 day')) AS REAL)
               AS daily_budget_hours
    FROM days d
)
SELECT day,
       documents,
       cpu_hours,
       daily_budget_hours,
       100.0 * cpu_hours / daily_budget_hours AS percent_of_daily_budget,
       CASE WHEN cpu_hours > daily_budget_hours       THEN 'critical'
            WHEN cpu_hours > 0.8 * daily_budget_hours THEN 'warning'
            ELSE 'ok' END                     AS alert
FROM shares
ORDER BY day;

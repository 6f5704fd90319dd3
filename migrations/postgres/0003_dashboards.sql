-- The readiness framework's dashboard queries (sections 3 and 6.4, appendix). Days and months are UTC, whatever the
-- session's TimeZone, so every reader sees the same buckets. "documents" counts document runs (distinct run_id):
-- a failed attempt consumed CPU against the budget, so it counts; error_rate_by_kind says how many failed.

-- Per UTC day, stage and path. Refreshed by `REFRESH MATERIALIZED VIEW [CONCURRENTLY] cpu_metrics_daily;`
-- ('unrouted' stands for a NULL path so that the unique index below covers every row, which CONCURRENTLY needs).
CREATE MATERIALIZED VIEW cpu_metrics_daily AS
SELECT (created_at AT TIME ZONE 'UTC')::date                  AS day,
       stage,
       coalesce(path, 'unrouted')                             AS path,
       count(DISTINCT run_id)                                 AS documents,
       sum(cpu_seconds)                                       AS cpu_seconds_total,
       sum(cpu_seconds) / count(DISTINCT run_id)              AS cpu_seconds_per_document,
       -- Skipped rows are zeros by construction; they would drag the percentile down.
       percentile_cont(0.95) WITHIN GROUP (ORDER BY wall_seconds) FILTER (WHERE NOT skipped) AS wall_seconds_p95
FROM cpu_metrics
GROUP BY 1, 2, 3;

CREATE UNIQUE INDEX cpu_metrics_daily_key ON cpu_metrics_daily (day, stage, path);

-- `SELECT * FROM get_monthly_cpu_usage();` the current UTC month against the budget. Arguments, both optional:
-- a budget overriding rythmiq_settings, and the instant whose month is reported (tests and back-dated reports).
-- The projection extrapolates the month's burn so far linearly to the month's end.
CREATE FUNCTION get_monthly_cpu_usage(
    monthly_budget_hours double precision DEFAULT NULL,
    as_of                timestamptz      DEFAULT now()
)
RETURNS TABLE (
    month_start               date,
    cpu_hours_used            double precision,
    documents                 bigint,
    cpu_seconds_per_document  double precision,
    budget_cpu_hours          double precision,
    percent_of_budget         double precision,
    projected_month_end_hours double precision
)
LANGUAGE sql STABLE
AS $$
WITH bounds AS (
    SELECT date_trunc('month', as_of AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'                        AS lo,
           (date_trunc('month', as_of AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC' AS hi,
           coalesce(monthly_budget_hours,
                    (SELECT s.monthly_cpu_budget_hours FROM rythmiq_settings s LIMIT 1),
                    200.0)                                                                          AS budget
), used AS (
    SELECT coalesce(sum(m.cpu_seconds), 0.0)::double precision AS cpu_seconds,
           count(DISTINCT m.run_id)                             AS n_documents
    FROM cpu_metrics m, bounds b
    WHERE m.created_at >= b.lo AND m.created_at < b.hi
)
SELECT (b.lo AT TIME ZONE 'UTC')::date,
       u.cpu_seconds / 3600.0,
       u.n_documents,
       u.cpu_seconds / nullif(u.n_documents, 0),
       b.budget,
       100.0 * u.cpu_seconds / 3600.0 / b.budget,
       u.cpu_seconds / 3600.0
           * extract(epoch FROM b.hi - b.lo)::double precision
           / nullif(extract(epoch FROM least(greatest(as_of, b.lo), b.hi) - b.lo)::double precision, 0)
FROM bounds b, used u
$$;

-- Where the CPU goes: per UTC month and stage, seconds per document over all of the month's documents
-- (so a stage the fast path skips is averaged over every document, as the framework's breakdown table reads).
CREATE VIEW stage_breakdown AS
WITH month_totals AS (
    SELECT date_trunc('month', created_at AT TIME ZONE 'UTC')::date AS month,
           count(DISTINCT run_id)                                    AS documents,
           sum(cpu_seconds)                                          AS cpu_seconds
    FROM cpu_metrics
    GROUP BY 1
), per_stage AS (
    SELECT date_trunc('month', created_at AT TIME ZONE 'UTC')::date AS month,
           stage,
           sum(cpu_seconds)                                          AS cpu_seconds_total,
           sum(wall_seconds)                                         AS wall_seconds_total,
           count(*) FILTER (WHERE NOT skipped)                       AS runs,
           count(*) FILTER (WHERE skipped)                           AS skipped_runs
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
ORDER BY s.month, array_position(ARRAY['fetch', 'quality_scoring', 'pre_ocr', 'enhancement', 'ocr',
                                       'schema_adaptation', 'upload'], s.stage);

-- Fast vs standard (expected about 70/30), per UTC month.
CREATE VIEW path_distribution AS
WITH runs AS (
    SELECT date_trunc('month', min(created_at) AT TIME ZONE 'UTC')::date AS month,
           coalesce(min(path), 'unrouted')                               AS path,
           bool_or(rerouted)                                             AS rerouted,
           sum(cpu_seconds)                                              AS cpu_seconds
    FROM cpu_metrics
    GROUP BY run_id
)
SELECT month,
       path,
       count(*)                                                        AS documents,
       count(*) FILTER (WHERE rerouted)                                AS rerouted_documents,
       100.0 * count(*) / sum(count(*)) OVER (PARTITION BY month)      AS percent_of_documents,
       avg(cpu_seconds)                                                AS cpu_seconds_per_document
FROM runs
GROUP BY month, path
ORDER BY month, path;

-- Cold starts (target: under 5% of jobs) and what they cost, per UTC day.
CREATE VIEW cold_start_frequency AS
WITH runs AS (
    SELECT (min(created_at) AT TIME ZONE 'UTC')::date AS day,
           bool_or(cold_start)                        AS cold,
           max(model_load_cpu_seconds)                AS model_load_cpu_seconds,
           sum(cpu_seconds)                           AS cpu_seconds
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

-- Failed document runs per UTC day and error kind, as a share of that day's runs (alerts: 0.5% warn, 1% critical).
CREATE VIEW error_rate_by_kind AS
WITH runs AS (
    SELECT (min(created_at) AT TIME ZONE 'UTC')::date AS day,
           min(error_kind)                            AS error_kind
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

-- Daily CPU burn against the day's share of the monthly budget (alerts: 80% warning, 100% critical).
CREATE VIEW daily_burn AS
WITH days AS (
    SELECT (created_at AT TIME ZONE 'UTC')::date AS day,
           sum(cpu_seconds) / 3600.0             AS cpu_hours,
           count(DISTINCT run_id)                AS documents
    FROM cpu_metrics
    GROUP BY 1
), shares AS (
    SELECT d.*,
           (SELECT s.monthly_cpu_budget_hours FROM rythmiq_settings s LIMIT 1)
             / extract(day FROM date_trunc('month', d.day) + interval '1 month - 1 day')::double precision
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

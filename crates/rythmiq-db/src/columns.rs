//! The `cpu_metrics` columns, listed once. Both dialects build their batch insert and their read from
//! [`METRIC_COLUMNS`] and [`MetricsRow::values`]; the read decodes into [`MetricsRecord`], which derives
//! `sqlx::FromRow` for either database.
//!
//! Adding a column touches: the two migrations, the `MetricsRow` field (and `from_run`), one entry here in
//! `METRIC_COLUMNS` and `values`, and one field of `MetricsRecord` with its line in `into_row`.

use chrono::{DateTime, Utc};
use rythmiq_types::{ErrorKind, ModelKind, PathKind, Stage};
use uuid::Uuid;

use crate::{parse_stored, DbError, JobId, MetricsRow};

/// How a column's values are bound: PostgreSQL casts each batch parameter to this type's array; SQLite binds the
/// value itself (uuids and times as text).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SqlType {
    Uuid,
    /// Any integer column: bound as 64-bit, stored as the column's own width.
    Int,
    Float,
    Bool,
    Text,
    /// `None` stands for the database's clock at insert.
    Time,
}

impl SqlType {
    pub(crate) fn pg_array(self) -> &'static str {
        match self {
            SqlType::Uuid => "uuid[]",
            SqlType::Int => "int8[]",
            SqlType::Float => "float8[]",
            SqlType::Bool => "bool[]",
            SqlType::Text => "text[]",
            SqlType::Time => "timestamptz[]",
        }
    }
}

/// Every `cpu_metrics` column this crate writes and reads, in one order.
pub(crate) const METRIC_COLUMNS: &[(&str, SqlType)] = &[
    ("run_id", SqlType::Uuid),
    ("job_id", SqlType::Uuid),
    ("attempt", SqlType::Int),
    ("document_id", SqlType::Text),
    ("worker_id", SqlType::Text),
    ("stage", SqlType::Text),
    ("path", SqlType::Text),
    ("rerouted", SqlType::Bool),
    ("quality_score", SqlType::Float),
    ("cpu_seconds", SqlType::Float),
    ("helper_cpu_seconds", SqlType::Float),
    ("wall_seconds", SqlType::Float),
    ("skipped", SqlType::Bool),
    ("cold_start", SqlType::Bool),
    ("model_load_cpu_seconds", SqlType::Float),
    ("ocr_threads", SqlType::Int),
    ("model", SqlType::Text),
    ("max_working_side_px", SqlType::Int),
    ("skip_pre_ocr_above", SqlType::Float),
    ("result_cache", SqlType::Bool),
    ("flags", SqlType::Text),
    ("cache_hit", SqlType::Bool),
    ("pages", SqlType::Int),
    ("input_bytes", SqlType::Int),
    ("error_kind", SqlType::Text),
    ("created_at", SqlType::Time),
];

/// One value of a row, as bound.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value<'a> {
    Uuid(Option<Uuid>),
    Int(Option<i64>),
    Float(Option<f64>),
    Bool(bool),
    Text(Option<&'a str>),
    Time(Option<DateTime<Utc>>),
}

impl Value<'_> {
    #[cfg(test)]
    fn sql_type(&self) -> SqlType {
        match self {
            Value::Uuid(_) => SqlType::Uuid,
            Value::Int(_) => SqlType::Int,
            Value::Float(_) => SqlType::Float,
            Value::Bool(_) => SqlType::Bool,
            Value::Text(_) => SqlType::Text,
            Value::Time(_) => SqlType::Time,
        }
    }
}

/// What the statement that writes the rows sets on each of them: the job attempt they belong to (`complete` and
/// `fail`), and the error kind of a failed attempt for rows that have none.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RowFill {
    pub job: Option<(JobId, u32)>,
    pub error_kind: Option<ErrorKind>,
}

/// `SELECT` list of the read: uuids as text, so one [`MetricsRecord`] decodes them on either database.
pub(crate) fn select_list() -> String {
    METRIC_COLUMNS
        .iter()
        .map(|(name, ty)| match ty {
            SqlType::Uuid => format!("CAST({name} AS TEXT) AS {name}"),
            _ => name.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The column names, comma-separated, in [`METRIC_COLUMNS`] order.
pub(crate) fn names() -> String {
    METRIC_COLUMNS.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ")
}

impl MetricsRow {
    /// The row's values in [`METRIC_COLUMNS`] order.
    pub(crate) fn values(&self, fill: RowFill) -> Result<[Value<'_>; METRIC_COLUMNS.len()], DbError> {
        let (job_id, attempt) = match fill.job {
            Some((id, attempt)) => (Some(id), Some(attempt)),
            None => (self.job_id, self.attempt),
        };
        let input_bytes = i64::try_from(self.input_bytes).map_err(|_| DbError::Invalid("input_bytes".into()))?;
        Ok([
            Value::Uuid(Some(self.run_id)),
            Value::Uuid(job_id.map(|id| id.0)),
            Value::Int(attempt.map(i64::from)),
            Value::Text(Some(&self.document_id)),
            Value::Text(Some(&self.worker_id)),
            Value::Text(Some(self.stage.as_str())),
            Value::Text(self.path.map(PathKind::as_str)),
            Value::Bool(self.rerouted),
            Value::Float(self.quality_score),
            Value::Float(Some(self.cpu_seconds)),
            Value::Float(Some(self.helper_cpu_seconds)),
            Value::Float(Some(self.wall_seconds)),
            Value::Bool(self.skipped),
            Value::Bool(self.cold_start),
            Value::Float(Some(self.model_load_cpu_seconds)),
            Value::Int(Some(i64::from(self.ocr_threads))),
            Value::Text(Some(self.model.as_str())),
            Value::Int(self.max_working_side_px.map(i64::from)),
            Value::Float(self.skip_pre_ocr_above),
            Value::Bool(self.result_cache),
            Value::Text(Some(&self.flags)),
            Value::Bool(self.cache_hit),
            Value::Int(Some(i64::from(self.pages))),
            Value::Int(Some(input_bytes)),
            Value::Text(self.error_kind.or(fill.error_kind).map(ErrorKind::as_str)),
            Value::Time(self.created_at),
        ])
    }
}

/// A `cpu_metrics` row as read back, on either database (the read casts uuids to text). Integer fields have the
/// PostgreSQL column's width (`integer` is `i32`), which SQLite's 64-bit integers also decode into.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct MetricsRecord {
    run_id: String,
    job_id: Option<String>,
    attempt: Option<i32>,
    document_id: String,
    worker_id: String,
    stage: String,
    path: Option<String>,
    rerouted: bool,
    quality_score: Option<f64>,
    cpu_seconds: f64,
    helper_cpu_seconds: f64,
    wall_seconds: f64,
    skipped: bool,
    cold_start: bool,
    model_load_cpu_seconds: f64,
    ocr_threads: i32,
    model: String,
    max_working_side_px: Option<i32>,
    skip_pre_ocr_above: Option<f64>,
    result_cache: bool,
    flags: String,
    cache_hit: bool,
    pages: i32,
    input_bytes: i64,
    error_kind: Option<String>,
    created_at: DateTime<Utc>,
}

impl MetricsRecord {
    pub(crate) fn into_row(self) -> Result<MetricsRow, DbError> {
        let narrow = |n: i32| u32::try_from(n).map_err(|_| stored_error(format!("{n} out of range")));
        Ok(MetricsRow {
            run_id: parse_uuid(&self.run_id)?,
            job_id: self.job_id.as_deref().map(parse_uuid).transpose()?.map(JobId),
            attempt: self.attempt.map(narrow).transpose()?,
            document_id: self.document_id,
            worker_id: self.worker_id,
            stage: parse_stored(&self.stage, Stage::parse)?,
            path: self.path.as_deref().map(|p| parse_stored(p, PathKind::parse)).transpose()?,
            rerouted: self.rerouted,
            quality_score: self.quality_score,
            cpu_seconds: self.cpu_seconds,
            helper_cpu_seconds: self.helper_cpu_seconds,
            wall_seconds: self.wall_seconds,
            skipped: self.skipped,
            cold_start: self.cold_start,
            model_load_cpu_seconds: self.model_load_cpu_seconds,
            ocr_threads: narrow(self.ocr_threads)?,
            model: parse_stored(&self.model, ModelKind::parse)?,
            max_working_side_px: self.max_working_side_px.map(narrow).transpose()?,
            skip_pre_ocr_above: self.skip_pre_ocr_above,
            result_cache: self.result_cache,
            flags: self.flags,
            cache_hit: self.cache_hit,
            pages: narrow(self.pages)?,
            input_bytes: u64::try_from(self.input_bytes).map_err(|_| stored_error("negative input_bytes".into()))?,
            error_kind: self.error_kind.as_deref().map(|k| parse_stored(k, ErrorKind::parse)).transpose()?,
            created_at: Some(self.created_at),
        })
    }
}

fn stored_error(what: String) -> DbError {
    DbError::Query(sqlx::Error::Decode(what.into()))
}

/// A uuid stored as text (SQLite) or cast to text by the read (PostgreSQL).
pub(crate) fn parse_uuid(text: &str) -> Result<Uuid, DbError> {
    Uuid::parse_str(text).map_err(|_| stored_error(format!("unreadable uuid {text:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_follow_the_declared_column_types() {
        let run = rythmiq_types::DocumentRun {
            document_id: "d".into(),
            path: Some(PathKind::Fast),
            rerouted: false,
            quality_score: Some(0.5),
            cold_start: true,
            model_load_cpu_seconds: 0.1,
            stages: vec![rythmiq_types::StageRecord::skipped(Stage::Fetch)],
            model: ModelKind::Fast,
            flags: rythmiq_types::OptimisationFlags::default(),
            input_bytes: 10,
            pages: 1,
            error: None,
            result_key: None,
            cache_hit: false,
            pages_by_engine: Default::default(),
        };
        let row = &MetricsRow::from_run(&run, "w")[0];
        let values = row.values(RowFill::default()).unwrap();
        for ((name, ty), value) in METRIC_COLUMNS.iter().zip(&values) {
            assert_eq!(*ty, value.sql_type(), "column {name}");
        }
        let names: std::collections::HashSet<_> = METRIC_COLUMNS.iter().map(|(n, _)| n).collect();
        assert_eq!(names.len(), METRIC_COLUMNS.len(), "a column is listed twice");
        let filled = row.values(RowFill { job: Some((JobId(Uuid::nil()), 3)), error_kind: Some(ErrorKind::Timeout) });
        let filled = filled.unwrap();
        assert_eq!(filled[1], Value::Uuid(Some(Uuid::nil())));
        assert_eq!(filled[2], Value::Int(Some(3)));
        assert_eq!(filled[24], Value::Text(Some("timeout")));
    }
}

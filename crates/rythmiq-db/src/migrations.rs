//! The SQL migrations under `migrations/` at the repository root, embedded in the binary with `include_str!`
//! (so `rythmiq migrate` needs no files at run time, and the build needs no database).
//! A new migration file must be added to the list here too; a unit test compares the lists with the folders.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

/// (file name, SQL) of the PostgreSQL migrations, in order.
pub(crate) const POSTGRES: &[(&str, &str)] = &[
    ("0001_jobs.sql", include_str!("../../../migrations/postgres/0001_jobs.sql")),
    ("0002_cpu_metrics.sql", include_str!("../../../migrations/postgres/0002_cpu_metrics.sql")),
    ("0003_dashboards.sql", include_str!("../../../migrations/postgres/0003_dashboards.sql")),
    ("0004_job_keys.sql", include_str!("../../../migrations/postgres/0004_job_keys.sql")),
    ("0005_interruptions.sql", include_str!("../../../migrations/postgres/0005_interruptions.sql")),
    ("0006_text_layer_route.sql", include_str!("../../../migrations/postgres/0006_text_layer_route.sql")),
];

/// (file name, SQL) of the SQLite migrations, in order.
pub(crate) const SQLITE: &[(&str, &str)] = &[
    ("0001_jobs.sql", include_str!("../../../migrations/sqlite/0001_jobs.sql")),
    ("0002_cpu_metrics.sql", include_str!("../../../migrations/sqlite/0002_cpu_metrics.sql")),
    ("0003_dashboards.sql", include_str!("../../../migrations/sqlite/0003_dashboards.sql")),
    ("0004_job_keys.sql", include_str!("../../../migrations/sqlite/0004_job_keys.sql")),
    ("0005_interruptions.sql", include_str!("../../../migrations/sqlite/0005_interruptions.sql")),
    ("0006_text_layer_route.sql", include_str!("../../../migrations/sqlite/0006_text_layer_route.sql")),
];

/// A list of embedded files as a sqlx migration source. Files are named like sqlx expects,
/// `<version>_<description>.sql`; a first line `-- no-transaction` runs the file outside a transaction
/// (needed by `CREATE INDEX CONCURRENTLY`).
#[derive(Debug)]
struct Embedded(&'static [(&'static str, &'static str)]);

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(self) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 's>> {
        Box::pin(async move {
            let mut migrations = Vec::with_capacity(self.0.len());
            for (file_name, sql) in self.0 {
                let stem = file_name.strip_suffix(".sql").ok_or("migration file name must end in .sql")?;
                let (version, description) = stem.split_once('_').ok_or("migration file name needs a version")?;
                let version: i64 = version.parse()?;
                let no_tx = sql.lines().next().is_some_and(|line| line.trim() == "-- no-transaction");
                migrations.push(Migration::new(
                    version,
                    Cow::Owned(description.replace('_', " ")),
                    MigrationType::Simple,
                    Cow::Borrowed(*sql),
                    no_tx,
                ));
            }
            Ok(migrations)
        })
    }
}

pub(crate) async fn migrator(
    files: &'static [(&'static str, &'static str)],
) -> Result<Migrator, sqlx::migrate::MigrateError> {
    Migrator::new(Embedded(files)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder_listing(dir: &str) -> Vec<String> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations").join(dir);
        let mut names: Vec<String> = std::fs::read_dir(&root)
            .unwrap_or_else(|err| panic!("reading {}: {err}", root.display()))
            .map(|entry| entry.expect("directory entry").file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".sql"))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn embedded_lists_match_the_migration_folders() {
        let embedded = |files: &[(&str, &str)]| files.iter().map(|(name, _)| name.to_string()).collect::<Vec<_>>();
        assert_eq!(embedded(POSTGRES), folder_listing("postgres"));
        assert_eq!(embedded(SQLITE), folder_listing("sqlite"));
    }

    /// The migrations without 0004, as a database migrated before it landed has them.
    fn without_job_keys(files: &[(&'static str, &'static str)]) -> &'static [(&'static str, &'static str)] {
        let kept: Vec<_> = files.iter().copied().filter(|(name, _)| !name.starts_with("0004_")).collect();
        Box::leak(kept.into_boxed_slice())
    }

    const LEGACY_JOB: &str = "INSERT INTO jobs (id, idempotency_key, input_key, content_sha256, config_hash)
        VALUES ('00000000-0000-0000-0000-000000000001', 'abc:fp1', 'inputs/abc', 'abc', 'fp1')";
    const KEYLESS_JOB: &str = "INSERT INTO jobs (id, idempotency_key, input_key, content_sha256, config_hash)
        VALUES ('00000000-0000-0000-0000-000000000002', 'def:fp1', 'inputs/def', 'def', 'fp1')";

    /// A database migrated before 0004 existed (0001-0003, 0005, 0006) with a job queued then takes 0004 last:
    /// the job gets the key its hash and fingerprint imply, and from then on a job without a key is refused.
    #[tokio::test]
    async fn job_keys_migration_applies_to_a_database_migrated_without_it_sqlite() {
        use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
        let dir = tempfile::tempdir().expect("tempdir");
        let options = SqliteConnectOptions::new().filename(dir.path().join("old.db")).create_if_missing(true);
        let pool = SqlitePool::connect_with(options).await.expect("open");
        migrator(without_job_keys(SQLITE)).await.unwrap().run(&pool).await.expect("old migrations");
        sqlx::query(LEGACY_JOB).execute(&pool).await.expect("a job of the old version");
        migrator(SQLITE).await.unwrap().run(&pool).await.expect("0004 applied last");
        let key: String = sqlx::query_scalar("SELECT result_key FROM jobs").fetch_one(&pool).await.unwrap();
        assert_eq!(key, rythmiq_types::intake::result_key("abc", "fp1"));
        assert!(sqlx::query(KEYLESS_JOB).execute(&pool).await.is_err(), "a job without a result key");
        assert!(sqlx::query("UPDATE jobs SET result_key = NULL").execute(&pool).await.is_err());
        pool.close().await;
    }

    /// The same on PostgreSQL, in a database of its own (skipped without DATABASE_URL).
    #[tokio::test]
    async fn job_keys_migration_applies_to_a_database_migrated_without_it_postgres() {
        use sqlx::{Connection, PgConnection, PgPool};
        let Ok(admin_url) = std::env::var("DATABASE_URL") else {
            eprintln!("SKIPPED: DATABASE_URL is not set");
            return;
        };
        let name = format!("rythmiq_mig_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&admin_url).await.expect("admin connection");
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.expect("create database");
        let url = match admin_url.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => panic!("DATABASE_URL without a database name"),
        };
        let pool = PgPool::connect(&url).await.expect("connect");
        migrator(without_job_keys(POSTGRES)).await.unwrap().run(&pool).await.expect("old migrations");
        sqlx::query(LEGACY_JOB).execute(&pool).await.expect("a job of the old version");
        migrator(POSTGRES).await.unwrap().run(&pool).await.expect("0004 applied last");
        let key: String = sqlx::query_scalar("SELECT result_key FROM jobs").fetch_one(&pool).await.unwrap();
        assert_eq!(key, rythmiq_types::intake::result_key("abc", "fp1"));
        assert!(sqlx::query(KEYLESS_JOB).execute(&pool).await.is_err(), "a job without a result key");
        pool.close().await;
        sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)")).execute(&mut admin).await.expect("drop");
    }

    #[tokio::test]
    async fn file_names_resolve_to_increasing_versions() {
        for files in [POSTGRES, SQLITE] {
            let migrator = migrator(files).await.expect("resolve");
            let versions: Vec<i64> = migrator.iter().map(|m| m.version).collect();
            // Strictly increasing from 1; numbers are reserved per branch, so a gap can exist until a merge.
            assert_eq!(versions.first(), Some(&1));
            assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
        }
    }
}

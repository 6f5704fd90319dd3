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
    ("0005_interruptions.sql", include_str!("../../../migrations/postgres/0005_interruptions.sql")),
    ("0006_text_layer_route.sql", include_str!("../../../migrations/postgres/0006_text_layer_route.sql")),
];

/// (file name, SQL) of the SQLite migrations, in order.
pub(crate) const SQLITE: &[(&str, &str)] = &[
    ("0001_jobs.sql", include_str!("../../../migrations/sqlite/0001_jobs.sql")),
    ("0002_cpu_metrics.sql", include_str!("../../../migrations/sqlite/0002_cpu_metrics.sql")),
    ("0003_dashboards.sql", include_str!("../../../migrations/sqlite/0003_dashboards.sql")),
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

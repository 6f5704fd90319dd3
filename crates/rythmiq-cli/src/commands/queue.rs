//! The commands around the queue and the config: `enqueue`, `migrate`, `config`.

use anyhow::Context;

use crate::args::EnqueueArgs;
use crate::config::Config;

/// `rythmiq config`: the effective configuration, and the OpenMP settings in effect (read back from the
/// environment: proves the restart took effect, not just what was asked for).
pub fn print_config(config: &Config) -> anyhow::Result<()> {
    println!("# OMP_THREAD_LIMIT in effect: {}", std::env::var("OMP_THREAD_LIMIT").unwrap_or_default());
    println!("# OMP_WAIT_POLICY in effect: {}", std::env::var("OMP_WAIT_POLICY").unwrap_or_default());
    print!("{}", config.to_masked_toml()?);
    Ok(())
}

/// `rythmiq migrate`: the database's migrations, idempotent.
pub fn migrate(config: &Config) -> anyhow::Result<()> {
    super::runtime()?.block_on(async {
        let db = config.database.connect().await.context("connecting to the database")?;
        db.migrate().await.context("applying migrations")?;
        println!("migrations applied ({:?})", db.backend());
        Ok(())
    })
}

/// The fingerprint of the output-affecting config, from which intake derives every job's keys (the one function
/// the workers' pipelines verify jobs against).
pub fn config_hash(config: &Config) -> anyhow::Result<String> {
    Ok(config.pipeline.fingerprint()?)
}

/// `rythmiq enqueue`: store each file and queue it, as the API's POST does; one line per file on stdout (a TSV
/// table with a header, or JSON lines), refusals on stderr.
pub fn enqueue(config: Config, args: EnqueueArgs) -> anyhow::Result<()> {
    super::runtime()?.block_on(async {
        let db = config.database.connect().await.context("connecting to the database")?;
        db.migrate().await.context("applying migrations")?;
        let store = rythmiq_storage::StoreUri::parse(&config.storage_location())?.open(&config.storage.s3)?;
        let config_hash = config_hash(&config)?;
        if !args.json {
            println!("job_id\tstatus\tfile");
        }
        let mut refused = 0usize;
        for file in &args.files {
            let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            // The same intake as the API: what the API refuses is not queued from here either, and what it accepts
            // gets the same keys and the same input key.
            let admitted = match rythmiq_types::intake::admit(&bytes, &config_hash) {
                Ok(admitted) => admitted,
                Err(err) => {
                    eprintln!("{}: refused: {err}", file.display());
                    refused += 1;
                    continue;
                }
            };
            let key = admitted.keys.input_key(&config.api.input_prefix);
            store.put(&key, bytes, admitted.format.content_type()).await?;
            let mut job = rythmiq_db::NewJob::new(key, admitted.keys);
            job.priority = args.priority;
            let queued = db.enqueue(&job).await?;
            let status = if queued.created { "queued" } else { "duplicate" };
            if args.json {
                let line = serde_json::json!({
                    "job_id": queued.id.to_string(),
                    "status": status,
                    "file": file.display().to_string(),
                });
                println!("{line}");
            } else {
                println!("{}\t{status}\t{}", queued.id, file.display());
            }
        }
        anyhow::ensure!(refused == 0, "{refused} of {} files refused (nothing was queued for them)", args.files.len());
        Ok(())
    })
}

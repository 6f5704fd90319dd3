//! The adapter between the measurements (bench summary, load-test result) and the planner's plain inputs: the only
//! place that knows both, so `plan` stays free of bench and load-test types.

use std::path::Path;

use rythmiq_measure::BenchSummary;

use crate::constraints::Constraints;
use crate::plan::{
    CapacityPlan, LoadShape, MeasuredOn, MeasuredRun, PlanError, PlanInput, ReplayJob, ServiceSample, SimOptions,
};
use crate::{read_json, ReportError};
use rythmiq_measure::LoadTestResult;

/// The load test's client polls each pending document this often (`rythmiq loadtest`).
pub const LOADTEST_POLL_INTERVAL_SECS: f64 = 0.25;
/// The framework's burst when no load test gives one: 50 users x 5 documents, 10 users per second.
pub const FRAMEWORK_BURST: LoadShape =
    LoadShape { users: 50, docs_per_user: 5, spawn_rate: 10.0, poll_interval_secs: LOADTEST_POLL_INTERVAL_SECS };
/// The largest N the scan tries.
pub const MAX_CORES: u32 = 64;

/// The warm, successful documents of a bench as service samples.
pub fn service_samples(bench: &BenchSummary) -> Vec<ServiceSample> {
    bench
        .per_document
        .iter()
        .filter(|d| !d.cold_start && d.error.is_none() && d.wall_seconds > 0.0)
        .map(|d| ServiceSample { cpu_secs: d.cpu_seconds, wall_secs: d.wall_seconds })
        .collect()
}

/// A measured run's documents, user by user in submission order, as the bench measured the same pages (the mean
/// of the bench's warm, successful runs of each page): the input of `plan::simulate_documents`. Fails when the run
/// did not record which page each document was made from, or the bench has no warm run of one of them.
pub fn run_documents(bench: &BenchSummary, load: &LoadTestResult) -> Result<Vec<Vec<ServiceSample>>, PlanError> {
    let mut by_page: std::collections::HashMap<&str, (f64, f64, u32)> = Default::default();
    for d in bench.per_document.iter().filter(|d| !d.cold_start && d.error.is_none() && d.wall_seconds > 0.0) {
        let e = by_page.entry(d.document.as_str()).or_default();
        *e = (e.0 + d.cpu_seconds, e.1 + d.wall_seconds, e.2 + 1);
    }
    if load.jobs.is_empty() {
        return Err(PlanError::NotRecorded("per-document records (`jobs`)".into()));
    }
    let mut jobs: Vec<_> = load.jobs.iter().collect();
    jobs.sort_by(|a, b| a.user.cmp(&b.user).then(a.submitted_at_secs.total_cmp(&b.submitted_at_secs)));
    let mut by_user: Vec<Vec<ServiceSample>> = Vec::new();
    for j in jobs {
        let page =
            j.source.as_deref().ok_or_else(|| PlanError::NotRecorded("the page each document was made from".into()))?;
        let &(cpu, wall, n) = by_page.get(page).ok_or_else(|| PlanError::NotInBench(page.to_string()))?;
        let user = j.user as usize;
        if by_user.len() <= user {
            by_user.resize(user + 1, Vec::new());
        }
        by_user[user].push(ServiceSample { cpu_secs: cpu / f64::from(n), wall_secs: wall / f64::from(n) });
    }
    Ok(by_user)
}

/// The shape of a measured load test.
pub fn load_shape(load: &LoadTestResult) -> LoadShape {
    LoadShape {
        users: load.users,
        docs_per_user: load.docs_per_user,
        spawn_rate: load.spawn_rate,
        poll_interval_secs: LOADTEST_POLL_INTERVAL_SECS,
    }
}

/// A measured run's successful documents as replay jobs (`plan::replay`): each arrives at the server's
/// `enqueued_at`, needs its `finished_at - started_at`, and is polled from its user's last accepted submission.
pub fn replay_jobs(load: &LoadTestResult) -> Result<Vec<ReplayJob>, PlanError> {
    if load.jobs.is_empty() {
        return Err(PlanError::NotRecorded("per-document records (`jobs`)".into()));
    }
    let mut last_accept: std::collections::HashMap<u32, f64> = Default::default();
    for j in &load.jobs {
        let e = last_accept.entry(j.user).or_insert(j.accepted_at_secs);
        *e = e.max(j.accepted_at_secs);
    }
    load.jobs
        .iter()
        .filter(|j| !j.failed)
        .map(|j| {
            let missing = |what: &str| PlanError::NotRecorded(format!("the server's {what} of user {}'s job", j.user));
            let started = j.server_started_at_secs.ok_or_else(|| missing("started_at"))?;
            let finished = j.server_finished_at_secs.ok_or_else(|| missing("finished_at"))?;
            Ok(ReplayJob {
                submitted_secs: j.submitted_at_secs,
                arrival_secs: j.server_enqueued_at_secs.ok_or_else(|| missing("enqueued_at"))?,
                service_secs: finished - started,
                poll_anchor_secs: last_accept.get(&j.user).copied().unwrap_or(j.accepted_at_secs),
            })
        })
        .collect()
}

/// The planner's input for a report: the design load is the load test's when one was run (its figures are then set
/// beside the prediction), else the framework's burst. "This machine" is the bench's, else the load test's. The
/// server's slots are `server_slots` when given, else what the load test read from the server's `/metrics`.
pub fn plan_input(
    c: &Constraints,
    bench: &BenchSummary,
    load: Option<&LoadTestResult>,
    server_slots: Option<u32>,
) -> PlanInput {
    PlanInput {
        samples: service_samples(bench),
        measured_on: MeasuredOn {
            host: bench.host.clone(),
            cores: bench.cores,
            run_date: bench.run_date.clone(),
            documents: bench.documents,
        },
        design: load.map_or(FRAMEWORK_BURST, load_shape),
        p95_limit_secs: c.p95_latency_limit_secs,
        max_cores: MAX_CORES,
        machine_cores: bench.cores.or(load.map(|l| l.cores)).unwrap_or(1).max(1),
        documents_per_day: c.documents_per_day,
        days_per_month: c.days_per_month,
        budget_cpu_hours_per_month: c.budget_cpu_hours_per_month,
        measured: load.map(|l| MeasuredRun {
            shape: load_shape(l),
            cores: l.cores.max(1),
            slots: server_slots.or(l.server_slots),
            p95_secs: l.latency_p95_secs,
            throughput_docs_per_sec: l.throughput_sustained_docs_per_sec,
            // A run that did not record its documents (an older load test) is compared from the bench alone.
            jobs: replay_jobs(l).unwrap_or_default(),
            // A run whose pages the bench did not all measure is compared from the bench's mix alone.
            documents: run_documents(bench, l).unwrap_or_default(),
        }),
        sim: SimOptions::default(),
    }
}

/// What `rythmiq plan` may override in the input the files give.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlanOverrides {
    pub users: Option<u32>,
    pub docs_per_user: Option<u32>,
    pub spawn_rate: Option<f64>,
    /// Cores of the machine the "this machine" table is for (default: the bench's).
    pub machine_cores: Option<u32>,
    /// Worker slots of the server the load test ran against (default: what the load test recorded, else one per
    /// core).
    pub server_slots: Option<u32>,
    pub max_cores: Option<u32>,
}

/// `rythmiq plan`: reads a bench summary (and a load test), applies the overrides and runs the planner.
pub fn plan_from_files(
    c: &Constraints,
    bench_path: &Path,
    load_path: Option<&Path>,
    o: &PlanOverrides,
) -> Result<CapacityPlan, ReportError> {
    c.validate()?;
    let bench: BenchSummary = read_json(bench_path)?;
    let load: Option<LoadTestResult> = load_path.map(read_json).transpose()?;
    let mut input = plan_input(c, &bench, load.as_ref(), o.server_slots);
    input.design.users = o.users.unwrap_or(input.design.users);
    input.design.docs_per_user = o.docs_per_user.unwrap_or(input.design.docs_per_user);
    input.design.spawn_rate = o.spawn_rate.unwrap_or(input.design.spawn_rate);
    input.machine_cores = o.machine_cores.unwrap_or(input.machine_cores);
    input.max_cores = o.max_cores.unwrap_or(input.max_cores);
    Ok(crate::plan::plan(&input)?)
}

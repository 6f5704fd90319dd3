//! The capacity planner: a discrete-event simulation of the load test's burst on N worker slots, from a bench's
//! per-document CPU and wall times, that predicts P50/P95/P99 and throughput and finds the cores (pods) the burst
//! needs to hold P95 under the limit.
//!
//! The model, in one place (each assumption is one the validation in the crate README measures):
//! - Arrivals are the load generator's: user `u` starts at `u / spawn_rate` and submits its documents back to back;
//!   the queue is FIFO; a free slot takes the next job at once (the queue notifies the workers).
//! - A job needs its bench wall time when it runs alone and uses `cpu / wall` of a core meanwhile. When the running
//!   jobs together ask for more cores than the machine has, every running job slows by the same factor
//!   (`cores / demand`): processor sharing. So slots beyond the cores add no throughput, only contention.
//! - The client sees a document done at its next status poll: user `u` polls at `start + k x poll_interval`.
//! - Service times are the bench's warm, successful documents drawn in a seeded shuffle, over several
//!   replications; the percentiles are nearest-rank over every replication's latencies.
//!
//! The simulation takes plain numbers (no bench or pipeline types) so that it can be tested on its own. [`replay`]
//! runs the same queue on a measured run's own arrivals and service times: the check of the model against real runs
//! ([`REPLAY_TOLERANCE`]), independent of how loaded the machine was.

use serde::{Deserialize, Serialize};

/// One measured document: its CPU and wall seconds, alone on a warm worker.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceSample {
    pub cpu_secs: f64,
    pub wall_secs: f64,
}

/// The load generator's burst (`rythmiq loadtest`'s flags).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadShape {
    pub users: u32,
    pub docs_per_user: u32,
    /// Users started per second.
    pub spawn_rate: f64,
    /// The client's status poll interval, seconds (the load test's is 0.25 s).
    pub poll_interval_secs: f64,
}

impl LoadShape {
    /// The same burst with twice the users (the framework's 2x question).
    pub fn doubled(self) -> LoadShape {
        LoadShape { users: self.users * 2, ..self }
    }

    pub fn documents(&self) -> u64 {
        u64::from(self.users) * u64::from(self.docs_per_user)
    }
}

/// Why a plan cannot be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    #[error("no measured document to draw service times from (the bench has no warm, successful document)")]
    NoSamples,
    #[error("{field} must be a finite number greater than 0 (got {value})")]
    NotPositive { field: &'static str, value: f64 },
    #[error("the load test did not record {0}: run it again with this version of `rythmiq loadtest`")]
    NotRecorded(String),
    #[error("the bench has no warm, successful run of {0}, a page the load test submitted: bench the same corpus")]
    NotInBench(String),
}

/// The predicted figures of one simulated configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    pub cores: u32,
    pub slots: u32,
    pub users: u32,
    pub documents: u64,
    pub p50_secs: f64,
    pub p95_secs: f64,
    pub p99_secs: f64,
    /// Documents / (last completion - first arrival), mean over replications.
    pub throughput_docs_per_sec: f64,
    /// Mean over replications of the time from the first arrival to the last completion.
    pub makespan_secs: f64,
}

/// How many shuffled replications a prediction averages over, and the seed of the first.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SimOptions {
    pub replications: u32,
    pub seed: u64,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions { replications: 20, seed: 0x5eed }
    }
}

/// splitmix64: a small, dependency-free generator; only the shuffle of service times needs randomness.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn positive(field: &'static str, value: f64) -> Result<(), PlanError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(PlanError::NotPositive { field, value })
    }
}

/// Nearest-rank percentile of sorted values.
fn nearest_rank(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

struct Running {
    /// Index into the arrivals.
    job: usize,
    /// Seconds of solo running left.
    remaining: f64,
    /// Cores it uses while it runs: cpu / wall, at most one (the OCR runs one thread per document).
    demand: f64,
}

/// One job offered to the queue: when it arrives, where its latency is counted from, when its client's polls start
/// (it polls at `poll_anchor + k x poll`, k >= 1) and its service.
#[derive(Clone, Copy, Debug)]
struct Arrival {
    at: f64,
    origin: f64,
    poll_anchor: f64,
    sample: ServiceSample,
}

/// The queue itself: FIFO in arrival order (`arrivals` sorted by `at`), `slots` workers, processor sharing over
/// `cores`, the client's polls. Returns each job's latency (seen done - origin), in arrival order, and the time the
/// last job finished.
fn run_queue(arrivals: &[Arrival], cores: u32, slots: u32, poll: f64) -> (Vec<f64>, f64) {
    let mut next = 0usize;
    let mut queue: std::collections::VecDeque<usize> = Default::default();
    let mut running: Vec<Running> = Vec::with_capacity(slots as usize);
    let mut latencies = vec![0.0; arrivals.len()];
    let mut t = 0.0_f64;
    let mut last_done = 0.0_f64;
    loop {
        // Admit everything that has arrived by now, then fill free slots.
        while next < arrivals.len() && arrivals[next].at <= t {
            queue.push_back(next);
            next += 1;
        }
        while running.len() < slots as usize {
            let Some(job) = queue.pop_front() else { break };
            let s = arrivals[job].sample;
            let wall = s.wall_secs.max(s.cpu_secs).max(1e-9);
            running.push(Running { job, remaining: wall, demand: (s.cpu_secs / wall).clamp(0.0, 1.0) });
        }
        let next_arrival = arrivals.get(next).map(|a| a.at);
        if running.is_empty() {
            match next_arrival {
                Some(at) => {
                    t = t.max(at);
                    continue;
                }
                None => break,
            }
        }
        let demand: f64 = running.iter().map(|r| r.demand).sum();
        let rate = if demand > f64::from(cores) { f64::from(cores) / demand } else { 1.0 };
        let (first_idx, first_left) = running
            .iter()
            .enumerate()
            .map(|(i, r)| (i, r.remaining))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((0, 0.0));
        let to_completion = first_left / rate;
        let dt = match next_arrival {
            Some(at) if at - t < to_completion => (at - t).max(0.0),
            _ => to_completion,
        };
        for r in &mut running {
            r.remaining -= dt * rate;
        }
        t += dt;
        if dt >= to_completion {
            // The earliest job finishes now (others with the same remaining finish in the next rounds at dt 0).
            let done = running.swap_remove(first_idx);
            let a = &arrivals[done.job];
            let polls = ((t - a.poll_anchor) / poll).ceil().max(1.0);
            latencies[done.job] = a.poll_anchor + polls * poll - a.origin;
            last_done = t;
        }
    }
    (latencies, last_done)
}

/// One replication: the latencies (submit to seen done) and the makespan.
fn replicate(
    samples: &[ServiceSample],
    shape: &LoadShape,
    cores: u32,
    slots: u32,
    rng: &mut SplitMix,
) -> (Vec<f64>, f64) {
    // The service order: the samples shuffled, cycled over as many documents as the burst has.
    let mut order: Vec<usize> = (0..samples.len()).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i + 1));
    }
    let per_user = shape.docs_per_user as usize;
    let by_user = (0..shape.users as usize)
        .map(|u| (0..per_user).map(|d| samples[order[(u * per_user + d) % order.len()]]).collect())
        .collect::<Vec<Vec<_>>>();
    run_queue(&burst_arrivals(&by_user, shape.spawn_rate), cores, slots, shape.poll_interval_secs)
}

/// The burst's FIFO arrivals: user `u` starts at `u / spawn_rate` and submits its documents back to back; it polls
/// from its start.
fn burst_arrivals(by_user: &[Vec<ServiceSample>], spawn_rate: f64) -> Vec<Arrival> {
    by_user
        .iter()
        .enumerate()
        .flat_map(|(u, docs)| {
            let start = u as f64 / spawn_rate;
            docs.iter().map(move |&sample| Arrival { at: start, origin: start, poll_anchor: start, sample })
        })
        .collect()
}

/// [`simulate`] for a burst whose documents are known: user `u` submits the documents `by_user[u]` (their bench
/// figures) in that order. Nothing is drawn at random, so one run is the prediction; this is how a measured load
/// test is predicted from a bench of the same pages, with the document mix taken out of the comparison.
pub fn simulate_documents(
    by_user: &[Vec<ServiceSample>],
    shape: &LoadShape,
    cores: u32,
    slots: u32,
) -> Result<Prediction, PlanError> {
    let samples: Vec<ServiceSample> = by_user.iter().flatten().copied().collect();
    // Each user may submit a different number of documents; the shape's own counts are not used.
    let users = u32::try_from(by_user.len()).unwrap_or(u32::MAX);
    check_inputs(&samples, &LoadShape { users, docs_per_user: 1, ..*shape }, cores, slots)?;
    let (mut lat, last) = run_queue(&burst_arrivals(by_user, shape.spawn_rate), cores, slots, shape.poll_interval_secs);
    lat.sort_by(f64::total_cmp);
    Ok(Prediction {
        cores,
        slots,
        users,
        documents: lat.len() as u64,
        p50_secs: nearest_rank(&lat, 50.0),
        p95_secs: nearest_rank(&lat, 95.0),
        p99_secs: nearest_rank(&lat, 99.0),
        throughput_docs_per_sec: if last > 0.0 { lat.len() as f64 / last } else { 0.0 },
        makespan_secs: last,
    })
}

/// One document of a measured load test, for [`replay`]: what the run itself recorded, in seconds since the load
/// started.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplayJob {
    /// The client started the submission (latency counts from here).
    pub submitted_secs: f64,
    /// The job entered the queue (the server's `enqueued_at`).
    pub arrival_secs: f64,
    /// The server's `finished_at - started_at`: the service this job got in this run, on this machine as loaded.
    pub service_secs: f64,
    /// The client's polls for this job start here (its user's last accepted submission); it polls every interval.
    pub poll_anchor_secs: f64,
}

/// A measured run replayed through the queue model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Replay {
    pub documents: usize,
    pub slots: u32,
    /// Predicted latencies (submit to seen done), ascending.
    pub predicted_secs: Vec<f64>,
    pub p50_secs: f64,
    pub p95_secs: f64,
    pub p99_secs: f64,
}

/// Replays a measured run through the planner's queue (the same code [`simulate`] runs): each job arrives when the
/// run's job arrived and needs the service it got in the run, on `slots` slots; the client sees it at its next poll.
/// Fed the run's own service times, the prediction is independent of how fast the machine was: it tests the queue
/// (FIFO, slots, dispatch, polling), not the service times, which [`simulate`] takes from a bench.
///
/// The service times already include whatever sharing of the cores happened in the run, so the replay applies no
/// processor sharing of its own (slots <= cores, every job's demand one core or less).
pub fn replay(jobs: &[ReplayJob], slots: u32, poll_interval_secs: f64) -> Result<Replay, PlanError> {
    if jobs.is_empty() {
        return Err(PlanError::NoSamples);
    }
    positive("slots", f64::from(slots))?;
    positive("poll_interval_secs", poll_interval_secs)?;
    for j in jobs {
        positive("service_secs", j.service_secs)?;
        for (field, v) in [
            ("submitted_secs", j.submitted_secs),
            ("arrival_secs", j.arrival_secs),
            ("poll_anchor_secs", j.poll_anchor_secs),
        ] {
            if !v.is_finite() {
                return Err(PlanError::NotPositive { field, value: v });
            }
        }
    }
    let mut arrivals: Vec<Arrival> = jobs
        .iter()
        .map(|j| Arrival {
            at: j.arrival_secs,
            origin: j.submitted_secs,
            poll_anchor: j.poll_anchor_secs,
            sample: ServiceSample { cpu_secs: j.service_secs, wall_secs: j.service_secs },
        })
        .collect();
    arrivals.sort_by(|a, b| a.at.total_cmp(&b.at));
    let (mut predicted, _) = run_queue(&arrivals, slots, slots, poll_interval_secs);
    predicted.sort_by(f64::total_cmp);
    Ok(Replay {
        documents: jobs.len(),
        slots,
        p50_secs: nearest_rank(&predicted, 50.0),
        p95_secs: nearest_rank(&predicted, 95.0),
        p99_secs: nearest_rank(&predicted, 99.0),
        predicted_secs: predicted,
    })
}

fn check_inputs(samples: &[ServiceSample], shape: &LoadShape, cores: u32, slots: u32) -> Result<(), PlanError> {
    if samples.is_empty() {
        return Err(PlanError::NoSamples);
    }
    positive("cores", f64::from(cores))?;
    positive("slots", f64::from(slots))?;
    positive("users", f64::from(shape.users))?;
    positive("docs_per_user", f64::from(shape.docs_per_user))?;
    positive("spawn_rate", shape.spawn_rate)?;
    positive("poll_interval_secs", shape.poll_interval_secs)?;
    for s in samples {
        positive("wall_secs", s.wall_secs)?;
        if !(s.cpu_secs.is_finite() && s.cpu_secs >= 0.0) {
            return Err(PlanError::NotPositive { field: "cpu_secs", value: s.cpu_secs });
        }
    }
    Ok(())
}

/// Simulates `shape` on a machine with `cores` cores running `slots` worker slots.
pub fn simulate(
    samples: &[ServiceSample],
    shape: &LoadShape,
    cores: u32,
    slots: u32,
    opts: &SimOptions,
) -> Result<Prediction, PlanError> {
    check_inputs(samples, shape, cores, slots)?;
    let mut rng = SplitMix(opts.seed);
    let reps = opts.replications.max(1);
    let mut all = Vec::new();
    let (mut makespan_sum, mut throughput_sum) = (0.0, 0.0);
    for _ in 0..reps {
        let (lat, last) = replicate(samples, shape, cores, slots, &mut rng);
        makespan_sum += last;
        if last > 0.0 {
            throughput_sum += lat.len() as f64 / last;
        }
        all.extend(lat);
    }
    all.sort_by(f64::total_cmp);
    Ok(Prediction {
        cores,
        slots,
        users: shape.users,
        documents: shape.documents(),
        p50_secs: nearest_rank(&all, 50.0),
        p95_secs: nearest_rank(&all, 95.0),
        p99_secs: nearest_rank(&all, 99.0),
        throughput_docs_per_sec: throughput_sum / f64::from(reps),
        makespan_secs: makespan_sum / f64::from(reps),
    })
}

/// Where the planner's CPU figures come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeasuredOn {
    /// The bench's host, when it recorded one.
    pub host: Option<String>,
    /// The bench machine's cores, when recorded.
    pub cores: Option<u32>,
    pub run_date: String,
    pub documents: usize,
}

/// A measured load test to set beside its prediction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeasuredRun {
    pub shape: LoadShape,
    pub cores: u32,
    /// Worker slots of the server under test, when known.
    pub slots: Option<u32>,
    pub p95_secs: f64,
    pub throughput_docs_per_sec: f64,
    /// The run's own documents (arrival, service), when it recorded them: the replay check.
    #[serde(default)]
    pub jobs: Vec<ReplayJob>,
    /// The run's pages user by user, as the bench measured them (when the bench has every page the run
    /// submitted): the bench check.
    #[serde(default)]
    pub documents: Vec<Vec<ServiceSample>>,
}

/// How close a prediction must come to a measured P95: `|predicted - measured| <= relative x measured + absolute`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tolerance {
    pub relative: f64,
    pub absolute_secs: f64,
}

impl Tolerance {
    pub fn allowed_secs(&self, measured_secs: f64) -> f64 {
        self.relative * measured_secs + self.absolute_secs
    }

    pub fn holds(&self, predicted_secs: f64, measured_secs: f64) -> bool {
        (predicted_secs - measured_secs).abs() <= self.allowed_secs(measured_secs)
    }
}

impl std::fmt::Display for Tolerance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "+-{:.0}% + {:.2} s", self.relative * 100.0, self.absolute_secs)
    }
}

/// The replay's tolerance: how far the queue model, fed a run's own arrivals and service times, may miss the run's
/// P95. Chosen from the 12 runs `scripts/plan-validation` recorded (1 and 2 slots, three loads, two repeats; the
/// table in the crate README): the largest miss was 0.29 s (0.44%), while repeats of one configuration differed by
/// up to 21% (the machine's load, which the replay removes). The absolute part is two client poll intervals (a
/// document is seen done only at a poll, one either side); the relative part, 5%, is ten times the largest relative
/// miss, room for a worker's dispatch delay on another machine without admitting a wrong queue discipline (one job
/// served out of order in a small burst moves the P95 by a whole service time).
pub const REPLAY_TOLERANCE: Tolerance = Tolerance { relative: 0.05, absolute_secs: 0.5 };

/// A prediction of a measured run's P95 set against the run, within a tolerance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct P95Check {
    pub predicted_p95_secs: f64,
    pub measured_p95_secs: f64,
    pub tolerance: Tolerance,
    pub within: bool,
}

impl P95Check {
    pub fn new(predicted_p95_secs: f64, measured_p95_secs: f64, tolerance: Tolerance) -> P95Check {
        let within = tolerance.holds(predicted_p95_secs, measured_p95_secs);
        P95Check { predicted_p95_secs, measured_p95_secs, tolerance, within }
    }

    /// (predicted - measured) / measured.
    pub fn error(&self) -> f64 {
        (self.predicted_p95_secs - self.measured_p95_secs) / self.measured_p95_secs.max(1e-9)
    }

    /// The figures and the verdict against the tolerance, with the arithmetic.
    pub fn figures(&self) -> String {
        let (p, m) = (self.predicted_p95_secs, self.measured_p95_secs);
        format!(
            "P95 {p:.2} s predicted vs {m:.2} s measured, error {:+.1}% ({}: |{p:.2} - {m:.2}| = {:.2} s against {:.2} s allowed, tolerance {})",
            self.error() * 100.0,
            if self.within { "within" } else { "OUTSIDE" },
            (p - m).abs(),
            self.tolerance.allowed_secs(m),
            self.tolerance
        )
    }
}

fn slots_text(slots: u32) -> String {
    format!("{slots} slot{}", if slots == 1 { "" } else { "s" })
}

/// A measured run replayed through the queue model, against its measured P95.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplayCheck {
    pub replay: Replay,
    pub check: P95Check,
}

impl ReplayCheck {
    pub fn new(replay: Replay, measured_p95_secs: f64, tolerance: Tolerance) -> ReplayCheck {
        let check = P95Check::new(replay.p95_secs, measured_p95_secs, tolerance);
        ReplayCheck { replay, check }
    }

    /// One sentence with the figures and the verdict against the tolerance.
    pub fn line(&self) -> String {
        format!(
            "Replay of the measured run's own {} documents (their arrivals and server service times) through the queue model on {}: {}.",
            self.replay.documents,
            slots_text(self.replay.slots),
            self.check.figures()
        )
    }
}

/// How far the planner, given a bench's figures for the very pages a load test submitted, may miss the test's
/// measured P95 on the same machine. Chosen from the 18 runs `scripts/plan-validation` recorded on a quiet machine
/// (1 and 2 slots, three loads, three repeats; the crate README's table): the largest miss was 5.4%, as large as
/// the largest spread between repeats of one configuration (5.4%), so the bench predicts a run about as well as
/// one run predicts its repeat. The relative part, 10%, is about twice that; the absolute part is two client poll
/// intervals, as for the replay. Unlike the replay this checks the bench's service times too, so it holds only
/// when the bench and the run saw the machine equally busy: on a shared, loaded machine the misses were 9-50%.
pub const BENCH_TOLERANCE: Tolerance = Tolerance { relative: 0.10, absolute_secs: 0.5 };

/// A measured run predicted from the bench's figures for its own pages ([`simulate_documents`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchCheck {
    pub predicted: Prediction,
    pub check: P95Check,
}

impl BenchCheck {
    pub fn new(predicted: Prediction, measured_p95_secs: f64, tolerance: Tolerance) -> BenchCheck {
        let check = P95Check::new(predicted.p95_secs, measured_p95_secs, tolerance);
        BenchCheck { predicted, check }
    }

    /// One sentence with the figures and the verdict against the tolerance.
    pub fn line(&self) -> String {
        format!(
            "From the bench's figures for the run's own {} pages (each user's pages in its order, the generator's arrivals) on {}: {}.",
            self.predicted.documents,
            slots_text(self.predicted.slots),
            self.check.figures()
        )
    }
}

/// The planner's inputs, all plain numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanInput {
    pub samples: Vec<ServiceSample>,
    pub measured_on: MeasuredOn,
    pub design: LoadShape,
    pub p95_limit_secs: f64,
    /// The largest N (cores = slots = N) to try.
    pub max_cores: u32,
    /// Cores of the machine the figures are for (the "this machine" table: slots 1..=2 x cores on it).
    pub machine_cores: u32,
    pub documents_per_day: u32,
    pub days_per_month: u32,
    pub budget_cpu_hours_per_month: f64,
    pub measured: Option<MeasuredRun>,
    pub sim: SimOptions,
}

/// One N of the scan: N cores running N slots, at the design load and at twice it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanRow {
    pub cores: u32,
    pub design: Prediction,
    pub double: Prediction,
}

/// The planner's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CapacityPlan {
    pub measured_on: MeasuredOn,
    pub design: LoadShape,
    pub p95_limit_secs: f64,
    /// Mean CPU and wall seconds of the service samples.
    pub mean_cpu_secs: f64,
    pub mean_wall_secs: f64,
    pub samples: usize,
    /// N = 1, 2, ... until both loads hold the limit (or `max_cores`).
    pub rows: Vec<PlanRow>,
    /// Smallest N whose design-load P95 is at or under the limit; `None` when `max_cores` does not suffice.
    pub cores_for_design: Option<u32>,
    pub cores_for_double: Option<u32>,
    /// This machine (`machine_cores`) with 1..=2 x cores slots at the design load: slots past the cores add nothing.
    pub this_machine: Vec<Prediction>,
    pub machine_cores: u32,
    /// mean CPU x docs/day x days / 3600.
    pub monthly_cpu_hours: f64,
    pub budget_cpu_hours_per_month: f64,
    pub documents_per_day: u32,
    pub days_per_month: u32,
    /// A measured run beside the prediction for its shape, cores and slots.
    pub measured: Option<(MeasuredRun, Prediction)>,
    /// The measured run replayed through the queue model, when it recorded its documents.
    #[serde(default)]
    pub replay: Option<ReplayCheck>,
    /// The measured run predicted from the bench's figures for its own pages, when the bench has them all.
    #[serde(default)]
    pub bench_check: Option<BenchCheck>,
    pub replications: u32,
}

/// Runs the scan.
pub fn plan(input: &PlanInput) -> Result<CapacityPlan, PlanError> {
    if input.samples.is_empty() {
        return Err(PlanError::NoSamples);
    }
    positive("p95_limit_secs", input.p95_limit_secs)?;
    positive("max_cores", f64::from(input.max_cores))?;
    positive("machine_cores", f64::from(input.machine_cores))?;
    let n = input.samples.len() as f64;
    let mean_cpu_secs = input.samples.iter().map(|s| s.cpu_secs).sum::<f64>() / n;
    let mean_wall_secs = input.samples.iter().map(|s| s.wall_secs).sum::<f64>() / n;
    let limit = input.p95_limit_secs;
    let (mut rows, mut cores_for_design, mut cores_for_double) = (Vec::new(), None, None);
    for cores in 1..=input.max_cores {
        let design = simulate(&input.samples, &input.design, cores, cores, &input.sim)?;
        let double = simulate(&input.samples, &input.design.doubled(), cores, cores, &input.sim)?;
        if cores_for_design.is_none() && crate::constraints::at_or_under(design.p95_secs, limit) {
            cores_for_design = Some(cores);
        }
        if cores_for_double.is_none() && crate::constraints::at_or_under(double.p95_secs, limit) {
            cores_for_double = Some(cores);
        }
        rows.push(PlanRow { cores, design, double });
        if cores_for_double.is_some_and(|d| cores > d) {
            break; // one row past the answer shows the curve flattening
        }
    }
    let this_machine = (1..=2 * input.machine_cores)
        .map(|slots| simulate(&input.samples, &input.design, input.machine_cores, slots, &input.sim))
        .collect::<Result<Vec<_>, _>>()?;
    let measured = match &input.measured {
        Some(m) => {
            let slots = m.slots.unwrap_or(m.cores);
            Some((m.clone(), simulate(&input.samples, &m.shape, m.cores, slots, &input.sim)?))
        }
        None => None,
    };
    let replay_check = match &input.measured {
        Some(m) if !m.jobs.is_empty() => Some(ReplayCheck::new(
            replay(&m.jobs, m.slots.unwrap_or(m.cores), m.shape.poll_interval_secs)?,
            m.p95_secs,
            REPLAY_TOLERANCE,
        )),
        _ => None,
    };
    let bench_check = match &input.measured {
        Some(m) if !m.documents.is_empty() => Some(BenchCheck::new(
            simulate_documents(&m.documents, &m.shape, m.cores, m.slots.unwrap_or(m.cores))?,
            m.p95_secs,
            BENCH_TOLERANCE,
        )),
        _ => None,
    };
    Ok(CapacityPlan {
        measured_on: input.measured_on.clone(),
        design: input.design,
        p95_limit_secs: limit,
        mean_cpu_secs,
        mean_wall_secs,
        samples: input.samples.len(),
        rows,
        cores_for_design,
        cores_for_double,
        this_machine,
        machine_cores: input.machine_cores,
        monthly_cpu_hours: mean_cpu_secs * f64::from(input.documents_per_day) * f64::from(input.days_per_month)
            / 3600.0,
        budget_cpu_hours_per_month: input.budget_cpu_hours_per_month,
        documents_per_day: input.documents_per_day,
        days_per_month: input.days_per_month,
        measured,
        replay: replay_check,
        bench_check,
        replications: input.sim.replications.max(1),
    })
}

impl CapacityPlan {
    /// The sentence the report leads with, e.g. "GO on CPU; the burst needs 5 cores (or pods) for P95 < 30 s".
    pub fn headline(&self, cpu_within_budget: bool) -> String {
        let cpu = if cpu_within_budget { "GO on CPU" } else { "over the CPU budget" };
        let limit = self.p95_limit_secs;
        match (self.cores_for_design, self.cores_for_double) {
            (Some(d), Some(x)) => format!(
                "{cpu}; the burst needs {d} core{} (or pods) for P95 < {limit:.0} s, {x} for twice the load",
                if d == 1 { "" } else { "s" }
            ),
            (Some(d), None) => format!(
                "{cpu}; the burst needs {d} core{} (or pods) for P95 < {limit:.0} s; twice the load is not held by {} cores",
                if d == 1 { "" } else { "s" },
                self.rows.len()
            ),
            (None, _) => format!(
                "{cpu}; no N up to {} cores holds the burst's P95 under {limit:.0} s (a single document is too slow, or the burst too large)",
                self.rows.len()
            ),
        }
    }

    /// The most documents per second `machine_cores` can process whatever the slots: cores / mean CPU-s.
    pub fn cpu_bound_docs_per_sec(&self) -> f64 {
        f64::from(self.machine_cores) / self.mean_cpu_secs.max(1e-9)
    }

    /// The machine the CPU figures come from, in words.
    pub fn source_line(&self) -> String {
        let m = &self.measured_on;
        format!(
            "CPU and wall times from the bench of {} ({} documents, {} warm and successful used) on host {} with {} cores",
            m.run_date,
            m.documents,
            self.samples,
            m.host.as_deref().unwrap_or("(not recorded by this bench)"),
            m.cores.map_or("(not recorded)".into(), |c| c.to_string())
        )
    }

    /// The plan as plain text (the `plan` command's output and the report's section), with the arithmetic.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let d = &self.design;
        out.push_str(&format!("{}.\n", self.source_line()));
        out.push_str(&format!(
            "Mean per document: {:.3} CPU-s, {:.3} s wall alone. Design load: {} users x {} docs = {} documents, spawn {} users/s, client polls every {} s.\n",
            self.mean_cpu_secs,
            self.mean_wall_secs,
            d.users,
            d.docs_per_user,
            d.documents(),
            d.spawn_rate,
            d.poll_interval_secs
        ));
        out.push_str(&format!(
            "Monthly CPU: {:.3} CPU-s x {} docs/day x {} days / 3600 = {:.2} h of {:.0} h ({:.1}%).\n\n",
            self.mean_cpu_secs,
            self.documents_per_day,
            self.days_per_month,
            self.monthly_cpu_hours,
            self.budget_cpu_hours_per_month,
            self.monthly_cpu_hours / self.budget_cpu_hours_per_month * 100.0
        ));
        out.push_str(&format!(
            "N cores = N slots (one slot per core) | design {} docs: P50 / P95 / P99 s, docs/s | 2x {} docs: P50 / P95 / P99 s, docs/s\n",
            d.documents(),
            d.doubled().documents()
        ));
        for r in &self.rows {
            out.push_str(&format!(
                "{:>3} | {:>7.2} {:>7.2} {:>7.2} {:>6.2} | {:>7.2} {:>7.2} {:>7.2} {:>6.2}{}\n",
                r.cores,
                r.design.p50_secs,
                r.design.p95_secs,
                r.design.p99_secs,
                r.design.throughput_docs_per_sec,
                r.double.p50_secs,
                r.double.p95_secs,
                r.double.p99_secs,
                r.double.throughput_docs_per_sec,
                match (Some(r.cores) == self.cores_for_design, Some(r.cores) == self.cores_for_double) {
                    (true, true) => "  <- smallest N for P95 <= limit, design and 2x",
                    (true, false) => "  <- smallest N for P95 <= limit, design load",
                    (false, true) => "  <- smallest N for P95 <= limit, 2x load",
                    _ => "",
                }
            ));
        }
        out.push_str(&format!(
            "\nOn this machine ({} cores), design load, by worker slots (more slots than cores add no CPU capacity: throughput stays under {} cores / {:.3} CPU-s = {:.2} docs/s; extra slots only overlap a job's non-CPU wait):\n",
            self.machine_cores,
            self.machine_cores,
            self.mean_cpu_secs,
            self.cpu_bound_docs_per_sec()
        ));
        for p in &self.this_machine {
            out.push_str(&format!(
                "slots {:>2}: P95 {:>7.2} s, {:>5.2} docs/s{}\n",
                p.slots,
                p.p95_secs,
                p.throughput_docs_per_sec,
                if p.slots > self.machine_cores { "  (slots > cores)" } else { "" }
            ));
        }
        if let Some((m, p)) = &self.measured {
            out.push_str(&format!(
                "\nMeasured load test ({} users x {} docs, {} cores, {} slots{}): P95 {:.2} s measured vs {:.2} s predicted; {:.2} vs {:.2} docs/s.\n",
                m.shape.users,
                m.shape.docs_per_user,
                m.cores,
                p.slots,
                if m.slots.is_some() { "" } else { " assumed, one per core: the server did not report its slots" },
                m.p95_secs,
                p.p95_secs,
                m.throughput_docs_per_sec,
                p.throughput_docs_per_sec
            ));
            out.push_str(&format!(
                "From the bench's service times the P95 is off by {:+.1}% (the bench ran on {}; this run's machine may have been faster or busier).\n",
                (p.p95_secs - m.p95_secs) / m.p95_secs.max(1e-9) * 100.0,
                self.measured_on.host.as_deref().unwrap_or("a host the bench did not record")
            ));
        }
        if let Some(b) = &self.bench_check {
            out.push_str(&b.line());
            out.push('\n');
        }
        if let Some(r) = &self.replay {
            out.push_str(&r.line());
            out.push('\n');
        }
        out.push_str(&format!(
            "\nModel: FIFO queue, N slots; a job runs its measured wall time alone and uses cpu/wall of a core; when the running jobs ask for more cores than there are, all slow equally (processor sharing); the client sees a job done at its next poll. {} shuffled replications.\n",
            self.replications
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(users: u32, docs: u32) -> LoadShape {
        LoadShape { users, docs_per_user: docs, spawn_rate: 1e9, poll_interval_secs: 1e-6 }
    }

    const ONE: SimOptions = SimOptions { replications: 1, seed: 1 };

    #[test]
    fn a_fifo_queue_of_equal_jobs_on_one_slot_finishes_them_one_after_another() {
        // 4 jobs of 1 s at t=0 on one slot: done at 1, 2, 3, 4 s.
        let s = [ServiceSample { cpu_secs: 1.0, wall_secs: 1.0 }];
        let p = simulate(&s, &shape(4, 1), 1, 1, &ONE).unwrap();
        assert!((p.p50_secs - 2.0).abs() < 1e-3, "{p:?}");
        assert!((p.p95_secs - 4.0).abs() < 1e-3, "{p:?}");
        assert!((p.makespan_secs - 4.0).abs() < 1e-3);
        assert!((p.throughput_docs_per_sec - 1.0).abs() < 1e-3);
        // Two slots on two cores halve the makespan: done at 1, 1, 2, 2.
        let p = simulate(&s, &shape(4, 1), 2, 2, &ONE).unwrap();
        assert!((p.p95_secs - 2.0).abs() < 1e-3, "{p:?}");
    }

    #[test]
    fn slots_beyond_the_cores_add_no_throughput() {
        // CPU-bound jobs: 4 slots on 2 cores all share 2 cores: every job takes 2 s, the last ends at 4 s, as with 2
        // slots; the mean latency cannot improve.
        let s = [ServiceSample { cpu_secs: 1.0, wall_secs: 1.0 }];
        let two = simulate(&s, &shape(8, 1), 2, 2, &ONE).unwrap();
        let four = simulate(&s, &shape(8, 1), 2, 4, &ONE).unwrap();
        assert!((two.makespan_secs - 4.0).abs() < 1e-3, "{two:?}");
        assert!((four.makespan_secs - 4.0).abs() < 1e-3, "{four:?}");
        assert!(four.p50_secs >= two.p50_secs - 1e-9);
        // Waiting on I/O (cpu 0.25 of wall) is what extra slots can overlap: 4 slots on 2 cores then do help.
        let io = [ServiceSample { cpu_secs: 0.25, wall_secs: 1.0 }];
        let two = simulate(&io, &shape(8, 1), 2, 2, &ONE).unwrap();
        let four = simulate(&io, &shape(8, 1), 2, 4, &ONE).unwrap();
        assert!(four.makespan_secs < two.makespan_secs - 0.5, "{two:?} {four:?}");
    }

    #[test]
    fn known_pages_are_served_in_each_users_order() {
        // User 0 submits 3 s then 1 s at t = 0; user 1 (t = 0.5 s) submits 2 s. One slot, FIFO by arrival: done at
        // 3, 4, 6 s; latencies 3, 4 and 5.5 s. Two slots: user 0's pages on one slot each (done at 3 and 1), user 1's
        // waits for the 1 s page: starts at 1, done at 3; latencies 3, 1, 2.5.
        let page = |s: f64| ServiceSample { cpu_secs: s, wall_secs: s };
        let by_user = vec![vec![page(3.0), page(1.0)], vec![page(2.0)]];
        let sh = LoadShape { users: 9, docs_per_user: 9, spawn_rate: 2.0, poll_interval_secs: 1e-6 };
        let one = simulate_documents(&by_user, &sh, 1, 1).unwrap();
        assert_eq!((one.users, one.documents), (2, 3), "the pages, not the shape's counts");
        assert!((one.p50_secs - 4.0).abs() < 1e-3 && (one.p99_secs - 5.5).abs() < 1e-3, "{one:?}");
        assert!((one.makespan_secs - 6.0).abs() < 1e-9, "{one:?}");
        let two = simulate_documents(&by_user, &sh, 2, 2).unwrap();
        assert!((two.p50_secs - 2.5).abs() < 1e-3 && (two.p99_secs - 3.0).abs() < 1e-3, "{two:?}");
        assert_eq!(simulate_documents(&[], &sh, 1, 1).unwrap_err(), PlanError::NoSamples);
    }

    #[test]
    fn arrivals_and_polls_shape_the_latency() {
        // One 1 s job per user, users 10 s apart: no queueing, each waits only its own service, seen at the next
        // 0.4 s poll: ceil(1 / 0.4) x 0.4 = 1.2 s.
        let s = [ServiceSample { cpu_secs: 1.0, wall_secs: 1.0 }];
        let sh = LoadShape { users: 3, docs_per_user: 1, spawn_rate: 0.1, poll_interval_secs: 0.4 };
        let p = simulate(&s, &sh, 1, 1, &ONE).unwrap();
        assert!((p.p99_secs - 1.2).abs() < 1e-9, "{p:?}");
        assert!((p.p50_secs - 1.2).abs() < 1e-9, "{p:?}");
    }

    #[test]
    fn the_plan_finds_the_smallest_n_and_stops_one_past_it() {
        // 100 jobs of 1 s at once: N cores finish in 100 / N s; P95 = ceil(95 / N) s. Limit 10.5 s: N = 10 (10 s;
        // 9 cores give 11 s); 2x: 200 jobs, P95 = ceil(190 / N): N = 19 (10 s; 18 give 11 s).
        let input = PlanInput {
            samples: vec![ServiceSample { cpu_secs: 1.0, wall_secs: 1.0 }],
            measured_on: MeasuredOn { host: Some("h".into()), cores: Some(2), run_date: "d".into(), documents: 1 },
            design: shape(100, 1),
            p95_limit_secs: 10.5,
            max_cores: 64,
            machine_cores: 2,
            documents_per_day: 1000,
            days_per_month: 30,
            budget_cpu_hours_per_month: 200.0,
            measured: None,
            sim: ONE,
        };
        let p = plan(&input).unwrap();
        assert_eq!(p.cores_for_design, Some(10));
        assert_eq!(p.cores_for_double, Some(19));
        assert_eq!(p.rows.len(), 20);
        assert_eq!(p.this_machine.len(), 4);
        // 1 s x 1000 x 30 / 3600.
        assert!((p.monthly_cpu_hours - 1000.0 * 30.0 / 3600.0).abs() < 1e-9);
        assert!(
            p.headline(true).starts_with("GO on CPU; the burst needs 10 cores (or pods) for P95 <"),
            "{}",
            p.headline(true)
        );
        assert!(p.headline(true).ends_with("19 for twice the load"));
        let text = p.render_text();
        assert!(text.contains("host h with 2 cores"), "{text}");
        assert!(text.contains("(slots > cores)"));
    }

    #[test]
    fn a_replay_queues_the_runs_own_jobs_fifo_on_the_slots_and_polls() {
        // Three jobs enqueued at 0, 0.1, 0.2 s, each served 1 s, one slot: they finish at 1, 2, 3 s. Submitted at
        // 0 s, the client polls every 0.5 s from 0.3 s: seen at 1.3, 2.3, 3.3 s.
        let job =
            |at: f64| ReplayJob { submitted_secs: 0.0, arrival_secs: at, service_secs: 1.0, poll_anchor_secs: 0.3 };
        let jobs = [job(0.2), job(0.0), job(0.1)];
        let r = replay(&jobs, 1, 0.5).unwrap();
        assert_eq!(r.predicted_secs.len(), 3);
        for (got, want) in r.predicted_secs.iter().zip([1.3, 2.3, 3.3]) {
            assert!((got - want).abs() < 1e-9, "{r:?}");
        }
        assert!((r.p95_secs - 3.3).abs() < 1e-9);
        // Two slots: the first two finish at 1.0 and 1.1 (seen 1.3), the third starts at 1.0 and ends at 2.0
        // (seen 2.3).
        let r = replay(&jobs, 2, 0.5).unwrap();
        for (got, want) in r.predicted_secs.iter().zip([1.3, 1.3, 2.3]) {
            assert!((got - want).abs() < 1e-9, "{r:?}");
        }
        // A job that arrives to an idle queue after a gap waits for nothing.
        let late = [ReplayJob { submitted_secs: 5.0, arrival_secs: 5.1, service_secs: 1.0, poll_anchor_secs: 5.1 }];
        assert!((replay(&late, 1, 0.5).unwrap().p50_secs - 1.1).abs() < 1e-9);
        assert_eq!(replay(&[], 1, 0.5), Err(PlanError::NoSamples));
        let zero = [ReplayJob { service_secs: 0.0, ..late[0] }];
        assert!(matches!(replay(&zero, 1, 0.5), Err(PlanError::NotPositive { field: "service_secs", .. })));
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        let s = [ServiceSample { cpu_secs: 1.0, wall_secs: 1.0 }];
        assert_eq!(simulate(&[], &shape(1, 1), 1, 1, &ONE), Err(PlanError::NoSamples));
        assert!(matches!(simulate(&s, &shape(1, 1), 0, 1, &ONE), Err(PlanError::NotPositive { field: "cores", .. })));
        let bad = LoadShape { spawn_rate: 0.0, ..shape(1, 1) };
        assert!(matches!(simulate(&s, &bad, 1, 1, &ONE), Err(PlanError::NotPositive { field: "spawn_rate", .. })));
    }
}

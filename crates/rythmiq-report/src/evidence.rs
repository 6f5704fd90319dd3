//! Evidence gating: the readiness framework's section 2 checklist ticked from the inputs, and the CI gate
//! (`--fail-on`) that turns a decision into an exit code.
//!
//! A decision made on less evidence than the framework asks is provisional: the report shows it as
//! "PROVISIONAL <verdict>" with the list of what is missing, never as a plain GO. Each item's requirement is either
//! the framework's own number (a bench of at least 50 documents, the 250-document burst) or derived from the
//! constraints (the error sample from the error-rate limit); none comes from the seed's example tables.

use rythmiq_measure::BenchSummary;
use rythmiq_types::PathKind;
use serde::{Deserialize, Serialize};

use crate::constraints::{Constraints, Verdict};
use rythmiq_measure::LoadTestResult;

/// The framework asks for a bench of at least this many documents (section 2.2).
pub const MIN_BENCH_DOCUMENTS: usize = 50;
/// The framework's burst (section 2.3: "250-document burst test completed").
pub const MIN_BURST_DOCUMENTS: u64 = 250;
/// The routes whose CPU cost the framework's split (section 2.2, fast/standard) needs measured. Labels, not a
/// closed enum, so that a route added later (a PDF text layer) only adds a label here.
pub const REQUIRED_ROUTES: [PathKind; 2] = [PathKind::Fast, PathKind::Standard];
pub(crate) const LOADTEST_BURST_CMD: &str = "rythmiq loadtest --users 50 --docs-per-user 5 --spawn-rate 10 --double";

/// The checklist items the inputs can prove.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceItem {
    /// Section 2.2: "Benchmark run with >= 50 documents".
    BenchSize,
    /// Section 2.2: "Cold/warm execution captured": a cold document and at least 49 warm ones behind the mean.
    WarmDocuments,
    /// Section 2.2: the fast/standard split: every required route measured at least once.
    PathSplit,
    /// Section 2.3: "250-document burst test completed".
    BurstSize,
    /// Section 4.3: the 2x load measured, not predicted.
    DoubleLoad,
    /// Section 2.3: "Error rate < 1% confirmed": enough requests that zero failures bound the rate under the limit.
    ErrorSample,
}

impl EvidenceItem {
    pub const ALL: [EvidenceItem; 6] = [
        EvidenceItem::BenchSize,
        EvidenceItem::WarmDocuments,
        EvidenceItem::PathSplit,
        EvidenceItem::BurstSize,
        EvidenceItem::DoubleLoad,
        EvidenceItem::ErrorSample,
    ];

    /// The checklist wording.
    pub fn label(self) -> &'static str {
        match self {
            EvidenceItem::BenchSize => "Benchmark run with >= 50 documents (2.2)",
            EvidenceItem::WarmDocuments => "Cold/warm execution captured (2.2)",
            EvidenceItem::PathSplit => "Fast/standard path distribution measured (2.2)",
            EvidenceItem::BurstSize => "250-document burst test completed (2.3)",
            EvidenceItem::DoubleLoad => "2x load measured (4.3)",
            EvidenceItem::ErrorSample => "Error-rate sample large enough to confirm the limit (2.3)",
        }
    }
}

/// One ticked (or not) checklist item with the figures that decide it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvidenceCheck {
    pub item: EvidenceItem,
    pub met: bool,
    /// What the framework asks, in words with the number.
    pub required: String,
    /// What the inputs hold.
    pub measured: String,
    /// The command that supplies the missing evidence (empty when met).
    pub remedy: String,
}

/// The whole checklist.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub checks: Vec<EvidenceCheck>,
}

/// Requests needed so that zero failures bound the true error rate under `limit` at 95% confidence (the rule of
/// three: 0 events in n trials gives a 95% upper bound of about 3/n). 1% gives 300.
pub fn min_error_sample(limit: f64) -> u64 {
    (3.0 / limit - 1e-9).ceil().max(1.0) as u64
}

impl Evidence {
    /// Ticks each item from the inputs.
    pub fn assess(c: &Constraints, bench: &BenchSummary, load: Option<&LoadTestResult>) -> Evidence {
        let mut checks = Vec::with_capacity(EvidenceItem::ALL.len());
        let bench_cmd = format!("rythmiq bench --count {MIN_BENCH_DOCUMENTS}");
        checks.push(EvidenceCheck {
            item: EvidenceItem::BenchSize,
            met: bench.documents >= MIN_BENCH_DOCUMENTS,
            required: format!(">= {MIN_BENCH_DOCUMENTS} documents"),
            measured: format!("{} documents", bench.documents),
            remedy: bench_cmd.clone(),
        });
        let warm_needed = MIN_BENCH_DOCUMENTS - 1;
        let cold = bench.cold_start.is_some();
        checks.push(EvidenceCheck {
            item: EvidenceItem::WarmDocuments,
            met: cold && bench.warm_documents >= warm_needed,
            required: format!("a cold document and >= {warm_needed} warm ones"),
            measured: format!(
                "{} warm documents, cold start {}",
                bench.warm_documents,
                if cold { "captured" } else { "not captured" }
            ),
            remedy: bench_cmd.clone(),
        });
        let route_docs: Vec<(&str, usize)> =
            REQUIRED_ROUTES.iter().map(|route| (route.as_str(), bench.paths.get(*route).documents)).collect();
        checks.push(EvidenceCheck {
            item: EvidenceItem::PathSplit,
            met: route_docs.iter().all(|(_, n)| *n > 0),
            required: format!(
                "each route ({}) measured on >= 1 document",
                REQUIRED_ROUTES.map(PathKind::as_str).join(", ")
            ),
            measured: route_docs.iter().map(|(r, n)| format!("{r} {n}")).collect::<Vec<_>>().join(", "),
            remedy: format!("{bench_cmd} on a corpus that has documents for every route (or `--route standard`)"),
        });
        let burst = load.map_or(0, |l| l.total_requests);
        checks.push(EvidenceCheck {
            item: EvidenceItem::BurstSize,
            met: burst >= MIN_BURST_DOCUMENTS,
            required: format!(">= {MIN_BURST_DOCUMENTS} documents in one burst"),
            measured: load.map_or("no load test".into(), |l| {
                format!("{} users x {} docs = {} requests", l.users, l.docs_per_user, l.total_requests)
            }),
            remedy: LOADTEST_BURST_CMD.into(),
        });
        let double = load.and_then(|l| l.double_load.as_deref());
        let double_needed = 2 * burst.max(MIN_BURST_DOCUMENTS);
        checks.push(EvidenceCheck {
            item: EvidenceItem::DoubleLoad,
            met: double.is_some_and(|d| d.total_requests >= double_needed),
            required: format!(">= 2 x the burst = {double_needed} requests"),
            measured: double.map_or("not run".into(), |d| format!("{} users, {} requests", d.users, d.total_requests)),
            remedy: LOADTEST_BURST_CMD.into(),
        });
        // The 2x run's failures count too: errors at twice the load are no fewer than at the design load, so
        // pooling the two can only make the sample more pessimistic, never hide failures.
        let sample = burst + double.map_or(0, |d| d.total_requests);
        let needed = min_error_sample(c.error_rate_limit);
        checks.push(EvidenceCheck {
            item: EvidenceItem::ErrorSample,
            met: sample >= needed,
            required: format!(
                ">= 3 / {:.2}% = {needed} requests (zero failures in n bound the rate under 3/n at 95%)",
                c.error_rate_limit * 100.0
            ),
            measured: format!("{sample} requests under load (burst + 2x)"),
            remedy: LOADTEST_BURST_CMD.into(),
        });
        for check in &mut checks {
            if check.met {
                check.remedy.clear();
            }
        }
        Evidence { checks }
    }

    /// Every item met: the decision is final, not provisional.
    pub fn complete(&self) -> bool {
        self.checks.iter().all(|c| c.met)
    }

    pub fn unmet(&self) -> impl Iterator<Item = &EvidenceCheck> {
        self.checks.iter().filter(|c| !c.met)
    }

    /// One line per unmet item: "<item>: <measured>, the framework asks <required>; run `<remedy>`".
    pub fn missing_lines(&self) -> Vec<String> {
        self.unmet()
            .map(|c| {
                format!("{}: {}, the framework asks {}; run `{}`", c.item.label(), c.measured, c.required, c.remedy)
            })
            .collect()
    }
}

/// What a CI gate fails on (`rythmiq report --fail-on`). Each level includes the ones above it: `adjust` also fails
/// on NO-GO, `provisional` on anything but a GO backed by the whole checklist.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailOn {
    NoGo,
    Adjust,
    Provisional,
}

impl FailOn {
    pub fn label(self) -> &'static str {
        match self {
            FailOn::NoGo => "no-go",
            FailOn::Adjust => "adjust",
            FailOn::Provisional => "provisional",
        }
    }
}

/// An unknown `--fail-on` level.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("unknown --fail-on level {0:?}: expected no-go, adjust or provisional")]
pub struct UnknownFailOn(pub String);

impl std::str::FromStr for FailOn {
    type Err = UnknownFailOn;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [FailOn::NoGo, FailOn::Adjust, FailOn::Provisional]
            .into_iter()
            .find(|f| f.label() == s)
            .ok_or_else(|| UnknownFailOn(s.to_string()))
    }
}

/// The documented exit codes of `rythmiq report --fail-on` (0 when the gate passes; 1 is any other error and 2 a
/// usage error, as for every command).
pub mod exit_code {
    /// The verdict is NO-GO.
    pub const NO_GO: u8 = 3;
    /// The verdict is ADJUST (an OPTIMIZE band is an ADJUST).
    pub const ADJUST: u8 = 4;
    /// The verdict is GO, but on less evidence than the framework asks.
    pub const PROVISIONAL: u8 = 5;
}

/// The exit code for a decision under a gate: `None` when the gate passes.
pub fn gate_exit_code(verdict: Verdict, provisional: bool, fail_on: FailOn) -> Option<u8> {
    let (severity, code) = match verdict {
        Verdict::NoGo => (FailOn::NoGo, exit_code::NO_GO),
        Verdict::Adjust => (FailOn::Adjust, exit_code::ADJUST),
        Verdict::Go if provisional => (FailOn::Provisional, exit_code::PROVISIONAL),
        Verdict::Go => return None,
    };
    // A gate trips on its own level and every more severe one (NoGo < Adjust < Provisional in the enum's order).
    (severity <= fail_on).then_some(code)
}

/// The verdict as the report states it: "PROVISIONAL GO" whenever evidence is missing.
pub fn headline(verdict: Verdict, provisional: bool) -> String {
    if provisional {
        format!("PROVISIONAL {}", verdict.label())
    } else {
        verdict.label().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_trips_on_its_level_and_every_worse_one() {
        use Verdict::{Adjust, Go, NoGo};
        let cases = [
            (NoGo, false, FailOn::NoGo, Some(3)),
            (NoGo, true, FailOn::Provisional, Some(3)),
            (Adjust, false, FailOn::NoGo, None),
            (Adjust, false, FailOn::Adjust, Some(4)),
            (Adjust, true, FailOn::Provisional, Some(4)),
            (Go, true, FailOn::NoGo, None),
            (Go, true, FailOn::Adjust, None),
            (Go, true, FailOn::Provisional, Some(5)),
            (Go, false, FailOn::Provisional, None),
        ];
        for (verdict, provisional, fail_on, want) in cases {
            assert_eq!(gate_exit_code(verdict, provisional, fail_on), want, "{verdict:?} {provisional} {fail_on:?}");
        }
    }

    #[test]
    fn the_error_sample_follows_the_limit() {
        assert_eq!(min_error_sample(0.01), 300);
        assert_eq!(min_error_sample(0.05), 60);
        assert_eq!(min_error_sample(0.001), 3000);
        assert_eq!(headline(Verdict::Go, true), "PROVISIONAL GO");
        assert_eq!(headline(Verdict::Go, false), "GO");
        assert_eq!("no-go".parse::<FailOn>(), Ok(FailOn::NoGo));
        assert_eq!("provisional".parse::<FailOn>(), Ok(FailOn::Provisional));
        assert!("nogo".parse::<FailOn>().is_err());
    }
}

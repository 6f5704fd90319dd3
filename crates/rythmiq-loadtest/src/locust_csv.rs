//! The locust-style stats CSV (`rythmiq loadtest --csv PREFIX` writes `PREFIX_stats.csv`): locust's columns and row
//! names, so the spreadsheets built on `locust --csv` (the framework's `infra/load-testing/locustfile.py`) read the
//! load test's output unchanged.
//!
//! Rows, as the locustfile names them and in locust's order (sorted by name, then `Aggregated` over all requests):
//! `GET /v1/documents/{id}` (the status polls), `POST /v1/documents` (the submissions) and `E2E document` (submit to
//! done, the figure the framework's P95 is about). Times are milliseconds. Percentiles are nearest rank on the exact
//! times (the project's one convention, `rythmiq_measure::stats`), where locust rounds times above 100 ms to 2
//! significant digits first: the two agree to within that rounding.

use std::fmt::Write as _;

use rythmiq_measure::stats::percentile_of_sorted;

/// locust's `_stats.csv` header (locust 2.x), column for column.
pub const LOCUST_STATS_HEADER: &str = "Type,Name,Request Count,Failure Count,Median Response Time,\
Average Response Time,Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,\
80%,90%,95%,98%,99%,99.9%,99.99%,100%";

/// The percentile columns, in percent.
const PERCENTILES: [f64; 11] = [50.0, 66.0, 75.0, 80.0, 90.0, 95.0, 98.0, 99.0, 99.9, 99.99, 100.0];

/// The request types the load test makes, named as the locustfile names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RequestKind {
    Poll,
    Submit,
    EndToEnd,
}

impl RequestKind {
    /// (Type, Name) columns.
    pub fn columns(self) -> (&'static str, &'static str) {
        match self {
            RequestKind::Poll => ("GET", "GET /v1/documents/{id}"),
            RequestKind::Submit => ("POST", "POST /v1/documents"),
            RequestKind::EndToEnd => ("E2E", "document"),
        }
    }
}

/// One request (or one document, for `EndToEnd`) as measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RequestSample {
    pub kind: RequestKind,
    pub millis: f64,
    pub ok: bool,
    /// Response body bytes (0 for `EndToEnd`, as the locustfile reports it).
    pub bytes: usize,
}

fn row(out: &mut String, type_: &str, name: &str, samples: &[&RequestSample], duration_secs: f64) {
    let n = samples.len();
    let failures = samples.iter().filter(|s| !s.ok).count();
    let mut times: Vec<f64> = samples.iter().map(|s| s.millis).collect();
    times.sort_by(f64::total_cmp);
    let per_sec = |count: usize| if duration_secs > 0.0 { count as f64 / duration_secs } else { 0.0 };
    let (avg, min, max, size) = if n == 0 {
        (0.0, 0.0, 0.0, 0.0)
    } else {
        (
            times.iter().sum::<f64>() / n as f64,
            times[0],
            times[n - 1],
            samples.iter().map(|s| s.bytes as f64).sum::<f64>() / n as f64,
        )
    };
    let median = if n == 0 { 0 } else { percentile_of_sorted(&times, 50.0).round() as u64 };
    let _ = write!(
        out,
        "{type_},{name},{n},{failures},{median},{avg:.3},{min:.3},{max:.3},{size:.3},{:.6},{:.6}",
        per_sec(n),
        per_sec(failures)
    );
    for p in PERCENTILES {
        if n == 0 {
            out.push_str(",N/A");
        } else {
            let _ = write!(out, ",{}", percentile_of_sorted(&times, p).round() as u64);
        }
    }
    out.push('\n');
}

/// The whole `_stats.csv`: the header, a row per request type that occurred, and `Aggregated`. Requests/s and
/// Failures/s are over `duration_secs`, the run's length.
pub fn stats_csv(samples: &[RequestSample], duration_secs: f64) -> String {
    let mut out = String::from(LOCUST_STATS_HEADER);
    out.push('\n');
    let mut kinds: Vec<RequestKind> = samples.iter().map(|s| s.kind).collect();
    // locust sorts its rows by (name, method): "GET ..." < "POST ..." < "document".
    kinds.sort_by_key(|k| k.columns().1);
    kinds.dedup();
    for kind in kinds {
        let mine: Vec<&RequestSample> = samples.iter().filter(|s| s.kind == kind).collect();
        let (type_, name) = kind.columns();
        row(&mut out, type_, name, &mine, duration_secs);
    }
    let all: Vec<&RequestSample> = samples.iter().collect();
    row(&mut out, "", "Aggregated", &all, duration_secs);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(kind: RequestKind, millis: f64, ok: bool, bytes: usize) -> RequestSample {
        RequestSample { kind, millis, ok, bytes }
    }

    #[test]
    fn rows_follow_locusts_columns_order_and_arithmetic() {
        let mut samples = vec![s(RequestKind::Submit, 10.0, true, 100), s(RequestKind::Submit, 30.0, false, 50)];
        // 20 documents of 1..=20 s end to end.
        samples.extend((1..=20).map(|i| s(RequestKind::EndToEnd, f64::from(i) * 1000.0, true, 0)));
        let csv = stats_csv(&samples, 10.0);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], LOCUST_STATS_HEADER);
        assert_eq!(lines[0].split(',').count(), 22);
        assert_eq!(lines.len(), 4, "POST, E2E, Aggregated: {csv}");
        // POST: 2 requests, 1 failure, median (nearest rank: the 1st of 2) 10 ms, mean 20, bytes (100+50)/2, 0.2/s.
        assert_eq!(
            lines[1],
            "POST,POST /v1/documents,2,1,10,20.000,10.000,30.000,75.000,0.200000,0.100000,10,30,30,30,30,30,30,30,30,30,30"
        );
        // E2E: 95% of 20 is rank 19: 19000 ms; 66% is rank ceil(13.2) = 14.
        let e2e: Vec<&str> = lines[2].split(',').collect();
        assert_eq!(&e2e[..4], ["E2E", "document", "20", "0"]);
        assert_eq!(e2e[4], "10000");
        assert_eq!(e2e[12], "14000", "66%");
        assert_eq!(e2e[16], "19000", "95%");
        assert_eq!(e2e[21], "20000", "100%");
        let agg: Vec<&str> = lines[3].split(',').collect();
        assert_eq!(&agg[..4], ["", "Aggregated", "22", "1"]);
        assert_eq!(agg[7], "20000.000", "max over every request");
    }

    #[test]
    fn an_empty_run_has_only_the_aggregated_row_with_na_percentiles() {
        let csv = stats_csv(&[], 0.0);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[1].starts_with(",Aggregated,0,0,0,"), "{csv}");
        assert_eq!(lines[1].matches("N/A").count(), 11, "{csv}");
    }
}

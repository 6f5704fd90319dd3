//! The one place summary statistics are computed from raw measurements (the bench, the load test, the A/B
//! comparison and the report all call these).
//!
//! Percentile convention, everywhere in Rythmiq One: **nearest rank**, with `p` in percent (0..=100). The P-th
//! percentile of n values is the value of rank `ceil(p / 100 x n)` (at least 1) in ascending order, so it is always a
//! value that was actually measured, never an interpolation between two.

/// Arithmetic mean; `None` for no values.
pub fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// Arithmetic mean, 0 for no values (for per-document figures where an empty set means "nothing was spent").
pub fn mean_or_zero(values: impl IntoIterator<Item = f64>) -> f64 {
    let (sum, n) = values.into_iter().fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 {
        0.0
    } else {
        sum / n as f64
    }
}

/// Nearest-rank percentile (`p` in percent, 0..=100; see the module doc); `None` for no values.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    Some(percentile_of_sorted(&sorted, p))
}

/// [`percentile`] over values already sorted ascending (callers that take several percentiles sort once).
/// Panics never: an empty slice gives 0.
pub fn percentile_of_sorted(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// Population standard deviation.
pub fn std_dev(values: &[f64]) -> Option<f64> {
    let m = mean(values)?;
    Some((values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / values.len() as f64).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        // ceil(0.95 x 20) = 19th value.
        assert_eq!(percentile(&v, 95.0), Some(19.0));
        assert_eq!(percentile(&v, 50.0), Some(10.0));
        assert_eq!(percentile(&v, 100.0), Some(20.0));
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&[3.0], 95.0), Some(3.0));
        assert_eq!(percentile(&[], 95.0), None);
        // Unsorted input: the function sorts.
        assert_eq!(percentile(&[5.0, 1.0, 4.0, 2.0, 3.0], 60.0), Some(3.0));
        // ceil(0.99 x 10) = 10th: P99 of a small sample is its maximum.
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile_of_sorted(&ten, 99.0), 10.0);
        assert_eq!(percentile_of_sorted(&[], 95.0), 0.0);
        assert_eq!(mean(&[1.0, 2.0, 6.0]), Some(3.0));
        assert_eq!(mean_or_zero([]), 0.0);
        assert_eq!(mean_or_zero([1.0, 3.0]), 2.0);
        assert_eq!(std_dev(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]), Some(2.0));
    }
}

//! Axis ticks for the report's SVG charts: "nice" steps (1, 2 or 5 x a power of ten) so that every axis carries
//! readable round values whatever the measured range.

/// Ticks from 0 to at least `max` in about `target` steps of 1, 2 or 5 x 10^k. `max <= 0` or non-finite gives `[0, 1]`.
pub(crate) fn nice_ticks(max: f64, target: usize) -> Vec<f64> {
    if !(max.is_finite() && max > 0.0) {
        return vec![0.0, 1.0];
    }
    let raw = max / target.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|s| *s >= raw).unwrap_or(10.0 * magnitude);
    let n = (max / step - 1e-9).ceil().max(1.0) as usize;
    (0..=n).map(|i| i as f64 * step).collect()
}

/// A tick label without trailing zeros: 0.25, 5, 1500.
pub(crate) fn tick_label(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_maximum() {
        assert_eq!(nice_ticks(200.0, 5), vec![0.0, 50.0, 100.0, 150.0, 200.0]);
        assert_eq!(nice_ticks(6.3, 5), vec![0.0, 2.0, 4.0, 6.0, 8.0]);
        let small = nice_ticks(0.042, 4);
        assert_eq!(small.len(), 4, "{small:?}");
        assert!((small[3] - 0.06).abs() < 1e-12, "{small:?}");
        assert_eq!(nice_ticks(0.0, 5), vec![0.0, 1.0]);
        for max in [0.7, 3.0, 17.0, 230.0, 9999.0] {
            let t = nice_ticks(max, 5);
            assert!(*t.last().unwrap() >= max && t.len() <= 11, "{max}: {t:?}");
        }
        assert_eq!(tick_label(0.25), "0.25");
        assert_eq!(tick_label(150.0), "150");
    }
}

//! The quality features (`quality_scoring`) and the score that routes a document.
//!
//! Everything is measured on an analysis copy whose longest side is at most `ANALYSIS_MAX_SIDE`, so scoring a
//! 35-megapixel scan costs about what scoring a receipt does; lengths are scaled back to decoded pixels.

use rythmiq_types::QualityFeatures;

use crate::ops::{histogram, otsu_threshold, resize};
use crate::GrayImage;

/// Longest side of the analysis copy.
const ANALYSIS_MAX_SIDE: u32 = 1600;

/// What `measure` found, besides the features: the analysis copy's ink mask is reused by nobody, so only numbers
/// leave this module.
#[derive(Clone, Debug)]
pub struct Measured {
    pub features: QualityFeatures,
    /// Grey level of the page background (median of non-ink pixels), used as the fill when rotating.
    pub background_level: u8,
    /// Grey level of ink (median of ink pixels).
    pub ink_level: u8,
}

/// How the sub-scores combine. The defaults were chosen from the sample corpus (see docs/quality-routing.md).
#[derive(Clone, Debug, PartialEq)]
pub struct ScoreWeights {
    pub resolution: f64,
    pub contrast: f64,
    pub sharpness: f64,
    pub noise: f64,
}

impl Default for ScoreWeights {
    fn default() -> Self {
        ScoreWeights { resolution: 0.35, contrast: 0.25, sharpness: 0.2, noise: 0.2 }
    }
}

/// Measures every quality feature of `img`; `dpi` is the header's resolution, if any. `score` is left at 0:
/// call [`score`] to fill it.
pub fn measure(img: &GrayImage, dpi: Option<u32>) -> Measured {
    let factor = img.width().max(img.height()).div_ceil(ANALYSIS_MAX_SIDE).max(1);
    let analysis = if factor > 1 {
        resize(img, (img.width() / factor).max(1), (img.height() / factor).max(1))
    } else {
        img.clone()
    };
    let hist = histogram(&analysis);
    let threshold = otsu_threshold(&hist);
    let dark: u64 = hist[..=threshold as usize].iter().sum();
    let total = analysis.n_pixels().max(1);
    // Light text on a dark ground: the ink is the light side.
    let inverted = dark * 2 > total;
    let is_ink = |p: u8| if inverted { p > threshold } else { p <= threshold };
    let (ink_level, background_level) = class_medians(&hist, threshold, inverted);
    let mask: Vec<bool> = analysis.pixels().iter().map(|&p| is_ink(p)).collect();
    let ink_pixels = mask.iter().filter(|&&m| m).count() as u64;

    let contrast = (background_level as f64 - ink_level as f64).abs() / 255.0;
    let text_height_px = text_height(&mask, analysis.width(), analysis.height()) * factor as f64;
    let sharpness = sharpness(&analysis, (background_level as f64 - ink_level as f64).abs());
    let noise_sigma = noise_sigma(&analysis, &mask);
    let (skew_degrees, orientation_degrees, orientation_confidence) =
        skew_and_orientation(&mask, analysis.width(), analysis.height());

    Measured {
        features: QualityFeatures {
            width_px: img.width(),
            height_px: img.height(),
            dpi,
            text_height_px,
            contrast,
            sharpness,
            noise_sigma,
            skew_degrees,
            orientation_degrees,
            orientation_confidence,
            ink_ratio: ink_pixels as f64 / total as f64,
            score: 0.0,
        },
        background_level,
        ink_level,
    }
}

/// The combined quality score in [0, 1].
///
/// Orientation, skew and oversized text are gates (a sideways page is unreadable however crisp it is; huge text
/// wastes CPU however clean it is); the rest is a weighted
/// mean of sub-scores that are 1 inside the range Tesseract reads well and fall linearly outside it.
pub fn score(f: &QualityFeatures, weights: &ScoreWeights) -> f64 {
    let ramp = |x: f64, zero_at: f64, one_at: f64| ((x - zero_at) / (one_at - zero_at)).clamp(0.0, 1.0);
    let resolution = ramp(f.text_height_px, 6.0, 16.0);
    // Text far above the size Tesseract reads best is a gate too: the standard path's enhancement scales it down,
    // which on the sample corpus cost less CPU and read better (see docs/tuning.md).
    let gate_size = 1.0 - ramp(f.text_height_px, 40.0, 48.0);
    let contrast = ramp(f.contrast, 0.15, 0.5);
    let sharpness = ramp(f.sharpness, 0.1, 0.45);
    let noise = 1.0 - ramp(f.noise_sigma, 3.0, 15.0);
    let gate_skew = 1.0 - ramp(f.skew_degrees.abs(), 0.5, 3.0);
    let gate_orientation = if f.orientation_degrees != 0 { 0.0 } else { 1.0 };
    let total_weight = weights.resolution + weights.contrast + weights.sharpness + weights.noise;
    let mean = (weights.resolution * resolution
        + weights.contrast * contrast
        + weights.sharpness * sharpness
        + weights.noise * noise)
        / total_weight.max(f64::EPSILON);
    (gate_skew.min(gate_orientation).min(gate_size) * mean).clamp(0.0, 1.0)
}

/// Medians of the ink class and of the background class of a histogram split at `threshold`.
fn class_medians(hist: &[u64; 256], threshold: u8, inverted: bool) -> (u8, u8) {
    let median = |range: std::ops::RangeInclusive<usize>| -> u8 {
        let total: u64 = hist[range.clone()].iter().sum();
        let mut seen = 0;
        for level in range.clone() {
            seen += hist[level];
            if seen * 2 >= total && total > 0 {
                return level as u8;
            }
        }
        *range.start() as u8
    };
    let dark = median(0..=threshold as usize);
    let light = median((threshold as usize + 1).min(255)..=255);
    if inverted {
        (light, dark)
    } else {
        (dark, light)
    }
}

/// Median height of text-like connected components (8-connected) of `mask`, in mask pixels; 0 when none.
pub fn text_height(mask: &[bool], width: u32, height: u32) -> f64 {
    let (w, h) = (width as usize, height as usize);
    let mut seen = vec![false; mask.len()];
    let mut heights = Vec::new();
    let mut stack = Vec::new();
    for start in 0..mask.len() {
        if !mask[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let (mut x0, mut x1, mut y0, mut y1, mut area) = (usize::MAX, 0, usize::MAX, 0, 0usize);
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            area += 1;
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
            for dy in [-1i64, 0, 1] {
                for dx in [-1i64, 0, 1] {
                    let (nx, ny) = (x as i64 + dx, y as i64 + dy);
                    if nx < 0 || ny < 0 || nx >= w as i64 || ny >= h as i64 {
                        continue;
                    }
                    let j = ny as usize * w + nx as usize;
                    if mask[j] && !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        let (cw, ch) = (x1 - x0 + 1, y1 - y0 + 1);
        // Characters: not specks, not rules or frames, not page-sized blobs.
        let glyph_like = ch >= 4 && ch <= h / 6 && cw <= ch * 4 && area >= 6 && area * 10 >= cw * ch;
        if glyph_like {
            heights.push(ch as u32);
        }
    }
    if heights.is_empty() {
        return 0.0;
    }
    heights.sort_unstable();
    heights[heights.len() / 2] as f64
}

/// 99th percentile of the absolute Laplacian, relative to the ink/background difference: about 1 for a
/// crisp edge, lower as edges blur.
fn sharpness(img: &GrayImage, level_gap: f64) -> f64 {
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w < 3 || h < 3 || level_gap < 1.0 {
        return 0.0;
    }
    let p = img.pixels();
    let mut hist = vec![0u64; 1021];
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let c = p[y * w + x] as i32 * 4;
            let lap = c
                - p[y * w + x - 1] as i32
                - p[y * w + x + 1] as i32
                - p[(y - 1) * w + x] as i32
                - p[(y + 1) * w + x] as i32;
            hist[lap.unsigned_abs() as usize] += 1;
        }
    }
    let total: u64 = hist.iter().sum();
    let target = total - total / 100;
    let mut seen = 0;
    let mut p99 = 0;
    for (v, &count) in hist.iter().enumerate() {
        seen += count;
        if seen >= target {
            p99 = v;
            break;
        }
    }
    (p99 as f64 / level_gap / 2.0).clamp(0.0, 1.0)
}

/// Immerkaer's noise estimate (grey levels), over background pixels whose 3x3 neighbourhood holds no ink, so that
/// text edges do not count as noise.
fn noise_sigma(img: &GrayImage, mask: &[bool]) -> f64 {
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w < 3 || h < 3 {
        return 0.0;
    }
    let p = img.pixels();
    let (mut sum, mut n) = (0f64, 0u64);
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let near_ink = (0..3).any(|dy| (0..3).any(|dx| mask[(y + dy - 1) * w + x + dx - 1]));
            if near_ink {
                continue;
            }
            let at = |dx: usize, dy: usize| p[(y + dy - 1) * w + x + dx - 1] as f64;
            let v = at(0, 0) - 2.0 * at(1, 0) + at(2, 0) - 2.0 * at(0, 1) + 4.0 * at(1, 1) - 2.0 * at(2, 1) + at(0, 2)
                - 2.0 * at(1, 2)
                + at(2, 2);
            sum += v.abs();
            n += 1;
        }
    }
    if n == 0 {
        return 0.0;
    }
    (std::f64::consts::PI / 2.0).sqrt() * sum / (6.0 * n as f64)
}

/// Estimates (skew degrees, orientation 0 or 90, confidence) from the projection profiles of the ink.
///
/// Text lines make the row profile peaky: the angle that maximises the profile's sum of squares is the skew.
/// Comparing the best horizontal profile with the best vertical one tells an upright page from a sideways one.
/// 180 degrees cannot be told apart this way; the standard path asks Tesseract's OSD for that.
pub fn skew_and_orientation(mask: &[bool], width: u32, height: u32) -> (f64, u32, f64) {
    let (w, h) = (width as usize, height as usize);
    let mut points: Vec<(f32, f32)> = Vec::new();
    let n_ink = mask.iter().filter(|&&m| m).count();
    let step = (n_ink / 150_000).max(1);
    let mut k = 0usize;
    for (i, &m) in mask.iter().enumerate() {
        if m {
            if k.is_multiple_of(step) {
                points.push(((i % w) as f32, (i / w) as f32));
            }
            k += 1;
        }
    }
    if points.len() < 50 {
        return (0.0, 0, 0.0);
    }
    let (skew_h, peak_h) = best_angle(&points, w, h, false);
    let (skew_v, peak_v) = best_angle(&points, w, h, true);
    let confidence = ((peak_h - peak_v).abs() / peak_h.max(peak_v)).clamp(0.0, 1.0);
    if peak_v > peak_h * 1.15 {
        (skew_v, 90, confidence)
    } else {
        (skew_h, 0, confidence)
    }
}

/// The angle in [-6, 6] degrees whose projection is peakiest, and that peakiness (sum of squared bin counts
/// relative to a flat profile). `vertical` projects onto x instead of y.
fn best_angle(points: &[(f32, f32)], w: usize, h: usize, vertical: bool) -> (f64, f64) {
    let (len, across) = if vertical { (w, h) } else { (h, w) };
    let n_bins = len + across / 4 + 2;
    let mut bins = vec![0u32; n_bins];
    let offset = (across / 8 + 1) as f32;
    let mut peakiness = |angle: f64| -> f64 {
        bins.iter_mut().for_each(|b| *b = 0);
        let t = angle.to_radians().tan() as f32;
        for &(x, y) in points {
            let (along, across_coord) = if vertical { (x, y) } else { (y, x) };
            let r = along - across_coord * t + offset;
            if r >= 0.0 && (r as usize) < n_bins {
                bins[r as usize] += 1;
            }
        }
        let sum_sq: f64 = bins.iter().map(|&b| (b as f64) * (b as f64)).sum();
        let n = points.len() as f64;
        sum_sq * len as f64 / (n * n)
    };
    let mut best = (0.0, peakiness(0.0));
    let mut angle = -6.0;
    while angle <= 6.0 {
        let p = peakiness(angle);
        if p > best.1 * 1.0001 {
            best = (angle, p);
        }
        angle += 0.5;
    }
    let centre = best.0;
    let mut fine = centre - 0.5;
    while fine <= centre + 0.5 {
        let p = peakiness(fine);
        if p > best.1 * 1.0001 {
            best = (fine, p);
        }
        fine += 0.1;
    }
    // Image y grows downward: a positive slope in image coordinates is a clockwise tilt, reported negated so that
    // positive means counter-clockwise, as `rotate_small` expects.
    let skew = (best.0 * 10.0).round() / 10.0;
    (if vertical { skew } else { -skew }, best.1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{rotate_quarter, rotate_small};

    /// Synthetic page: `n_lines` rows of "glyphs" (dark rectangles) of height `glyph_h`, with gaps.
    fn page(width: u32, height: u32, glyph_h: u32, n_lines: u32) -> GrayImage {
        let mut img = GrayImage::filled(width, height, 240);
        let pitch = glyph_h * 2;
        for line in 0..n_lines {
            let top = 20 + line * pitch;
            if top + glyph_h >= height {
                break;
            }
            let mut x = 20;
            while x + glyph_h < width - 20 {
                for y in top..top + glyph_h {
                    for xx in x..x + glyph_h * 2 / 3 {
                        img.set(xx, y, 20);
                    }
                }
                x += glyph_h;
            }
        }
        img
    }

    #[test]
    fn text_height_finds_the_glyph_height() {
        let img = page(600, 400, 18, 8);
        let m = measure(&img, Some(300));
        assert!((m.features.text_height_px - 18.0).abs() <= 1.0, "{:?}", m.features);
        assert!(m.features.contrast > 0.8);
        assert_eq!(m.features.orientation_degrees, 0);
    }

    #[test]
    fn sideways_page_is_detected_and_scores_zero() {
        let img = rotate_quarter(&page(600, 400, 14, 10), 90);
        let m = measure(&img, None);
        assert_eq!(m.features.orientation_degrees, 90, "{:?}", m.features);
        let mut f = m.features.clone();
        f.score = score(&f, &ScoreWeights::default());
        assert_eq!(f.score, 0.0);
    }

    #[test]
    fn skew_is_measured_with_sign() {
        let img = page(800, 600, 12, 14);
        // Rotate counter-clockwise by 2 degrees: the estimate says +2 (within a step), and undoing it gives ~0.
        let tilted = rotate_small(&img, 2.0, 240);
        let m = measure(&tilted, None);
        assert!((m.features.skew_degrees - 2.0).abs() <= 0.3, "skew {}", m.features.skew_degrees);
        let fixed = rotate_small(&tilted, -m.features.skew_degrees, 240);
        assert!(measure(&fixed, None).features.skew_degrees.abs() <= 0.3);
    }

    #[test]
    fn blur_and_noise_lower_the_score() {
        let crisp = page(600, 400, 16, 8);
        let weights = ScoreWeights::default();
        let score_of = |img: &GrayImage| {
            let mut f = measure(img, None).features;
            f.score = score(&f, &weights);
            f
        };
        let crisp_f = score_of(&crisp);
        // Blur: three box-blur passes.
        let mut blurred = crisp.clone();
        for _ in 0..3 {
            blurred = box_blur(&blurred);
        }
        let blurred_f = score_of(&blurred);
        assert!(blurred_f.sharpness < crisp_f.sharpness, "{blurred_f:?} vs {crisp_f:?}");
        // Noise: a deterministic pseudo-random +-40 pattern.
        let mut noisy = crisp.clone();
        let mut state = 12345u32;
        for p in noisy.pixels_mut() {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let delta = ((state >> 16) % 81) as i32 - 40;
            *p = (*p as i32 + delta).clamp(0, 255) as u8;
        }
        let noisy_f = score_of(&noisy);
        assert!(noisy_f.noise_sigma > crisp_f.noise_sigma + 5.0, "{noisy_f:?}");
        assert!(noisy_f.score < crisp_f.score);
        assert!(blurred_f.score < crisp_f.score);
    }

    fn box_blur(img: &GrayImage) -> GrayImage {
        let mut out = img.clone();
        for y in 1..img.height() - 1 {
            for x in 1..img.width() - 1 {
                let mut s = 0u32;
                for dy in 0..3 {
                    for dx in 0..3 {
                        s += img.get(x + dx - 1, y + dy - 1) as u32;
                    }
                }
                out.set(x, y, (s / 9) as u8);
            }
        }
        out
    }
}

//! Pixel operations used by `pre_ocr` and `enhancement`. Each one allocates its output once and touches every
//! pixel a small constant number of times: these run on the standard path of every document.

use crate::GrayImage;

/// Grey-level histogram.
pub fn histogram(img: &GrayImage) -> [u64; 256] {
    let mut hist = [0u64; 256];
    for &p in img.pixels() {
        hist[p as usize] += 1;
    }
    hist
}

/// The grey level below which `fraction` (0..1) of the pixels lie.
pub fn percentile(hist: &[u64; 256], fraction: f64) -> u8 {
    let total: u64 = hist.iter().sum();
    if total == 0 {
        return 0;
    }
    let target = (fraction.clamp(0.0, 1.0) * total as f64).ceil().max(1.0) as u64;
    let mut seen = 0u64;
    for (level, &count) in hist.iter().enumerate() {
        seen += count;
        if seen >= target {
            return level as u8;
        }
    }
    255
}

/// Otsu's threshold: the level that maximises between-class variance. Pixels `<= t` are ink.
pub fn otsu_threshold(hist: &[u64; 256]) -> u8 {
    let total: u64 = hist.iter().sum();
    if total == 0 {
        return 127;
    }
    let sum_all: f64 = hist.iter().enumerate().map(|(i, &c)| i as f64 * c as f64).sum();
    let (mut w_b, mut sum_b, mut best, mut best_t) = (0f64, 0f64, -1f64, 127u8);
    for (t, &count) in hist.iter().enumerate() {
        w_b += count as f64;
        if w_b == 0.0 {
            continue;
        }
        let w_f = total as f64 - w_b;
        if w_f == 0.0 {
            break;
        }
        sum_b += t as f64 * count as f64;
        let m_b = sum_b / w_b;
        let m_f = (sum_all - sum_b) / w_f;
        let between = w_b * w_f * (m_b - m_f) * (m_b - m_f);
        if between > best {
            best = between;
            best_t = t as u8;
        }
    }
    best_t
}

/// Maps `lo..=hi` linearly onto `0..=255`, clamping outside.
pub fn stretch_contrast(img: &GrayImage, lo: u8, hi: u8) -> GrayImage {
    if hi <= lo {
        return img.clone();
    }
    let span = (hi - lo) as f32;
    let mut lut = [0u8; 256];
    for (i, v) in lut.iter_mut().enumerate() {
        *v = (((i as f32 - lo as f32) / span) * 255.0).round().clamp(0.0, 255.0) as u8;
    }
    let data = img.pixels().iter().map(|&p| lut[p as usize]).collect();
    GrayImage::from_raw(img.width(), img.height(), data).expect("same size")
}

/// Resizes to `new_w` x `new_h`: area averaging when shrinking (no aliasing of thin strokes), bilinear when growing.
pub fn resize(img: &GrayImage, new_w: u32, new_h: u32) -> GrayImage {
    let (new_w, new_h) = (new_w.max(1), new_h.max(1));
    if new_w == img.width() && new_h == img.height() {
        return img.clone();
    }
    // Separable: horizontal pass into f32 rows, then vertical pass.
    let horiz = resample_rows(img.pixels(), img.width() as usize, img.height() as usize, new_w as usize);
    let out = resample_columns(&horiz, new_w as usize, img.height() as usize, new_h as usize);
    GrayImage::from_raw(new_w, new_h, out).expect("sized")
}

/// Per-output-sample source weights along one axis of length `src` resampled to `dst`.
fn axis_weights(src: usize, dst: usize) -> Vec<(usize, Vec<f32>)> {
    let scale = src as f64 / dst as f64;
    (0..dst)
        .map(|i| {
            if scale >= 1.0 {
                // Area average over [i*scale, (i+1)*scale).
                let start = i as f64 * scale;
                let end = ((i + 1) as f64 * scale).min(src as f64);
                let first = start.floor() as usize;
                let last = (end.ceil() as usize).min(src);
                let weights: Vec<f32> = (first..last)
                    .map(|j| {
                        let lo = (j as f64).max(start);
                        let hi = ((j + 1) as f64).min(end);
                        ((hi - lo) / (end - start)) as f32
                    })
                    .collect();
                (first, weights)
            } else {
                // Bilinear, pixel centres aligned.
                let centre = ((i as f64 + 0.5) * scale - 0.5).max(0.0);
                let j0 = (centre.floor() as usize).min(src - 1);
                let j1 = (j0 + 1).min(src - 1);
                let frac = (centre - j0 as f64) as f32;
                if j1 == j0 {
                    (j0, vec![1.0])
                } else {
                    (j0, vec![1.0 - frac, frac])
                }
            }
        })
        .collect()
}

fn resample_rows(src: &[u8], w: usize, h: usize, new_w: usize) -> Vec<f32> {
    let weights = axis_weights(w, new_w);
    let mut out = vec![0f32; new_w * h];
    for y in 0..h {
        let row = &src[y * w..(y + 1) * w];
        let out_row = &mut out[y * new_w..(y + 1) * new_w];
        for (x, (first, ws)) in weights.iter().enumerate() {
            out_row[x] = ws.iter().enumerate().map(|(k, wt)| row[first + k] as f32 * wt).sum();
        }
    }
    out
}

fn resample_columns(src: &[f32], w: usize, h: usize, new_h: usize) -> Vec<u8> {
    let weights = axis_weights(h, new_h);
    let mut out = vec![0u8; w * new_h];
    let mut acc = vec![0f32; w];
    for (y, (first, ws)) in weights.iter().enumerate() {
        acc.iter_mut().for_each(|a| *a = 0.0);
        for (k, wt) in ws.iter().enumerate() {
            let row = &src[(first + k) * w..(first + k + 1) * w];
            for (a, &p) in acc.iter_mut().zip(row) {
                *a += p * wt;
            }
        }
        for (o, a) in out[y * w..(y + 1) * w].iter_mut().zip(&acc) {
            *o = a.round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

/// Rotates clockwise by a multiple of 90 degrees (`degrees` is taken modulo 360 and must be a multiple of 90).
pub fn rotate_quarter(img: &GrayImage, degrees: u32) -> GrayImage {
    let (w, h) = (img.width(), img.height());
    match degrees % 360 {
        90 => {
            let mut out = GrayImage::filled(h, w, 255);
            for y in 0..h {
                for x in 0..w {
                    out.set(h - 1 - y, x, img.get(x, y));
                }
            }
            out
        }
        180 => {
            let mut data = img.pixels().to_vec();
            data.reverse();
            GrayImage::from_raw(w, h, data).expect("same size")
        }
        270 => {
            let mut out = GrayImage::filled(h, w, 255);
            for y in 0..h {
                for x in 0..w {
                    out.set(y, w - 1 - x, img.get(x, y));
                }
            }
            out
        }
        _ => img.clone(),
    }
}

/// Rotates counter-clockwise by a small angle (deskew) about the centre, bilinear, keeping the size;
/// uncovered corners take `fill` (the page background).
pub fn rotate_small(img: &GrayImage, degrees: f64, fill: u8) -> GrayImage {
    if degrees.abs() < 1e-3 {
        return img.clone();
    }
    let (w, h) = (img.width() as i64, img.height() as i64);
    let (sin, cos) = degrees.to_radians().sin_cos();
    let (cx, cy) = ((w as f64 - 1.0) / 2.0, (h as f64 - 1.0) / 2.0);
    let src = img.pixels();
    let mut out = vec![fill; src.len()];
    for y in 0..h {
        let dy = y as f64 - cy;
        for x in 0..w {
            let dx = x as f64 - cx;
            // Inverse mapping: where in the source does this output pixel come from.
            let sx = cos * dx - sin * dy + cx;
            let sy = sin * dx + cos * dy + cy;
            if sx < 0.0 || sy < 0.0 || sx > (w - 1) as f64 || sy > (h - 1) as f64 {
                continue;
            }
            let (x0, y0) = (sx.floor() as i64, sy.floor() as i64);
            let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
            let (fx, fy) = (sx - x0 as f64, sy - y0 as f64);
            let p = |xx: i64, yy: i64| src[(yy * w + xx) as usize] as f64;
            let top = p(x0, y0) * (1.0 - fx) + p(x1, y0) * fx;
            let bottom = p(x0, y1) * (1.0 - fx) + p(x1, y1) * fx;
            out[(y * w + x) as usize] = (top * (1.0 - fy) + bottom * fy).round() as u8;
        }
    }
    GrayImage::from_raw(img.width(), img.height(), out).expect("same size")
}

/// 3x3 median filter: removes salt-and-pepper noise without blurring stroke edges much. Border pixels are copied.
pub fn denoise_median3(img: &GrayImage) -> GrayImage {
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w < 3 || h < 3 {
        return img.clone();
    }
    let src = img.pixels();
    let mut out = src.to_vec();
    let mut win = [0u8; 9];
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let mut k = 0;
            for dy in 0..3 {
                let base = (y + dy - 1) * w + x - 1;
                win[k..k + 3].copy_from_slice(&src[base..base + 3]);
                k += 3;
            }
            win.sort_unstable();
            out[y * w + x] = win[4];
        }
    }
    GrayImage::from_raw(img.width(), img.height(), out).expect("same size")
}

/// Unsharp mask with a 3x3 box blur: `out = in + amount * (in - blur(in))`.
pub fn unsharp_mask(img: &GrayImage, amount: f32) -> GrayImage {
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w < 3 || h < 3 || amount <= 0.0 {
        return img.clone();
    }
    let src = img.pixels();
    let mut out = src.to_vec();
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let mut sum = 0u32;
            for dy in 0..3 {
                let base = (y + dy - 1) * w + x - 1;
                sum += src[base] as u32 + src[base + 1] as u32 + src[base + 2] as u32;
            }
            let centre = src[y * w + x] as f32;
            let blur = sum as f32 / 9.0;
            out[y * w + x] = (centre + amount * (centre - blur)).round().clamp(0.0, 255.0) as u8;
        }
    }
    GrayImage::from_raw(img.width(), img.height(), out).expect("same size")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(w: u32, h: u32) -> GrayImage {
        let data = (0..w * h).map(|i| ((i % w) * 255 / (w - 1)) as u8).collect();
        GrayImage::from_raw(w, h, data).unwrap()
    }

    #[test]
    fn otsu_splits_a_bimodal_histogram_between_its_modes() {
        let mut hist = [0u64; 256];
        hist[30] = 100;
        hist[220] = 900;
        let t = otsu_threshold(&hist);
        assert!((30..220).contains(&t), "threshold {t}");
    }

    #[test]
    fn percentile_walks_the_cumulative_histogram() {
        let mut hist = [0u64; 256];
        hist[10] = 50;
        hist[200] = 50;
        assert_eq!(percentile(&hist, 0.25), 10);
        assert_eq!(percentile(&hist, 0.75), 200);
    }

    #[test]
    fn quarter_rotations_compose_to_identity() {
        let img = ramp(7, 3);
        let r = rotate_quarter(&rotate_quarter(&img, 90), 270);
        assert_eq!(r, img);
        let r90 = rotate_quarter(&img, 90);
        assert_eq!((r90.width(), r90.height()), (3, 7));
        // Clockwise: the top-left pixel moves to the top-right corner.
        assert_eq!(r90.get(2, 0), img.get(0, 0));
        assert_eq!(rotate_quarter(&rotate_quarter(&img, 180), 180), img);
    }

    #[test]
    fn resize_keeps_mean_level_when_shrinking_and_growing() {
        let img = ramp(64, 16);
        let mean = |g: &GrayImage| g.pixels().iter().map(|&p| p as f64).sum::<f64>() / g.n_pixels() as f64;
        let small = resize(&img, 16, 4);
        let big = resize(&img, 128, 32);
        assert!((mean(&small) - mean(&img)).abs() < 2.0);
        assert!((mean(&big) - mean(&img)).abs() < 2.0);
        assert_eq!((big.width(), big.height()), (128, 32));
    }

    #[test]
    fn median_removes_isolated_specks() {
        let mut img = GrayImage::filled(9, 9, 255);
        img.set(4, 4, 0);
        assert_eq!(denoise_median3(&img).get(4, 4), 255);
    }

    #[test]
    fn stretch_maps_the_given_range_onto_full_scale() {
        let img = GrayImage::from_raw(3, 1, vec![50, 100, 150]).unwrap();
        let s = stretch_contrast(&img, 50, 150);
        assert_eq!(s.pixels(), &[0, 128, 255]);
    }

    #[test]
    fn small_rotation_by_zero_is_identity_and_fills_corners() {
        let img = ramp(20, 20);
        assert_eq!(rotate_small(&img, 0.0, 255), img);
        let r = rotate_small(&GrayImage::filled(40, 10, 0), 10.0, 255);
        assert_eq!(r.get(0, 0), 255, "corner uncovered by the rotated source takes the fill");
    }
}

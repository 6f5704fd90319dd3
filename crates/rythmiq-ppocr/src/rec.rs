//! Text recognition, the pure part: line crops, the CRNN's batched input tensor (height 48, width from the widest
//! crop of the batch, zero padding) and greedy CTC decoding, following RapidOCR 3.10's `ch_ppocr_rec`.

use rythmiq_imaging::GrayImage;

use crate::det::TextBox;

/// The recogniser's input height and minimum width (RapidOCR `rec_img_shape: [3, 48, 320]`).
pub const REC_HEIGHT: u32 = 48;
pub const REC_MIN_WIDTH: u32 = 320;
/// Lines per inference call (RapidOCR `rec_batch_num`); crops are batched in order of aspect ratio.
pub const REC_BATCH: usize = 6;

/// The pixels of `b` from `img`, turned upright when the box is much taller than wide (the reference rotates such
/// crops a quarter turn counter-clockwise).
pub fn crop(img: &GrayImage, b: &TextBox) -> GrayImage {
    let (w, h) = (b.width().max(1) as u32, b.height().max(1) as u32);
    let mut data = Vec::with_capacity((w * h) as usize);
    for y in 0..h {
        let sy = (b.top.max(0) as u32 + y).min(img.height() - 1);
        let row = img.row(sy);
        for x in 0..w {
            let sx = (b.left.max(0) as u32 + x).min(img.width() - 1);
            data.push(row[sx as usize]);
        }
    }
    let Some(out) = GrayImage::from_raw(w, h, data) else { return GrayImage::filled(1, 1, 255) };
    if h as f64 / w as f64 >= 1.5 {
        rythmiq_imaging::rotate_quarter(&out, 270)
    } else {
        out
    }
}

/// The `[n, 3, 48, W]` tensor of one batch: each crop scaled to height 48 keeping its aspect ratio (at most `W`
/// wide), normalised to `(p / 255 - 0.5) / 0.5`, zero-padded on the right. `W` follows the widest crop.
pub fn batch_tensor(crops: &[&GrayImage]) -> (Vec<usize>, Vec<f32>) {
    let mut max_ratio = REC_MIN_WIDTH as f64 / REC_HEIGHT as f64;
    for c in crops {
        max_ratio = max_ratio.max(c.width() as f64 / c.height() as f64);
    }
    let width = (REC_HEIGHT as f64 * max_ratio) as usize;
    let plane = REC_HEIGHT as usize * width;
    let mut data = vec![0f32; crops.len() * 3 * plane];
    for (i, c) in crops.iter().enumerate() {
        let ratio = c.width() as f64 / c.height() as f64;
        let resized_w = ((REC_HEIGHT as f64 * ratio).ceil() as usize).clamp(1, width);
        let resized = rythmiq_imaging::resize(c, resized_w as u32, REC_HEIGHT);
        for ch in 0..3 {
            let base = (i * 3 + ch) * plane;
            for y in 0..REC_HEIGHT as usize {
                let src = resized.row(y as u32);
                let dst = &mut data[base + y * width..base + y * width + resized_w];
                for (d, &p) in dst.iter_mut().zip(src) {
                    *d = p as f32 / 127.5 - 1.0;
                }
            }
        }
    }
    (vec![crops.len(), 3, REC_HEIGHT as usize, width], data)
}

/// One decoded line: its text, the probability of each kept character, and each character's time step (its
/// position along the line, for word boxes).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Decoded {
    pub text: String,
    pub char_probs: Vec<f32>,
    pub char_steps: Vec<usize>,
    /// Time steps of the whole (padded) input.
    pub steps: usize,
}

impl Decoded {
    /// The mean probability of the kept characters, 0 when none (the reference's line score).
    pub fn score(&self) -> f32 {
        if self.char_probs.is_empty() {
            0.0
        } else {
            self.char_probs.iter().sum::<f32>() / self.char_probs.len() as f32
        }
    }
}

/// Greedy CTC decoding of one `[steps, classes]` probability matrix: best class per step, repeats merged, blanks
/// (class 0) dropped. `charset[k]` is the text of class `k` (index 0 is the blank and never printed).
pub fn ctc_greedy(probs: &[f32], steps: usize, classes: usize, charset: &[String]) -> Decoded {
    let mut out = Decoded { steps, ..Decoded::default() };
    let mut prev = usize::MAX;
    for t in 0..steps {
        let row = &probs[t * classes..(t + 1) * classes];
        let (best, p) =
            row.iter().enumerate().fold((0usize, f32::MIN), |acc, (k, &v)| if v > acc.1 { (k, v) } else { acc });
        if best != 0 && best != prev {
            if let Some(ch) = charset.get(best) {
                out.text.push_str(ch);
                out.char_probs.push(p);
                out.char_steps.push(t);
            }
        }
        prev = best;
    }
    out
}

/// The class texts for a dictionary: blank, the dictionary's lines, then a space (the reference's order).
pub fn charset(dictionary: &str) -> Vec<String> {
    let mut set = vec![String::new()];
    set.extend(dictionary.lines().map(str::to_string));
    set.push(" ".to_string());
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctc_merges_repeats_and_drops_blanks() {
        let set = charset("a\nb");
        // classes: 0 blank, 1 a, 2 b, 3 space
        let classes = 4;
        let one_hot = |k: usize, p: f32| {
            let mut r = vec![0.0f32; classes];
            r[k] = p;
            r
        };
        let seq =
            [one_hot(1, 0.9), one_hot(1, 0.8), one_hot(0, 0.9), one_hot(1, 0.7), one_hot(3, 0.6), one_hot(2, 0.5)];
        let probs: Vec<f32> = seq.concat();
        let d = ctc_greedy(&probs, seq.len(), classes, &set);
        assert_eq!(d.text, "aa b");
        assert_eq!(d.char_steps, vec![0, 3, 4, 5]);
        assert!((d.score() - (0.9 + 0.7 + 0.6 + 0.5) / 4.0).abs() < 1e-6);
    }

    #[test]
    fn batch_width_follows_the_widest_crop_and_pads_with_zero() {
        let narrow = GrayImage::filled(48, 48, 255);
        let wide = GrayImage::filled(960, 48, 0);
        let (shape, data) = batch_tensor(&[&narrow, &wide]);
        assert_eq!(shape, vec![2, 3, 48, 960]);
        // The narrow crop is white (1.0) for 48 columns, then padding (0.0).
        assert_eq!(data[0], 1.0);
        assert_eq!(data[47], 1.0);
        assert_eq!(data[48], 0.0);
        // The wide one is black (-1.0) everywhere.
        let second = 3 * 48 * 960;
        assert_eq!(data[second + 959], -1.0);
    }

    #[test]
    fn tall_crops_are_turned_upright() {
        let img = GrayImage::filled(100, 100, 200);
        let b = TextBox { left: 10, top: 10, right: 20, bottom: 60, score: 1.0 };
        let c = crop(&img, &b);
        assert_eq!((c.width(), c.height()), (50, 10));
    }
}

//! Text detection, the pure part: the DB network's input tensor and the post-processing of its probability map
//! into line boxes, following RapidOCR 3.10's `ch_ppocr_det` (the reference implementation).
//!
//! One deliberate simplification: RapidOCR fits a rotated minimum-area rectangle to each contour and unclips it
//! with a polygon offset; here each connected region gets its axis-aligned bounding box, unclipped by the same
//! distance (`area * unclip_ratio / perimeter`). Pages reach the engine deskewed by `pre_ocr`, so text lines are
//! axis-aligned and the two agree; the crate README gives the measured agreement with the reference.

use rythmiq_imaging::GrayImage;

/// The DB post-processing parameters (RapidOCR's defaults).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DetParams {
    /// The shorter side is scaled up to this when smaller (RapidOCR `limit_type: min`).
    pub limit_side_len: u32,
    /// Probability above which a pixel is text.
    pub thresh: f32,
    /// Mean probability a region needs to be kept.
    pub box_thresh: f32,
    pub unclip_ratio: f32,
    pub max_candidates: usize,
}

impl Default for DetParams {
    fn default() -> Self {
        DetParams { limit_side_len: 736, thresh: 0.3, box_thresh: 0.5, unclip_ratio: 1.6, max_candidates: 1000 }
    }
}

/// An axis-aligned text box in the coordinates of the image given to [`boxes_from_map`]'s `dest` size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TextBox {
    pub left: i32,
    pub top: i32,
    pub right: i32,
    pub bottom: i32,
    pub score: f32,
}

impl TextBox {
    pub fn width(&self) -> i32 {
        self.right - self.left
    }
    pub fn height(&self) -> i32 {
        self.bottom - self.top
    }
}

/// Rounds to a multiple of 32 like Python's `round` (halves to even), as the reference sizes its input.
fn round32(v: u32) -> u32 {
    ((v as f64 / 32.0).round_ties_even() as u32 * 32).max(32)
}

/// The network input size for a `w` x `h` page: the shorter side raised to `limit_side_len`, both sides rounded to
/// a multiple of 32.
pub fn input_size(w: u32, h: u32, limit_side_len: u32) -> (u32, u32) {
    let short = w.min(h);
    let ratio = if short < limit_side_len { limit_side_len as f64 / short.max(1) as f64 } else { 1.0 };
    let (rw, rh) = ((w as f64 * ratio) as u32, (h as f64 * ratio) as u32);
    (round32(rw), round32(rh))
}

/// The page resized to the network's input size ([`input_size`]).
pub fn input_image(img: &GrayImage, params: &DetParams) -> GrayImage {
    let (w, h) = input_size(img.width(), img.height(), params.limit_side_len);
    rythmiq_imaging::resize(img, w, h)
}

/// The page as a `[1, 3, h, w]` tensor, normalised to `(p / 255 - 0.5) / 0.5` and repeated on three channels.
pub fn input_tensor(img: &GrayImage, params: &DetParams) -> (Vec<usize>, Vec<f32>) {
    let resized = input_image(img, params);
    rows_tensor(&resized, 0, resized.height())
}

/// Rows `top..bottom` of an input-sized image as a `[1, 3, bottom - top, w]` tensor (normalised as above).
pub fn rows_tensor(resized: &GrayImage, top: u32, bottom: u32) -> (Vec<usize>, Vec<f32>) {
    let w = resized.width() as usize;
    let rows = &resized.pixels()[top as usize * w..bottom as usize * w];
    let plane: Vec<f32> = rows.iter().map(|&p| p as f32 / 127.5 - 1.0).collect();
    let mut data = Vec::with_capacity(plane.len() * 3);
    for _ in 0..3 {
        data.extend_from_slice(&plane);
    }
    (vec![1, 3, (bottom - top) as usize, w], data)
}

/// One horizontal strip of the detector's input: the rows the network sees (`input_top..input_bottom`, the strip
/// plus context above and below) and the rows of the map it supplies (`keep_top..keep_bottom`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Strip {
    pub input_top: u32,
    pub input_bottom: u32,
    pub keep_top: u32,
    pub keep_bottom: u32,
}

/// Cuts `height` rows into strips of `rows` kept rows, each seen with `context` rows above and below (clipped to
/// the page). `rows == 0`, or a page no taller than a strip with its context, is one strip. Every boundary is a
/// multiple of 32 when `rows`, `context` and `height` are, as the network needs.
pub fn strips(height: u32, rows: u32, context: u32) -> Vec<Strip> {
    if rows == 0 || height <= rows + 2 * context {
        return vec![Strip { input_top: 0, input_bottom: height, keep_top: 0, keep_bottom: height }];
    }
    let mut out = Vec::new();
    let mut top = 0;
    while top < height {
        let bottom = (top + rows).min(height);
        out.push(Strip {
            input_top: top.saturating_sub(context),
            input_bottom: (bottom + context).min(height),
            keep_top: top,
            keep_bottom: bottom,
        });
        top = bottom;
    }
    out
}

/// Line boxes from the probability map `pred` (`map_w` x `map_h`), scaled to a `dest_w` x `dest_h` image and
/// sorted in reading order (top to bottom, then left to right within a line, as the reference sorts them).
pub fn boxes_from_map(
    pred: &[f32],
    map_w: usize,
    map_h: usize,
    dest_w: u32,
    dest_h: u32,
    params: &DetParams,
) -> Vec<TextBox> {
    if map_w == 0 || map_h == 0 || pred.len() < map_w * map_h {
        return Vec::new();
    }
    // Binarise, then dilate with a 2x2 kernel anchored at its centre (OpenCV's default for an even kernel).
    let bitmap: Vec<bool> = pred[..map_w * map_h].iter().map(|&p| p > params.thresh).collect();
    let mut mask = vec![false; bitmap.len()];
    for y in 0..map_h {
        for x in 0..map_w {
            let mut on = bitmap[y * map_w + x];
            if !on && x > 0 {
                on = bitmap[y * map_w + x - 1];
            }
            if !on && y > 0 {
                on = bitmap[(y - 1) * map_w + x] || (x > 0 && bitmap[(y - 1) * map_w + x - 1]);
            }
            mask[y * map_w + x] = on;
        }
    }
    let mut boxes = Vec::new();
    for (x0, y0, x1, y1) in components(&mask, map_w, map_h).into_iter().take(params.max_candidates) {
        let (w, h) = ((x1 - x0) as f32, (y1 - y0) as f32);
        if w.min(h) < 3.0 {
            continue;
        }
        let score = mean_in_rect(pred, map_w, x0, y0, x1, y1);
        if score < params.box_thresh {
            continue;
        }
        let distance = w * h * params.unclip_ratio / (2.0 * (w + h));
        let (ux0, uy0, ux1, uy1) =
            (x0 as f32 - distance, y0 as f32 - distance, x1 as f32 + distance, y1 as f32 + distance);
        if (ux1 - ux0).min(uy1 - uy0) < 5.0 {
            continue;
        }
        let sx = |v: f32| ((v / map_w as f32 * dest_w as f32).round()).clamp(0.0, dest_w as f32);
        let sy = |v: f32| ((v / map_h as f32 * dest_h as f32).round()).clamp(0.0, dest_h as f32);
        // Clip to the last pixel, as the reference's `clip_det_res` does.
        let cx = |v: f32| v.min(dest_w.saturating_sub(1) as f32) as i32;
        let cy = |v: f32| v.min(dest_h.saturating_sub(1) as f32) as i32;
        let b = TextBox { left: cx(sx(ux0)), top: cy(sy(uy0)), right: cx(sx(ux1)), bottom: cy(sy(uy1)), score };
        if b.width() <= 3 || b.height() <= 3 {
            continue;
        }
        boxes.push(b);
    }
    sort_reading_order(boxes)
}

/// The reference's box order: stable sort by top edge, a new line wherever the next top is 10 px or more lower,
/// left to right within a line.
pub fn sort_reading_order(mut boxes: Vec<TextBox>) -> Vec<TextBox> {
    boxes.sort_by_key(|b| b.top);
    let mut line = 0usize;
    let mut keyed: Vec<(usize, i32, TextBox)> = Vec::with_capacity(boxes.len());
    for (i, b) in boxes.iter().enumerate() {
        if i > 0 && b.top - boxes[i - 1].top >= 10 {
            line += 1;
        }
        keyed.push((line, b.left, *b));
    }
    keyed.sort_by_key(|&(line, left, _)| (line, left));
    keyed.into_iter().map(|(_, _, b)| b).collect()
}

/// Bounding boxes `(x0, y0, x1, y1)` (inclusive pixel indices) of the 8-connected regions of `mask`, in raster
/// order of their first pixel.
fn components(mask: &[bool], w: usize, h: usize) -> Vec<(usize, usize, usize, usize)> {
    let mut seen = vec![false; mask.len()];
    let mut out = Vec::new();
    let mut stack = Vec::new();
    for start in 0..mask.len() {
        if !mask[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
            for ny in y.saturating_sub(1)..=(y + 1).min(h - 1) {
                for nx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
                    let j = ny * w + nx;
                    if mask[j] && !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        out.push((x0, y0, x1, y1));
    }
    out
}

fn mean_in_rect(pred: &[f32], w: usize, x0: usize, y0: usize, x1: usize, y1: usize) -> f32 {
    let mut sum = 0f64;
    for y in y0..=y1 {
        sum += pred[y * w + x0..=y * w + x1].iter().map(|&p| p as f64).sum::<f64>();
    }
    (sum / ((x1 - x0 + 1) * (y1 - y0 + 1)) as f64) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_cover_every_row_once_with_context_inside_the_page() {
        assert_eq!(strips(640, 0, 64), vec![Strip { input_top: 0, input_bottom: 640, keep_top: 0, keep_bottom: 640 }]);
        assert_eq!(strips(384, 256, 64).len(), 1, "no taller than one strip with its context");
        let s = strips(1600, 256, 64);
        assert_eq!(s.len(), 7);
        assert_eq!(s[0], Strip { input_top: 0, input_bottom: 320, keep_top: 0, keep_bottom: 256 });
        assert_eq!(s[1], Strip { input_top: 192, input_bottom: 576, keep_top: 256, keep_bottom: 512 });
        assert_eq!(s[6], Strip { input_top: 1472, input_bottom: 1600, keep_top: 1536, keep_bottom: 1600 });
        for pair in s.windows(2) {
            assert_eq!(pair[0].keep_bottom, pair[1].keep_top, "contiguous");
        }
        assert!(s.iter().all(|x| x.input_top % 32 == 0 && x.input_bottom % 32 == 0));
    }

    #[test]
    fn input_size_raises_the_short_side_and_rounds_to_32() {
        assert_eq!(input_size(463, 1013, 736), (736, 1600));
        assert_eq!(input_size(2000, 1000, 736), (1984, 992));
    }

    #[test]
    fn one_bright_bar_becomes_one_unclipped_box_in_page_coordinates() {
        let (w, h) = (100usize, 40usize);
        let mut pred = vec![0.0f32; w * h];
        for y in 10..20 {
            for x in 20..80 {
                pred[y * w + x] = 0.9;
            }
        }
        let boxes = boxes_from_map(&pred, w, h, 200, 80, &DetParams::default());
        assert_eq!(boxes.len(), 1, "{boxes:?}");
        let b = boxes[0];
        // Region 20..=80 x 10..=20 after dilation; unclip distance = 60*10*1.6/140 = 6.9; doubled to the page.
        assert!(b.left < 40 && b.left > 20, "{b:?}");
        assert!(b.right > 160 && b.right < 180, "{b:?}");
        assert!(b.top < 20 && b.bottom > 40, "{b:?}");
        assert!(b.score > 0.5);
    }

    #[test]
    fn faint_and_tiny_regions_are_dropped() {
        let (w, h) = (50usize, 50usize);
        let mut pred = vec![0.0f32; w * h];
        // Faint: above thresh, below box_thresh.
        for y in 5..15 {
            for x in 5..45 {
                pred[y * w + x] = 0.4;
            }
        }
        // Tiny: 2x2.
        pred[30 * w + 30] = 0.9;
        pred[31 * w + 31] = 0.9;
        assert!(boxes_from_map(&pred, w, h, 50, 50, &DetParams::default()).is_empty());
    }

    #[test]
    fn reading_order_is_rows_then_columns() {
        let b = |left, top| TextBox { left, top, right: left + 10, bottom: top + 5, score: 1.0 };
        let sorted = sort_reading_order(vec![b(50, 103), b(0, 100), b(0, 130), b(30, 98)]);
        let order: Vec<(i32, i32)> = sorted.iter().map(|b| (b.left, b.top)).collect();
        assert_eq!(order, vec![(0, 100), (30, 98), (50, 103), (0, 130)]);
    }
}

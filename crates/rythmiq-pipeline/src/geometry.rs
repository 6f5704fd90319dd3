//! Boxes back into the coordinates of the page as submitted. The working image is the submitted page after a
//! sequence of resizes, quarter turns and a small deskew rotation; each step is recorded as a [`Transform`]
//! while it is applied, and a box is mapped back by running the inverse of each step, last first, on its four
//! corners (a deskewed box comes back as the axis-aligned box around the rotated one).

use rythmiq_types::BBox;

/// One geometric step applied to the working image, with the size of the image it was applied to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Transform {
    /// Resized from `from` to `to` pixels.
    Resize { from: (u32, u32), to: (u32, u32) },
    /// `rythmiq_imaging::rotate_quarter` by 90, 180 or 270 degrees clockwise of an image of size `from`.
    Quarter { degrees: u32, from: (u32, u32) },
    /// `rythmiq_imaging::rotate_small` by `degrees` counter-clockwise about the centre (size unchanged).
    Small { degrees: f64, size: (u32, u32) },
}

impl Transform {
    /// Where a point of the output image came from in the input image (continuous pixel coordinates).
    fn invert(&self, (x, y): (f64, f64)) -> (f64, f64) {
        match *self {
            Transform::Resize { from, to } => {
                (x * from.0 as f64 / to.0.max(1) as f64, y * from.1 as f64 / to.1.max(1) as f64)
            }
            Transform::Quarter { degrees, from: (w, h) } => match degrees % 360 {
                // rotate_quarter(90): input (x, y) lands on (h - y, x).
                90 => (y, h as f64 - x),
                180 => (w as f64 - x, h as f64 - y),
                // rotate_quarter(270): input (x, y) lands on (y, w - x).
                270 => (w as f64 - y, x),
                _ => (x, y),
            },
            Transform::Small { degrees, size: (w, h) } => {
                // rotate_small samples the source at this very formula (its inverse mapping).
                let (sin, cos) = degrees.to_radians().sin_cos();
                let (cx, cy) = (w as f64 / 2.0, h as f64 / 2.0);
                let (dx, dy) = (x - cx, y - cy);
                (cos * dx - sin * dy + cx, sin * dx + cos * dy + cy)
            }
        }
    }
}

/// Maps `bbox` (working-image pixels, right/bottom exclusive) back to the submitted page of size `page`.
pub fn to_submitted(bbox: BBox, transforms: &[Transform], page: (u32, u32)) -> BBox {
    if transforms.is_empty() {
        return bbox;
    }
    let corners = [
        (bbox.left as f64, bbox.top as f64),
        (bbox.right as f64, bbox.top as f64),
        (bbox.left as f64, bbox.bottom as f64),
        (bbox.right as f64, bbox.bottom as f64),
    ];
    let back: Vec<(f64, f64)> = corners.iter().map(|&p| transforms.iter().rev().fold(p, |p, t| t.invert(p))).collect();
    let min_x = back.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let max_x = back.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
    let min_y = back.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let max_y = back.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    let clamp_x = |v: f64| v.clamp(0.0, page.0 as f64);
    let clamp_y = |v: f64| v.clamp(0.0, page.1 as f64);
    BBox {
        left: clamp_x(min_x).floor() as i32,
        top: clamp_y(min_y).floor() as i32,
        right: clamp_x(max_x).ceil() as i32,
        bottom: clamp_y(max_y).ceil() as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rythmiq_imaging::{resize, rotate_quarter, GrayImage};

    /// A black square at a known place, pushed through real image operations: its box in the output, mapped
    /// back, covers the same pixels as in the input.
    #[test]
    fn a_box_comes_back_to_the_same_pixels() {
        let (w, h) = (300u32, 200u32);
        let mut img = GrayImage::filled(w, h, 255);
        for y in 40..60 {
            for x in 100..130 {
                img.set(x, y, 0);
            }
        }
        let mut transforms = Vec::new();
        let small = resize(&img, 150, 100);
        transforms.push(Transform::Resize { from: (w, h), to: (150, 100) });
        let turned = rotate_quarter(&small, 90);
        transforms.push(Transform::Quarter { degrees: 90, from: (150, 100) });
        // Find the dark square in the output.
        let (mut l, mut t, mut r, mut b) = (u32::MAX, u32::MAX, 0, 0);
        for y in 0..turned.height() {
            for x in 0..turned.width() {
                if turned.get(x, y) < 128 {
                    (l, t, r, b) = (l.min(x), t.min(y), r.max(x + 1), b.max(y + 1));
                }
            }
        }
        let back = to_submitted(
            BBox { left: l as i32, top: t as i32, right: r as i32, bottom: b as i32 },
            &transforms,
            (w, h),
        );
        assert!((back.left - 100).abs() <= 2 && (back.right - 130).abs() <= 2, "{back:?}");
        assert!((back.top - 40).abs() <= 2 && (back.bottom - 60).abs() <= 2, "{back:?}");
    }

    #[test]
    fn quarter_turns_invert() {
        for degrees in [90, 180, 270] {
            let t = Transform::Quarter { degrees, from: (40, 20) };
            let img = GrayImage::filled(40, 20, 255);
            let mut marked = img.clone();
            marked.set(5, 3, 0);
            let out = rotate_quarter(&marked, degrees);
            let pos = (0..out.height())
                .flat_map(|y| (0..out.width()).map(move |x| (x, y)))
                .find(|&(x, y)| out.get(x, y) == 0)
                .unwrap();
            let (x, y) = t.invert((pos.0 as f64 + 0.5, pos.1 as f64 + 0.5));
            assert_eq!((x.floor() as u32, y.floor() as u32), (5, 3), "{degrees}");
        }
    }
}

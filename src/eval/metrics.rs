//! How close one output frame is to the filmed truth, in the region the product changes.
//!
//! All images are compared as sRGB values in [0, 1] after a light blur (two passes of a
//! 3x3 box, about a 1.2 px Gaussian), so path-tracing noise and single-pixel aliasing do not
//! dominate. The region is where the truth differs from the plate (the product, its shadow,
//! its light and reflections on the floor) or where the matte covers, grown by a few pixels.
//! Within it:
//! - error removal `1 − err(out, truth) / err(plate, truth)`, `err` the mean absolute
//!   difference over the region's pixels and channels: 1 is as filmed, 0 as good as leaving the
//!   product out, negative worse than that;
//! - the same split into the product (the matte, grown) and the rest (shadow and light);
//! - PSNR over the region;
//! - silhouette IoU of the renderer's coverage mask against the matte, both at 0.5.

use image::{GrayImage, RgbImage};
use serde::{Deserialize, Serialize};

use crate::core::filter::Plane;

/// Blur radius and passes of the comparison.
const BLUR: (usize, usize) = (1, 2);
/// A truth−plate difference below this (after the blur) is render noise, not the product.
const CHANGE_THRESHOLD: f32 = 4.0 / 255.0;
/// Pixels the changed region and the product region grow by.
const GROW_PX: usize = 3;

/// The scores of one frame.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FrameScore {
    /// Silhouette IoU of the coverage mask against the matte.
    pub iou: f64,
    /// Error removal over the whole changed region.
    pub removal: f64,
    /// Error removal over the product.
    pub removal_product: f64,
    /// Error removal over the rest of the region (shadow, light, reflections).
    pub removal_shadow: f64,
    /// PSNR of the output against the truth over the region, dB.
    pub psnr_db: f64,
    /// Pixels in the region.
    pub region_px: usize,
}

/// The images of one frame.
pub struct FrameImages<'a> {
    /// The shot without the product.
    pub plate: &'a RgbImage,
    /// The shot with the product, as filmed (path traced).
    pub truth: &'a RgbImage,
    /// vanelia's output.
    pub output: &'a RgbImage,
    /// The product's true visible coverage.
    pub matte: &'a GrayImage,
    /// vanelia's coverage mask.
    pub mask: &'a GrayImage,
}

/// The three channels of an image in [0, 1], blurred.
fn blurred(img: &RgbImage) -> [Plane; 3] {
    let (w, h) = (img.width() as usize, img.height() as usize);
    [0, 1, 2].map(|c| {
        Plane::from_fn(w, h, |x, y| {
            f32::from(img.get_pixel(x as u32, y as u32)[c]) / 255.0
        })
        .box_blur(BLUR.0, BLUR.1)
    })
}

/// `mask` grown by `r` pixels.
fn grown(mask: &[bool], w: usize, h: usize, r: usize) -> Vec<bool> {
    let plane = Plane::from_fn(w, h, |x, y| f32::from(u8::from(mask[y * w + x])));
    let spread = plane.box_blur(r, 1);
    let threshold = 0.5 / ((2 * r + 1) * (2 * r + 1)) as f32;
    spread.data.iter().map(|&v| v >= threshold).collect()
}

/// Mean absolute difference of `a` and `b` over the pixels `inside` (and the pixel count).
fn mean_abs(a: &[Plane; 3], b: &[Plane; 3], inside: impl Fn(usize) -> bool) -> (f64, usize) {
    let n = a[0].data.len();
    let (mut sum, mut count) = (0.0_f64, 0_usize);
    for i in (0..n).filter(|&i| inside(i)) {
        count += 1;
        for c in 0..3 {
            sum += f64::from((a[c].data[i] - b[c].data[i]).abs());
        }
    }
    (sum / (3 * count.max(1)) as f64, count)
}

/// `1 − err(out)/err(plate)`; 1 when the plate already matches (nothing to remove).
fn removal(out: f64, plate: f64) -> f64 {
    if plate <= 1e-9 {
        1.0
    } else {
        1.0 - out / plate
    }
}

/// Scores one frame; `None` when the product changes nothing in it (out of view).
pub fn score_frame(f: &FrameImages<'_>) -> Option<FrameScore> {
    let (w, h) = (f.truth.width() as usize, f.truth.height() as usize);
    let (plate, truth, output) = (blurred(f.plate), blurred(f.truth), blurred(f.output));
    let matte = |i: usize| f.matte.as_raw()[i];
    let changed: Vec<bool> = (0..w * h)
        .map(|i| {
            let diff = (0..3).fold(0.0_f32, |m, c| {
                m.max((truth[c].data[i] - plate[c].data[i]).abs())
            });
            diff > CHANGE_THRESHOLD || matte(i) > 5
        })
        .collect();
    let region = grown(&changed, w, h, GROW_PX);
    if !region.iter().any(|&r| r) {
        return None;
    }
    let product_core: Vec<bool> = (0..w * h).map(|i| matte(i) >= 128).collect();
    let product = grown(&product_core, w, h, GROW_PX);
    let in_region = |i: usize| region[i];
    let in_product = |i: usize| region[i] && product[i];
    let in_rest = |i: usize| region[i] && !product[i];
    let part = |inside: &dyn Fn(usize) -> bool| {
        let (out, n) = mean_abs(&output, &truth, inside);
        let (before, _) = mean_abs(&plate, &truth, inside);
        (removal(out, before), n)
    };
    let (removal_all, region_px) = part(&in_region);
    let (removal_product, _) = part(&in_product);
    let (removal_shadow, _) = part(&in_rest);
    Some(FrameScore {
        iou: silhouette_iou(f.mask, f.matte),
        removal: removal_all,
        removal_product,
        removal_shadow,
        psnr_db: psnr(&output, &truth, &in_region),
        region_px,
    })
}

/// PSNR over the pixels `inside`, dB (capped at 99 for identical images).
fn psnr(a: &[Plane; 3], b: &[Plane; 3], inside: &dyn Fn(usize) -> bool) -> f64 {
    let n = a[0].data.len();
    let (mut sum, mut count) = (0.0_f64, 0_usize);
    for i in (0..n).filter(|&i| inside(i)) {
        count += 3;
        for c in 0..3 {
            sum += f64::from(a[c].data[i] - b[c].data[i]).powi(2);
        }
    }
    let mse = sum / count.max(1) as f64;
    if mse <= 1e-10 {
        99.0
    } else {
        (10.0 * (1.0 / mse).log10()).min(99.0)
    }
}

/// IoU of two coverage images at 0.5; 1 when both are empty.
pub fn silhouette_iou(a: &GrayImage, b: &GrayImage) -> f64 {
    let (mut inter, mut union) = (0_u64, 0_u64);
    for (p, q) in a.as_raw().iter().zip(b.as_raw()) {
        let (x, y) = (*p >= 128, *q >= 128);
        inter += u64::from(x && y);
        union += u64::from(x || y);
    }
    if union == 0 {
        1.0
    } else {
        inter as f64 / union as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disc(w: u32, h: u32, cx: f32, cy: f32, r: f32) -> GrayImage {
        GrayImage::from_fn(w, h, |x, y| {
            let d = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt();
            image::Luma([if d <= r { 255 } else { 0 }])
        })
    }

    /// A grey floor; the truth adds a red disc (the product) and a dark ellipse beside it
    /// (its shadow).
    fn scene() -> (RgbImage, RgbImage, GrayImage) {
        let (w, h) = (96, 64);
        let matte = disc(w, h, 40.0, 30.0, 10.0);
        let plate = RgbImage::from_pixel(w, h, image::Rgb([120, 120, 120]));
        let truth = RgbImage::from_fn(w, h, |x, y| {
            if matte.get_pixel(x, y)[0] > 0 {
                image::Rgb([200, 30, 30])
            } else if ((x as f32 - 58.0) / 12.0).powi(2) + ((y as f32 - 36.0) / 5.0).powi(2) < 1.0 {
                image::Rgb([60, 60, 60])
            } else {
                image::Rgb([120, 120, 120])
            }
        });
        (plate, truth, matte)
    }

    fn score(output: &RgbImage, mask: &GrayImage) -> FrameScore {
        let (plate, truth, matte) = scene();
        score_frame(&FrameImages {
            plate: &plate,
            truth: &truth,
            output,
            matte: &matte,
            mask,
        })
        .unwrap()
    }

    #[test]
    fn the_truth_scores_one_and_the_plate_zero() {
        let (plate, truth, matte) = scene();
        let perfect = score(&truth, &matte);
        assert_eq!(perfect.removal, 1.0);
        assert_eq!(perfect.iou, 1.0);
        assert_eq!(perfect.psnr_db, 99.0);
        let left_out = score(&plate, &GrayImage::new(96, 64));
        assert!(left_out.removal.abs() < 1e-9, "{left_out:?}");
        assert_eq!(left_out.iou, 0.0);
    }

    #[test]
    fn a_missing_shadow_costs_the_shadow_score_not_the_product_s() {
        let (plate, truth, matte) = scene();
        // the product right, its shadow left out
        let no_shadow = RgbImage::from_fn(96, 64, |x, y| {
            if matte.get_pixel(x, y)[0] > 0 {
                *truth.get_pixel(x, y)
            } else {
                *plate.get_pixel(x, y)
            }
        });
        let s = score(&no_shadow, &matte);
        assert!(s.removal_product > 0.9, "{s:?}");
        assert!(s.removal_shadow < 0.2, "{s:?}");
        assert!(s.removal > 0.3 && s.removal < 0.95, "{s:?}");
        // a shadow on the wrong side is worse than none
        let wrong = RgbImage::from_fn(96, 64, |x, y| {
            let mirrored = ((x as f32 - 22.0) / 12.0).powi(2) + ((y as f32 - 36.0) / 5.0).powi(2);
            if matte.get_pixel(x, y)[0] > 0 {
                *truth.get_pixel(x, y)
            } else if mirrored < 1.0 {
                image::Rgb([60, 60, 60])
            } else {
                *plate.get_pixel(x, y)
            }
        });
        assert!(score(&wrong, &matte).removal_shadow < s.removal_shadow);
    }

    #[test]
    fn iou_counts_coverage_at_one_half() {
        let a = disc(40, 40, 20.0, 20.0, 10.0);
        let b = disc(40, 40, 21.0, 20.0, 10.0);
        let iou = silhouette_iou(&a, &b);
        assert!(iou > 0.8 && iou < 0.95, "{iou}");
        assert_eq!(
            silhouette_iou(&GrayImage::new(4, 4), &GrayImage::new(4, 4)),
            1.0
        );
    }
}

//! Defocus. A lens focused at distance `s` images a point at depth `d` as a disk, the circle
//! of confusion, whose diameter on the sensor is `A f |d − s| / (d (s − f))` (thin lens;
//! aperture diameter `A = f / N`). In pixels that is `K |1 − s/d|` with `K = A f_px / (s − f)`,
//! the disk of a point at infinity: two numbers describe the whole depth of field of a clip
//! ([`Defocus`]). The product layers are blurred by scattering each pixel over its own disk
//! (near and far parts of the product blur differently; the shadow takes the floor's depth),
//! colour in linear light and premultiplied, so a blurred edge fades like the plate's.
//!
//! Where the disk comes from: `--focus-distance` and `--aperture` (with `--sensor-width` for
//! the focal length in metres), else [`estimate`] reads it from the plate's edges at the
//! depths the floor spans.

pub mod estimate;

use std::collections::HashMap;

use glam::DVec2;
use image::{GrayImage, Luma, Rgba, RgbaImage};
use serde::{Deserialize, Serialize};

use super::occlusion::Ground;
use super::raster::FrameImages;
use crate::core::{color, CameraPose, Intrinsics};

/// Disks smaller than this diameter (pixels) are left out: below the renderer's own
/// anti-aliasing.
pub const MIN_COC_PX: f64 = 1.0;
/// Largest disk diameter applied (pixels): beyond it the blur is capped.
pub const MAX_COC_PX: f64 = 48.0;
/// Kernel radii are quantised to this fraction of a pixel (kernels are cached by radius).
const RADIUS_STEPS_PER_PX: f64 = 4.0;

/// What the user said of the lens's focus.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "from")]
pub enum FocusRequest {
    /// Read from the plate ([`estimate`]), with the focus distance fixed when given.
    Plate {
        /// `--focus-distance`, metres.
        focus_distance_m: Option<f64>,
    },
    /// The lens as given (`--focus-distance`, `--aperture`, `--sensor-width`).
    Lens {
        /// Distance in focus along the optical axis, metres.
        focus_distance_m: f64,
        /// f-number.
        f_number: f64,
        /// Sensor width, millimetres (for the focal length in metres).
        sensor_width_mm: f64,
    },
    /// No defocus (`--aperture 0`).
    Off,
}

impl Default for FocusRequest {
    fn default() -> Self {
        Self::Plate {
            focus_distance_m: None,
        }
    }
}

/// The depth of field of a clip: where the lens is focused and how large the disk of a point
/// at infinity is.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Defocus {
    /// Distance of the plane in focus along the optical axis, metres.
    pub focus_distance_m: f64,
    /// Circle-of-confusion diameter of a point at infinity, pixels.
    pub infinity_coc_px: f64,
}

impl Defocus {
    /// The thin lens of a camera with an f-number of `f_number` on a sensor `sensor_width_mm`
    /// wide, focused at `focus_distance_m`; `None` when the aperture is a pinhole
    /// (`f_number` 0 or infinite) or the focus is inside the focal length.
    pub fn from_lens(
        focus_distance_m: f64,
        f_number: f64,
        sensor_width_mm: f64,
        intrinsics: &Intrinsics,
    ) -> Option<Self> {
        let focal_px = intrinsics.focal_px[0];
        let focal_m = focal_px * sensor_width_mm * 1e-3 / f64::from(intrinsics.size.width);
        if !(f_number.is_finite() && f_number > 0.0) || focus_distance_m <= focal_m {
            return None;
        }
        let aperture_m = focal_m / f_number;
        Some(Self {
            focus_distance_m,
            infinity_coc_px: aperture_m * focal_px / (focus_distance_m - focal_m),
        })
    }

    /// Circle-of-confusion diameter, pixels, of a point `depth_m` along the optical axis.
    pub fn coc_px(&self, depth_m: f64) -> f64 {
        if depth_m.is_nan() || depth_m <= 0.0 {
            return 0.0;
        }
        (self.infinity_coc_px * (1.0 - self.focus_distance_m / depth_m).abs()).min(MAX_COC_PX)
    }
}

/// Blurs one frame's layers (rendered by the pinhole `camera`) by `defocus`: the product's
/// colour, coverage and depth over the disk of each pixel's depth, the shadow over the disk of
/// the floor's depth at each pixel.
pub fn apply(
    images: &FrameImages,
    defocus: &Defocus,
    camera: &CameraPose,
    ground: &Ground,
) -> FrameImages {
    let (w, h) = images.rgba.dimensions();
    let mut kernels = Kernels::default();
    let fallback = median_depth(images);
    let mut product = Scatter::new(w, h, 6);
    for (x, y, p) in images.rgba.enumerate_pixels() {
        let m = images.mask.get_pixel(x, y)[0];
        if p[3] == 0 && m == 0 {
            continue;
        }
        let depth = nearest_finite(images, x, y).unwrap_or(fallback);
        let values = [
            color::to_linear(p[0]),
            color::to_linear(p[1]),
            color::to_linear(p[2]),
            f32::from(p[3]),
            f32::from(m),
        ];
        let kernel = kernels.get(defocus.coc_px(f64::from(depth)));
        product.add(x, y, &values, depth, kernel);
    }
    let mut shadow = Scatter::new(w, h, 1);
    let origin = camera.centre_in_world();
    for (x, y, s) in images.shadow.enumerate_pixels() {
        if s[0] == 255 {
            continue;
        }
        let ray = camera
            .intrinsics
            .unproject(DVec2::new(f64::from(x), f64::from(y)));
        let depth = ground.depth_of_ray(origin, camera.world_from_cam.transform_vector3(ray));
        let kernel = kernels.get(defocus.coc_px(f64::from(depth)));
        shadow.add(x, y, &[f32::from(255 - s[0])], depth, kernel);
    }
    FrameImages {
        rgba: RgbaImage::from_fn(w, h, |x, y| {
            let v = product.at(x, y);
            Rgba([
                color::to_srgb(v[0]),
                color::to_srgb(v[1]),
                color::to_srgb(v[2]),
                v[3].round().clamp(0.0, 255.0) as u8,
            ])
        }),
        mask: GrayImage::from_fn(w, h, |x, y| {
            Luma([product.at(x, y)[4].round().clamp(0.0, 255.0) as u8])
        }),
        depth_m: image::ImageBuffer::from_fn(w, h, |x, y| Luma([product.depth_at(x, y)])),
        shadow: GrayImage::from_fn(w, h, |x, y| {
            Luma([255 - shadow.at(x, y)[0].round().clamp(0.0, 255.0) as u8])
        }),
    }
}

/// The depth of `(x, y)`, or of its nearest neighbour with one (3x3): anti-aliased edge pixels
/// have coverage but no depth sample.
fn nearest_finite(images: &FrameImages, x: u32, y: u32) -> Option<f32> {
    let (w, h) = images.depth_m.dimensions();
    let own = images.depth_m.get_pixel(x, y)[0];
    if own.is_finite() {
        return Some(own);
    }
    let mut best = None::<f32>;
    for ny in y.saturating_sub(1)..(y + 2).min(h) {
        for nx in x.saturating_sub(1)..(x + 2).min(w) {
            let d = images.depth_m.get_pixel(nx, ny)[0];
            if d.is_finite() && best.is_none_or(|b| d < b) {
                best = Some(d);
            }
        }
    }
    best
}

/// The median of the product's finite depths (for coverage far from any depth sample).
fn median_depth(images: &FrameImages) -> f32 {
    let mut d: Vec<f32> = images
        .depth_m
        .pixels()
        .map(|p| p[0])
        .filter(|d| d.is_finite())
        .collect();
    if d.is_empty() {
        return f32::INFINITY;
    }
    let mid = d.len() / 2;
    *d.select_nth_unstable_by(mid, f32::total_cmp).1
}

/// Accumulates values scattered over disks.
struct Scatter {
    width: u32,
    height: u32,
    channels: usize,
    sum: Vec<f32>,
    depth: Vec<f32>,
}

impl Scatter {
    fn new(width: u32, height: u32, channels: usize) -> Self {
        let n = width as usize * height as usize;
        Self {
            width,
            height,
            channels,
            sum: vec![0.0; n * channels],
            depth: vec![f32::INFINITY; n],
        }
    }

    /// Spreads `values` of pixel `(x, y)` (at `depth`) over `kernel`.
    fn add(&mut self, x: u32, y: u32, values: &[f32], depth: f32, kernel: &[(i32, i32, f32)]) {
        for &(dx, dy, weight) in kernel {
            let (tx, ty) = (x as i64 + i64::from(dx), y as i64 + i64::from(dy));
            if tx < 0 || ty < 0 || tx >= i64::from(self.width) || ty >= i64::from(self.height) {
                continue;
            }
            let i = ty as usize * self.width as usize + tx as usize;
            for (c, v) in values.iter().enumerate() {
                self.sum[i * self.channels + c] += v * weight;
            }
            self.depth[i] = self.depth[i].min(depth);
        }
    }

    fn at(&self, x: u32, y: u32) -> &[f32] {
        let i = (y as usize * self.width as usize + x as usize) * self.channels;
        &self.sum[i..i + self.channels]
    }

    fn depth_at(&self, x: u32, y: u32) -> f32 {
        self.depth[y as usize * self.width as usize + x as usize]
    }
}

/// Normalised disk kernels by quantised radius: `(dx, dy, weight)`, anti-aliased rim.
#[derive(Default)]
struct Kernels {
    cache: HashMap<u32, Vec<(i32, i32, f32)>>,
}

impl Kernels {
    fn get(&mut self, coc_px: f64) -> &[(i32, i32, f32)] {
        let coc = if coc_px < MIN_COC_PX { 0.0 } else { coc_px };
        let steps = (coc / 2.0 * RADIUS_STEPS_PER_PX).round() as u32;
        self.cache
            .entry(steps)
            .or_insert_with(|| disk(f64::from(steps) / RADIUS_STEPS_PER_PX))
    }
}

/// A disk of `radius_px`, each pixel weighted by how much of it lies inside (a 1-px ramp at
/// the rim), normalised to sum 1; one pixel for a radius under half a pixel.
pub(crate) fn disk(radius_px: f64) -> Vec<(i32, i32, f32)> {
    if radius_px < 0.5 {
        return vec![(0, 0, 1.0)];
    }
    let n = radius_px.ceil() as i32 + 1;
    let mut out = Vec::new();
    for dy in -n..=n {
        for dx in -n..=n {
            let dist = f64::from(dx).hypot(f64::from(dy));
            let w = (radius_px + 0.5 - dist).clamp(0.0, 1.0);
            if w > 0.0 {
                out.push((dx, dy, w as f32));
            }
        }
    }
    let total: f32 = out.iter().map(|k| k.2).sum();
    for k in &mut out {
        k.2 /= total;
    }
    out
}

#[cfg(test)]
mod tests;

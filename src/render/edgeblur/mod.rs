//! Edges of the plate and how blurred each is: the evidence the depth of field is read from.
//! Each edge's blur is measured by re-blurring (Zhuo and Sim, "Defocus
//! map estimation from a single image", 2011): the ratio of the gradient at an edge to the
//! gradient after a known Gaussian blur gives the edge's own blur, as the σ a Gaussian would
//! have. [`calibration`] maps that reading to a disk diameter by running the same measurement
//! on synthetic disk-blurred edges, so no constant of the method is tuned by hand. Only
//! straight edges count (at corners and junctions the measurement reads too sharp), and only
//! those on the floor, whose plane gives each its depth and its image motion between frames.

pub mod calibration;

use glam::{DVec2, DVec3};
use image::RgbImage;

use super::occlusion::Ground;
use crate::core::filter::Plane;
use crate::core::CameraPose;

/// Blur applied before measuring, pixels: render and sensor noise otherwise make blurred edges
/// read sharp (a disk of 10 px under noise of 1 % read as 6 px without it, 9.8 px with it).
const PRESMOOTH_SIGMA_PX: f32 = 1.0;
/// Blur of the re-blurring Gaussian, pixels.
const REBLUR_SIGMA_PX: f32 = 2.0;
/// Weakest gradient (luma per pixel, 0..1) taken as an edge.
const MIN_GRADIENT: f32 = 0.02;
/// Least cosine between an edge's gradient and its neighbours' along it.
const STRAIGHT_COS: f32 = 0.9;
/// Pixels at the frame border left out (the filters' support).
const BORDER_PX: usize = 3;

/// One frame of the plate with its camera and its neighbours' (for the image motion).
pub struct View<'a> {
    /// The frame.
    pub rgb: &'a RgbImage,
    /// Its camera.
    pub camera: &'a CameraPose,
    /// The previous and next frames' cameras, where the clip has them.
    pub neighbours: [Option<&'a CameraPose>; 2],
}

/// An edge on the floor.
#[derive(Debug, Clone, Copy)]
pub struct FloorEdge {
    /// The floor's depth there along the optical axis, metres.
    pub depth_m: f64,
    /// The re-blur σ, pixels.
    pub sigma: f64,
    /// Image motion over one frame interval across the edge (along its normal), pixels.
    pub motion_across_px: f64,
}

/// The straight edges of `view` that lie on the floor (below the horizon).
pub fn floor_edges(view: &View<'_>, ground: &Ground) -> Vec<FloorEdge> {
    let camera = view.camera;
    let mut out = Vec::new();
    for e in edges(&luma_of(view.rgb)) {
        let pixel = DVec2::new(e.x as f64, e.y as f64);
        let depth_m = floor_depth(camera, ground, pixel);
        if !depth_m.is_finite() {
            continue;
        }
        let ray = camera
            .world_from_cam
            .transform_vector3(camera.intrinsics.unproject(pixel));
        let point = camera.centre_in_world() + ray * depth_m;
        out.push(FloorEdge {
            depth_m,
            sigma: f64::from(e.sigma),
            motion_across_px: motion_per_frame(view, point, pixel).dot(e.normal).abs(),
        });
    }
    out
}

/// The floor's depth along the optical axis at `pixel` of `camera` (`inf` above the horizon).
pub fn floor_depth(camera: &CameraPose, ground: &Ground, pixel: DVec2) -> f64 {
    let ray = camera.intrinsics.unproject(pixel);
    f64::from(ground.depth_of_ray(
        camera.centre_in_world(),
        camera.world_from_cam.transform_vector3(ray),
    ))
}

/// The image motion of `point` over one frame interval (half the way from the previous
/// frame's view to the next one's).
fn motion_per_frame(view: &View<'_>, point: DVec3, at: DVec2) -> DVec2 {
    let seen = |c: Option<&CameraPose>| c.and_then(|c| c.project_world(point));
    match (seen(view.neighbours[0]), seen(view.neighbours[1])) {
        (Some(prev), Some(next)) => (next - prev) / 2.0,
        (Some(prev), None) => at - prev,
        (None, Some(next)) => next - at,
        (None, None) => DVec2::ZERO,
    }
}

/// An edge pixel: where, its unit normal (the gradient's direction) and its blur (the
/// Gaussian σ the re-blur ratio gives, pixels).
pub(crate) struct Edge {
    pub x: usize,
    pub y: usize,
    pub normal: DVec2,
    pub sigma: f32,
}

/// Luma (BT.601 weights on the coded values), 0..1.
pub(crate) fn luma_of(rgb: &RgbImage) -> Plane {
    Plane::from_fn(rgb.width() as usize, rgb.height() as usize, |x, y| {
        let p = rgb.get_pixel(x as u32, y as u32);
        (0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2])) / 255.0
    })
}

/// The edges of `luma` (gradient maxima across the edge above [`MIN_GRADIENT`]) with their
/// re-blur blur.
pub(crate) fn edges(luma: &Plane) -> Vec<Edge> {
    let (w, h) = (luma.width, luma.height);
    if w <= 2 * BORDER_PX || h <= 2 * BORDER_PX {
        return Vec::new();
    }
    let luma = gaussian(luma, PRESMOOTH_SIGMA_PX);
    let grad = gradients(&luma);
    let reblurred = gradients(&gaussian(&luma, REBLUR_SIGMA_PX));
    let magnitude = |g: &[(f32, f32)], x: usize, y: usize| {
        let (gx, gy) = g[y * w + x];
        gx.hypot(gy)
    };
    let mut out = Vec::new();
    for y in BORDER_PX..h - BORDER_PX {
        for x in BORDER_PX..w - BORDER_PX {
            let g = magnitude(&grad, x, y);
            if g <= MIN_GRADIENT {
                continue;
            }
            let (gx, gy) = grad[y * w + x];
            // non-maximum suppression along the gradient, quantised to 45°
            let octant =
                ((gy.atan2(gx) / std::f32::consts::FRAC_PI_4).round() as i32).rem_euclid(4);
            let (dx, dy) = [(1, 0), (1, 1), (0, 1), (-1, 1)][octant as usize];
            let a = magnitude(&grad, (x as i64 + dx) as usize, (y as i64 + dy) as usize);
            let b = magnitude(&grad, (x as i64 - dx) as usize, (y as i64 - dy) as usize);
            if g < a || g < b {
                continue;
            }
            if !straight(&grad, w, x, y, (dx, dy)) {
                continue;
            }
            let ratio = g / magnitude(&reblurred, x, y).max(1e-9);
            if ratio <= 1.01 {
                continue;
            }
            out.push(Edge {
                x,
                y,
                normal: DVec2::new(f64::from(gx), f64::from(gy)) / f64::from(g),
                sigma: REBLUR_SIGMA_PX / (ratio * ratio - 1.0).sqrt(),
            });
        }
    }
    out
}

/// Whether the edge through `(x, y)` runs straight: the gradients one pixel either way along
/// it point the same way (corners and junctions, where edges meet, read too sharp).
fn straight(grad: &[(f32, f32)], w: usize, x: usize, y: usize, (dx, dy): (i64, i64)) -> bool {
    let unit = |(gx, gy): (f32, f32)| {
        let m = gx.hypot(gy).max(1e-9);
        (gx / m, gy / m)
    };
    let here = unit(grad[y * w + x]);
    // along the edge = across the gradient's octant
    [(-dy, dx), (dy, -dx)].iter().all(|&(tx, ty)| {
        let (nx, ny) = ((x as i64 + tx) as usize, (y as i64 + ty) as usize);
        let there = unit(grad[ny * w + nx]);
        here.0 * there.0 + here.1 * there.1 > STRAIGHT_COS
    })
}

/// Central differences (one-sided at the border).
fn gradients(p: &Plane) -> Vec<(f32, f32)> {
    let (w, h) = (p.width, p.height);
    let diff = |a: f32, b: f32, span: usize| (b - a) / span as f32;
    let mut out = Vec::with_capacity(w * h);
    for y in 0..h {
        for x in 0..w {
            let (x0, x1) = (x.saturating_sub(1), (x + 1).min(w - 1));
            let (y0, y1) = (y.saturating_sub(1), (y + 1).min(h - 1));
            out.push((
                diff(p.at(x0, y), p.at(x1, y), (x1 - x0).max(1)),
                diff(p.at(x, y0), p.at(x, y1), (y1 - y0).max(1)),
            ));
        }
    }
    out
}

/// Separable Gaussian blur (support ±4σ, edges clamped).
fn gaussian(p: &Plane, sigma: f32) -> Plane {
    let r = (4.0 * sigma).ceil() as i64;
    let taps: Vec<f32> = (-r..=r)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f32 = taps.iter().sum();
    let (w, h) = (p.width as i64, p.height as i64);
    let pass = |src: &Plane, horizontal: bool| {
        Plane::from_fn(src.width, src.height, |x, y| {
            let mut acc = 0.0;
            for (k, t) in taps.iter().enumerate() {
                let o = k as i64 - r;
                let (sx, sy) = if horizontal {
                    ((x as i64 + o).clamp(0, w - 1), y as i64)
                } else {
                    (x as i64, (y as i64 + o).clamp(0, h - 1))
                };
                acc += t * src.at(sx as usize, sy as usize);
            }
            acc / total
        })
    };
    pass(&pass(p, true), false)
}

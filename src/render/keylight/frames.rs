//! The frames as evidence: luminance, the lit floor's level around each place, which pixels
//! nearer objects hide, and how dark the floor is at a ground point.

use glam::{DVec2, DVec3};

use super::basis::Basis;
use super::EvidenceFrame;
use crate::core::filter::Plane;
use crate::core::{color, CameraPose};
use image::RgbImage;

/// A frame ready for sampling: luminance, lightly blurred, and the lit floor's level around
/// each place.
pub(super) struct Prepared<'a> {
    pub(super) camera: &'a CameraPose,
    /// The picture itself, for colours.
    pub(super) image: &'a RgbImage,
    pub(super) luminance: Plane,
    pub(super) lit: LocalLevels,
    pub(super) basis: Basis,
    /// Nearest object depth per coarse cell (`OCCLUSION_CELL_PX`), `inf` where none.
    pub(super) occluders: Plane,
}

/// Cell size of the occlusion grid, pixels.
pub(super) const OCCLUSION_CELL_PX: f64 = 6.0;

/// Luminance, the lit floor's level (75th percentile of the floor points within
/// `radius`, so that light falling off across the floor is not taken for shadow) and the
/// occlusion grid of one frame; `None` when too few floor points are in view.
pub(super) fn prepare<'a>(
    f: &EvidenceFrame<'a>,
    floor: &[DVec3],
    objects: &[DVec3],
    (basis, radius): (Basis, f64),
) -> Option<Prepared<'a>> {
    let (w, h) = (f.rgb.width() as usize, f.rgb.height() as usize);
    let luminance = Plane::from_fn(w, h, |x, y| {
        let p = f.rgb.get_pixel(x as u32, y as u32);
        0.2126 * color::to_linear(p[0])
            + 0.7152 * color::to_linear(p[1])
            + 0.0722 * color::to_linear(p[2])
    })
    .box_blur(1, 2);
    let samples: Vec<(DVec2, f32)> = floor
        .iter()
        .filter_map(|&p| {
            pixel_of(f.camera, p, w, h).map(|(px, _)| (basis.on_plane(p), at(&luminance, px)))
        })
        .collect();
    if samples.len() < 10 {
        return None;
    }
    let lit = LocalLevels::new(&samples, radius);
    let (gw, gh) = (
        (w as f64 / OCCLUSION_CELL_PX).ceil() as usize,
        (h as f64 / OCCLUSION_CELL_PX).ceil() as usize,
    );
    let mut occluders = Plane::from_fn(gw, gh, |_, _| f32::INFINITY);
    for &p in objects {
        if let Some((px, depth)) = pixel_of(f.camera, p, w, h) {
            // each point stands for a patch of surface around it: mark its neighbour cells too
            let (cx, cy) = (
                (px.x / OCCLUSION_CELL_PX) as isize,
                (px.y / OCCLUSION_CELL_PX) as isize,
            );
            for (dx, dy) in [(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)] {
                let (x, y) = (cx + dx, cy + dy);
                if (0..gw as isize).contains(&x) && (0..gh as isize).contains(&y) {
                    let i = y as usize * gw + x as usize;
                    occluders.data[i] = occluders.data[i].min(depth as f32);
                }
            }
        }
    }
    Some(Prepared {
        camera: f.camera,
        image: f.rgb,
        luminance,
        lit,
        basis,
        occluders,
    })
}

/// The pixel and depth of a world point seen by `camera`, inside a `w × h` frame.
pub(super) fn pixel_of(camera: &CameraPose, p: DVec3, w: usize, h: usize) -> Option<(DVec2, f64)> {
    let in_cam = camera.cam_from_world().transform_point3(p);
    let px = camera.intrinsics.project(in_cam)?;
    let inside = px.x >= 1.0 && px.y >= 1.0 && px.x < w as f64 - 2.0 && px.y < h as f64 - 2.0;
    inside.then_some((px, in_cam.z))
}

pub(super) fn at(plane: &Plane, px: DVec2) -> f32 {
    plane.at(px.x as usize, px.y as usize)
}

impl Prepared<'_> {
    /// The pixel where the frame sees the ground point, `None` outside the frame or behind a
    /// nearer object.
    fn visible(&self, ground_point: DVec3) -> Option<DVec2> {
        let (w, h) = (self.luminance.width, self.luminance.height);
        let (px, depth) = pixel_of(self.camera, ground_point, w, h)?;
        let cell = (
            (px.x / OCCLUSION_CELL_PX) as usize,
            (px.y / OCCLUSION_CELL_PX) as usize,
        );
        (f64::from(self.occluders.at(cell.0, cell.1)) >= depth * 0.97).then_some(px)
    }

    /// `ln(lit floor / floor at the point)` where the frame sees the ground point.
    pub(super) fn darkness_at(&self, ground_point: DVec3) -> Option<f64> {
        let px = self.visible(ground_point)?;
        let lit = f64::from(self.lit.at(self.basis.on_plane(ground_point))?.max(1e-4));
        let y = f64::from(at(&self.luminance, px)).max(1e-4);
        Some((lit / y).ln().clamp(-0.5, 2.5))
    }

    /// Linear RGB around the pixel that sees the ground point (a 3x3 mean).
    pub(super) fn rgb_at(&self, ground_point: DVec3) -> Option<[f64; 3]> {
        let px = self.visible(ground_point)?;
        let (x, y) = (px.x as u32, px.y as u32);
        let mut sum = [0.0; 3];
        for yy in y - 1..=y + 1 {
            for xx in x - 1..=x + 1 {
                let p = self.image.get_pixel(xx, yy);
                for c in 0..3 {
                    sum[c] += f64::from(color::to_linear(p[c])) / 9.0;
                }
            }
        }
        Some(sum)
    }
}

/// A floor point's darkness, `ln(lit floor / floor there)` averaged over the frames that see
/// it, and where it lies on the plane.
pub(super) struct FloorSample {
    pub(super) on_plane: DVec2,
    pub(super) darkness: f64,
}

/// Each floor point's darkness over the frames that see it.
pub(super) fn floor_samples(
    frames: &[Prepared<'_>],
    floor: &[DVec3],
    basis: &Basis,
) -> Vec<FloorSample> {
    floor
        .iter()
        .filter_map(|&p| {
            let seen: Vec<f64> = frames.iter().filter_map(|f| f.darkness_at(p)).collect();
            (!seen.is_empty()).then(|| FloorSample {
                on_plane: basis.on_plane(p),
                darkness: seen.iter().sum::<f64>() / seen.len() as f64,
            })
        })
        .collect()
}

/// Upper quantile of brightness that counts as lit floor.
pub(super) const LIT_QUANTILE: f64 = 0.75;
/// Fewest floor samples a local level rests on; with fewer, the place is not known floor.
pub(super) const MIN_LOCAL_SAMPLES: usize = 12;

/// The lit floor's level over the plane, on a grid of half the radius; `NaN` where too few
/// floor points are near (not floor the track knows: beyond it, or the sky).
pub(super) struct LocalLevels {
    pub(super) origin: DVec2,
    pub(super) cell: f64,
    pub(super) width: usize,
    pub(super) height: usize,
    pub(super) levels: Vec<f32>,
}

impl LocalLevels {
    /// From `(place on the plane, brightness)` samples of the floor.
    pub(super) fn new(samples: &[(DVec2, f32)], radius: f64) -> Self {
        let quantile = |mut v: Vec<f32>| {
            let k = ((v.len() as f64 * LIT_QUANTILE) as usize).min(v.len().saturating_sub(1));
            let (_, q, _) = v.select_nth_unstable_by(k, f32::total_cmp);
            *q
        };
        let lo = samples
            .iter()
            .fold(DVec2::splat(f64::INFINITY), |m, s| m.min(s.0));
        let hi = samples
            .iter()
            .fold(DVec2::splat(f64::NEG_INFINITY), |m, s| m.max(s.0));
        let cell = (radius / 2.0).max(1e-9);
        let size = ((hi - lo) / cell).ceil() + 1.0;
        let (width, height) = (size.x.min(400.0) as usize, size.y.min(400.0) as usize);
        let levels = (0..width * height)
            .map(|i| {
                let centre = lo + DVec2::new((i % width) as f64, (i / width) as f64) * cell;
                let near: Vec<f32> = samples
                    .iter()
                    .filter(|s| s.0.distance(centre) <= radius)
                    .map(|s| s.1)
                    .collect();
                if near.len() >= MIN_LOCAL_SAMPLES {
                    quantile(near)
                } else {
                    f32::NAN
                }
            })
            .collect();
        Self {
            origin: lo,
            cell,
            width,
            height,
            levels,
        }
    }

    /// The level at the grid point nearest to `p`; `None` off the known floor.
    pub(super) fn at(&self, p: DVec2) -> Option<f32> {
        let g = ((p - self.origin) / self.cell).round();
        let inside = g.x >= 0.0 && g.y >= 0.0;
        let (x, y) = (g.x as usize, g.y as usize);
        (inside && x < self.width && y < self.height)
            .then(|| self.levels[y * self.width + x])
            .filter(|v| v.is_finite())
    }
}

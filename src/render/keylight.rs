//! The key light's direction read from the shot, once per clip: every scene object casts a
//! shadow, and the track's scene points tell where the objects are.
//!
//! A point `P` on an opaque surface at height `h` above the ground plane shadows the ground
//! point `S = P − L · h / (L · n)` for a light in direction `L` (towards the light, unit) and
//! plane normal `n`: the ray from `S` towards the light passes through `P`. So for the true
//! `L`, the floor at every such `S` is in shadow (darker than the lit floor), and for a wrong
//! `L` it is mostly not. The estimate is the direction that makes the floor darkest at the
//! points' shadow feet, over a few frames of the clip, each foot compared with the lit floor
//! of its frame (a high percentile of the floor points' brightness). A foot that the camera
//! sees behind a nearer object is skipped. Works with an imported track's sparse points and
//! with the tracker's dense ones; a shot without usable shadows (overcast, no objects, no
//! points) gives no estimate, and says why.

use glam::{DVec2, DVec3};
use image::RgbImage;

use crate::core::filter::Plane;
use crate::core::{color, CameraPose, ScenePoint};

/// Frames the estimate looks at, evenly spread over the clip.
pub const FRAMES: usize = 8;
/// Most object points used (evenly subsampled).
const MAX_POINTS: usize = 1500;
/// Elevations searched, degrees (the light is above the ground plane).
const ELEVATION_DEG: (f64, f64) = (5.0, 88.0);
/// Coarse search steps, degrees (elevation, azimuth); then refined around the best.
const COARSE_STEP_DEG: (f64, f64) = (2.5, 3.0);
/// Shadow-foot contrast (mean `ln(lit / foot)`) below which the shot shows no cast shadows.
const MIN_CONTRAST: f64 = 0.12;
/// How far the best direction's score must stand out from the median direction's. Clear cast
/// shadows stand out by 0.5 or more; soft or faint ones (a large lamp, haze) by less, and
/// there a wrong direction is worse than the default guess.
const MIN_PROMINENCE: f64 = 0.25;
/// Fewest shadow-foot samples an estimate may rest on.
const MIN_SAMPLES: usize = 60;
/// Radius of the floor around a place whose lit level it is compared with, as a fraction of
/// the camera's distance: wider than a cast shadow, narrow enough that light falling off
/// across the floor (a lamp, vignetting) is not taken for shadow.
const LOCAL_RADIUS: f64 = 0.4;

/// One frame of evidence.
pub struct EvidenceFrame<'a> {
    /// The picture.
    pub rgb: &'a RgbImage,
    /// Its camera.
    pub camera: &'a CameraPose,
}

/// The scene around the product.
#[derive(Debug, Clone, Copy)]
pub struct Ground {
    /// A point on the ground plane (world).
    pub point_in_world: DVec3,
    /// Unit normal towards the cameras (world).
    pub normal_in_world: DVec3,
    /// Where the product stands (world); the search looks at objects around it.
    pub anchor_in_world: DVec3,
}

/// The estimated key light.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct KeyLightEstimate {
    /// Unit direction towards the light (world).
    pub dir_in_world: [f64; 3],
    /// Angle above the ground plane, degrees.
    pub elevation_deg: f64,
    /// Mean `ln(lit floor / floor at the shadow feet)` for that direction: how much darker the
    /// cast shadows are than the lit floor.
    pub shadow_contrast: f64,
    /// How far that stands out from the median direction's (0 = no evidence).
    pub prominence: f64,
    /// Object points and frames the estimate rests on.
    pub points: usize,
    /// Shadow-foot samples at the chosen direction.
    pub samples: usize,
}

/// Why the shot gave no estimate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoEstimate {
    /// The track has too few points above the ground (objects) or on it (the lit floor).
    TooFewPoints {
        /// Points above the ground.
        objects: usize,
        /// Points on it.
        floor: usize,
    },
    /// No direction darkens the floor at the shadow feet enough (overcast or soft light).
    NoCastShadows,
}

impl std::fmt::Display for NoEstimate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooFewPoints { objects, floor } => write!(
                f,
                "the track has {objects} scene points above the ground and {floor} on it, too \
                 few to see cast shadows"
            ),
            Self::NoCastShadows => {
                f.write_str("the shot shows no cast shadows clear enough to read the light from")
            }
        }
    }
}

/// A frame ready for sampling: luminance, lightly blurred, and the lit floor's level around
/// each place.
struct Prepared<'a> {
    camera: &'a CameraPose,
    luminance: Plane,
    lit: LocalLevels,
    basis: Basis,
    /// Nearest object depth per coarse cell (`OCCLUSION_CELL_PX`), `inf` where none.
    occluders: Plane,
}

/// Cell size of the occlusion grid, pixels.
const OCCLUSION_CELL_PX: f64 = 6.0;

/// The key light's direction from `frames` of the shot and the track's `points`.
pub fn estimate(
    frames: &[EvidenceFrame<'_>],
    points: &[ScenePoint],
    ground: &Ground,
) -> Result<KeyLightEstimate, NoEstimate> {
    let scale = frames
        .iter()
        .map(|f| (f.camera.centre_in_world() - ground.anchor_in_world).length())
        .fold(0.0, f64::max)
        .max(1e-9);
    let n = ground.normal_in_world.normalize();
    let height = |p: DVec3| n.dot(p - ground.point_in_world);
    let near = |p: DVec3| (p - ground.anchor_in_world).length() < 3.0 * scale;
    let usable = points
        .iter()
        .filter(|p| p.confidence > 0.0 && near(p.point_in_world))
        .map(|p| p.point_in_world);
    let (objects, floor): (Vec<DVec3>, Vec<DVec3>) = usable
        .filter(|&p| height(p).abs() < 0.01 * scale || height(p) > 0.03 * scale)
        .partition(|&p| height(p) > 0.03 * scale);
    if objects.len() < 10 || floor.len() < 10 {
        return Err(NoEstimate::TooFewPoints {
            objects: objects.len(),
            floor: floor.len(),
        });
    }
    let objects = subsample(objects, MAX_POINTS);
    let basis = Basis::around(n);
    let prepared: Vec<Prepared<'_>> = frames
        .iter()
        .filter_map(|f| prepare(f, &floor, &objects, (basis, LOCAL_RADIUS * scale)))
        .collect();
    let floor = floor_samples(&prepared, &floor, &basis);
    let foot_radius = 1.5 * spacing(&objects);
    let search = Search {
        frames: &prepared,
        objects: &objects,
        heights: objects.iter().map(|&p| height(p)).collect(),
        floor,
        foot_radius,
        footprints: FootGrid::new(
            objects.iter().map(|&p| basis.on_plane(p)),
            2.0 * foot_radius,
        ),
        basis,
    };
    let (best, median) = search.run();
    let Some(best) = best else {
        return Err(NoEstimate::NoCastShadows);
    };
    let prominence = best.score - median;
    if best.contrast < MIN_CONTRAST || prominence < MIN_PROMINENCE {
        return Err(NoEstimate::NoCastShadows);
    }
    Ok(KeyLightEstimate {
        dir_in_world: best.dir.to_array(),
        elevation_deg: n.dot(best.dir).clamp(-1.0, 1.0).asin().to_degrees(),
        shadow_contrast: best.contrast,
        prominence,
        points: objects.len(),
        samples: best.samples,
    })
}

/// The highest-scoring candidate with enough samples.
fn best_of(candidates: impl IntoIterator<Item = Candidate>) -> Option<Candidate> {
    candidates
        .into_iter()
        .filter(|c| c.samples >= MIN_SAMPLES && c.score.is_finite())
        .max_by(|a, b| a.score.total_cmp(&b.score))
}

/// Each floor point's darkness over the frames that see it.
fn floor_samples(frames: &[Prepared<'_>], floor: &[DVec3], basis: &Basis) -> Vec<FloorSample> {
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

/// At most `max` of `v`, evenly spaced.
fn subsample(v: Vec<DVec3>, max: usize) -> Vec<DVec3> {
    let step = v.len().div_ceil(max.max(1)).max(1);
    v.into_iter().step_by(step).collect()
}

/// Luminance, the lit floor's level (75th percentile of the floor points within
/// `radius`, so that light falling off across the floor is not taken for shadow) and the
/// occlusion grid of one frame; `None` when too few floor points are in view.
fn prepare<'a>(
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
        luminance,
        lit,
        basis,
        occluders,
    })
}

/// The pixel and depth of a world point seen by `camera`, inside a `w × h` frame.
fn pixel_of(camera: &CameraPose, p: DVec3, w: usize, h: usize) -> Option<(DVec2, f64)> {
    let in_cam = camera.cam_from_world().transform_point3(p);
    let px = camera.intrinsics.project(in_cam)?;
    let inside = px.x >= 1.0 && px.y >= 1.0 && px.x < w as f64 - 2.0 && px.y < h as f64 - 2.0;
    inside.then_some((px, in_cam.z))
}

fn at(plane: &Plane, px: DVec2) -> f32 {
    plane.at(px.x as usize, px.y as usize)
}

/// A floor point's darkness, `ln(lit floor / floor there)` averaged over the frames that see
/// it, and where it lies on the plane.
struct FloorSample {
    on_plane: DVec2,
    darkness: f64,
}

/// How one direction explains the shot.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    dir: DVec3,
    /// The contrast (shrunk by its support) minus the darkness of the floor under no foot:
    /// shadows where the direction puts them, light elsewhere.
    score: f64,
    /// Mean darkness at the shadow feet.
    contrast: f64,
    /// Shadow-foot samples.
    samples: usize,
}

/// The direction search over the upper hemisphere.
struct Search<'a> {
    frames: &'a [Prepared<'a>],
    objects: &'a [DVec3],
    heights: Vec<f64>,
    floor: Vec<FloorSample>,
    /// Radius within which a floor point counts as under a foot (the object points' spacing).
    foot_radius: f64,
    /// The objects' footprints (their points dropped onto the plane): a foot there is under
    /// the object, not on the floor the camera sees, and near it the contact darkness is the
    /// same for every direction.
    footprints: FootGrid,
    basis: Basis,
}

impl Search<'_> {
    /// The best direction, and the median score of the coarse grid (what a direction without
    /// evidence scores).
    fn run(&self) -> (Option<Candidate>, f64) {
        let (de, da) = COARSE_STEP_DEG;
        let mut coarse = Vec::new();
        let mut elev = ELEVATION_DEG.0;
        while elev <= ELEVATION_DEG.1 {
            let mut azim = 0.0;
            while azim < 360.0 {
                coarse.push(self.candidate(self.basis.direction(elev, azim)));
                azim += da;
            }
            elev += de;
        }
        let mut scores: Vec<f64> = coarse
            .iter()
            .map(|c| c.score)
            .filter(|s| s.is_finite())
            .collect();
        scores.sort_by(f64::total_cmp);
        let median = scores.get(scores.len() / 2).copied().unwrap_or(0.0);
        let Some(first) = best_of(coarse) else {
            return (None, median);
        };
        // refine: a finer grid around the coarse best
        let (e0, a0) = self.basis.angles(first.dir);
        let fine = (-4..=4).flat_map(|i| {
            (-4..=4).map(move |j| {
                let elev = (e0 + f64::from(i) * de / 4.0).clamp(ELEVATION_DEG.0, ELEVATION_DEG.1);
                (elev, a0 + f64::from(j) * da / 4.0)
            })
        });
        let refined = fine.map(|(e, a)| self.candidate(self.basis.direction(e, a)));
        (best_of(refined.chain([first])), median)
    }

    /// The light towards `dir`: darkness at the shadow feet (seen, not behind a nearer
    /// object) minus the darkness of the floor points under no foot.
    fn candidate(&self, dir: DVec3) -> Candidate {
        let along = dir.dot(self.basis.n);
        let nothing = Candidate {
            dir,
            score: f64::NAN,
            contrast: f64::NAN,
            samples: 0,
        };
        if along <= 1e-3 {
            return nothing;
        }
        let feet: Vec<DVec3> = self
            .objects
            .iter()
            .zip(&self.heights)
            .map(|(p, &h)| *p - dir * (h / along))
            .filter(|&f| !self.footprints.covers(self.basis.on_plane(f)))
            .collect();
        let (mut sum, mut count) = (0.0, 0);
        for frame in self.frames {
            for &foot in &feet {
                if let Some(d) = frame.darkness_at(foot) {
                    sum += d;
                    count += 1;
                }
            }
        }
        if count == 0 {
            return nothing;
        }
        let contrast = sum / count as f64;
        let grid = FootGrid::new(
            feet.iter().map(|&f| self.basis.on_plane(f)),
            self.foot_radius,
        );
        let lit: Vec<f64> = self
            .floor
            .iter()
            .filter(|f| !grid.covers(f.on_plane))
            .map(|f| f.darkness)
            .collect();
        let lit_darkness = if lit.is_empty() {
            0.0
        } else {
            lit.iter().sum::<f64>() / lit.len() as f64
        };
        // shrunk towards "no evidence" by a pseudo-count: a direction whose feet are mostly
        // out of view or hidden rests on few samples and must not win on them
        let prior = 0.1 * (self.objects.len() * self.frames.len()) as f64;
        let supported = contrast * count as f64 / (count as f64 + prior);
        Candidate {
            dir,
            score: supported - lit_darkness,
            contrast,
            samples: count,
        }
    }
}

impl Prepared<'_> {
    /// `ln(lit floor / floor at the point)` where the frame sees the ground point, `None`
    /// outside the frame or behind a nearer object.
    fn darkness_at(&self, ground_point: DVec3) -> Option<f64> {
        let (w, h) = (self.luminance.width, self.luminance.height);
        let (px, depth) = pixel_of(self.camera, ground_point, w, h)?;
        let cell = (
            (px.x / OCCLUSION_CELL_PX) as usize,
            (px.y / OCCLUSION_CELL_PX) as usize,
        );
        if f64::from(self.occluders.at(cell.0, cell.1)) < depth * 0.97 {
            return None;
        }
        let lit = f64::from(self.lit.at(self.basis.on_plane(ground_point))?.max(1e-4));
        let y = f64::from(at(&self.luminance, px)).max(1e-4);
        Some((lit / y).ln().clamp(-0.5, 2.5))
    }
}

/// Points on the plane, bucketed by `radius` for "is any point within `radius`" queries.
struct FootGrid {
    cells: std::collections::HashMap<(i64, i64), Vec<DVec2>>,
    radius: f64,
}

impl FootGrid {
    fn new(points: impl Iterator<Item = DVec2>, radius: f64) -> Self {
        let mut cells: std::collections::HashMap<(i64, i64), Vec<DVec2>> =
            std::collections::HashMap::new();
        for p in points {
            cells.entry(Self::cell(p, radius)).or_default().push(p);
        }
        Self { cells, radius }
    }

    fn cell(p: DVec2, radius: f64) -> (i64, i64) {
        ((p.x / radius).floor() as i64, (p.y / radius).floor() as i64)
    }

    fn covers(&self, p: DVec2) -> bool {
        let (cx, cy) = Self::cell(p, self.radius);
        (-1..=1).any(|dx| {
            (-1..=1).any(|dy| {
                self.cells
                    .get(&(cx + dx, cy + dy))
                    .is_some_and(|v| v.iter().any(|q| q.distance(p) <= self.radius))
            })
        })
    }
}

/// Median distance from each point to its nearest neighbour (the points' spacing).
fn spacing(points: &[DVec3]) -> f64 {
    let mut nearest: Vec<f64> = points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            points
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, q)| p.distance(*q))
                .fold(f64::INFINITY, f64::min)
        })
        .filter(|d| d.is_finite())
        .collect();
    nearest.sort_by(f64::total_cmp);
    nearest.get(nearest.len() / 2).copied().unwrap_or(0.0)
}

/// Upper quantile of brightness that counts as lit floor.
const LIT_QUANTILE: f64 = 0.75;
/// Fewest floor samples a local level rests on; with fewer, the place is not known floor.
const MIN_LOCAL_SAMPLES: usize = 12;

/// The lit floor's level over the plane, on a grid of half the radius; `NaN` where too few
/// floor points are near (not floor the track knows: beyond it, or the sky).
struct LocalLevels {
    origin: DVec2,
    cell: f64,
    width: usize,
    height: usize,
    levels: Vec<f32>,
}

impl LocalLevels {
    /// From `(place on the plane, brightness)` samples of the floor.
    fn new(samples: &[(DVec2, f32)], radius: f64) -> Self {
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
    fn at(&self, p: DVec2) -> Option<f32> {
        let g = ((p - self.origin) / self.cell).round();
        let inside = g.x >= 0.0 && g.y >= 0.0;
        let (x, y) = (g.x as usize, g.y as usize);
        (inside && x < self.width && y < self.height)
            .then(|| self.levels[y * self.width + x])
            .filter(|v| v.is_finite())
    }
}

/// Directions by elevation above the plane and azimuth about its normal.
#[derive(Debug, Clone, Copy)]
struct Basis {
    n: DVec3,
    u: DVec3,
    v: DVec3,
}

impl Basis {
    fn around(n: DVec3) -> Self {
        let u = n.any_orthonormal_vector();
        Self {
            n,
            u,
            v: n.cross(u),
        }
    }

    fn direction(&self, elevation_deg: f64, azimuth_deg: f64) -> DVec3 {
        let (e, a) = (elevation_deg.to_radians(), azimuth_deg.to_radians());
        (self.n * e.sin() + (self.u * a.cos() + self.v * a.sin()) * e.cos()).normalize()
    }

    /// A point's coordinates in the plane through the origin with this normal.
    fn on_plane(&self, p: DVec3) -> DVec2 {
        DVec2::new(self.u.dot(p), self.v.dot(p))
    }

    fn angles(&self, dir: DVec3) -> (f64, f64) {
        let elevation = self.n.dot(dir).clamp(-1.0, 1.0).asin().to_degrees();
        let azimuth = self.v.dot(dir).atan2(self.u.dot(dir)).to_degrees();
        (elevation, azimuth)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{FrameSize, Intrinsics};
    use glam::DMat4;

    /// A camera at `eye` looking at `target` (OpenCV axes, z up world).
    fn camera(eye: DVec3, target: DVec3, size: FrameSize) -> CameraPose {
        let z = (target - eye).normalize();
        let x = z.cross(DVec3::Z).normalize();
        let y = z.cross(x);
        CameraPose {
            world_from_cam: DMat4::from_cols(
                x.extend(0.0),
                y.extend(0.0),
                z.extend(0.0),
                eye.extend(1.0),
            ),
            intrinsics: Intrinsics {
                focal_px: [300.0, 300.0],
                principal_px: [159.5, 119.5],
                size,
            },
        }
    }

    /// A floor with a box on it lit from `light`: the floor is dark where the box shadows it.
    /// Points on the floor and the box surface; frames rendered by a tiny ray caster.
    fn scene(light: DVec3) -> (Vec<CameraPose>, Vec<RgbImage>, Vec<ScenePoint>) {
        let size = FrameSize {
            width: 320,
            height: 240,
        };
        let (lo, hi) = (DVec3::new(0.3, -0.2, 0.0), DVec3::new(0.6, 0.1, 0.4));
        let inside = |p: DVec3| p.cmpge(lo).all() && p.cmple(hi).all();
        // the nearest hit of the ray o + t·d (t > 0) with the box (slab test)
        let hit_box = |o: DVec3, d: DVec3| -> Option<f64> {
            let inv = d.recip();
            let (t0, t1) = ((lo - o) * inv, (hi - o) * inv);
            let near = t0.min(t1).max_element();
            let far = t0.max(t1).min_element();
            (far >= near.max(0.0)).then_some(near.max(0.0))
        };
        // a camera moving on an arc around the scene, as a filmed shot would
        let cameras: Vec<CameraPose> = [-150.0_f64, -110.0, -70.0, -30.0, 10.0]
            .iter()
            .map(|&a| {
                let a = a.to_radians();
                let eye = DVec3::new(2.2 * a.cos(), 2.2 * a.sin(), 1.4);
                camera(eye, DVec3::new(0.3, 0.0, 0.0), size)
            })
            .collect();
        let frames = cameras
            .iter()
            .map(|cam| {
                RgbImage::from_fn(size.width, size.height, |x, y| {
                    let d = cam.world_from_cam.transform_vector3(
                        cam.intrinsics
                            .unproject(DVec2::new(f64::from(x), f64::from(y))),
                    );
                    let o = cam.centre_in_world();
                    let floor_t = (d.z < 0.0).then(|| -o.z / d.z);
                    match (hit_box(o, d), floor_t) {
                        (Some(tb), Some(tf)) if tb <= tf => image::Rgb([200, 200, 200]),
                        (Some(_), None) => image::Rgb([200, 200, 200]),
                        (_, Some(tf)) => {
                            let p = o + d * tf;
                            let checker = ((p.x * 7.0).floor() + (p.y * 7.0).floor()) as i64 % 2;
                            let base = if checker == 0 { 150 } else { 130 };
                            let v = if hit_box(p + light * 1e-6, light).is_some() {
                                base / 3
                            } else {
                                base
                            };
                            image::Rgb([v, v, v])
                        }
                        (None, None) => image::Rgb([90, 120, 200]),
                    }
                })
            })
            .collect();
        let mut points = Vec::new();
        for i in 0..40 {
            for j in 0..40 {
                let (x, y) = (-1.0 + f64::from(i) * 0.05, -1.0 + f64::from(j) * 0.05);
                let p = DVec3::new(x, y, 0.0);
                if !inside(p + DVec3::Z * 0.01) {
                    points.push(p);
                }
            }
        }
        for i in 0..10 {
            for j in 0..10 {
                let (a, b) = (f64::from(i) / 9.0, f64::from(j) / 9.0);
                points.push(DVec3::new(lo.x + a * 0.3, lo.y, b * 0.4)); // front face
                points.push(DVec3::new(lo.x, lo.y + a * 0.3, b * 0.4)); // left face
                points.push(DVec3::new(lo.x + a * 0.3, lo.y + b * 0.3, 0.4)); // top
            }
        }
        let points = points
            .into_iter()
            .map(|p| ScenePoint {
                point_in_world: p,
                confidence: 1.0,
            })
            .collect();
        (cameras, frames, points)
    }

    fn ground() -> Ground {
        Ground {
            point_in_world: DVec3::ZERO,
            normal_in_world: DVec3::Z,
            anchor_in_world: DVec3::ZERO,
        }
    }

    #[test]
    fn the_cast_shadow_gives_the_light_within_a_few_degrees() {
        for light in [
            DVec3::new(-0.5, -0.6, 0.8).normalize(),
            DVec3::new(-0.9, 0.2, 0.5).normalize(),
        ] {
            let (cameras, frames, points) = scene(light);
            let evidence: Vec<EvidenceFrame<'_>> = frames
                .iter()
                .zip(&cameras)
                .map(|(rgb, camera)| EvidenceFrame { rgb, camera })
                .collect();
            let est = estimate(&evidence, &points, &ground()).unwrap();
            let got = DVec3::from_array(est.dir_in_world);
            let error = got.angle_between(light).to_degrees();
            assert!(
                error < 6.0,
                "light {light}: got {got}, {error:.1} degrees off, {est:?}"
            );
        }
    }

    #[test]
    fn a_shot_without_shadows_or_points_gives_no_estimate() {
        let (cameras, mut frames, points) = scene(DVec3::new(-0.5, -0.6, 0.8).normalize());
        // no shadows: an evenly lit floor
        for f in &mut frames {
            for p in f.pixels_mut() {
                if p[0] == 50 || p[0] == 43 {
                    *p = image::Rgb([140, 140, 140]);
                }
            }
        }
        let evidence: Vec<EvidenceFrame<'_>> = frames
            .iter()
            .zip(&cameras)
            .map(|(rgb, camera)| EvidenceFrame { rgb, camera })
            .collect();
        assert_eq!(
            estimate(&evidence, &points, &ground()),
            Err(NoEstimate::NoCastShadows)
        );
        let floor_only: Vec<ScenePoint> = points
            .iter()
            .filter(|p| p.point_in_world.z == 0.0)
            .copied()
            .collect();
        assert!(matches!(
            estimate(&evidence, &floor_only, &ground()),
            Err(NoEstimate::TooFewPoints { objects: 0, .. })
        ));
        assert!(matches!(
            estimate(&evidence, &[], &ground()),
            Err(NoEstimate::TooFewPoints { .. })
        ));
    }
}

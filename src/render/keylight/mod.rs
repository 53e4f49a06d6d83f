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

use glam::DVec3;
use image::RgbImage;

use crate::core::{CameraPose, ScenePoint};

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

impl KeyLightEstimate {
    /// Whether the shadows are clear enough to trust the direction: dark enough, and the
    /// direction standing out from the others.
    pub fn is_clear(&self) -> bool {
        self.shadow_contrast >= MIN_CONTRAST && self.prominence >= MIN_PROMINENCE
    }
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

mod basis;
mod floorlight;
mod frames;
mod search;

pub use floorlight::FloorLight;

use basis::Basis;
use frames::{floor_samples, prepare};
use search::{spacing, FootGrid, Search};

/// The shot as evidence of its light: the frames prepared for sampling, the track's points
/// split into objects and floor.
pub struct Evidence<'a> {
    search: Search<'a>,
}

/// Gathers the evidence of `frames` and the track's `points`; refused when the track has too
/// few points above the ground or on it.
pub fn gather<'a>(
    frames: &[EvidenceFrame<'a>],
    points: &[ScenePoint],
    ground: &Ground,
) -> Result<Evidence<'a>, NoEstimate> {
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
    let prepared: Vec<_> = frames
        .iter()
        .filter_map(|f| prepare(f, &floor, &objects, (basis, LOCAL_RADIUS * scale)))
        .collect();
    let floor_points = floor_samples(&prepared, &floor, &basis);
    let foot_radius = 1.5 * spacing(&objects);
    Ok(Evidence {
        search: Search {
            heights: objects.iter().map(|&p| height(p)).collect(),
            footprints: FootGrid::new(
                objects.iter().map(|&p| basis.on_plane(p)),
                2.0 * foot_radius,
            ),
            frames: prepared,
            objects,
            floor_points,
            floor,
            foot_radius,
            basis,
        },
    })
}

impl Evidence<'_> {
    /// The key light's direction: the one whose shadow feet are darkest, if it stands out.
    pub fn direction(&self) -> Result<KeyLightEstimate, NoEstimate> {
        self.best_direction()
            .filter(KeyLightEstimate::is_clear)
            .ok_or(NoEstimate::NoCastShadows)
    }

    /// The direction whose shadow feet are darkest, however little it stands out.
    fn best_direction(&self) -> Option<KeyLightEstimate> {
        let (best, median) = self.search.run();
        let best = best?;
        let n = self.search.basis.n;
        Some(KeyLightEstimate {
            dir_in_world: best.dir.to_array(),
            elevation_deg: n.dot(best.dir).clamp(-1.0, 1.0).asin().to_degrees(),
            shadow_contrast: best.contrast,
            prominence: best.score - median,
            points: self.search.objects.len(),
            samples: best.samples,
        })
    }

    /// How the floor is lit: its colour where lit, and what is left of it in the cast
    /// shadows of a light towards `dir` (world); `None` where too few shadow feet are seen.
    pub fn floor_light(&self, dir: DVec3) -> Option<FloorLight> {
        floorlight::measure(&self.search, dir)
    }

    /// The colour of the lit floor alone (rgb / luminance), for shots without cast shadows.
    pub fn lit_floor_chroma(&self) -> Option<[f64; 3]> {
        floorlight::lit_chroma(&self.search)
    }
}

/// The key light's direction from `frames` of the shot and the track's `points`.
pub fn estimate(
    frames: &[EvidenceFrame<'_>],
    points: &[ScenePoint],
    ground: &Ground,
) -> Result<KeyLightEstimate, NoEstimate> {
    gather(frames, points, ground)?.direction()
}

/// At most `max` of `v`, evenly spaced.
fn subsample(v: Vec<DVec3>, max: usize) -> Vec<DVec3> {
    let step = v.len().div_ceil(max.max(1)).max(1);
    v.into_iter().step_by(step).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{FrameSize, Intrinsics};
    use glam::DMat4;
    use glam::DVec2;

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
                lens: Default::default(),
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
    fn the_floor_keeps_what_the_shadow_leaves_of_the_light() {
        let light = DVec3::new(-0.5, -0.6, 0.8).normalize();
        let (cameras, frames, points) = scene(light);
        let evidence: Vec<EvidenceFrame<'_>> = frames
            .iter()
            .zip(&cameras)
            .map(|(rgb, camera)| EvidenceFrame { rgb, camera })
            .collect();
        let floor = gather(&evidence, &points, &ground())
            .unwrap()
            .floor_light(light)
            .unwrap();
        // the ray caster darkens shadowed floor to a third of its sRGB value
        let lit = f64::from(crate::core::color::to_linear(150));
        let shadowed = f64::from(crate::core::color::to_linear(50));
        let expected = shadowed / lit;
        for t in floor.shadow_transmission_rgb {
            assert!(
                (t / expected - 1.0).abs() < 0.35,
                "{floor:?}, expected {expected}"
            );
        }
        assert!(floor.lit_chroma_rgb.iter().all(|c| (c - 1.0).abs() < 0.02));
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

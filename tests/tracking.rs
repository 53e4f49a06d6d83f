//! Camera tracking geometry on synthetic point maps (exact or noisy) of a known scene: global
//! alignment, keyframe tracking with registration, and the track's file formats.

use candle_core::{Device, Tensor};
use glam::{DMat3, DMat4, DVec3};
use vanelia::pose::tracking::align::{align, AlignOptions, PairwisePointMaps};
use vanelia::pose::tracking::pairs::{make_pairs, SceneGraph};
use vanelia::pose::tracking::predictor::{PairBatch, PairPredictor};
use vanelia::pose::tracking::tracker::{track, TrackOptions};

/// A wavy wall `z = 4 + 0.3·sin(2x + 0.3)·cos(2y − 0.5)` seen by pinhole cameras (OpenCV axes)
/// of focal `focal_px` at `height × width` pixels.
struct Scene {
    height: usize,
    width: usize,
    focal_px: f64,
    world_from_cam: Vec<DMat4>,
    /// Std of the Gaussian-like noise added to every predicted point (relative to depth).
    noise: f64,
}

fn wall_z(p: DVec3) -> f64 {
    4.0 + 0.3 * (2.0 * p.x + 0.3).sin() * (2.0 * p.y - 0.5).cos()
}

/// Deterministic pseudo-random number in [0, 1) from integers.
fn hash01(a: usize, b: usize, c: usize) -> f64 {
    let mut x = (a as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (b as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
        ^ (c as u64).wrapping_mul(0x1656_67B1_9E37_79F9);
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 29;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

impl Scene {
    /// Image `k`'s points in world coordinates (ray–wall intersection per pixel).
    fn world_points(&self, k: usize) -> Vec<DVec3> {
        let m = self.world_from_cam[k];
        let origin = m.w_axis.truncate();
        let rot = DMat3::from_mat4(m);
        let (cx, cy) = (self.width as f64 / 2.0, self.height as f64 / 2.0);
        (0..self.height * self.width)
            .map(|p| {
                let (u, v) = ((p % self.width) as f64, (p / self.width) as f64);
                let dir = rot * DVec3::new((u - cx) / self.focal_px, (v - cy) / self.focal_px, 1.0);
                let mut t = 4.0 / dir.z;
                for _ in 0..50 {
                    t = (wall_z(origin + t * dir) - origin.z) / dir.z;
                }
                origin + t * dir
            })
            .collect()
    }

    /// Image `k`'s points in camera `cam`'s frame, scaled by `scale`, with noise seeded by
    /// `seed`.
    fn in_camera(&self, k: usize, cam: usize, scale: f64, seed: usize) -> Vec<f32> {
        let cam_from_world = self.world_from_cam[cam].inverse();
        self.world_points(k)
            .iter()
            .enumerate()
            .flat_map(|(p, x)| {
                let c = cam_from_world.transform_point3(*x);
                let jitter = |axis: usize| {
                    // sum of 3 uniforms: zero mean, std 0.5
                    let u: f64 = (0..3).map(|r| hash01(seed, p * 3 + axis, r)).sum::<f64>() - 1.5;
                    u * 2.0 * self.noise * c.z
                };
                let c = c + DVec3::new(jitter(0), jitter(1), jitter(2));
                (c * scale).to_array().map(|v| v as f32)
            })
            .collect()
    }

    fn pair_batch(&self, pairs: &[(usize, usize)]) -> PairBatch {
        let (h, w) = (self.height, self.width);
        let (mut pi, mut pj, mut ci, mut cj) = (vec![], vec![], vec![], vec![]);
        for (n, &(i, j)) in pairs.iter().enumerate() {
            let seed = i * 1000 + j;
            let scale = 0.5 + 1.5 * hash01(i, j, 7);
            pi.extend(self.in_camera(i, i, scale, seed));
            pj.extend(self.in_camera(j, i, scale, seed + 500));
            for p in 0..h * w {
                ci.push((1.5 + 3.5 * hash01(n, p, 1)) as f32);
                cj.push((1.5 + 3.5 * hash01(n, p, 2)) as f32);
            }
        }
        let e = pairs.len();
        let t3 = |v: Vec<f32>| Tensor::from_vec(v, (e, h, w, 3), &Device::Cpu).unwrap();
        let t1 = |v: Vec<f32>| Tensor::from_vec(v, (e, h, w), &Device::Cpu).unwrap();
        PairBatch {
            pred_i: t3(pi),
            conf_i: t1(ci),
            pred_j: t3(pj),
            conf_j: t1(cj),
        }
    }
}

impl PairPredictor for Scene {
    fn size_px(&self) -> (usize, usize) {
        (self.height, self.width)
    }

    fn predict(&mut self, pairs: &[(usize, usize)]) -> candle_core::Result<PairBatch> {
        Ok(self.pair_batch(pairs))
    }
}

/// A camera at `centre` looking at the wall, turned by `yaw` (radians) about y.
fn camera(centre: DVec3, yaw: f64, pitch: f64) -> DMat4 {
    let r = DMat3::from_rotation_y(yaw) * DMat3::from_rotation_x(pitch);
    DMat4::from_cols(
        r.x_axis.extend(0.0),
        r.y_axis.extend(0.0),
        r.z_axis.extend(0.0),
        centre.extend(1.0),
    )
}

fn five_views(noise: f64) -> Scene {
    Scene {
        height: 48,
        width: 64,
        focal_px: 60.0,
        world_from_cam: (0..5)
            .map(|k| {
                let s = k as f64 - 2.0;
                camera(
                    DVec3::new(0.25 * s, 0.05 * s * s, 0.1 * s),
                    -0.06 * s,
                    0.02 * s,
                )
            })
            .collect(),
        noise,
    }
}

fn align_scene(
    scene: &Scene,
    niter: usize,
    shared_focal: bool,
) -> vanelia::pose::tracking::align::Alignment {
    let n = scene.world_from_cam.len();
    let pairs: Vec<(usize, usize)> = make_pairs(&SceneGraph::Complete, n, None)
        .unwrap()
        .iter()
        .map(|p| (p.view1, p.view2))
        .collect();
    let batch = scene.pair_batch(&pairs);
    let maps = PairwisePointMaps {
        n_images: n,
        height: scene.height,
        width: scene.width,
        edges: pairs,
        pred_i: batch.pred_i,
        pred_j: batch.pred_j,
        conf_i: batch.conf_i,
        conf_j: batch.conf_j,
    };
    let options = AlignOptions {
        niter,
        shared_focal,
        ..AlignOptions::default()
    };
    align(&maps, &options).unwrap()
}

/// Largest relative focal error.
fn max_focal_error(result: &vanelia::pose::tracking::align::Alignment, truth_px: f64) -> f64 {
    result
        .focal_px
        .iter()
        .map(|f| (f / truth_px - 1.0).abs())
        .fold(0.0, f64::max)
}

#[test]
fn noise_free_alignment_recovers_poses_and_focal() {
    let scene = five_views(0.0);
    // one focal for the clip (fixed zoom, the tracker's default), then one per image as the
    // reference
    for (shared_focal, label) in [(true, "shared focal"), (false, "focal per image")] {
        let result = align_scene(&scene, 300, shared_focal);
        let rot = vanelia::core::camera::max_relative_rotation_deg(
            &result.world_from_cam,
            &scene.world_from_cam,
        );
        let focal = max_focal_error(&result, scene.focal_px);
        println!(
            "noise-free, {label}: rotation {rot:.4}°, focal {:.4}%",
            100.0 * focal
        );
        assert!(rot < 0.05, "{label}: rotation error {rot}°");
        assert!(focal < 0.002, "{label}: focal error {focal}");
        assert!(result.kept_loss() <= *result.loss_history.last().unwrap());
    }
}

#[test]
fn noisy_alignment_stays_within_half_a_degree() {
    let scene = five_views(0.01);
    let result = align_scene(&scene, 300, false);
    let rot = vanelia::core::camera::max_relative_rotation_deg(
        &result.world_from_cam,
        &scene.world_from_cam,
    );
    println!(
        "noisy: rotation {rot:.4}°, loss {:?}",
        result.loss_history.last()
    );
    assert!(rot < 0.5, "rotation error {rot}°");
}

#[test]
fn keyframe_track_with_registration_follows_a_known_trajectory() {
    let n = 21;
    let mut scene = Scene {
        height: 24,
        width: 32,
        focal_px: 30.0,
        world_from_cam: (0..n)
            .map(|k| {
                let t = k as f64 / (n - 1) as f64;
                camera(
                    DVec3::new(-0.6 + 1.2 * t, 0.1 * (3.0 * t).sin(), 0.2 * t),
                    0.15 - 0.3 * t,
                    0.03 * (2.0 * t).cos(),
                )
            })
            .collect(),
        noise: 0.005,
    };
    let truth = scene.world_from_cam.clone();
    let options = TrackOptions {
        keyframe_every: 5,
        window: 2,
        ..TrackOptions::default()
    };
    let out = track(&mut scene, n, &options).unwrap();
    let rot = vanelia::core::camera::max_relative_rotation_deg(&out.world_from_cam, &truth);
    println!("track: rotation {rot:.4}°, stats {:?}", out.stats);
    assert!(rot < 0.5, "rotation error {rot}°");
    assert_eq!(out.keyframes, [0, 5, 10, 15, 20]);
    // anchored at frame 0
    assert!((out.world_from_cam[0] - DMat4::IDENTITY)
        .abs()
        .to_cols_array()
        .iter()
        .all(|v| *v < 1e-9));
    assert!(
        out.focal_px.iter().all(|f| (f / 30.0 - 1.0).abs() < 0.01),
        "{:?}",
        out.focal_px
    );
    assert!(!out.points.is_empty());
}

/// Point maps with no usable geometry (every value NaN, as a broken network gives).
struct Broken(usize, usize);

impl PairPredictor for Broken {
    fn size_px(&self) -> (usize, usize) {
        (self.0, self.1)
    }

    fn predict(&mut self, pairs: &[(usize, usize)]) -> candle_core::Result<PairBatch> {
        let (e, h, w) = (pairs.len(), self.0, self.1);
        let nan3 = Tensor::full(f32::NAN, (e, h, w, 3), &Device::Cpu)?;
        let one = Tensor::full(2.0_f32, (e, h, w), &Device::Cpu)?;
        Ok(PairBatch {
            pred_i: nan3.clone(),
            conf_i: one.clone(),
            pred_j: nan3,
            conf_j: one,
        })
    }
}

#[test]
fn degenerate_maps_fall_back_to_a_static_camera_with_a_warning() {
    let options = TrackOptions {
        keyframe_every: 2,
        ..TrackOptions::default()
    };
    let out = track(&mut Broken(16, 32), 5, &options).unwrap();
    assert!(out.world_from_cam.iter().all(|m| *m == DMat4::IDENTITY));
    assert!(out.focal_px.iter().all(|f| *f == 32.0));
    assert!(
        out.warnings.iter().any(|w| w.contains("static camera")),
        "{:?}",
        out.warnings
    );
}

//! Camera tracking geometry on synthetic point maps (exact or noisy) of a known scene: global
//! alignment, keyframe tracking with registration, and the track's file formats.

use candle_core::{Device, Tensor};
use glam::{DMat3, DMat4, DVec3};
use vanelia::pose::align::{align, AlignOptions, PairwisePointMaps};
use vanelia::pose::pairs::{make_pairs, SceneGraph};
use vanelia::pose::predictor::{PairBatch, PairPredictor};
use vanelia::pose::tracker::{track, TrackOptions};

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

fn align_scene(scene: &Scene, niter: usize, shared_focal: bool) -> vanelia::pose::align::Alignment {
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
fn max_focal_error(result: &vanelia::pose::align::Alignment, truth_px: f64) -> f64 {
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

mod cli {
    use std::path::{Path, PathBuf};

    use vanelia::core::CameraTrack;

    use crate::util::{assert_fails, assert_ok, asset, s, vanelia, vanelia_sub};

    /// The tiny random-weight DPT model of the golden fixtures (config.json + arch.json).
    fn tiny_pose_model() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden/dust3r/small/models/dpt")
    }

    /// Tracker options that keep the tiny model fast: 64-pixel inputs, 20 iterations.
    const FAST: [&str; 6] = [
        "--pose-size",
        "64",
        "--keyframe-every",
        "8",
        "--pose-iters",
        "20",
    ];

    fn track_cmd(dir: &Path, input: &Path, output: &Path) -> std::process::Command {
        track_with(dir, input, output, &tiny_pose_model())
    }

    fn track_with(
        dir: &Path,
        input: &Path,
        output: &Path,
        weights: &Path,
    ) -> std::process::Command {
        let mut cmd = vanelia_sub(dir, "track");
        cmd.args(["--input", s(input), "--output", s(output)])
            .args(["--pose-weights", s(weights)])
            .args(FAST);
        cmd
    }

    #[test]
    fn track_writes_a_poses_file_and_a_colmap_model_that_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let poses = dir.path().join("poses.json");
        let colmap = dir.path().join("colmap");
        let mut cmd = track_cmd(dir.path(), &asset("demo.mp4"), &poses);
        assert_ok(&cmd.args(["--colmap", s(&colmap)]).output().unwrap());
        let track = CameraTrack::read(&poses).unwrap();
        assert_eq!(track.poses.len(), 48);
        assert_eq!((track.size.width, track.size.height), (640, 360));
        assert!(track
            .poses
            .iter()
            .all(|p| p.world_from_cam.is_finite() && p.intrinsics.focal_px[0] > 0.0));
        // frame 0 is the world
        assert_eq!(track.poses[0].world_from_cam, glam::DMat4::IDENTITY);
        // JSON: write → read is the identity
        let again = dir.path().join("again.json");
        track.write(&again).unwrap();
        assert_eq!(CameraTrack::read(&again).unwrap(), track);
        // COLMAP: same cameras and intrinsics back (to float printing precision)
        let back = vanelia::core::colmap::read(&colmap).unwrap();
        assert_eq!(back.poses.len(), track.poses.len());
        assert_eq!(back.points.len(), track.points.len());
        for (a, b) in back.poses.iter().zip(&track.poses) {
            let d = (a.world_from_cam - b.world_from_cam).abs().to_cols_array();
            assert!(d.iter().all(|v| *v < 1e-9), "{d:?}");
            for k in 0..2 {
                assert!((a.intrinsics.focal_px[k] - b.intrinsics.focal_px[k]).abs() < 1e-9);
                assert!((a.intrinsics.principal_px[k] - b.intrinsics.principal_px[k]).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn track_takes_the_first_frames_and_reports_beside_the_poses() {
        let dir = tempfile::tempdir().unwrap();
        let poses = dir.path().join("poses.json");
        let mut cmd = track_cmd(dir.path(), &asset("demo.mp4"), &poses);
        assert_ok(&cmd.args(["--max-frames", "12"]).output().unwrap());
        assert_eq!(CameraTrack::read(&poses).unwrap().poses.len(), 12);
        let report: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("poses.report.json")).unwrap(),
        )
        .unwrap();
        let stage = &report["stages"][0];
        assert_eq!(stage["name"], "track");
        assert_eq!(stage["frames_processed"], 12);
        assert_eq!(stage["tracking"]["pair_batch"], 8);
        assert!(report["measured_memory"]["peak_bytes"].as_u64().unwrap() > 0);
        // one frame cannot be tracked
        let mut cmd = track_cmd(dir.path(), &asset("demo.mp4"), &poses);
        let err = assert_fails(&cmd.args(["--max-frames", "1"]).output().unwrap());
        assert!(err.contains("--max-frames"), "{err}");
    }

    #[test]
    fn the_pair_batch_is_planned_to_the_budget_before_the_network_loads() {
        let dir = tempfile::tempdir().unwrap();
        let poses = dir.path().join("poses.json");
        let plan_of = |budget: Option<u64>| {
            let mut cmd = track_cmd(dir.path(), &asset("demo.mp4"), &poses);
            cmd.args(["--max-frames", "10"]);
            if let Some(b) = budget {
                cmd.args(["--vram-budget", &b.to_string()]);
            }
            let out = cmd.output().unwrap();
            let report: Option<serde_json::Value> =
                std::fs::read_to_string(dir.path().join("poses.report.json"))
                    .ok()
                    .map(|t| serde_json::from_str(&t).unwrap());
            let _ = std::fs::remove_file(dir.path().join("poses.report.json"));
            (out, report)
        };
        let (out, report) = plan_of(None);
        assert_ok(&out);
        let tracking = &report.unwrap()["stages"][0]["tracking"];
        assert_eq!(tracking["memory_plan"]["name"], "pose");
        assert_eq!(tracking["memory_plan"]["batch"], 8);
        let eight = tracking["memory_plan"]["peak_bytes"].as_u64().unwrap();
        // a budget just too small for 8 pairs (90 % of it is usable) gets fewer
        let (out, report) = plan_of(Some(eight * 10 / 9 - 1));
        assert_ok(&out);
        let tracking = &report.unwrap()["stages"][0]["tracking"];
        let batch = tracking["memory_plan"]["batch"].as_u64().unwrap();
        assert!((1..8).contains(&batch), "{tracking}");
        assert_eq!(tracking["pair_batch"], batch);
        assert!(tracking["memory_plan"]["peak_bytes"].as_u64().unwrap() < eight);
        // one pair not fitting fails before anything runs, with the numbers
        let (out, report) = plan_of(Some(1 << 20));
        let err = assert_fails(&out);
        assert!(report.is_none());
        assert!(
            err.contains("--vram-budget")
                && err.contains("pose stage")
                && err.contains("missing")
                && err.contains("--keyframe-every"),
            "{err}"
        );
    }

    /// The memory model's bytes per pair of the tiny model on the demo at `FAST`'s size.
    fn tiny_pair_bytes() -> u64 {
        use vanelia::memory::ops::{ConvKernel, Ops};
        let config = vanelia::pose::weights::config(&tiny_pose_model()).unwrap();
        let demo = vanelia::core::FrameSize {
            width: 640,
            height: 360,
        };
        let net = vanelia::pose::preprocess::PreprocessGeometry::new(demo, 64)
            .unwrap()
            .network;
        let cpu_f32 = Ops::of(ConvKernel::Cpu, candle_core::DType::F32);
        vanelia::memory::footprint::pose_pair_bytes(
            &config,
            cpu_f32,
            (net.height.into(), net.width.into()),
        )
    }

    #[test]
    fn a_pair_batch_out_of_memory_is_retried_at_half_and_tracks_as_the_smaller_batch() {
        let dir = tempfile::tempdir().unwrap();
        let run = |name: &str, limit: Option<u64>, batch: &str| {
            let poses = dir.path().join(format!("{name}.json"));
            let mut cmd = track_cmd(dir.path(), &asset("demo.mp4"), &poses);
            cmd.args(["--max-frames", "10", "--pose-batch", batch]);
            if let Some(limit) = limit {
                cmd.env("VANELIA_INJECT_ALLOC_LIMIT", limit.to_string());
            }
            (cmd.output().unwrap(), poses)
        };
        // 8 and 4 pairs exceed the simulated device, 2 fit
        let limit = tiny_pair_bytes() * 5 / 2;
        let (out, recovered) = run("recovered", Some(limit), "8");
        assert_ok(&out);
        let report: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("recovered.report.json")).unwrap(),
        )
        .unwrap();
        let tracking = &report["stages"][0]["tracking"];
        assert_eq!(tracking["pair_batch"], 2, "{tracking}");
        assert_eq!(tracking["oom_retries"], 2, "{tracking}");
        assert_eq!(tracking["memory_plan"]["batch"], 8);
        assert!(
            report["warnings"]
                .to_string()
                .contains("ran out of device memory"),
            "{report}"
        );
        // the same track as a run asked for 2 pairs per batch
        let (out, at_two) = run("at_two", None, "2");
        assert_ok(&out);
        assert_eq!(
            std::fs::read(&recovered).unwrap(),
            std::fs::read(&at_two).unwrap()
        );
        // one pair that does not fit is an error with what to lower
        let (out, _) = run("none", Some(tiny_pair_bytes() / 2), "8");
        let err = assert_fails(&out);
        assert!(
            err.contains("out of memory in track") && err.contains("--keyframe-every"),
            "{err}"
        );
    }

    #[test]
    fn bench_times_the_pose_stage_alone_at_two_pair_batches() {
        let dir = tempfile::tempdir().unwrap();
        let bench = dir.path().join("bench");
        let mut cmd = vanelia_sub(dir.path(), "bench");
        cmd.args(["--bench-stage", "track", "--bench-frames", "10"])
            .args(["--bench-dir", s(&bench)])
            .args(["--input", s(&asset("demo.mp4"))])
            // main-job options are left out of the tracker's command line
            .args(["--model", s(&asset("product.glb")), "--refine", "classic"])
            .args(["--pose-weights", s(&tiny_pose_model())])
            .args(FAST);
        assert_ok(&cmd.output().unwrap());
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(bench.join("bench.json")).unwrap())
                .unwrap();
        assert_eq!(report["focus"], "track");
        let results = report["results"].as_array().unwrap();
        assert_eq!(results.len(), 2);
        for (r, batch) in results.iter().zip([8, 1]) {
            assert_eq!(r["batch_size"], batch);
            // 10 frames, keyframes every 8 (0, 8, 9): 6 keyframe pairs + 7 frames × 2
            assert_eq!(r["pose_pairs"], 20, "{r}");
            assert!(r["measured_peak_bytes"].as_u64().unwrap() > 0);
            assert!(r["predicted_peak_bytes"].as_u64().unwrap() > 0);
        }
        let table = std::fs::read_to_string(bench.join("bench.txt")).unwrap();
        assert!(
            table.contains("track throughput pair batch 8 / batch 1"),
            "{table}"
        );
    }

    #[test]
    fn main_job_tracks_without_poses_and_reuses_the_track() {
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("out.mp4");
        let run = || {
            let mut cmd = vanelia(dir.path());
            cmd.args(["--input", s(&asset("demo.mp4"))])
                .args(["--model", s(&asset("product.glb"))])
                .args(["--output", s(&output), "--frames", "0..4"])
                .args(["--pose-weights", s(&tiny_pose_model())])
                .args(FAST);
            cmd.output().unwrap()
        };
        assert_ok(&run());
        let report = crate::util::report(&output);
        let track = &report["stages"][0];
        assert_eq!(track["name"], "track");
        assert_eq!(track["frames_processed"], 48);
        assert_eq!(track["tracking"]["keyframes"], 7);
        assert_eq!(track["tracking"]["frames"], 48);
        // the second run takes the track from the work directory
        assert_ok(&run());
        let report = crate::util::report(&output);
        assert_eq!(report["stages"][0]["frames_reused"], 48);
    }

    #[test]
    fn tracking_errors_name_the_problem_and_the_way_out() {
        let dir = tempfile::tempdir().unwrap();
        // no weights anywhere and downloads off: what to download, or --poses
        let mut cmd = vanelia_sub(dir.path(), "track");
        cmd.current_dir(dir.path())
            .env("HF_HOME", dir.path().join("hf"))
            .env("HF_HUB_OFFLINE", "1")
            .args(["--input", s(&asset("demo.mp4")), "--output", "p.json"]);
        let err = assert_fails(&cmd.output().unwrap());
        assert!(
            err.contains("naver/DUSt3R_ViTLarge_BaseDecoder_512_dpt") && err.contains("--poses"),
            "{err}"
        );
        assert!(!dir.path().join("p.json").exists());
        // a checkpoint that does not match its config names the file
        let broken = dir.path().join("broken");
        std::fs::create_dir_all(&broken).unwrap();
        for f in ["config.json", "arch.json"] {
            std::fs::copy(tiny_pose_model().join(f), broken.join(f)).unwrap();
        }
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/golden/dust3r/small/models/linear/model.safetensors"),
            broken.join("model.safetensors"),
        )
        .unwrap();
        let mut cmd = track_with(
            dir.path(),
            &asset("demo.mp4"),
            &dir.path().join("q.json"),
            &broken,
        );
        let err = assert_fails(&cmd.output().unwrap());
        assert!(err.contains("model.safetensors"), "{err}");
        // one frame: nothing to triangulate
        let seq = dir.path().join("one");
        std::fs::create_dir_all(&seq).unwrap();
        image::RgbImage::from_pixel(64, 48, image::Rgb([90, 120, 150]))
            .save(seq.join("000000.png"))
            .unwrap();
        let mut cmd = track_cmd(
            dir.path(),
            &seq.join("%06d.png"),
            &dir.path().join("r.json"),
        );
        let err = assert_fails(&cmd.output().unwrap());
        assert!(err.contains("at least 2 frames"), "{err}");
    }
}

//! `vanelia track` and the main job's tracker end to end with the tiny random-weight DPT model:
//! poses and COLMAP files, frame limits, the pair batch planned to the budget and recovered
//! after out-of-memory, the bench, caching, and errors.

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

fn track_with(dir: &Path, input: &Path, output: &Path, weights: &Path) -> std::process::Command {
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
    let imported =
        vanelia::core::colmap::import(&colmap, track.poses.len() as u64, track.size).unwrap();
    assert!(imported.warnings.is_empty(), "{:?}", imported.warnings);
    let back = imported.track;
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
    use vanelia::nn::cost::{ConvKernel, Ops};
    let config = vanelia::pose::network::weights::config(&tiny_pose_model()).unwrap();
    let demo = vanelia::core::FrameSize {
        width: 640,
        height: 360,
    };
    let net = vanelia::pose::preprocess::PreprocessGeometry::new(demo, 64)
        .unwrap()
        .network;
    let cpu_f32 = Ops::of(ConvKernel::Cpu, candle_core::DType::F32);
    vanelia::pose::footprint::pose_pair_bytes(
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
        serde_json::from_str(&std::fs::read_to_string(bench.join("bench.json")).unwrap()).unwrap();
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

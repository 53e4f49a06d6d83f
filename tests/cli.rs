use std::time::{Duration, Instant};

use vanelia::core::FrameRate;
use vanelia::video::{MediaPath, Source};

use image::GenericImageView as _;

use crate::util::{assert_ok, decode_all, demo_run, report, stage_counts};

#[test]
fn main_job_keeps_frame_count_fps_and_audio() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("final.mp4");
    assert_ok(&demo_run(dir.path(), &out, &["--refine", "classic"]));
    let clip = Source::open(&MediaPath::new(&out), FrameRate { num: 1, den: 1 })
        .unwrap()
        .summary();
    assert_eq!(clip.frame_count, 48);
    assert_eq!(clip.rate, FrameRate { num: 24, den: 1 });
    assert_eq!(clip.audio_codec.as_deref(), Some("aac"));
    let r = report(&out);
    assert_eq!(stage_counts(&r, "composite"), (48, 0));
    assert_eq!(r["output_written"], true);
    assert!(r["model"]["triangles"].as_u64().unwrap() == 12);
    // Contact sheet: three rows (first, middle, last) of before | after at 480 px per cell.
    let sheet = image::open(vanelia::run::sheet_path(&MediaPath::new(&out))).unwrap();
    assert_eq!(sheet.width(), 2 * 480 + 3 * 6);
    assert!(sheet.height() > 3 * 270);
    assert!(r["peak_rss_bytes"].as_u64().unwrap() > 0);
    // measured while it ran: on the CPU the device is host memory (the process's RSS)
    let m = &r["measured_memory"];
    assert_eq!(m["source"], "process anonymous RSS");
    assert!(m["samples"].as_u64().unwrap() > 1);
    let (base, peak) = (
        m["baseline_bytes"].as_u64().unwrap(),
        m["peak_bytes"].as_u64().unwrap(),
    );
    assert!(base > 0 && peak > base, "{m}");
    assert_eq!(
        m["peak_above_baseline_bytes"].as_u64().unwrap(),
        peak - base
    );
    // The product is there: frames differ from the source around the anchor.
    let (src, dst) = (
        decode_all(&crate::util::asset("demo.mp4")),
        decode_all(&out),
    );
    let changed = src[0]
        .pixels()
        .zip(dst[0].pixels())
        .filter(|(a, b)| a.0.iter().zip(b.0).any(|(x, y)| x.abs_diff(y) > 40))
        .count();
    assert!(changed > 1000, "only {changed} pixels changed");
}

#[test]
fn identical_second_run_reuses_everything() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("final.mp4");
    assert_ok(&demo_run(dir.path(), &out, &[]));
    let first = std::fs::read(&out).unwrap();
    assert_ok(&demo_run(dir.path(), &out, &[]));
    let r = report(&out);
    assert_eq!(stage_counts(&r, "composite"), (0, 48));
    assert_eq!(stage_counts(&r, "render").0, 0);
    assert_eq!(r["output_written"], false);
    assert_eq!(std::fs::read(&out).unwrap(), first);
}

#[test]
fn frame_range_recomputes_and_splices_only_those_frames() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("seq").join("%06d.png");
    assert_ok(&demo_run(dir.path(), &out, &["--refine", "classic"]));
    let before = decode_all(&out);
    assert_ok(&demo_run(
        dir.path(),
        &out,
        &["--refine", "none", "--frames", "10..20"],
    ));
    let after = decode_all(&out);
    assert_eq!(after.len(), 48);
    for (i, (a, b)) in before.iter().zip(&after).enumerate() {
        if (10..20).contains(&i) {
            assert_ne!(
                a, b,
                "frame {i} should have been recomputed without harmonisation"
            );
        } else {
            assert_eq!(a, b, "frame {i} outside the range changed");
        }
    }
    let r = report(&out);
    assert_eq!(stage_counts(&r, "composite"), (10, 38));
    // Rendering did not depend on the changed option: its cache served the range.
    assert_eq!(stage_counts(&r, "render"), (0, 48));
}

#[test]
fn resume_after_kill_is_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("ref.mp4");
    assert_ok(&demo_run(dir.path(), &reference, &[]));
    let out = dir.path().join("killed.mp4");
    let markers = dir.path().join("killed.mp4.vanelia/frames/composite");
    let mut cmd = crate::util::vanelia(dir.path());
    crate::util::demo_inputs(&mut cmd).args(["--output", crate::util::s(&out)]);
    let mut child = cmd.spawn().unwrap();
    let start = Instant::now();
    // Completed markers only: temporaries are hidden files.
    let count = || {
        let names = std::fs::read_dir(&markers).into_iter().flatten().flatten();
        names
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".json") && !n.starts_with('.'))
            .count()
    };
    while count() < 3 && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    let done_at_kill = count();
    assert!(
        !status.success() && done_at_kill < 48,
        "the run finished before it could be killed"
    );
    assert!(
        !out.exists(),
        "a killed run must not leave an output under the final name"
    );
    assert_ok(&demo_run(dir.path(), &out, &[]));
    let r = report(&out);
    let (processed, reused) = stage_counts(&r, "composite");
    assert_eq!(processed + reused, 48);
    assert!(
        reused >= done_at_kill as u64 && processed > 0,
        "processed {processed} reused {reused}"
    );
    assert_eq!(decode_all(&out), decode_all(&reference));
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(&reference).unwrap()
    );
}

#[test]
fn output_does_not_depend_on_seedless_state() {
    // Same options twice in fresh work directories give identical frames (no hidden randomness).
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a/%06d.png"), dir.path().join("b/%06d.png"));
    assert_ok(&demo_run(dir.path(), &a, &["--frames", "0..4"]));
    assert_ok(&demo_run(dir.path(), &b, &["--frames", "0..4"]));
    assert_eq!(decode_all(&a)[..4], decode_all(&b)[..4]);
    let c = dir.path().join("c/%06d.png");
    assert_ok(&demo_run(
        dir.path(),
        &c,
        &["--frames", "0..4", "--seed", "9"],
    ));
    assert_ne!(
        decode_all(&a)[..4],
        decode_all(&c)[..4],
        "the seed must change the grain"
    );
}

#[test]
fn scene_depth_hides_the_product_behind_nearer_geometry() {
    let dir = tempfile::tempdir().unwrap();
    // A wall 1 m in front of the camera covers the left half of every frame; the right half
    // has no depth (0 = unknown).
    let depth = image::ImageBuffer::<image::Luma<u16>, Vec<u16>>::from_fn(640, 360, |x, _| {
        image::Luma([if x < 320 { 1000 } else { 0 }])
    });
    depth.save(dir.path().join("wall.png")).unwrap();
    let poses = crate::util::edited_demo_poses(dir.path(), "poses.json", |j| {
        for f in j["frames"].as_array_mut().unwrap() {
            f["depth"] = "wall.png".into();
        }
    });
    let (with, without) = (
        dir.path().join("with/%06d.png"),
        dir.path().join("without/%06d.png"),
    );
    let args = ["--refine", "none", "--frames", "0..4"];
    assert_ok(&crate::util::run_on(
        dir.path(),
        &crate::util::asset("demo.mp4"),
        &poses,
        &with,
        &args,
    ));
    assert_ok(&demo_run(dir.path(), &without, &args));
    let source = decode_all(&crate::util::asset("demo.mp4"));
    let (with, without) = (decode_all(&with), decode_all(&without));
    for i in 0..4 {
        let mut product_right = 0;
        for (x, y, p) in with[i].enumerate_pixels() {
            if x < 317 {
                assert_eq!(
                    p,
                    source[i].get_pixel(x, y),
                    "frame {i}: product visible through the wall at ({x}, {y})"
                );
            } else if x > 323 {
                assert_eq!(
                    p,
                    without[i].get_pixel(x, y),
                    "frame {i}: right half changed at ({x}, {y})"
                );
                product_right += usize::from(p != source[i].get_pixel(x, y));
            }
        }
        assert!(
            product_right > 100,
            "frame {i}: the product should still show right of the wall"
        );
        assert_ne!(
            without[i].view(0, 0, 317, 360).to_image(),
            source[i].view(0, 0, 317, 360).to_image(),
            "frame {i}: the product should reach into the left half"
        );
    }
}

#[test]
fn a_session_without_a_runtime_directory_runs_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vanelia"))
        .env_remove("XDG_RUNTIME_DIR")
        .env("TMPDIR", dir.path())
        .arg("--input")
        .arg(crate::util::asset("demo.mp4"))
        .arg("--model")
        .arg(crate::util::asset("product.glb"))
        .arg("--poses")
        .arg(crate::util::asset("demo.poses.json"))
        .arg("--output")
        .arg(dir.path().join("out.mp4"))
        .args(["--frames", "0..2", "-q"])
        .output()
        .unwrap();
    assert_ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("XDG_RUNTIME_DIR"), "{stderr}");
}

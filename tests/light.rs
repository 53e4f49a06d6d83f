//! The key light read from the shot: on a sunlit ground-truth scene the cast shadows give the
//! sun's direction; a track without points, or `--light-dir`, fall back or override, and the
//! report says which.

use std::path::Path;

use vanelia::run::{report_path, KeyLight, RunReport};
use vanelia::video::MediaPath;

use crate::util::{assert_ok, asset, edited_demo_poses, run_on, vanelia};

fn read_report(output: &Path) -> RunReport {
    let path = report_path(&MediaPath::new(output));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn angle_deg(a: [f64; 3], b: [f64; 3]) -> f64 {
    vanelia::eval::angle_deg(a, b)
}

#[test]
fn the_sun_is_read_from_the_cast_shadows_of_a_sunlit_shot() {
    let dir = tempfile::tempdir().unwrap();
    let scene = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/groundtruth/sun_high");
    let truth = vanelia::eval::GroundTruthScene::open(&scene).unwrap().truth;
    let sun = truth.lights[0].direction_to_light.unwrap();
    let output = dir.path().join("out/%06d.png");
    let out = vanelia(dir.path())
        .arg("--input")
        .arg(scene.join("plate.mp4"))
        .arg("--model")
        .arg(scene.join("product.glb"))
        .arg("--poses")
        .arg(scene.join("poses.json"))
        .arg("--output")
        .arg(&output)
        .args(&truth.vanelia_args)
        .args(["--refine", "none", "--frames", "0..2"])
        .output()
        .unwrap();
    assert_ok(&out);
    let report = read_report(&output);
    let Some(KeyLight::Estimated(estimate)) = &report.key_light else {
        panic!("no estimate: {:?}", report.key_light);
    };
    let error = angle_deg(estimate.dir_in_world, sun);
    assert!(error < 10.0, "{error:.1} degrees off: {estimate:?}");
    assert!(
        estimate.shadow_contrast > 0.5 && estimate.samples > 60,
        "{estimate:?}"
    );
}

#[test]
fn a_track_without_points_keeps_the_default_light_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let poses = edited_demo_poses(dir.path(), "no_points.json", |j| {
        j.as_object_mut().unwrap().remove("points");
        j.as_object_mut().unwrap().remove("point_confidences");
    });
    let output = dir.path().join("out.mp4");
    let out = run_on(
        dir.path(),
        &asset("demo.mp4"),
        &poses,
        &output,
        &["--frames", "0..2"],
    );
    assert_ok(&out);
    let report = read_report(&output);
    let Some(KeyLight::Default { why, dir_in_world }) = &report.key_light else {
        panic!("{:?}", report.key_light);
    };
    assert!(why.contains("scene points"), "{why}");
    assert!(dir_in_world.iter().all(|v| v.is_finite()));
    assert!(report
        .warnings
        .iter()
        .any(|w| w.message.contains("--light-dir sets it")));
}

#[test]
fn light_dir_overrides_the_shot() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out.mp4");
    let out = crate::util::demo_run(
        dir.path(),
        &output,
        &["--frames", "0..2", "--light-dir", "0,2,0"],
    );
    assert_ok(&out);
    let report = read_report(&output);
    assert_eq!(
        report.key_light,
        Some(KeyLight::Given {
            dir_in_world: [0.0, 1.0, 0.0]
        })
    );
}

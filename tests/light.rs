//! The light read from the shot: on a sunlit ground-truth scene the cast shadows give the
//! sun's direction and the floor the sun's and sky's colours and their split; an overcast
//! scene is taken as soft light; a track without points, or `--light-dir`, fall back or
//! override, and the report says which.

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

fn ground_truth(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/groundtruth")
        .join(name)
}

/// Runs the first frames of a ground-truth scene with its true placement.
fn run_scene(dir: &Path, scene: &Path) -> RunReport {
    let truth = vanelia::eval::GroundTruthScene::open(scene).unwrap().truth;
    let output = dir.join("out/%06d.png");
    let out = vanelia(dir)
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
    read_report(&output)
}

/// A scene's (sun irradiance / π, sky radiance) in linear RGB, from its `scene.json`.
fn true_sun_and_sky(scene: &Path) -> ([f64; 3], [f64; 3]) {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(scene.join("scene.json")).unwrap()).unwrap();
    let rgb = |v: &serde_json::Value, k: f64| [0, 1, 2].map(|c| v[c].as_f64().unwrap() * k);
    let sun = &json["lights"][0];
    let world = &json["world"];
    (
        rgb(
            &sun["color_linear"],
            sun["strength_w_m2"].as_f64().unwrap() / std::f64::consts::PI,
        ),
        rgb(&world["color_linear"], world["strength"].as_f64().unwrap()),
    )
}

fn luminance(c: [f64; 3]) -> f64 {
    0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]
}

#[test]
fn the_sun_is_read_from_the_cast_shadows_of_a_sunlit_shot() {
    let dir = tempfile::tempdir().unwrap();
    let scene = ground_truth("sun_high");
    let truth = vanelia::eval::GroundTruthScene::open(&scene).unwrap().truth;
    let sun = truth.lights[0].direction_to_light.unwrap();
    let report = run_scene(dir.path(), &scene);
    let Some(KeyLight::Estimated(estimate)) = &report.key_light else {
        panic!("no estimate: {:?}", report.key_light);
    };
    let error = angle_deg(estimate.dir_in_world, sun);
    assert!(error < 10.0, "{error:.1} degrees off: {estimate:?}");
    assert!(
        estimate.shadow_contrast > 0.5 && estimate.samples > 60,
        "{estimate:?}"
    );
    // the sun against the sky, and the sky's blue against its red, as rendered
    let light = report.light.expect("the report gives the light");
    assert!(!light.soft && light.floor.is_some_and(|f| f.samples > 60));
    let (true_sun, true_sky) = true_sun_and_sky(&scene);
    let ratio = luminance(light.scene.key_rgb) / luminance(light.scene.sky_rgb);
    let true_ratio = luminance(true_sun) / luminance(true_sky);
    assert!(
        (ratio / true_ratio - 1.0).abs() < 0.3,
        "key/sky {ratio:.2}, truth {true_ratio:.2}: {light:?}"
    );
    let blue = light.scene.sky_rgb[2] / light.scene.sky_rgb[0];
    let true_blue = true_sky[2] / true_sky[0];
    assert!(
        (blue / true_blue - 1.0).abs() < 0.25,
        "sky blue/red {blue:.2}, truth {true_blue:.2}"
    );
    let t = light.scene.shadow_transmission_rgb;
    assert!(
        t[2] > t[0] && t.iter().all(|v| (0.05..0.6).contains(v)),
        "{t:?}"
    );
}

#[test]
fn an_overcast_shot_is_taken_as_soft_light_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let report = run_scene(dir.path(), &ground_truth("overcast"));
    let light = report.light.expect("the report gives the light");
    assert!(light.soft, "{light:?}");
    // a wide key with a faint shadow, whatever the direction
    assert!(light.scene.shadow_transmission() > 0.6, "{light:?}");
    assert!(light.scene.key_angle_deg > 5.0, "{light:?}");
    assert!(light
        .scene
        .sky_rgb
        .iter()
        .all(|v| v.is_finite() && *v > 0.1));
    assert!(report
        .warnings
        .iter()
        .any(|w| w.message.contains("taken as soft")));
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
        .any(|w| w.message.contains("--light-dir sets its direction")));
    let light = report.light.expect("the report gives the light");
    let all = [
        light.scene.key_rgb,
        light.scene.sky_rgb,
        light.scene.shadow_transmission_rgb,
    ];
    assert!(all.iter().flatten().all(|v| v.is_finite()), "{light:?}");
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

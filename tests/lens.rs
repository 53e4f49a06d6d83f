//! Lens distortion end to end: a poses file with a lens puts the product where that lens
//! projects it, and a COLMAP model with the same lens gives the same output.

use std::path::Path;

use glam::DVec2;
use vanelia::core::lens::Lens;
use vanelia::core::CameraTrack;

use crate::util::{asset, edited_demo_poses, vanelia_sub};

const K1: f64 = -0.35;
const P1: f64 = 0.01;

fn lens() -> Lens {
    Lens::opencv([K1, 0.0, P1, 0.0, 0.0, 0.0, 0.0, 0.0])
}

/// Renders the demo's first frame's layers with `poses` (and `extra` options); its coverage
/// mask.
fn mask_of(dir: &Path, poses: &Path, name: &str, extra: &[&str]) -> image::GrayImage {
    let out = dir.join(name);
    let run = vanelia_sub(dir, "render")
        .arg("--input")
        .arg(asset("demo.mp4"))
        .arg("--model")
        .arg(asset("product.glb"))
        .arg("--poses")
        .arg(poses)
        .arg("--output")
        .arg(&out)
        .args(["--frames", "0..1"])
        .args(extra)
        .output()
        .unwrap();
    crate::util::assert_ok(&run);
    image::open(out.join("000000.mask.png")).unwrap().to_luma8()
}

#[test]
fn the_product_is_bent_by_the_clips_lens() {
    let dir = tempfile::tempdir().unwrap();
    let distorted = edited_demo_poses(dir.path(), "lens.json", |j| {
        for f in j["frames"].as_array_mut().unwrap() {
            f["lens"] = serde_json::json!({"model": "opencv", "k1": K1, "p1": P1});
        }
    });
    // the product towards the frame's lower left, where the lens bends most: on the ground
    // plane the default placement found, under pixel (130, 290) of frame 0
    let first = mask_of(dir.path(), &asset("demo.poses.json"), "first", &[]);
    assert!(first.pixels().any(|p| p[0] > 0));
    let placement: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("first.vanelia/placement.json")).unwrap(),
    )
    .unwrap();
    let vec3 =
        |v: &serde_json::Value| glam::DVec3::from_array([0, 1, 2].map(|k| v[k].as_f64().unwrap()));
    let (point, normal) = (
        vec3(&placement["plane_point_in_world"]),
        vec3(&placement["plane_normal_in_world"]),
    );
    let track = CameraTrack::read(&asset("demo.poses.json")).unwrap();
    let camera = track.poses[0];
    let ray = camera
        .world_from_cam
        .transform_vector3(camera.intrinsics.unproject(DVec2::new(130.0, 290.0)));
    let centre = camera.centre_in_world();
    let at = centre + ray * (normal.dot(point - centre) / normal.dot(ray));
    let place = format!("--place={},{},{}", at.x, at.y, at.z);
    let options = [place.as_str(), "--product-height", "0.15"];
    let pinhole = crate::util::mask_centroid(&mask_of(
        dir.path(),
        &asset("demo.poses.json"),
        "pinhole",
        &options,
    ));
    let bent = crate::util::mask_centroid(&mask_of(dir.path(), &distorted, "bent", &options));
    // where the lens moves the pinhole render's centre
    let i = camera.intrinsics;
    let distort = |p: DVec2| i.pixel_of(lens().distort(i.normalised_of(p)));
    let want = distort(pinhole);
    assert!(
        pinhole.distance(want) > 2.0,
        "the lens must move it: {pinhole} {want}"
    );
    assert!(
        bent.distance(want) < 1.0,
        "bent {bent}, the lens puts it at {want}"
    );
    // the same lens through a COLMAP model: the same layers
    let model = dir.path().join("sparse");
    vanelia::core::colmap::write(&CameraTrack::read(&distorted).unwrap(), &model).unwrap();
    let from_colmap = mask_of(dir.path(), &model, "colmap", &options);
    let worst = from_colmap
        .as_raw()
        .iter()
        .zip(mask_of(dir.path(), &distorted, "again", &options).as_raw())
        .map(|(a, b)| a.abs_diff(*b))
        .max()
        .unwrap_or(0);
    assert!(worst <= 1, "COLMAP and poses file differ by {worst}");
}

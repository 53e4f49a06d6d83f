//! COLMAP models as `--poses`: the same output as the equivalent poses file, and malformed
//! models refused with exit 2, the file and the line named.

use std::path::Path;

use vanelia::core::CameraTrack;

use crate::util::{assert_ok, asset, decode_all, max_pixel_diff, run_on};

/// The demo track written as a COLMAP text model in `dir`.
fn demo_model(dir: &Path) -> std::path::PathBuf {
    let track = CameraTrack::read(&asset("demo.poses.json")).unwrap();
    let model = dir.join("sparse");
    vanelia::core::colmap::write(&track, &model).unwrap();
    model
}

#[test]
fn a_colmap_model_gives_the_output_of_its_poses_file() {
    let dir = tempfile::tempdir().unwrap();
    let model = demo_model(dir.path());
    let frames = ["--frames", "0..4", "--refine", "none"];
    let from_json = dir.path().join("json.mp4");
    assert_ok(&run_on(
        dir.path(),
        &asset("demo.mp4"),
        &asset("demo.poses.json"),
        &from_json,
        &frames,
    ));
    let from_colmap = dir.path().join("colmap.mp4");
    assert_ok(&run_on(
        dir.path(),
        &asset("demo.mp4"),
        &model,
        &from_colmap,
        &frames,
    ));
    let (a, b) = (decode_all(&from_json), decode_all(&from_colmap));
    // the model holds the track to float printing precision: the same pixels
    let worst = max_pixel_diff(&a, &b);
    assert!(worst <= 1, "frames differ by {worst}");
}

#[test]
fn a_malformed_colmap_model_exits_2_naming_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let model = demo_model(dir.path());
    let cameras = model.join("cameras.txt");
    let text = std::fs::read_to_string(&cameras).unwrap();
    std::fs::write(&cameras, text.replacen("PINHOLE", "THIN_PRISM_FISHEYE", 1)).unwrap();
    let out = run_on(
        dir.path(),
        &asset("demo.mp4"),
        &model,
        &dir.path().join("out.mp4"),
        &[],
    );
    let err = crate::util::assert_fails(&out);
    assert!(err.contains(&cameras.display().to_string()), "{err}");
    assert!(
        err.contains("line 2") && err.contains("THIN_PRISM_FISHEYE"),
        "{err}"
    );

    // a folder that is no model
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = run_on(
        dir.path(),
        &asset("demo.mp4"),
        &empty,
        &dir.path().join("out.mp4"),
        &[],
    );
    let err = crate::util::assert_fails(&out);
    assert!(
        err.contains("not a COLMAP model") && err.contains("empty"),
        "{err}"
    );
}

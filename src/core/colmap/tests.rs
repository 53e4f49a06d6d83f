use std::fmt::Write as _;
use std::path::Path;

use glam::{DMat4, DQuat, DVec3};

use super::*;

fn size() -> FrameSize {
    FrameSize {
        width: 64,
        height: 48,
    }
}

/// A registered image: id, `cam_from_world` rotation and translation, camera, name.
type Img = (u32, DQuat, DVec3, u32, &'static str);

fn images(n: u32) -> Vec<Img> {
    let names = ["000000.png", "000001.png", "000002.png", "000003.png"];
    (0..n)
        .map(|i| {
            let a = f64::from(i) * 0.2;
            let q = DQuat::from_euler(glam::EulerRot::YXZ, a, 0.1 * a, -0.05 * a);
            (
                i + 1,
                q,
                DVec3::new(0.1 * a, -0.2, 2.0 + a),
                1,
                names[i as usize],
            )
        })
        .collect()
}

fn write_text(dir: &Path, cameras: &str, images: &[Img], rigs: Option<&str>) {
    let mut text = String::from("# IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME\n");
    for (id, q, t, cam, name) in images {
        let _ = writeln!(
            text,
            "{id} {} {} {} {} {} {} {} {cam} {name}\n10.5 20.5 -1",
            q.w, q.x, q.y, q.z, t.x, t.y, t.z
        );
    }
    std::fs::write(dir.join("cameras.txt"), cameras).unwrap();
    std::fs::write(dir.join("images.txt"), text).unwrap();
    std::fs::write(
        dir.join("points3D.txt"),
        "# POINT3D_ID, X, Y, Z, R, G, B, ERROR, TRACK[]\n7 0.5 0.25 3 10 20 30 0.5 1 0\n",
    )
    .unwrap();
    if let Some(rigs) = rigs {
        std::fs::write(dir.join("rigs.txt"), rigs).unwrap();
    }
}

/// The same model in COLMAP's binary layout (PINHOLE camera 1).
fn write_binary(dir: &Path, camera: (i32, [u64; 2], &[f64]), images: &[Img]) {
    let mut cams = Vec::new();
    cams.extend(1_u64.to_le_bytes());
    cams.extend(1_u32.to_le_bytes());
    cams.extend(camera.0.to_le_bytes());
    cams.extend(camera.1[0].to_le_bytes());
    cams.extend(camera.1[1].to_le_bytes());
    for p in camera.2 {
        cams.extend(p.to_le_bytes());
    }
    let mut imgs = Vec::new();
    imgs.extend((images.len() as u64).to_le_bytes());
    for (id, q, t, cam, name) in images {
        imgs.extend(id.to_le_bytes());
        for v in [q.w, q.x, q.y, q.z, t.x, t.y, t.z] {
            imgs.extend(v.to_le_bytes());
        }
        imgs.extend(cam.to_le_bytes());
        imgs.extend(name.as_bytes());
        imgs.push(0);
        imgs.extend(1_u64.to_le_bytes());
        imgs.extend(10.5_f64.to_le_bytes());
        imgs.extend(20.5_f64.to_le_bytes());
        imgs.extend(u64::MAX.to_le_bytes());
    }
    let mut pts = Vec::new();
    pts.extend(1_u64.to_le_bytes());
    pts.extend(7_u64.to_le_bytes());
    for v in [0.5_f64, 0.25, 3.0] {
        pts.extend(v.to_le_bytes());
    }
    pts.extend([10, 20, 30]);
    pts.extend(0.5_f64.to_le_bytes());
    pts.extend(1_u64.to_le_bytes());
    pts.extend(1_u32.to_le_bytes());
    pts.extend(0_u32.to_le_bytes());
    std::fs::write(dir.join("cameras.bin"), cams).unwrap();
    std::fs::write(dir.join("images.bin"), imgs).unwrap();
    std::fs::write(dir.join("points3D.bin"), pts).unwrap();
}

const PINHOLE: &str = "# CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]\n1 PINHOLE 64 48 50 52 32 24\n";

fn assert_same(a: &CameraTrack, b: &CameraTrack) {
    assert_eq!(a.poses.len(), b.poses.len());
    for (p, q) in a.poses.iter().zip(&b.poses) {
        let d = (p.world_from_cam - q.world_from_cam).abs().to_cols_array();
        assert!(d.iter().all(|v| *v < 1e-9), "{d:?}");
        assert_eq!(p.intrinsics, q.intrinsics);
    }
    assert_eq!(a.points, b.points);
}

#[test]
fn a_track_round_trips_through_the_text_model() {
    let dir = tempfile::tempdir().unwrap();
    write_text(dir.path(), PINHOLE, &images(4), None);
    let first = import(dir.path(), 4, size()).unwrap();
    assert!(first.warnings.is_empty(), "{:?}", first.warnings);
    let i = &first.track.poses[0].intrinsics;
    assert_eq!((i.focal_px, i.principal_px), ([50.0, 52.0], [31.5, 23.5]));
    assert_eq!(
        first.track.points[0].point_in_world,
        DVec3::new(0.5, 0.25, 3.0)
    );
    assert_eq!(first.track.points[0].confidence, 2.0);
    // frame k's camera sees the world through the image's cam_from_world
    let (_, q, t, _, _) = images(4)[2];
    let cam_from_world = rigid(&DMat3::from_quat(q), t);
    let d = (first.track.poses[2].world_from_cam * cam_from_world - DMat4::IDENTITY).abs();
    assert!(d.to_cols_array().iter().all(|v| *v < 1e-12));
    // written back by `vanelia track --colmap`'s writer and read again: the same track
    let again = tempfile::tempdir().unwrap();
    write(&first.track, again.path()).unwrap();
    let second = import(again.path(), 4, size()).unwrap();
    assert_same(&first.track, &second.track);
}

#[test]
fn the_binary_model_reads_as_the_text_model_and_wins_over_it() {
    let dir = tempfile::tempdir().unwrap();
    write_text(dir.path(), PINHOLE, &images(4), None);
    let text = import(dir.path(), 4, size()).unwrap().track;
    let bin = tempfile::tempdir().unwrap();
    write_binary(
        bin.path(),
        (1, [64, 48], &[50.0, 52.0, 32.0, 24.0]),
        &images(4),
    );
    assert_same(&text, &import(bin.path(), 4, size()).unwrap().track);
    // both in one folder: the binary one is read (COLMAP's preference)
    write_binary(
        dir.path(),
        (1, [64, 48], &[40.0, 40.0, 32.0, 24.0]),
        &images(4),
    );
    let both = import(dir.path(), 4, size()).unwrap().track;
    assert_eq!(both.poses[0].intrinsics.focal_px, [40.0, 40.0]);
}

#[test]
fn unregistered_frames_are_interpolated_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut imgs = images(4);
    imgs[0].4 = "clip_0001.jpg"; // 1-based numbering: frame 0
    imgs[1].4 = "clip_0004.jpg"; // frame 3
    imgs.truncate(2);
    write_text(dir.path(), PINHOLE, &imgs, None);
    let got = import(dir.path(), 5, size()).unwrap();
    let poses = &got.track.poses;
    assert_eq!(poses.len(), 5);
    let (a, b) = (poses[0].centre_in_world(), poses[3].centre_in_world());
    assert!((poses[1].centre_in_world() - a.lerp(b, 1.0 / 3.0)).length() < 1e-12);
    assert!((poses[2].centre_in_world() - a.lerp(b, 2.0 / 3.0)).length() < 1e-12);
    assert_eq!(poses[4], poses[3], "held after the last registered frame");
    let warning = got.warnings.join("\n");
    assert!(
        warning.contains("3 frame(s)") && warning.contains("1-2, 4"),
        "{warning}"
    );
}

#[test]
fn every_camera_model_gives_its_pinhole_and_lens() {
    for (line, focal, principal, distorted) in [
        (
            "1 SIMPLE_PINHOLE 64 48 50 32 24",
            [50.0, 50.0],
            [32.0, 24.0],
            false,
        ),
        (
            "1 SIMPLE_RADIAL 64 48 50 32 24 0.01",
            [50.0, 50.0],
            [32.0, 24.0],
            true,
        ),
        (
            "1 RADIAL 64 48 50 32 24 0 0",
            [50.0, 50.0],
            [32.0, 24.0],
            false,
        ),
        (
            "1 OPENCV 64 48 50 51 30 20 0.1 0 0 0",
            [50.0, 51.0],
            [30.0, 20.0],
            true,
        ),
        (
            "1 OPENCV_FISHEYE 64 48 50 51 30 20 0 0 0 0.2",
            [50.0, 51.0],
            [30.0, 20.0],
            true,
        ),
        (
            "1 FULL_OPENCV 64 48 50 51 30 20 0 0 0 0 0 0 0 0",
            [50.0, 51.0],
            [30.0, 20.0],
            false,
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        write_text(dir.path(), line, &images(2), None);
        let got = import(dir.path(), 2, size()).unwrap();
        let i = &got.track.poses[1].intrinsics;
        assert_eq!(i.focal_px, focal, "{line}");
        assert_eq!(i.principal_px, principal.map(|c| c - 0.5), "{line}");
        assert_eq!(!i.lens.is_pinhole(), distorted, "{line}: {:?}", i.lens);
        assert!(got.warnings.is_empty(), "{:?}", got.warnings);
        // written back and read again: the same lens
        let again = tempfile::tempdir().unwrap();
        write(&got.track, again.path()).unwrap();
        let back = import(again.path(), 2, size()).unwrap().track;
        assert_eq!(back.poses[1].intrinsics.lens, i.lens, "{line}");
    }
}

#[test]
fn a_rig_keeps_its_reference_camera_and_resized_models_are_scaled() {
    let dir = tempfile::tempdir().unwrap();
    let mut imgs = images(4);
    imgs[1].3 = 2;
    imgs[3].3 = 2;
    imgs[2].4 = "000001.png";
    let cameras = format!("{PINHOLE}2 PINHOLE 64 48 10 10 32 24\n");
    let rigs = "1 2 CAMERA 1 CAMERA 2 1 1 0 0 0 0.1 0 0\n";
    write_text(dir.path(), &cameras, &imgs, Some(rigs));
    let got = import(dir.path(), 2, size()).unwrap();
    assert!(got
        .track
        .poses
        .iter()
        .all(|p| p.intrinsics.focal_px == [50.0, 52.0]));
    assert!(got
        .warnings
        .iter()
        .any(|w| w.contains("2 image(s) of its other cameras")));

    let dir = tempfile::tempdir().unwrap();
    write_text(
        dir.path(),
        "1 PINHOLE 128 96 100 104 64 48\n",
        &images(2),
        None,
    );
    let got = import(dir.path(), 2, size()).unwrap();
    let i = &got.track.poses[0].intrinsics;
    assert_eq!((i.focal_px, i.principal_px), ([50.0, 52.0], [31.5, 23.5]));
    assert!(
        got.warnings.iter().any(|w| w.contains("scaled")),
        "{:?}",
        got.warnings
    );
}

/// The error of importing a model, as the user reads it.
fn import_error(dir: &Path, frames: u64) -> String {
    import(dir, frames, size()).unwrap_err().to_string()
}

#[test]
fn malformed_models_name_the_file_and_where() {
    let case = |cameras: &str, imgs: &[Img], frames: u64| {
        let dir = tempfile::tempdir().unwrap();
        write_text(dir.path(), cameras, imgs, None);
        import_error(dir.path(), frames)
    };
    let e = case("# cams\n1 FOV 64 48 50 51 32 24 0.1\n", &images(2), 2);
    assert!(
        e.contains("cameras.txt") && e.contains("line 2") && e.contains("FOV"),
        "{e}"
    );
    let e = case("1 PINHOLE 64 48 50 51 32\n", &images(2), 2);
    assert!(e.contains("line 1") && e.contains("4 parameters"), "{e}");
    let e = case("1 PINHOLE 64 48 fifty 51 32 24\n", &images(2), 2);
    assert!(e.contains("not a number") && e.contains("\"fifty\""), "{e}");
    let e = case(PINHOLE, &images(1), 1);
    assert!(
        e.contains("images.txt") && e.contains("at least two"),
        "{e}"
    );
    let e = case(PINHOLE, &images(3), 2);
    assert!(e.contains("000002.png") && e.contains("2 frames"), "{e}");
    let e = case("1 PINHOLE 64 64 50 51 32 24\n", &images(2), 2);
    assert!(e.contains("aspect"), "{e}");
    let mut bad = images(2);
    bad[1].1 = DQuat::from_xyzw(0.5, 0.0, 0.0, 0.5);
    let e = case(PINHOLE, &bad, 2);
    assert!(e.contains("line 4") && e.contains("quaternion"), "{e}");

    // a truncated binary file
    let dir = tempfile::tempdir().unwrap();
    write_binary(
        dir.path(),
        (1, [64, 48], &[50.0, 52.0, 32.0, 24.0]),
        &images(2),
    );
    let images_bin = dir.path().join("images.bin");
    let bytes = std::fs::read(&images_bin).unwrap();
    std::fs::write(&images_bin, &bytes[..bytes.len() - 30]).unwrap();
    let e = import_error(dir.path(), 2);
    assert!(e.contains("images.bin") && e.contains("truncated"), "{e}");
    // an unknown binary camera model
    write_binary(
        dir.path(),
        (7, [64, 48], &[50.0, 32.0, 24.0, 0.1]),
        &images(2),
    );
    let e = import_error(dir.path(), 2);
    assert!(e.contains("cameras.bin") && e.contains("model id 7"), "{e}");
    // not a model at all
    let empty = tempfile::tempdir().unwrap();
    assert!(import_error(empty.path(), 2).contains("not a COLMAP model"));
}

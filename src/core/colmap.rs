//! COLMAP's text model (`cameras.txt`, `images.txt`, `points3D.txt`) for a camera track, so
//! that the track can be inspected or refined in COLMAP and other tools that read it.
//!
//! Conventions (COLMAP documentation, "Output format"): one PINHOLE camera per frame; images
//! hold `cam_from_world` as a unit quaternion (QW QX QY QZ) and translation; pixel centres are
//! at +0.5 (the top-left pixel's centre is (0.5, 0.5)), where ours are at integers, so the
//! principal point is shifted by half a pixel on the way out and back.

use std::fmt::Write as _;
use std::path::Path;

use glam::{DMat3, DQuat, DVec3};

use super::camera::{rigid, rigid_inverse, CameraPose, Intrinsics};
use super::error::{Error, Result};
use super::frame::FrameSize;
use super::track::{CameraTrack, ScenePoint};

/// Writes `cameras.txt`, `images.txt` and `points3D.txt` into `dir` (created if needed), each
/// atomically. Images are named `{frame:06}.png`.
pub fn write(track: &CameraTrack, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::Io {
        op: "create COLMAP folder",
        path: dir.into(),
        source: e,
    })?;
    let mut cameras = String::from("# CAMERA_ID, MODEL, WIDTH, HEIGHT, fx, fy, cx, cy\n");
    let mut images = String::from(
        "# IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME\n# POINTS2D (none)\n",
    );
    for (k, pose) in track.poses.iter().enumerate() {
        let id = k + 1;
        let i = &pose.intrinsics;
        let _ = writeln!(
            cameras,
            "{id} PINHOLE {} {} {} {} {} {}",
            i.size.width,
            i.size.height,
            i.focal_px[0],
            i.focal_px[1],
            i.principal_px[0] + 0.5,
            i.principal_px[1] + 0.5
        );
        let cam_from_world = rigid_inverse(&pose.world_from_cam);
        let q = DQuat::from_mat3(&DMat3::from_mat4(cam_from_world)).normalize();
        let t = cam_from_world.w_axis;
        let _ = writeln!(
            images,
            "{id} {} {} {} {} {} {} {} {id} {k:06}.png\n",
            q.w, q.x, q.y, q.z, t.x, t.y, t.z
        );
    }
    let mut points = String::from("# POINT3D_ID, X, Y, Z, R, G, B, ERROR, TRACK[]\n");
    for (k, p) in track.points.iter().enumerate() {
        let v = p.point_in_world;
        // COLMAP has no confidence column; ERROR carries 1/confidence (lower is better)
        let error = 1.0 / p.confidence.max(1e-9);
        let _ = writeln!(
            points,
            "{} {} {} {} 128 128 128 {error}",
            k + 1,
            v.x,
            v.y,
            v.z
        );
    }
    for (name, text) in [
        ("cameras.txt", cameras),
        ("images.txt", images),
        ("points3D.txt", points),
    ] {
        super::atomic::write(&dir.join(name), text.as_bytes())?;
    }
    Ok(())
}

/// Reads a COLMAP text model written by [`write`] (PINHOLE cameras, one per image, images in
/// name order) back into a track of frames of `size`.
pub fn read(dir: &Path) -> Result<CameraTrack> {
    let bad = |file: &str, detail: String| Error::InvalidTrack {
        detail,
        path: dir.join(file),
    };
    let lines = |file: &str| -> Result<Vec<Vec<String>>> {
        let text = std::fs::read_to_string(dir.join(file)).map_err(|e| Error::Io {
            op: "read COLMAP model",
            path: dir.join(file),
            source: e,
        })?;
        Ok(text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .map(|l| l.split_whitespace().map(String::from).collect())
            .collect())
    };
    let num = |file: &str, s: &str| -> Result<f64> {
        s.parse()
            .map_err(|_| bad(file, format!("not a number: {s}")))
    };
    let mut cameras = std::collections::HashMap::new();
    for f in lines("cameras.txt")? {
        if f.len() < 8 || f[1] != "PINHOLE" {
            return Err(bad("cameras.txt", "expected PINHOLE cameras".into()));
        }
        let v: Vec<f64> = f[2..8]
            .iter()
            .map(|s| num("cameras.txt", s))
            .collect::<Result<_>>()?;
        let size = FrameSize {
            width: v[0] as u32,
            height: v[1] as u32,
        };
        let intrinsics = Intrinsics {
            focal_px: [v[2], v[3]],
            principal_px: [v[4] - 0.5, v[5] - 0.5],
            size,
        };
        cameras.insert(f[0].clone(), intrinsics);
    }
    let mut images: Vec<(String, CameraPose)> = Vec::new();
    for f in lines("images.txt")? {
        if f.len() < 10 {
            continue; // POINTS2D lines
        }
        let v: Vec<f64> = f[1..8]
            .iter()
            .map(|s| num("images.txt", s))
            .collect::<Result<_>>()?;
        let rotation = DMat3::from_quat(DQuat::from_xyzw(v[1], v[2], v[3], v[0]).normalize());
        let cam_from_world = rigid(&rotation, DVec3::new(v[4], v[5], v[6]));
        let intrinsics = *cameras
            .get(&f[8])
            .ok_or_else(|| bad("images.txt", format!("unknown camera {}", f[8])))?;
        images.push((
            f[9].clone(),
            CameraPose {
                world_from_cam: rigid_inverse(&cam_from_world),
                intrinsics,
            },
        ));
    }
    images.sort_by(|a, b| a.0.cmp(&b.0));
    let size = images
        .first()
        .map(|(_, p)| p.intrinsics.size)
        .ok_or_else(|| bad("images.txt", "no images".into()))?;
    let mut points = Vec::new();
    for f in lines("points3D.txt")? {
        if f.len() < 8 {
            return Err(bad("points3D.txt", "short line".into()));
        }
        let v: Vec<f64> = [1, 2, 3, 7]
            .iter()
            .map(|&k| num("points3D.txt", &f[k]))
            .collect::<Result<_>>()?;
        points.push(ScenePoint {
            point_in_world: DVec3::new(v[0], v[1], v[2]),
            confidence: 1.0 / v[3].max(1e-300),
        });
    }
    Ok(CameraTrack {
        size,
        poses: images.into_iter().map(|(_, p)| p).collect(),
        points,
        scene_depth: Default::default(),
    })
}

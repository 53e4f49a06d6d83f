//! A camera track as COLMAP's text model (`cameras.txt`, `images.txt`, `points3D.txt`), so
//! that it can be inspected or refined in COLMAP and other tools that read it: one camera per
//! frame (PINHOLE, or the OpenCV model of its lens), images named `{frame:06}.png`.

use std::fmt::Write as _;
use std::path::Path;

use glam::{DMat3, DQuat};

use super::PIXEL_CENTRE;
use crate::core::camera::rigid_inverse;
use crate::core::error::{Error, Result};
use crate::core::lens::Lens;
use crate::core::track::CameraTrack;

/// Writes `cameras.txt`, `images.txt` and `points3D.txt` into `dir` (created if needed), each
/// atomically. Images are named `{frame:06}.png`.
pub fn write(track: &CameraTrack, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::Io {
        op: "create COLMAP folder",
        path: dir.into(),
        source: e,
    })?;
    let mut cameras = String::from("# CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]\n");
    let mut images = String::from(
        "# IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME\n# POINTS2D (none)\n",
    );
    for (k, pose) in track.poses.iter().enumerate() {
        let id = k + 1;
        let i = &pose.intrinsics;
        let (model, distortion) = camera_model(&i.lens);
        let mut line = format!(
            "{id} {model} {} {} {} {} {} {}",
            i.size.width,
            i.size.height,
            i.focal_px[0],
            i.focal_px[1],
            i.principal_px[0] + PIXEL_CENTRE,
            i.principal_px[1] + PIXEL_CENTRE
        );
        for k in distortion {
            let _ = write!(line, " {k}");
        }
        let _ = writeln!(cameras, "{line}");
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
        crate::core::atomic::write(&dir.join(name), text.as_bytes())?;
    }
    Ok(())
}

/// The COLMAP model of a lens and its distortion parameters.
fn camera_model(lens: &Lens) -> (&'static str, Vec<f64>) {
    let k = lens.coefficients();
    match lens {
        Lens::Pinhole => ("PINHOLE", k),
        Lens::Opencv { .. } if k[4..].iter().all(|v| *v == 0.0) => ("OPENCV", k[..4].to_vec()),
        Lens::Opencv { .. } => ("FULL_OPENCV", k),
        Lens::Fisheye { .. } => ("OPENCV_FISHEYE", k),
    }
}

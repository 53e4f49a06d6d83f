//! The poses file (format version 1, see [`super`]): its JSON documents and their checked
//! conversion to and from a [`CameraTrack`].

use std::path::{Path, PathBuf};

use glam::{DMat3, DMat4, DVec3, DVec4};
use serde::{Deserialize, Serialize};

use super::{CameraTrack, SceneDepth, ScenePoint, DEFAULT_DEPTH_UNIT_M};
use crate::core::camera::{orthonormality_error, CameraPose, Intrinsics};
use crate::core::frame::FrameSize;
use crate::core::lens::Lens;

/// The `format` value of a poses file.
pub const TRACK_FORMAT: &str = "vanelia-poses";
/// The only `version` this build reads and writes.
pub const TRACK_VERSION: u32 = 1;
/// Largest accepted deviation of a rotation from orthonormal.
const ROTATION_TOLERANCE: f64 = 1e-4;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TrackJson {
    format: String,
    version: u32,
    convention: String,
    width: u32,
    height: u32,
    frames: Vec<FrameJson>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    points: Vec<[f64; 3]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    point_confidences: Option<Vec<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    depth_unit_m: Option<f64>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrameJson {
    frame: u64,
    world_from_cam: [[f64; 4]; 4],
    fx: f64,
    fy: f64,
    cx: f64,
    cy: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    depth: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Lens::is_pinhole")]
    lens: Lens,
}

pub(super) fn from_json(json: TrackJson, base: &Path) -> std::result::Result<CameraTrack, String> {
    if json.format != TRACK_FORMAT || json.version != TRACK_VERSION {
        return Err(format!(
            "expected format \"{TRACK_FORMAT}\" version {TRACK_VERSION}, found \"{}\" version {}",
            json.format, json.version
        ));
    }
    if json.convention != "opencv" {
        return Err(format!(
            "convention must be \"opencv\", found \"{}\"",
            json.convention
        ));
    }
    if json.width == 0 || json.height == 0 {
        return Err("width and height must be positive".into());
    }
    if json.frames.is_empty() {
        return Err("the track has no frames".into());
    }
    let size = FrameSize {
        width: json.width,
        height: json.height,
    };
    let mut frames = json.frames;
    frames.sort_by_key(|f| f.frame);
    let poses = frames
        .iter()
        .enumerate()
        .map(|(i, f)| pose_from_json(i as u64, f, size))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let points = points_from_json(&json.points, json.point_confidences.as_deref())?;
    let scene_depth = depth_from_json(&frames, json.depth_unit_m, base)?;
    Ok(CameraTrack {
        size,
        poses,
        points,
        scene_depth,
    })
}

fn depth_from_json(
    frames: &[FrameJson],
    unit_m: Option<f64>,
    base: &Path,
) -> std::result::Result<SceneDepth, String> {
    let unit_m = unit_m.unwrap_or(DEFAULT_DEPTH_UNIT_M);
    if !(unit_m.is_finite() && unit_m > 0.0) {
        return Err(format!("depth_unit_m must be positive, got {unit_m}"));
    }
    if frames.iter().all(|f| f.depth.is_none()) {
        return Ok(SceneDepth {
            paths: Vec::new(),
            unit_m,
        });
    }
    let paths = frames
        .iter()
        .map(|f| match &f.depth {
            Some(p) => {
                let full = base.join(p);
                if full.is_file() {
                    Ok(Some(full))
                } else {
                    Err(format!(
                        "frame {}: depth map {} not found",
                        f.frame,
                        full.display()
                    ))
                }
            }
            None => Ok(None),
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(SceneDepth { paths, unit_m })
}

fn pose_from_json(
    expected: u64,
    f: &FrameJson,
    size: FrameSize,
) -> std::result::Result<CameraPose, String> {
    if f.frame != expected {
        return Err(format!(
            "frame numbers must be 0, 1, 2, ... without gaps; missing {expected}"
        ));
    }
    let at = |what: &str| format!("frame {}: {what}", f.frame);
    let rows = f.world_from_cam;
    let all = rows.iter().flatten().chain([&f.fx, &f.fy, &f.cx, &f.cy]);
    if all.clone().any(|v| !v.is_finite()) {
        return Err(at("non-finite value"));
    }
    let world_from_cam = DMat4::from_cols_array_2d(&rows).transpose();
    if (world_from_cam.row(3) - DVec4::W).abs().max_element() > 1e-6 {
        return Err(at("last row of world_from_cam must be [0, 0, 0, 1]"));
    }
    let rotation = DMat3::from_mat4(world_from_cam);
    let err = orthonormality_error(&rotation);
    if err > ROTATION_TOLERANCE || rotation.determinant() <= 0.0 {
        return Err(at(&format!(
            "rotation is not orthonormal (error {err:.2e}, determinant {:.4})",
            rotation.determinant()
        )));
    }
    if f.fx <= 0.0 || f.fy <= 0.0 {
        return Err(at("fx and fy must be positive"));
    }
    let intrinsics = Intrinsics {
        focal_px: [f.fx, f.fy],
        principal_px: [f.cx, f.cy],
        size,
        lens: f.lens,
    };
    if !f.lens.is_finite() {
        return Err(at("non-finite lens coefficient"));
    }
    Ok(CameraPose {
        world_from_cam,
        intrinsics,
    })
}

fn points_from_json(
    xyz: &[[f64; 3]],
    confidences: Option<&[f64]>,
) -> std::result::Result<Vec<ScenePoint>, String> {
    if let Some(c) = confidences {
        if c.len() != xyz.len() {
            return Err(format!(
                "{} points but {} point_confidences",
                xyz.len(),
                c.len()
            ));
        }
    }
    xyz.iter()
        .enumerate()
        .map(|(i, p)| {
            let confidence = confidences.map_or(1.0, |c| c[i]);
            if p.iter().chain([&confidence]).any(|v| !v.is_finite()) || confidence < 0.0 {
                return Err(format!(
                    "point {i}: non-finite coordinate or negative confidence"
                ));
            }
            Ok(ScenePoint {
                point_in_world: DVec3::from_array(*p),
                confidence,
            })
        })
        .collect()
}

pub(super) fn to_json(track: &CameraTrack) -> TrackJson {
    let frames = track
        .poses
        .iter()
        .enumerate()
        .map(|(i, p)| FrameJson {
            frame: i as u64,
            world_from_cam: p.world_from_cam.transpose().to_cols_array_2d(),
            fx: p.intrinsics.focal_px[0],
            fy: p.intrinsics.focal_px[1],
            cx: p.intrinsics.principal_px[0],
            cy: p.intrinsics.principal_px[1],
            depth: track
                .scene_depth
                .paths
                .get(i)
                .cloned()
                .flatten()
                .map(|d| absolute(&d)),
            lens: p.intrinsics.lens,
        })
        .collect();
    let confidences: Vec<f64> = track.points.iter().map(|p| p.confidence).collect();
    TrackJson {
        format: TRACK_FORMAT.into(),
        version: TRACK_VERSION,
        convention: "opencv".into(),
        width: track.size.width,
        height: track.size.height,
        frames,
        points: track
            .points
            .iter()
            .map(|p| p.point_in_world.to_array())
            .collect(),
        point_confidences: (!confidences.is_empty()).then_some(confidences),
        depth_unit_m: (!track.scene_depth.paths.is_empty()).then_some(track.scene_depth.unit_m),
    }
}

/// Depth paths are written absolute, so a copied track (e.g. into the work directory) still
/// finds them.
fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> CameraTrack {
        let size = FrameSize {
            width: 64,
            height: 48,
        };
        let intrinsics = Intrinsics {
            focal_px: [50.0, 52.0],
            principal_px: [31.5, 23.0],
            size,
            lens: Default::default(),
        };
        let poses = (0..3)
            .map(|i| CameraPose {
                world_from_cam: DMat4::from_rotation_translation(
                    glam::DQuat::from_rotation_y(0.1 * f64::from(i)),
                    DVec3::new(f64::from(i), 0.5, -2.0),
                ),
                intrinsics,
            })
            .collect();
        let points = vec![ScenePoint {
            point_in_world: DVec3::new(1.0, 2.0, 3.0),
            confidence: 0.5,
        }];
        CameraTrack {
            size,
            poses,
            points,
            scene_depth: SceneDepth::default(),
        }
    }

    #[test]
    fn round_trip_keeps_convention() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.json");
        let track = sample();
        track.write(&path).unwrap();
        let back = CameraTrack::read(&path).unwrap();
        assert_eq!(back.size, track.size);
        assert_eq!(back.points, track.points);
        for (a, b) in back.poses.iter().zip(&track.poses) {
            assert!(a.world_from_cam.abs_diff_eq(b.world_from_cam, 1e-12));
            assert_eq!(a.intrinsics, b.intrinsics);
        }
        // Row-major on disk: the translation is the last column of the first three rows.
        let text = std::fs::read_to_string(&path).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["frames"][2]["world_from_cam"][0][3], 2.0);
    }

    fn mutate(f: impl FnOnce(&mut serde_json::Value)) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.json");
        sample().write(&path).unwrap();
        let mut json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        f(&mut json);
        std::fs::write(&path, json.to_string()).unwrap();
        CameraTrack::read(&path).unwrap_err().to_string()
    }

    #[test]
    fn rejects_bad_rotation_nonfinite_and_gaps() {
        let e = mutate(|j| j["frames"][1]["world_from_cam"][0][0] = 2.0.into());
        assert!(e.contains("frame 1: rotation is not orthonormal"), "{e}");
        let e = mutate(|j| j["frames"][0]["fx"] = serde_json::Value::String("nan".into()));
        assert!(e.contains("not a valid poses JSON"), "{e}");
        let e = mutate(|j| j["frames"][2]["frame"] = 7.into());
        assert!(e.contains("missing 2"), "{e}");
        let e = mutate(|j| j["frames"][0]["fy"] = (-1.0).into());
        assert!(e.contains("fx and fy must be positive"), "{e}");
    }

    #[test]
    fn clip_mismatch_is_reported() {
        let t = sample();
        let p = Path::new("x.json");
        assert!(t.check_clip(t.size, 3, p).is_ok());
        let e = t.check_clip(t.size, 4, p).unwrap_err().to_string();
        assert!(e.contains("3 frames but the clip has 4"), "{e}");
        let e = t
            .check_clip(
                FrameSize {
                    width: 1,
                    height: 1,
                },
                3,
                p,
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("64x48"), "{e}");
    }
}

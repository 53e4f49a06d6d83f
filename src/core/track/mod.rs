//! The camera track; its JSON file format (the "poses file") is read and written by [`file`].
//!
//! Format (version 1), documented in the README:
//! ```json
//! { "format": "vanelia-poses", "version": 1, "convention": "opencv",
//!   "width": 640, "height": 360,
//!   "frames": [ { "frame": 0, "world_from_cam": [[r00,r01,r02,tx],[..],[..],[0,0,0,1]],
//!                 "fx": 500.0, "fy": 500.0, "cx": 319.5, "cy": 179.5 } ],
//!   "points": [[x, y, z]], "point_confidences": [1.0],
//!   "depth_unit_m": 0.001 }
//! ```
//! `world_from_cam` is row-major and maps camera coordinates (x right, y down, z forward) to
//! world coordinates; intrinsics are in pixels of the decoded (upright) frame with pixel centres
//! at integer coordinates. `points` are optional scene points in world coordinates, used for
//! ground-plane placement. A frame may name a scene depth map (`"depth": "depth/000000.png"`,
//! relative to the poses file; 16-bit, z along the camera axis in `depth_unit_m`, 0 = unknown),
//! used to hide the product behind nearer scene geometry.

use std::path::{Path, PathBuf};

use glam::DVec3;

use super::camera::CameraPose;
use super::error::{Error, Result};
use super::frame::{FrameNr, FrameSize};

mod file;

use file::{from_json, to_json, TrackJson};
pub use file::{TRACK_FORMAT, TRACK_VERSION};

/// A point of the reconstructed scene.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScenePoint {
    /// Position in world coordinates.
    pub point_in_world: DVec3,
    /// Confidence in [0, inf); 1 when the file gives none.
    pub confidence: f64,
}

/// A validated camera track: one pose per frame, in frame order.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraTrack {
    /// Frame size all intrinsics refer to.
    pub size: FrameSize,
    /// Pose of frame `i` at index `i`.
    pub poses: Vec<CameraPose>,
    /// Optional scene points.
    pub points: Vec<ScenePoint>,
    /// Optional per-frame scene depth maps.
    pub scene_depth: SceneDepth,
}

/// Per-frame scene depth maps named by a track.
#[derive(Debug, Clone, PartialEq)]
pub struct SceneDepth {
    /// Depth map of frame `i` at index `i` (empty when the track has none).
    pub paths: Vec<Option<PathBuf>>,
    /// Metres per unit of the stored values.
    pub unit_m: f64,
}

impl Default for SceneDepth {
    fn default() -> Self {
        Self {
            paths: Vec::new(),
            unit_m: DEFAULT_DEPTH_UNIT_M,
        }
    }
}

/// Depth maps are millimetres unless the file says otherwise.
const DEFAULT_DEPTH_UNIT_M: f64 = 0.001;

impl SceneDepth {
    /// Loads frame `nr`'s depth map in metres (`inf` where unknown), resized (nearest) to
    /// `size`; `None` when the frame has none.
    pub fn load(&self, nr: FrameNr, size: FrameSize) -> Result<Option<super::DepthImage>> {
        let Some(Some(path)) = usize::try_from(nr.0).ok().and_then(|i| self.paths.get(i)) else {
            return Ok(None);
        };
        let img = image::open(path)
            .map_err(|e| Error::InvalidTrack {
                detail: format!("frame {nr}: cannot read its depth map ({e})"),
                path: path.clone(),
            })?
            .to_luma16();
        let img = if img.dimensions() == (size.width, size.height) {
            img
        } else {
            image::imageops::resize(
                &img,
                size.width,
                size.height,
                image::imageops::FilterType::Nearest,
            )
        };
        let unit = self.unit_m as f32;
        Ok(Some(super::DepthImage::from_fn(
            size.width,
            size.height,
            |x, y| {
                let v = img.get_pixel(x, y)[0];
                image::Luma([if v == 0 {
                    f32::INFINITY
                } else {
                    f32::from(v) * unit
                }])
            },
        )))
    }
}

impl CameraTrack {
    /// Reads and validates a poses file (its own consistency only; see [`Self::check_clip`]).
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::bad_input(
                "poses file not found",
                "pass the path of a poses JSON file (see README, Poses format)",
                path,
            ),
            _ => Error::Io {
                op: "read poses file",
                path: path.into(),
                source: e,
            },
        })?;
        let json: TrackJson = serde_json::from_str(&text).map_err(|e| Error::InvalidTrack {
            detail: format!("not a valid poses JSON document ({e})"),
            path: path.into(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        from_json(json, base).map_err(|detail| Error::InvalidTrack {
            detail,
            path: path.into(),
        })
    }

    /// Writes the track as a poses file (atomically).
    pub fn write(&self, path: &Path) -> Result<()> {
        let text =
            serde_json::to_string_pretty(&to_json(self)).map_err(|e| Error::Unavailable {
                what: "poses serialisation",
                hint: e.to_string(),
            })?;
        super::atomic::write(path, text.as_bytes())
    }

    /// Checks that the track fits a clip of `frame_count` frames of `size`.
    pub fn check_clip(&self, size: FrameSize, frame_count: u64, path: &Path) -> Result<()> {
        let detail = if self.size != size {
            format!(
                "the track is for {} frames but the clip decodes to {}",
                self.size, size
            )
        } else if self.poses.len() as u64 != frame_count {
            format!(
                "the track has {} frames but the clip has {}",
                self.poses.len(),
                frame_count
            )
        } else {
            return Ok(());
        };
        Err(Error::InvalidTrack {
            detail,
            path: path.into(),
        })
    }

    /// Pose of frame `nr`.
    pub fn pose(&self, nr: FrameNr) -> Option<&CameraPose> {
        usize::try_from(nr.0).ok().and_then(|i| self.poses.get(i))
    }
}

//! The key light of a run, decided once per clip before any frame is rendered: the user's
//! `--light-dir`, else the direction the shot's cast shadows give (`render::keylight`, over a
//! few frames spread through the clip), else the default guess with a warning that says why.
//! The estimate is cached in the work directory under a key of the input, track and
//! placement, so a rerun does not decode the clip twice.

use glam::DVec3;
use serde::{Deserialize, Serialize};

use super::json::{read_json, write_json};
use crate::core::{hash, CameraTrack, Frame, Result};
use crate::render::keylight::{self, EvidenceFrame, KeyLightEstimate};
use crate::render::placement::Placement;
use crate::video::{ClipSummary, Source};
use crate::workdir::{WorkDir, TOOL_VERSION};

/// Where the run's key light came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "source")]
pub enum KeyLight {
    /// `--light-dir`.
    Given {
        /// Unit direction towards the light (world).
        dir_in_world: [f64; 3],
    },
    /// Read from the shot's cast shadows.
    Estimated(KeyLightEstimate),
    /// The default guess (above the product, leaning towards the first camera).
    Default {
        /// Unit direction towards the light (world).
        dir_in_world: [f64; 3],
        /// Why the shot gave no estimate.
        why: String,
    },
}

impl KeyLight {
    /// The direction towards the light (world).
    pub fn dir_in_world(&self) -> [f64; 3] {
        match self {
            Self::Given { dir_in_world } | Self::Default { dir_in_world, .. } => *dir_in_world,
            Self::Estimated(e) => e.dir_in_world,
        }
    }
}

/// What the estimate depends on.
#[derive(Serialize)]
struct LightKey<'a> {
    tool: &'a str,
    input_sha256: &'a str,
    track_sha256: &'a str,
    placement: &'a Placement,
}

/// The cached estimate.
#[derive(Serialize, Deserialize)]
struct Cached {
    key: String,
    light: KeyLight,
}

/// What the key light needs to know of the run.
pub(super) struct LightInputs<'a> {
    pub given: Option<[f64; 3]>,
    pub source: &'a Source,
    pub clip: &'a ClipSummary,
    pub track: &'a CameraTrack,
    pub placement: &'a Placement,
    pub workdir: &'a WorkDir,
    pub input_sha: &'a str,
}

/// The run's key light.
pub(super) fn resolve(inputs: &LightInputs<'_>) -> Result<KeyLight> {
    if let Some(dir) = inputs.given {
        let dir = DVec3::from_array(dir).normalize_or(DVec3::Z);
        return Ok(KeyLight::Given {
            dir_in_world: dir.to_array(),
        });
    }
    let key = hash::key_of(&LightKey {
        tool: TOOL_VERSION,
        input_sha256: inputs.input_sha,
        track_sha256: &hash::file_sha256(&inputs.workdir.file("track.json"))?,
        placement: inputs.placement,
    })?;
    let path = inputs.workdir.file("light.json");
    if let Ok(cached) = read_json::<Cached>(&path) {
        if cached.key == key {
            return Ok(cached.light);
        }
    }
    let light = estimate(inputs)?;
    write_json(
        &path,
        &Cached {
            key,
            light: light.clone(),
        },
    )?;
    Ok(light)
}

/// Decodes up to [`keylight::FRAMES`] frames spread over the clip and reads the light from
/// them.
fn estimate(inputs: &LightInputs<'_>) -> Result<KeyLight> {
    let frames = spread_frames(inputs.source, inputs.clip.frame_count)?;
    let cameras: Vec<_> = frames
        .iter()
        .filter_map(|f| inputs.track.pose(f.nr).map(|c| (f, c)))
        .collect();
    let evidence: Vec<EvidenceFrame<'_>> = cameras
        .iter()
        .map(|(f, camera)| EvidenceFrame {
            rgb: &f.rgb,
            camera,
        })
        .collect();
    let placement = inputs.placement;
    let up = DVec3::from_array(placement.plane_normal_in_world);
    let anchor = DVec3::from_array(placement.anchor_in_world);
    let ground = keylight::Ground {
        point_in_world: DVec3::from_array(placement.plane_point_in_world),
        normal_in_world: up,
        anchor_in_world: anchor,
    };
    Ok(
        match keylight::estimate(&evidence, &inputs.track.points, &ground) {
            Ok(estimate) => KeyLight::Estimated(estimate),
            Err(why) => KeyLight::Default {
                dir_in_world: crate::render::default_key_direction(
                    up,
                    anchor,
                    &inputs.track.poses[0],
                )
                .to_array(),
                why: why.to_string(),
            },
        },
    )
}

/// Up to [`keylight::FRAMES`] frames evenly spread over the clip (first and last included).
fn spread_frames(source: &Source, frame_count: u64) -> Result<Vec<Frame>> {
    let n = keylight::FRAMES as u64;
    let wanted: Vec<u64> = if frame_count <= n {
        (0..frame_count).collect()
    } else {
        (0..n).map(|i| i * (frame_count - 1) / (n - 1)).collect()
    };
    let last = wanted.last().copied().unwrap_or(0);
    let mut frames = Vec::with_capacity(wanted.len());
    for item in source.spawn_decoder(4) {
        let frame = item?;
        let nr = frame.nr.0;
        if wanted.contains(&nr) {
            frames.push(frame);
        }
        if nr >= last {
            break;
        }
    }
    Ok(frames)
}

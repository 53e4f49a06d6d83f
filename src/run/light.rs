//! The light of a run, decided once per clip before any frame is rendered, from a few frames
//! spread through the clip. The key's direction: the user's `--light-dir`, else the one the
//! shot's cast shadows give (`render::keylight`), else the default guess with a warning that
//! says why. Its strength and colour, the sky's and the shadow's (`render::scenelight`): from
//! the lit and shadowed floor where the shot shows them, soft light where the floor shows no
//! cast shadow, a default split where the track has no points. The result is cached in the
//! work directory under a key of the input, track, placement and `--light-dir`, so a rerun
//! does not decode the clip twice.

use glam::DVec3;
use serde::{Deserialize, Serialize};

use super::clip::ClipContext;
use crate::core::Result;
use crate::render::keylight::{self, EvidenceFrame, FloorLight, KeyLightEstimate, NoEstimate};
use crate::render::lighting;
use crate::render::scenelight::{self, SceneLight};

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

/// The light of a shot: the key's direction and where it came from, and the levels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShotLight {
    /// The key light's direction.
    pub key: KeyLight,
    /// Key, sky and shadow in the video's units.
    pub scene: SceneLight,
    /// What the floor showed, when it showed cast shadows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor: Option<FloorLight>,
    /// The floor showed no clear cast shadows: the light is taken as soft.
    pub soft: bool,
}

/// The run's light: `--light-dir` (`given`) and what the shot shows, from the work directory's
/// cache when it holds the estimate for this clip.
pub(super) fn resolve(clip: &ClipContext<'_>, given: Option<[f64; 3]>) -> Result<ShotLight> {
    clip.cached("light.json", &given, || estimate(clip, given))
}

/// Reads the light from frames spread over the clip.
fn estimate(clip: &ClipContext<'_>, given: Option<[f64; 3]>) -> Result<ShotLight> {
    let frames = clip.frames()?;
    let cameras: Vec<_> = frames
        .iter()
        .filter_map(|f| clip.track.pose(f.nr).map(|c| (f, c)))
        .collect();
    let evidence: Vec<EvidenceFrame<'_>> = cameras
        .iter()
        .map(|(f, camera)| EvidenceFrame {
            rgb: &f.rgb,
            camera,
        })
        .collect();
    let placement = clip.placement;
    let up = DVec3::from_array(placement.plane_normal_in_world);
    let anchor = DVec3::from_array(placement.anchor_in_world);
    let ground = keylight::Ground {
        point_in_world: DVec3::from_array(placement.plane_point_in_world),
        normal_in_world: up,
        anchor_in_world: anchor,
    };
    let levels = lighting::shot_levels(&evidence, &ground);
    let chroma = levels.map_or([1.0; 3], |l| l.chroma_rgb);
    let default_dir =
        || crate::render::default_key_direction(up, anchor, &clip.track.poses[0]).to_array();
    let given = given.map(|d| KeyLight::Given {
        dir_in_world: DVec3::from_array(d).normalize_or(DVec3::Z).to_array(),
    });
    let (key, floor, read) = match keylight::gather(&evidence, &clip.track.points, &ground) {
        Ok(shot) => {
            let key = given.unwrap_or_else(|| match shot.direction() {
                Ok(estimate) => KeyLight::Estimated(estimate),
                Err(why) => default_light(default_dir(), &why),
            });
            let floor = match &key {
                KeyLight::Default { .. } => None,
                _ => shot.floor_light(DVec3::from_array(key.dir_in_world())),
            };
            let soft = matches!(key, KeyLight::Default { .. });
            // the lit floor's colour is read again only where no floor light carries it
            let soft_chroma = soft.then(|| shot.lit_floor_chroma().unwrap_or(chroma));
            (key, floor, soft_chroma)
        }
        Err(why) => (
            given.unwrap_or_else(|| default_light(default_dir(), &why)),
            None,
            None,
        ),
    };
    let elevation_deg = up
        .dot(DVec3::from_array(key.dir_in_world()))
        .clamp(-1.0, 1.0)
        .asin()
        .to_degrees();
    let evidence = match (floor, read) {
        (Some(floor), _) => scenelight::Evidence::Floor {
            floor,
            elevation_deg,
        },
        (None, Some(chroma_rgb)) => scenelight::Evidence::Diffuse {
            elevation_deg,
            chroma_rgb,
        },
        (None, None) => scenelight::Evidence::Unknown {
            elevation_deg,
            chroma_rgb: chroma,
        },
    };
    Ok(ShotLight {
        key,
        scene: SceneLight::from_shot(&evidence, levels.map(|l| l.bright)),
        floor,
        soft: matches!(evidence, scenelight::Evidence::Diffuse { .. }),
    })
}

fn default_light(dir_in_world: [f64; 3], why: &NoEstimate) -> KeyLight {
    KeyLight::Default {
        dir_in_world,
        why: why.to_string(),
    }
}

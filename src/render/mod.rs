//! The render stage: loads the product (glTF/GLB), places it on the ground plane once per clip,
//! and renders it per frame into [`RenderLayers`]: premultiplied RGBA, coverage mask and depth
//! from wgpu, and a multiplicative shadow layer from a shadow catcher on the ground plane.
//!
//! Main types: [`scene::ProductModel`] (the loaded model), [`material::Material`],
//! [`placement::Placement`] (where it stands, in the track's world), [`raster::Rasterizer`]
//! (GPU state reused across frames), [`lighting`] (light from the shot) and [`RenderStage`]
//! tying them together.

pub mod gltf_check;
pub mod keylight;
pub mod lighting;
pub mod material;
pub mod occlusion;
pub mod placement;
pub mod raster;
pub mod scene;
pub mod scenelight;
pub mod shadow;

use glam::DVec3;

use crate::core::{CameraPose, DepthImage, Frame, FrameSize, RenderLayers, Result};

use placement::Placement;
use raster::{GroundSetup, Rasterizer};
use scene::ProductModel;
use scenelight::SceneLight;
use shadow::Footprint;

/// Darkening right under the product where all the light is the sky's (the contact shadow
/// hides the sky; the key's shadow is the shadow map's).
const CONTACT_STRENGTH: f64 = 0.45;

/// Device memory rendering a batch of `frames` frames of `w × h` pixels holds: RGBA8 + depth
/// f32 + mask + shadow targets, 4x MSAA colour and depth, and the read-back copies.
pub fn render_bytes(w: u64, h: u64, frames: u64) -> u64 {
    let per_frame = w * h * (4 + 4 + 1 + 1) + 4 * w * h * (4 + 4) + w * h * 10;
    frames * per_frame
}

/// Render options that do not come from the placement.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct RenderOptions {
    /// Direction towards the key light in world coordinates; default above the product,
    /// leaning towards frame 0's camera.
    pub light_dir_in_world: Option<[f64; 3]>,
    /// The shot's light (key, sky, shadow); default: [`SceneLight::unknown`] at the key's
    /// elevation.
    pub light: Option<SceneLight>,
}

/// Per-clip render state.
pub struct RenderStage {
    raster: Rasterizer,
    anchor_in_world: DVec3,
    ground: occlusion::Ground,
    light: SceneLight,
}

/// One frame to render.
pub struct RenderJob<'a> {
    /// The background frame (for the ambient light).
    pub frame: &'a Frame,
    /// Its camera.
    pub camera: &'a CameraPose,
    /// Scene depth in metres along the camera axis, when the track has it.
    pub scene_depth_m: Option<DepthImage>,
}

impl RenderStage {
    /// Uploads the placed product for frames of `size`; `first_camera` fixes the default key
    /// light direction for the whole clip.
    pub fn new(
        model: &ProductModel,
        placement: &Placement,
        first_camera: &CameraPose,
        options: &RenderOptions,
        size: FrameSize,
    ) -> Result<Self> {
        let world_from_object = placement.world_from_object();
        let up = DVec3::from_array(placement.plane_normal_in_world);
        let anchor = DVec3::from_array(placement.anchor_in_world);
        let bbox = (model.bbox_min.as_dvec3(), model.bbox_max.as_dvec3());
        let key_dir = key_direction(options, up, anchor, first_camera);
        let light = options.light.unwrap_or_else(|| {
            SceneLight::unknown(up.dot(key_dir).clamp(-1.0, 1.0).asin().to_degrees())
        });
        let sky_share = light.shadow_transmission();
        let ground = GroundSetup {
            key_dir_in_world: key_dir,
            key_angle_deg: light.key_angle_deg,
            plane_point_in_world: DVec3::from_array(placement.plane_point_in_world),
            plane_normal_in_world: up,
            footprint: Footprint::of_box(&world_from_object, bbox, up),
            shadow_strength: (1.0 - sky_share) as f32,
            contact_strength: (CONTACT_STRENGTH * sky_share) as f32,
        };
        let raster = Rasterizer::new(model, world_from_object, &ground, size)?;
        let ground = occlusion::Ground {
            point_in_world: ground.plane_point_in_world,
            normal_in_world: up,
        };
        Ok(Self {
            raster,
            anchor_in_world: anchor,
            ground,
            light,
        })
    }

    /// The GPU adapter in use, for reports.
    pub fn adapter(&self) -> &str {
        &self.raster.adapter
    }

    /// Renders the product into each frame's camera (one GPU submission per
    /// [`raster::MAX_BATCH`] frames); each frame provides its own ambient light, and its scene
    /// depth (if any) hides the product behind nearer geometry.
    pub fn render_batch(&mut self, jobs: &[RenderJob<'_>]) -> Result<Vec<RenderLayers>> {
        let gpu_jobs: Vec<_> = jobs
            .iter()
            .map(|j| {
                let distance = (self.anchor_in_world - j.camera.centre_in_world())
                    .length()
                    .max(1e-6);
                (
                    *j.camera,
                    [distance * 0.01, distance * 1000.0],
                    lighting::estimate(
                        &j.frame.rgb,
                        j.camera,
                        &self.light,
                        self.ground.normal_in_world,
                    ),
                )
            })
            .collect();
        let images = self.raster.render_batch(&gpu_jobs)?;
        Ok(images
            .iter()
            .zip(jobs)
            .map(|(i, job)| {
                let mut layers = RenderLayers::cropped(&i.rgba, &i.shadow, &i.mask, &i.depth_m);
                if let Some(depth) = &job.scene_depth_m {
                    occlusion::apply(&mut layers, depth, job.camera, &self.ground);
                }
                layers
            })
            .collect())
    }
}

/// The key light's direction: the one the options give, else [`default_key_direction`].
fn key_direction(options: &RenderOptions, up: DVec3, anchor: DVec3, camera: &CameraPose) -> DVec3 {
    options
        .light_dir_in_world
        .map(DVec3::from_array)
        .and_then(DVec3::try_normalize)
        .unwrap_or_else(|| default_key_direction(up, anchor, camera))
}

/// Above the product, leaning towards the first camera (so the lit side faces the viewer and
/// the shadow falls behind): the guess when neither the user nor the shot says.
pub fn default_key_direction(up: DVec3, anchor: DVec3, camera: &CameraPose) -> DVec3 {
    let towards_camera = camera.centre_in_world() - anchor;
    let flat = towards_camera - up * up.dot(towards_camera);
    let side = up.cross(flat).normalize_or_zero();
    (up * 2.0 + flat.normalize_or_zero() + side * 0.5).normalize()
}

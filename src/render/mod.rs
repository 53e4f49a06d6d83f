//! The render stage: loads the product (glTF/GLB), places it on the ground plane once per clip,
//! and renders it per frame into [`RenderLayers`]: premultiplied RGBA, coverage mask and depth
//! from wgpu, and a multiplicative shadow layer from a shadow catcher on the ground plane.
//!
//! Main types: [`scene::ProductModel`] (the loaded model), [`material::Material`],
//! [`placement::Placement`] (where it stands, in the track's world), [`raster::Rasterizer`]
//! (GPU state reused across frames), the light read from the shot ([`keylight`] its direction,
//! [`scenelight::SceneLight`] its strengths and colours, [`lighting`] each frame's ambient),
//! [`motion`] (motion blur over the shutter), [`defocus`] (the depth of field),
//! [`lenswarp`] (the lens's distortion) and
//! [`RenderStage`] tying them together.

pub mod defocus;
pub mod edgeblur;
pub mod gltf_attributes;
pub mod gltf_check;
pub mod gltf_draco;
pub mod gltf_images;
pub mod keylight;
pub mod lenswarp;
pub mod lighting;
pub mod material;
pub mod motion;
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
    /// Shutter angle in degrees (360 = open for the whole frame interval; 0 = no motion
    /// blur); default [`motion::DEFAULT_SHUTTER_DEG`].
    pub shutter_deg: Option<f64>,
    /// The lens's depth of field; `None` renders the product sharp at every depth.
    #[serde(default)]
    pub defocus: Option<defocus::Defocus>,
}

/// Per-clip render state.
pub struct RenderStage {
    raster: Rasterizer,
    anchor_in_world: DVec3,
    ground: occlusion::Ground,
    light: SceneLight,
    shutter_deg: f64,
    defocus: Option<defocus::Defocus>,
    /// The corners of the product's box (world): how far it moves in the picture.
    corners_in_world: Vec<DVec3>,
    /// Renders made so far, motion-blur samples included.
    pub renders: u64,
    /// The canvas and resampling of a distorted lens.
    lens: Option<lenswarp::LensWarp>,
}

/// One frame to render.
pub struct RenderJob<'a> {
    /// The background frame (for the ambient light).
    pub frame: &'a Frame,
    /// Its camera.
    pub camera: &'a CameraPose,
    /// The previous and next frames' cameras, where the clip has them (for motion blur).
    pub neighbours: [Option<&'a CameraPose>; 2],
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
        let lens = lenswarp::LensWarp::new(&first_camera.intrinsics);
        let target = lens.as_ref().map_or(size, lenswarp::LensWarp::canvas);
        let raster = Rasterizer::new(model, world_from_object, &ground, target)?;
        let ground = occlusion::Ground {
            point_in_world: ground.plane_point_in_world,
            normal_in_world: up,
        };
        let corners_in_world = model
            .box_corners()
            .iter()
            .map(|c| world_from_object.transform_point3(c.as_dvec3()))
            .collect();
        Ok(Self {
            raster,
            anchor_in_world: anchor,
            ground,
            light,
            shutter_deg: options.shutter_deg.unwrap_or(motion::DEFAULT_SHUTTER_DEG),
            defocus: options.defocus,
            corners_in_world,
            renders: 0,
            lens,
        })
    }

    /// The GPU adapter in use, for reports.
    pub fn adapter(&self) -> &str {
        &self.raster.adapter
    }

    /// Renders the product into each frame's camera, each frame at its shutter's cameras
    /// (motion blur) and averaged; each frame provides its own ambient light, and its scene
    /// depth (if any) hides the product behind nearer geometry. Frames go to the GPU in groups
    /// of at most [`raster::MAX_BATCH`] renders (one submission each; a frame with more
    /// shutter samples alone), so host memory holds one group's images at a time.
    pub fn render_batch(&mut self, jobs: &[RenderJob<'_>]) -> Result<Vec<RenderLayers>> {
        let planned: Vec<Vec<(CameraPose, [f64; 2], raster::Lighting)>> =
            jobs.iter().map(|j| self.plan(j)).collect();
        let mut out = Vec::with_capacity(jobs.len());
        let mut first = 0;
        while first < jobs.len() {
            let mut last = first + 1;
            let mut renders = planned[first].len();
            while last < jobs.len() && renders + planned[last].len() <= raster::MAX_BATCH {
                renders += planned[last].len();
                last += 1;
            }
            let group: Vec<_> = planned[first..last].iter().flatten().copied().collect();
            let images = self.raster.render_batch(&group)?;
            self.renders += images.len() as u64;
            let mut rest = images.as_slice();
            for (job, samples) in jobs[first..last].iter().zip(&planned[first..last]) {
                let (mine, after) = rest.split_at(samples.len().min(rest.len()));
                rest = after;
                out.push(self.layers_of(job, mine));
            }
            first = last;
        }
        Ok(out)
    }

    /// The renders one frame needs: its shutter's cameras, with the frame's light.
    fn plan(&self, job: &RenderJob<'_>) -> Vec<(CameraPose, [f64; 2], raster::Lighting)> {
        let distance = (self.anchor_in_world - job.camera.centre_in_world())
            .length()
            .max(1e-6);
        let light = lighting::estimate(
            &job.frame.rgb,
            job.camera,
            &self.light,
            self.ground.normal_in_world,
        );
        let [prev, next] = job.neighbours;
        motion::shutter_cameras(
            [prev, Some(job.camera), next],
            self.shutter_deg,
            &self.corners_in_world,
        )
        .into_iter()
        .map(|c| {
            let c = self.lens.as_ref().map_or(c, |lens| lens.canvas_camera(&c));
            (c, [distance * 0.01, distance * 1000.0], light)
        })
        .collect()
    }

    /// One frame's layers from the renders at its shutter's cameras, defocused, then
    /// distorted.
    fn layers_of(&self, job: &RenderJob<'_>, samples: &[raster::FrameImages]) -> RenderLayers {
        let Some(mut i) = motion::average(samples) else {
            return RenderLayers::empty();
        };
        if let Some(defocus) = &self.defocus {
            let camera = self
                .lens
                .as_ref()
                .map_or(*job.camera, |lens| lens.canvas_camera(job.camera));
            i = defocus::apply(&i, defocus, &camera, &self.ground);
        }
        if let Some(lens) = &self.lens {
            i = lens.warp(&i, &job.camera.intrinsics);
        }
        let mut layers = RenderLayers::cropped(&i.rgba, &i.shadow, &i.mask, &i.depth_m);
        if let Some(depth) = &job.scene_depth_m {
            occlusion::apply(&mut layers, depth, job.camera, &self.ground);
        }
        layers
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

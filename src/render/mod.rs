//! The render stage: loads the product (glTF/GLB), places it on the ground plane once per clip,
//! and renders it per frame into [`RenderLayers`]: premultiplied RGBA from wgpu and a
//! multiplicative contact-shadow layer.
//!
//! Main types: [`scene::ProductModel`] (the loaded model), [`placement::Placement`] (where it
//! stands, in the track's world), [`raster::Rasterizer`] (GPU state reused across frames) and
//! [`RenderStage`] tying them together.

pub mod placement;
pub mod raster;
pub mod scene;
pub mod shadow;

use glam::DVec3;

use crate::core::{color, CameraPose, Frame, FrameSize, RenderLayers, Result};

use placement::Placement;
use raster::{Lighting, Rasterizer};
use scene::ProductModel;
use shadow::Footprint;

/// Per-clip render state.
pub struct RenderStage {
    raster: Rasterizer,
    footprint: Footprint,
    up_in_world: DVec3,
    anchor_in_world: DVec3,
}

impl RenderStage {
    /// Uploads the placed product for frames of `size`.
    pub fn new(model: &ProductModel, placement: &Placement, size: FrameSize) -> Result<Self> {
        let world_from_object = placement.world_from_object();
        let raster = Rasterizer::new(model, world_from_object, size)?;
        let up_in_world = DVec3::from_array(placement.plane_normal_in_world);
        let bbox = (model.bbox_min.as_dvec3(), model.bbox_max.as_dvec3());
        Ok(Self {
            raster,
            footprint: Footprint::of_box(&world_from_object, bbox, up_in_world),
            up_in_world,
            anchor_in_world: DVec3::from_array(placement.anchor_in_world),
        })
    }

    /// The GPU adapter in use, for reports.
    pub fn adapter(&self) -> &str {
        &self.raster.adapter
    }

    /// Renders the product into `frame`'s camera; the frame provides the ambient light.
    pub fn render(&self, frame: &Frame, camera: &CameraPose) -> Result<RenderLayers> {
        let distance = (self.anchor_in_world - camera.centre_in_world())
            .length()
            .max(1e-6);
        let near_far_m = [distance * 0.01, distance * 1000.0];
        let light = self.lighting(frame, camera);
        let rgba = self.raster.render(camera, near_far_m, &light)?;
        let shadow = shadow::contact_shadow(camera, &self.footprint);
        Ok(RenderLayers::cropped(&rgba, &shadow))
    }

    /// Ambient from the frame's mean colour; key light from above, leaning towards the camera.
    fn lighting(&self, frame: &Frame, camera: &CameraPose) -> Lighting {
        let mean = mean_linear(&frame.rgb);
        let towards_camera = camera.centre_in_world() - self.anchor_in_world;
        let flat = towards_camera - self.up_in_world * self.up_in_world.dot(towards_camera);
        let key = (self.up_in_world * 2.0 + flat.normalize_or_zero()).normalize();
        Lighting {
            key_dir_in_world: key.as_vec3().to_array(),
            key_color: [0.8; 3],
            ambient_color: mean.map(|c| (c * 1.5).min(1.0)),
        }
    }
}

/// Mean linear colour of a frame, sampled on a sparse grid (cheap and stable).
fn mean_linear(rgb: &image::RgbImage) -> [f32; 3] {
    let step = (rgb.width().max(rgb.height()) / 64).max(1);
    let mut sum = [0.0_f64; 3];
    let mut n = 0_u32;
    for y in (0..rgb.height()).step_by(step as usize) {
        for x in (0..rgb.width()).step_by(step as usize) {
            let p = rgb.get_pixel(x, y);
            for c in 0..3 {
                sum[c] += f64::from(color::to_linear(p[c]));
            }
            n += 1;
        }
    }
    sum.map(|s| (s / f64::from(n.max(1))) as f32)
}

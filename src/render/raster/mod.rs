//! Offscreen rasterisation with wgpu (Vulkan or GL; lavapipe/llvmpipe on machines without a
//! GPU). Everything that does not change between frames (meshes, materials, textures, the
//! key light's shadow map, pipelines, targets) is created once per clip; frames are rendered in
//! batches, several per queue submission.
//!
//! Per frame four images come back: premultiplied RGBA and coverage (4x MSAA, resolved), depth
//! in metres (nearest surface, no MSAA), and the shadow catcher's light fraction.

use glam::{DMat4, DVec3};

use crate::core::{CameraPose, Error, FrameSize, Result};

use super::scene::ProductModel;

mod device;
mod gpu;
mod passes;
mod pipelines;
mod targets;
mod upload;

pub use passes::clip_from_cam;

use device::{open_device, DepthLayer, GpuErrors};
use gpu::{FrameUniforms, GpuMesh, Slot};
use passes::{
    begin_pass, begin_pass_cleared, catcher_quad, draw_mesh, render_shadow_map, static_uniforms,
};
use pipelines::{
    catcher_pipeline, depth_pipeline, frame_layout, frame_layout_shadow, main_pipeline,
    material_layout,
};
use targets::{copy_out, create_targets, padded_row, read_buffer, texture, Targets};
use upload::upload_meshes;

const COLOR_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8UnormSrgb;
const MASK_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::R8Unorm;
const DEPTH_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Depth32Float;
/// MSAA sample count for the product's edges.
pub const SAMPLE_COUNT: u32 = 4;
/// Shadow map resolution (square).
const SHADOW_MAP_PX: u32 = 2048;
/// Most frames rendered per queue submission.
pub const MAX_BATCH: usize = 8;

/// Light of one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lighting {
    /// Key light colour (irradiance / pi, linear RGB).
    pub key_color: [f32; 3],
    /// First-order SH ambient: `irradiance / pi = sh[0] + sh[1] n.x + sh[2] n.y + sh[3] n.z`.
    pub sh: [[f32; 3]; 4],
}

/// Where the ground is and how strong shadows are (per clip).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroundSetup {
    /// Unit direction towards the key light (world).
    pub key_dir_in_world: DVec3,
    /// The key light's angular diameter, degrees: how fast its shadow softens with distance.
    pub key_angle_deg: f64,
    /// Point on the ground plane (world).
    pub plane_point_in_world: DVec3,
    /// Unit ground normal (world).
    pub plane_normal_in_world: DVec3,
    /// Footprint centre, unit axes and half sizes on the plane.
    pub footprint: super::shadow::Footprint,
    /// Fraction of key light the product's shadow removes.
    pub shadow_strength: f32,
    /// Darkening right under the product.
    pub contact_strength: f32,
}

/// The images of one rendered frame (full frame).
#[derive(Debug, Clone)]
pub struct FrameImages {
    /// Premultiplied RGBA, sRGB-encoded.
    pub rgba: image::RgbaImage,
    /// Coverage of the product (0-255).
    pub mask: image::GrayImage,
    /// Depth along the camera axis in metres, `inf` where the product is absent.
    pub depth_m: image::ImageBuffer<image::Luma<f32>, Vec<f32>>,
    /// Light reaching the ground (255 = unshadowed).
    pub shadow: image::GrayImage,
}

struct Pipelines {
    /// Indexed by `pipeline_index(blend, double_sided)`.
    main: Vec<wgpu::RenderPipeline>,
    depth: wgpu::RenderPipeline,
    catcher: wgpu::RenderPipeline,
}

/// A product uploaded to the GPU, ready to render from any camera.
pub struct Rasterizer {
    device: wgpu::Device,
    queue: wgpu::Queue,
    pipelines: Pipelines,
    frame_layout: wgpu::BindGroupLayout,
    shadow_view: wgpu::TextureView,
    shadow_sampler: wgpu::Sampler,
    meshes: Vec<GpuMesh>,
    catcher_quad: wgpu::Buffer,
    targets: Targets,
    slots: Vec<Slot>,
    size: FrameSize,
    depth_layer: DepthLayer,
    statics: FrameUniforms,
    errors: GpuErrors,
    /// Adapter description, e.g. "llvmpipe (Vulkan)", for reports.
    pub adapter: String,
}

impl Rasterizer {
    /// Uploads `model` placed by `world_from_object`, renders the key light's shadow map and
    /// prepares `size` targets.
    pub fn new(
        model: &ProductModel,
        world_from_object: DMat4,
        ground: &GroundSetup,
        size: FrameSize,
    ) -> Result<Self> {
        let (device, queue, adapter, depth_layer) = open_device()?;
        let errors = GpuErrors::install(&device);
        let frame_layout = frame_layout(&device, true);
        let shadow_layout = frame_layout_shadow(&device);
        let material_layout = material_layout(&device);
        let product = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("product"),
            source: wgpu::ShaderSource::Wgsl(
                concat!(
                    include_str!("../frame.wgsl"),
                    include_str!("../product.wgsl")
                )
                .into(),
            ),
        });
        let catcher = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("catcher"),
            source: wgpu::ShaderSource::Wgsl(
                concat!(
                    include_str!("../frame.wgsl"),
                    include_str!("../catcher.wgsl")
                )
                .into(),
            ),
        });
        let pipelines = Pipelines {
            main: [(false, false), (false, true), (true, false), (true, true)]
                .map(|(blend, double_sided)| {
                    main_pipeline(
                        &device,
                        &product,
                        &frame_layout,
                        &material_layout,
                        blend,
                        double_sided,
                    )
                })
                .into(),
            depth: depth_pipeline(
                &device,
                &product,
                &frame_layout,
                &material_layout,
                depth_layer.format(),
            ),
            catcher: catcher_pipeline(&device, &catcher, &frame_layout),
        };
        let world_from_object = world_from_object.as_mat4();
        let meshes = upload_meshes(&device, &queue, model, world_from_object, &material_layout);
        let statics = static_uniforms(model, world_from_object, ground);
        let shadow_texture = texture(
            &device,
            FrameSize {
                width: SHADOW_MAP_PX,
                height: SHADOW_MAP_PX,
            },
            DEPTH_FORMAT,
            1,
            wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::TEXTURE_BINDING,
        );
        let shadow_view = shadow_texture.create_view(&Default::default());
        render_shadow_map(
            &device,
            &queue,
            &product,
            &shadow_layout,
            &meshes,
            &statics,
            &shadow_view,
        );
        let shadow_sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            compare: Some(wgpu::CompareFunction::LessEqual),
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            ..Default::default()
        });
        let catcher_quad = catcher_quad(&device, ground, model, world_from_object);
        let targets = create_targets(&device, size, depth_layer.format());
        errors.check()?;
        Ok(Self {
            device,
            queue,
            pipelines,
            frame_layout,
            shadow_view,
            shadow_sampler,
            meshes,
            catcher_quad,
            targets,
            slots: Vec::new(),
            size,
            depth_layer,
            statics,
            errors,
            adapter,
        })
    }

    /// Renders one frame.
    pub fn render(
        &mut self,
        camera: &CameraPose,
        near_far_m: [f64; 2],
        light: &Lighting,
    ) -> Result<FrameImages> {
        let mut out = self.render_batch(&[(*camera, near_far_m, *light)])?;
        out.pop().ok_or_else(|| Error::Render {
            detail: "empty batch".into(),
        })
    }

    /// Renders up to [`MAX_BATCH`] frames in one submission (more are split).
    pub fn render_batch(
        &mut self,
        frames: &[(CameraPose, [f64; 2], Lighting)],
    ) -> Result<Vec<FrameImages>> {
        let mut out = Vec::with_capacity(frames.len());
        for chunk in frames.chunks(MAX_BATCH) {
            while self.slots.len() < chunk.len() {
                self.slots.push(self.new_slot());
            }
            let mut encoder = self
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("frames"),
                });
            for (slot, (camera, near_far, light)) in chunk.iter().enumerate() {
                let uniforms = self.frame_uniforms(camera, *near_far, light);
                self.queue.write_buffer(
                    &self.slots[slot].uniforms,
                    0,
                    bytemuck::bytes_of(&uniforms),
                );
                self.encode_frame(&mut encoder, slot, camera);
            }
            self.queue.submit([encoder.finish()]);
            for slot in 0..chunk.len() {
                out.push(self.read_slot(slot)?);
            }
            self.errors.check()?;
        }
        Ok(out)
    }

    fn new_slot(&self) -> Slot {
        let uniforms = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("frame uniforms"),
            size: std::mem::size_of::<FrameUniforms>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("frame"),
            layout: &self.frame_layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: uniforms.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: wgpu::BindingResource::TextureView(&self.shadow_view),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: wgpu::BindingResource::Sampler(&self.shadow_sampler),
                },
            ],
        });
        let readback = self.readback_bytes_per_px().map(|bytes_per_px| {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("readback"),
                size: u64::from(padded_row(self.size.width, bytes_per_px))
                    * u64::from(self.size.height),
                usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
                mapped_at_creation: false,
            })
        });
        Slot {
            uniforms,
            bind_group,
            readback,
        }
    }

    fn frame_uniforms(
        &self,
        camera: &CameraPose,
        near_far_m: [f64; 2],
        light: &Lighting,
    ) -> FrameUniforms {
        let clip_from_world = clip_from_cam(camera, near_far_m) * camera.cam_from_world();
        let cam_from_world = camera.cam_from_world();
        let centre = camera.centre_in_world().as_vec3();
        let k = light.key_color;
        let sh = light.sh.map(|c| [c[0], c[1], c[2], 0.0]);
        FrameUniforms {
            clip_from_world: clip_from_world.as_mat4().to_cols_array_2d(),
            camera_in_world: [centre.x, centre.y, centre.z, 1.0],
            depth_row: cam_from_world.row(2).as_vec4().to_array(),
            key_color: [k[0], k[1], k[2], 0.0],
            sh,
            ..self.statics
        }
    }

    fn encode_frame(&self, encoder: &mut wgpu::CommandEncoder, slot: usize, camera: &CameraPose) {
        let t = &self.targets;
        let bind_group = &self.slots[slot].bind_group;
        {
            let colors = [
                (&t.color_msaa.view, Some(&t.color.view)),
                (&t.mask_msaa.view, Some(&t.mask.view)),
            ];
            let mut pass = begin_pass(encoder, &colors, Some(&t.depth_msaa.view));
            pass.set_bind_group(0, bind_group, &[]);
            for mesh in self.draw_order(camera) {
                pass.set_pipeline(&self.pipelines.main[mesh.pipeline]);
                draw_mesh(&mut pass, mesh);
            }
        }
        {
            let mut pass = begin_pass(
                encoder,
                &[(&t.depth_m.view, None)],
                Some(&t.depth_single.view),
            );
            pass.set_pipeline(&self.pipelines.depth);
            pass.set_bind_group(0, bind_group, &[]);
            for mesh in &self.meshes {
                draw_mesh(&mut pass, mesh);
            }
        }
        {
            let mut pass = begin_pass_cleared(encoder, &t.light.view, wgpu::Color::WHITE);
            pass.set_pipeline(&self.pipelines.catcher);
            pass.set_bind_group(0, bind_group, &[]);
            pass.set_vertex_buffer(0, self.catcher_quad.slice(..));
            pass.draw(0..6, 0..1);
        }
        let readback = &self.slots[slot].readback;
        for (target, (buffer, bytes_per_px)) in [&t.color, &t.mask, &t.depth_m, &t.light]
            .into_iter()
            .zip(readback.iter().zip(self.readback_bytes_per_px()))
        {
            copy_out(encoder, &target.texture, buffer, self.size, bytes_per_px);
        }
    }

    /// Opaque meshes first, then blended ones back to front.
    fn draw_order(&self, camera: &CameraPose) -> Vec<&GpuMesh> {
        let eye = camera.centre_in_world().as_vec3();
        let mut blended: Vec<&GpuMesh> = self.meshes.iter().filter(|m| m.blend).collect();
        blended.sort_by(|a, b| {
            b.centroid_in_world
                .distance(eye)
                .total_cmp(&a.centroid_in_world.distance(eye))
        });
        self.meshes
            .iter()
            .filter(|m| !m.blend)
            .chain(blended)
            .collect()
    }

    /// Bytes per pixel of the read-back layers: colour, mask, depth, ground light.
    fn readback_bytes_per_px(&self) -> [u32; 4] {
        [4, 1, self.depth_layer.bytes_per_px(), 1]
    }

    fn read_slot(&self, slot: usize) -> Result<FrameImages> {
        let [color, mask, depth, light] = &self.slots[slot].readback;
        let (w, h) = (self.size.width, self.size.height);
        let rgba = read_buffer(&self.device, color, self.size, 4)?;
        let mask = read_buffer(&self.device, mask, self.size, 1)?;
        let depth = read_buffer(
            &self.device,
            depth,
            self.size,
            self.depth_layer.bytes_per_px(),
        )?;
        let light = read_buffer(&self.device, light, self.size, 1)?;
        let depth_m = self.depth_layer.decode(&depth);
        let fail = || Error::Render {
            detail: "readback size mismatch".into(),
        };
        Ok(FrameImages {
            rgba: image::RgbaImage::from_raw(w, h, rgba).ok_or_else(fail)?,
            mask: image::GrayImage::from_raw(w, h, mask).ok_or_else(fail)?,
            depth_m: image::ImageBuffer::from_raw(w, h, depth_m).ok_or_else(fail)?,
            shadow: image::GrayImage::from_raw(w, h, light).ok_or_else(fail)?,
        })
    }
}

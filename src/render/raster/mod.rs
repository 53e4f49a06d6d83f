//! Offscreen rasterisation with wgpu (Vulkan or GL; lavapipe/llvmpipe on machines without a
//! GPU). Everything that does not change between frames (meshes, materials, textures, the
//! key light's shadow map, pipelines, targets) is created once per clip; frames are rendered in
//! batches, several per queue submission.
//!
//! Per frame four images come back: premultiplied RGBA and coverage (4x MSAA, resolved), depth
//! in metres (nearest surface, no MSAA), and the shadow catcher's light fraction.

use glam::{DMat4, DVec3, Mat4, Vec3};
use wgpu::util::DeviceExt as _;

use crate::core::{CameraPose, Error, FrameSize, Result};

use super::material::{AlphaMode, Material};
use super::scene::{ProductModel, Vertex};

mod device;
mod pipelines;
mod upload;

use device::*;
use pipelines::*;
use upload::*;

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
    /// First-order SH ambient: irradiance / pi = sh[0] + sh[1] n.x + sh[2] n.y + sh[3] n.z.
    pub sh: [[f32; 3]; 4],
}

/// Where the ground is and how strong shadows are (per clip).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroundSetup {
    /// Unit direction towards the key light (world).
    pub key_dir_in_world: DVec3,
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

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct FrameUniforms {
    clip_from_world: [[f32; 4]; 4],
    light_clip_from_world: [[f32; 4]; 4],
    camera_in_world: [f32; 4],
    depth_row: [f32; 4],
    key_dir_in_world: [f32; 4],
    key_color: [f32; 4],
    sh: [[f32; 4]; 4],
    plane: [f32; 4],
    footprint_centre: [f32; 4],
    footprint_u: [f32; 4],
    footprint_v: [f32; 4],
    shadow_params: [f32; 4],
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct MaterialUniforms {
    base_color: [f32; 4],
    emissive: [f32; 4],
    params: [f32; 4],
    alpha: [f32; 4],
    uv_rows: [[f32; 4]; 10],
}

struct GpuMesh {
    vertices: wgpu::Buffer,
    indices: wgpu::Buffer,
    index_count: u32,
    material: wgpu::BindGroup,
    pipeline: usize,
    centroid_in_world: Vec3,
    blend: bool,
}

/// Per-slot GPU state for one frame of a batch.
struct Slot {
    uniforms: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
    readback: [wgpu::Buffer; 4],
}

/// A texture with its default view.
struct Target {
    texture: wgpu::Texture,
    view: wgpu::TextureView,
}

impl Target {
    fn new(
        device: &wgpu::Device,
        size: FrameSize,
        format: wgpu::TextureFormat,
        samples: u32,
        usage: wgpu::TextureUsages,
    ) -> Self {
        let texture = texture(device, size, format, samples, usage);
        let view = texture.create_view(&Default::default());
        Self { texture, view }
    }
}

struct Targets {
    color_msaa: Target,
    mask_msaa: Target,
    depth_msaa: Target,
    color: Target,
    mask: Target,
    depth_m: Target,
    depth_single: Target,
    light: Target,
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
        let targets = targets(&device, size, depth_layer.format());
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

/// OpenCV camera to wgpu clip space: honours fx != fy and the principal point with OpenCV's
/// pixel grid (pixel centres at integers, so NDC -1 is pixel -0.5); y flips, depth in [0, 1].
pub fn clip_from_cam(camera: &CameraPose, near_far_m: [f64; 2]) -> DMat4 {
    let k = &camera.intrinsics;
    let (w, h) = (f64::from(k.size.width), f64::from(k.size.height));
    let [fx, fy] = k.focal_px;
    let [cx, cy] = k.principal_px;
    let [n, f] = near_far_m;
    DMat4::from_cols_array_2d(&[
        [2.0 * fx / w, 0.0, 0.0, 0.0],
        [0.0, -2.0 * fy / h, 0.0, 0.0],
        [
            2.0 * (cx + 0.5) / w - 1.0,
            1.0 - 2.0 * (cy + 0.5) / h,
            f / (f - n),
            1.0,
        ],
        [0.0, 0.0, -f * n / (f - n), 0.0],
    ])
}

/// Orthographic light view fitted to the product's bounding sphere, looking along -key
/// (right-handed view, wgpu clip space: y up, depth 0..1 over four radii).
fn light_clip_from_world(centre: Vec3, radius: f32, key_dir: Vec3) -> Mat4 {
    let eye = centre + key_dir * radius * 2.0;
    let forward = -key_dir;
    let up = if key_dir.y.abs() < 0.9 {
        Vec3::Y
    } else {
        Vec3::X
    };
    let side = forward.cross(up).normalize();
    let true_up = side.cross(forward);
    let depth_range = radius * 4.0;
    Mat4::from_cols(
        Vec3::new(side.x / radius, true_up.x / radius, forward.x / depth_range).extend(0.0),
        Vec3::new(side.y / radius, true_up.y / radius, forward.y / depth_range).extend(0.0),
        Vec3::new(side.z / radius, true_up.z / radius, forward.z / depth_range).extend(0.0),
        Vec3::new(
            -side.dot(eye) / radius,
            -true_up.dot(eye) / radius,
            -forward.dot(eye) / depth_range,
        )
        .extend(1.0),
    )
}

fn static_uniforms(
    model: &ProductModel,
    world_from_object: Mat4,
    ground: &GroundSetup,
) -> FrameUniforms {
    let corners = (0..8).map(|i| {
        let pick = |bit: usize, lo: f32, hi: f32| if i & bit == 0 { lo } else { hi };
        world_from_object.transform_point3(Vec3::new(
            pick(1, model.bbox_min.x, model.bbox_max.x),
            pick(2, model.bbox_min.y, model.bbox_max.y),
            pick(4, model.bbox_min.z, model.bbox_max.z),
        ))
    });
    let corners: Vec<Vec3> = corners.collect();
    let centre = corners.iter().copied().sum::<Vec3>() / 8.0;
    let radius = corners
        .iter()
        .map(|c| c.distance(centre))
        .fold(1e-6, f32::max)
        * 1.05;
    let key = ground.key_dir_in_world.as_vec3().normalize();
    let n = ground.plane_normal_in_world.as_vec3();
    let fp = &ground.footprint;
    let v4 = |v: DVec3, w: f64| [v.x as f32, v.y as f32, v.z as f32, w as f32];
    FrameUniforms {
        clip_from_world: Mat4::IDENTITY.to_cols_array_2d(),
        light_clip_from_world: light_clip_from_world(centre, radius, key).to_cols_array_2d(),
        camera_in_world: [0.0; 4],
        depth_row: [0.0; 4],
        key_dir_in_world: [key.x, key.y, key.z, 0.0],
        key_color: [0.0; 4],
        sh: [[0.0; 4]; 4],
        plane: [n.x, n.y, n.z, n.dot(ground.plane_point_in_world.as_vec3())],
        footprint_centre: v4(fp.centre_in_world, 0.0),
        footprint_u: v4(fp.axes_in_world[0], fp.half_extent.x),
        footprint_v: v4(fp.axes_in_world[1], fp.half_extent.y),
        shadow_params: [
            ground.shadow_strength,
            ground.contact_strength,
            (fp.half_extent.min_element() * 1.5).max(1e-6) as f32,
            2.0 * radius / SHADOW_MAP_PX as f32,
        ],
    }
}

fn render_shadow_map(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    shader: &wgpu::ShaderModule,
    layout: &wgpu::BindGroupLayout,
    meshes: &[GpuMesh],
    statics: &FrameUniforms,
    view: &wgpu::TextureView,
) {
    let pipeline = shadow_pipeline(device, shader, layout);
    let uniforms = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("shadow uniforms"),
        contents: bytemuck::bytes_of(statics),
        usage: wgpu::BufferUsages::UNIFORM,
    });
    let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: None,
        layout,
        entries: &[wgpu::BindGroupEntry {
            binding: 0,
            resource: uniforms.as_entire_binding(),
        }],
    });
    let mut encoder = device.create_command_encoder(&Default::default());
    {
        let mut pass = begin_pass(&mut encoder, &[], Some(view));
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        for mesh in meshes.iter().filter(|m| !m.blend) {
            pass.set_vertex_buffer(0, mesh.vertices.slice(..));
            pass.set_index_buffer(mesh.indices.slice(..), wgpu::IndexFormat::Uint32);
            pass.draw_indexed(0..mesh.index_count, 0, 0..1);
        }
    }
    queue.submit([encoder.finish()]);
}

/// A large quad on the ground plane around the product (20 bounding radii across).
fn catcher_quad(
    device: &wgpu::Device,
    ground: &GroundSetup,
    model: &ProductModel,
    world_from_object: Mat4,
) -> wgpu::Buffer {
    let fp = &ground.footprint;
    let extent = world_from_object
        .transform_vector3(model.extent_m())
        .length()
        .max(1e-3)
        * 10.0;
    let c = fp.centre_in_world.as_vec3();
    let (u, v) = (
        fp.axes_in_world[0].as_vec3() * extent,
        fp.axes_in_world[1].as_vec3() * extent,
    );
    let corners = [c - u - v, c + u - v, c + u + v, c - u + v];
    let vertices: Vec<[f32; 3]> = [0, 1, 2, 0, 2, 3]
        .iter()
        .map(|&i| corners[i].to_array())
        .collect();
    device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("catcher"),
        contents: bytemuck::cast_slice(&vertices),
        usage: wgpu::BufferUsages::VERTEX,
    })
}

fn begin_pass<'e>(
    encoder: &'e mut wgpu::CommandEncoder,
    colors: &[(&wgpu::TextureView, Option<&wgpu::TextureView>)],
    depth: Option<&wgpu::TextureView>,
) -> wgpu::RenderPass<'e> {
    let attachments: Vec<Option<wgpu::RenderPassColorAttachment<'_>>> = colors
        .iter()
        .map(|(view, resolve)| {
            Some(wgpu::RenderPassColorAttachment {
                view,
                depth_slice: None,
                resolve_target: *resolve,
                ops: wgpu::Operations {
                    load: wgpu::LoadOp::Clear(wgpu::Color::TRANSPARENT),
                    store: if resolve.is_some() {
                        wgpu::StoreOp::Discard
                    } else {
                        wgpu::StoreOp::Store
                    },
                },
            })
        })
        .collect();
    encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
        label: None,
        color_attachments: &attachments,
        depth_stencil_attachment: depth.map(|view| wgpu::RenderPassDepthStencilAttachment {
            view,
            depth_ops: Some(wgpu::Operations {
                load: wgpu::LoadOp::Clear(1.0),
                store: wgpu::StoreOp::Store,
            }),
            stencil_ops: None,
        }),
        timestamp_writes: None,
        occlusion_query_set: None,
        multiview_mask: None,
    })
}

fn begin_pass_cleared<'e>(
    encoder: &'e mut wgpu::CommandEncoder,
    view: &wgpu::TextureView,
    clear: wgpu::Color,
) -> wgpu::RenderPass<'e> {
    encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
        label: None,
        color_attachments: &[Some(wgpu::RenderPassColorAttachment {
            view,
            depth_slice: None,
            resolve_target: None,
            ops: wgpu::Operations {
                load: wgpu::LoadOp::Clear(clear),
                store: wgpu::StoreOp::Store,
            },
        })],
        depth_stencil_attachment: None,
        timestamp_writes: None,
        occlusion_query_set: None,
        multiview_mask: None,
    })
}

fn draw_mesh(pass: &mut wgpu::RenderPass<'_>, mesh: &GpuMesh) {
    pass.set_bind_group(1, &mesh.material, &[]);
    pass.set_vertex_buffer(0, mesh.vertices.slice(..));
    pass.set_index_buffer(mesh.indices.slice(..), wgpu::IndexFormat::Uint32);
    pass.draw_indexed(0..mesh.index_count, 0, 0..1);
}

fn padded_row(width: u32, bytes_per_px: u32) -> u32 {
    (width * bytes_per_px).div_ceil(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT)
        * wgpu::COPY_BYTES_PER_ROW_ALIGNMENT
}

fn copy_out(
    encoder: &mut wgpu::CommandEncoder,
    texture: &wgpu::Texture,
    buffer: &wgpu::Buffer,
    size: FrameSize,
    bytes_per_px: u32,
) {
    encoder.copy_texture_to_buffer(
        texture.as_image_copy(),
        wgpu::TexelCopyBufferInfo {
            buffer,
            layout: wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(padded_row(size.width, bytes_per_px)),
                rows_per_image: Some(size.height),
            },
        },
        extent(size),
    );
}

fn read_buffer(
    device: &wgpu::Device,
    buffer: &wgpu::Buffer,
    size: FrameSize,
    bytes_per_px: u32,
) -> Result<Vec<u8>> {
    let fail = |detail: String| Error::Render { detail };
    let slice = buffer.slice(..);
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    slice.map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    device
        .poll(wgpu::PollType::wait_indefinitely())
        .map_err(|e| fail(e.to_string()))?;
    rx.recv()
        .map_err(|e| fail(e.to_string()))?
        .map_err(|e| fail(e.to_string()))?;
    let row_bytes = (size.width * bytes_per_px) as usize;
    let pixels = {
        let view = slice.get_mapped_range().map_err(|e| fail(e.to_string()))?;
        view.chunks_exact(padded_row(size.width, bytes_per_px) as usize)
            .flat_map(|row| &row[..row_bytes])
            .copied()
            .collect()
    };
    buffer.unmap();
    Ok(pixels)
}

fn extent(size: FrameSize) -> wgpu::Extent3d {
    wgpu::Extent3d {
        width: size.width,
        height: size.height,
        depth_or_array_layers: 1,
    }
}

fn texture(
    device: &wgpu::Device,
    size: FrameSize,
    format: wgpu::TextureFormat,
    samples: u32,
    usage: wgpu::TextureUsages,
) -> wgpu::Texture {
    device.create_texture(&wgpu::TextureDescriptor {
        label: None,
        size: extent(size),
        mip_level_count: 1,
        sample_count: samples,
        dimension: wgpu::TextureDimension::D2,
        format,
        usage,
        view_formats: &[],
    })
}

fn targets(device: &wgpu::Device, size: FrameSize, depth_m_format: wgpu::TextureFormat) -> Targets {
    let attach = wgpu::TextureUsages::RENDER_ATTACHMENT;
    let readable = attach | wgpu::TextureUsages::COPY_SRC;
    let target = |format, samples, usage| Target::new(device, size, format, samples, usage);
    Targets {
        color_msaa: target(COLOR_FORMAT, SAMPLE_COUNT, attach),
        mask_msaa: target(MASK_FORMAT, SAMPLE_COUNT, attach),
        depth_msaa: target(DEPTH_FORMAT, SAMPLE_COUNT, attach),
        color: target(COLOR_FORMAT, 1, readable),
        mask: target(MASK_FORMAT, 1, readable),
        depth_m: target(depth_m_format, 1, readable),
        depth_single: target(DEPTH_FORMAT, 1, attach),
        light: target(MASK_FORMAT, 1, readable),
    }
}

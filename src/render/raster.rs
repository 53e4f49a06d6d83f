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

const COLOR_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8UnormSrgb;
const MASK_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::R8Unorm;
/// The metric-depth layer's format: R32Float where the adapter can render to it, otherwise
/// Rgba16Float (Mesa's GL driver), decoded on readback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DepthLayer {
    R32Float,
    Rgba16Float,
}

impl DepthLayer {
    fn for_adapter(adapter: &wgpu::Adapter) -> Self {
        let features = adapter.get_texture_format_features(wgpu::TextureFormat::R32Float);
        if features
            .allowed_usages
            .contains(wgpu::TextureUsages::RENDER_ATTACHMENT)
        {
            Self::R32Float
        } else {
            Self::Rgba16Float
        }
    }

    fn format(self) -> wgpu::TextureFormat {
        match self {
            Self::R32Float => wgpu::TextureFormat::R32Float,
            Self::Rgba16Float => wgpu::TextureFormat::Rgba16Float,
        }
    }

    fn bytes_per_px(self) -> u32 {
        match self {
            Self::R32Float => 4,
            Self::Rgba16Float => 8,
        }
    }

    /// Depth in metres per pixel (`inf` where nothing was drawn) from read-back bytes.
    fn decode(self, bytes: &[u8]) -> Vec<f32> {
        let depth = |z: f32| if z > 0.0 { z } else { f32::INFINITY };
        match self {
            Self::R32Float => bytes
                .chunks_exact(4)
                .map(|c| depth(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
            Self::Rgba16Float => bytes
                .chunks_exact(8)
                .map(|c| depth(half::f16::from_le_bytes([c[0], c[1]]).to_f32()))
                .collect(),
        }
    }
}
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
            source: wgpu::ShaderSource::Wgsl(include_str!("product.wgsl").into()),
        });
        let catcher = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("catcher"),
            source: wgpu::ShaderSource::Wgsl(include_str!("catcher.wgsl").into()),
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

/// Validation and device errors reported by wgpu, kept to be returned as [`Error::Render`]
/// instead of wgpu's default handler, which panics.
#[derive(Debug, Clone, Default)]
struct GpuErrors(std::sync::Arc<std::sync::Mutex<Option<String>>>);

impl GpuErrors {
    fn install(device: &wgpu::Device) -> Self {
        let errors = Self::default();
        let sink = errors.0.clone();
        device.on_uncaptured_error(std::sync::Arc::new(move |e: wgpu::Error| {
            if let Ok(mut first) = sink.lock() {
                first.get_or_insert_with(|| e.to_string());
            }
        }));
        errors
    }

    /// The first error since the last check, as a render error.
    fn check(&self) -> Result<()> {
        match self.0.lock().ok().and_then(|mut e| e.take()) {
            Some(detail) => Err(Error::Render { detail }),
            None => Ok(()),
        }
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

fn open_device() -> Result<(wgpu::Device, wgpu::Queue, String, DepthLayer)> {
    let fail = |detail: String| Error::Render {
        detail: format!(
            "{detail}; install Mesa's Vulkan or GL drivers (mesa-vulkan-drivers libegl-mesa0) or a \
             GPU driver, or select a backend with WGPU_BACKEND=vulkan|gl"
        ),
    };
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    let adapter = adapters
        .into_iter()
        .min_by_key(|a| adapter_rank(&a.get_info()))
        .ok_or_else(|| fail("no graphics adapter found".into()))?;
    let info = adapter.get_info();
    let name = format!("{} ({:?})", info.name, info.backend);
    let depth_layer = DepthLayer::for_adapter(&adapter);
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("vanelia"),
        ..Default::default()
    }))
    .map_err(|e| fail(e.to_string()))?;
    Ok((device, queue, name, depth_layer))
}

/// Lower is preferred: real GPUs first (Vulkan before GL), then CPU rasterisers with Mesa's GL
/// driver (llvmpipe) before its Vulkan driver (lavapipe). Lavapipe 22.3 leaks about 0.9 MB of
/// host memory per render pass whose fragment shader samples several textures (measured: 60
/// batches of 8 frames grew RSS by 390 MB on Vulkan and by 0 MB on GL; dropping the device does
/// not return it), which would make memory grow with clip length.
fn adapter_rank(info: &wgpu::AdapterInfo) -> u32 {
    let device = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 10,
        wgpu::DeviceType::VirtualGpu => 20,
        wgpu::DeviceType::Other => 30,
        wgpu::DeviceType::Cpu => 40,
    };
    let cpu = info.device_type == wgpu::DeviceType::Cpu;
    let backend = match (info.backend, cpu) {
        (wgpu::Backend::Gl, true) => 0,
        (wgpu::Backend::Gl, false) => 2,
        _ if cpu => 1,
        _ => 0,
    };
    device + backend
}

fn uniform_entry(binding: u32) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::VERTEX_FRAGMENT,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Uniform,
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

fn texture_entry(binding: u32, sample_type: wgpu::TextureSampleType) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::FRAGMENT,
        ty: wgpu::BindingType::Texture {
            sample_type,
            view_dimension: wgpu::TextureViewDimension::D2,
            multisampled: false,
        },
        count: None,
    }
}

fn sampler_entry(binding: u32, kind: wgpu::SamplerBindingType) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::FRAGMENT,
        ty: wgpu::BindingType::Sampler(kind),
        count: None,
    }
}

fn frame_layout(device: &wgpu::Device, with_shadow_map: bool) -> wgpu::BindGroupLayout {
    let mut entries = vec![uniform_entry(0)];
    if with_shadow_map {
        entries.push(texture_entry(1, wgpu::TextureSampleType::Depth));
        entries.push(sampler_entry(2, wgpu::SamplerBindingType::Comparison));
    }
    device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("frame"),
        entries: &entries,
    })
}

/// The shadow pass binds only the uniforms: the shadow map is its render target.
fn frame_layout_shadow(device: &wgpu::Device) -> wgpu::BindGroupLayout {
    frame_layout(device, false)
}

fn material_layout(device: &wgpu::Device) -> wgpu::BindGroupLayout {
    let float = wgpu::TextureSampleType::Float { filterable: true };
    let mut entries = vec![uniform_entry(0)];
    entries.extend((1..=5).map(|b| texture_entry(b, float)));
    entries.push(sampler_entry(6, wgpu::SamplerBindingType::Filtering));
    device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("material"),
        entries: &entries,
    })
}

/// The product's vertex buffer layout (see [`Vertex`]).
const VERTEX_BUFFERS: &[Option<wgpu::VertexBufferLayout<'static>>] = &[Some(
    wgpu::VertexBufferLayout {
        array_stride: std::mem::size_of::<Vertex>() as u64,
        step_mode: wgpu::VertexStepMode::Vertex,
        attributes: &wgpu::vertex_attr_array![
            0 => Float32x3, 1 => Float32x3, 2 => Float32x4, 3 => Float32x2, 4 => Float32x2, 5 => Float32x4
        ],
    },
)];

fn pipeline_layout(
    device: &wgpu::Device,
    groups: &[Option<&wgpu::BindGroupLayout>],
) -> wgpu::PipelineLayout {
    device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: None,
        bind_group_layouts: groups,
        immediate_size: 0,
    })
}

fn vertex_state<'a>(
    shader: &'a wgpu::ShaderModule,
    entry_point: &'a str,
    buffers: &'a [Option<wgpu::VertexBufferLayout<'a>>],
) -> wgpu::VertexState<'a> {
    wgpu::VertexState {
        module: shader,
        entry_point: Some(entry_point),
        compilation_options: Default::default(),
        buffers,
    }
}

fn pipeline_index(blend: bool, double_sided: bool) -> usize {
    usize::from(blend) * 2 + usize::from(double_sided)
}

fn main_pipeline(
    device: &wgpu::Device,
    shader: &wgpu::ShaderModule,
    frame: &wgpu::BindGroupLayout,
    material: &wgpu::BindGroupLayout,
    blend: bool,
    double_sided: bool,
) -> wgpu::RenderPipeline {
    let layout = pipeline_layout(device, &[Some(frame), Some(material)]);
    let (color_blend, mask_blend) = if blend {
        let max = wgpu::BlendComponent {
            src_factor: wgpu::BlendFactor::One,
            dst_factor: wgpu::BlendFactor::One,
            operation: wgpu::BlendOperation::Max,
        };
        (
            Some(wgpu::BlendState::PREMULTIPLIED_ALPHA_BLENDING),
            Some(wgpu::BlendState {
                color: max,
                alpha: max,
            }),
        )
    } else {
        (None, None)
    };
    device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
        label: Some("product"),
        layout: Some(&layout),
        vertex: vertex_state(shader, "vs_main", VERTEX_BUFFERS),
        primitive: wgpu::PrimitiveState {
            cull_mode: (!double_sided).then_some(wgpu::Face::Back),
            ..Default::default()
        },
        depth_stencil: Some(depth_state(!blend, 0)),
        multisample: wgpu::MultisampleState {
            count: SAMPLE_COUNT,
            ..Default::default()
        },
        fragment: Some(wgpu::FragmentState {
            module: shader,
            entry_point: Some("fs_main"),
            compilation_options: Default::default(),
            targets: &[
                Some(wgpu::ColorTargetState {
                    format: COLOR_FORMAT,
                    blend: color_blend,
                    write_mask: wgpu::ColorWrites::ALL,
                }),
                Some(wgpu::ColorTargetState {
                    format: MASK_FORMAT,
                    blend: mask_blend,
                    write_mask: wgpu::ColorWrites::ALL,
                }),
            ],
        }),
        multiview_mask: None,
        cache: None,
    })
}

fn depth_state(write: bool, bias: i32) -> wgpu::DepthStencilState {
    wgpu::DepthStencilState {
        format: DEPTH_FORMAT,
        depth_write_enabled: Some(write),
        depth_compare: Some(wgpu::CompareFunction::LessEqual),
        stencil: Default::default(),
        bias: wgpu::DepthBiasState {
            constant: bias,
            slope_scale: if bias > 0 { 2.0 } else { 0.0 },
            clamp: 0.0,
        },
    }
}

fn depth_pipeline(
    device: &wgpu::Device,
    shader: &wgpu::ShaderModule,
    frame: &wgpu::BindGroupLayout,
    material: &wgpu::BindGroupLayout,
    format: wgpu::TextureFormat,
) -> wgpu::RenderPipeline {
    let layout = pipeline_layout(device, &[Some(frame), Some(material)]);
    device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
        label: Some("depth"),
        layout: Some(&layout),
        vertex: vertex_state(shader, "vs_main", VERTEX_BUFFERS),
        primitive: wgpu::PrimitiveState::default(),
        depth_stencil: Some(depth_state(true, 0)),
        multisample: wgpu::MultisampleState::default(),
        fragment: Some(wgpu::FragmentState {
            module: shader,
            entry_point: Some("fs_depth"),
            compilation_options: Default::default(),
            targets: &[Some(wgpu::ColorTargetState {
                format,
                blend: None,
                write_mask: wgpu::ColorWrites::ALL,
            })],
        }),
        multiview_mask: None,
        cache: None,
    })
}

fn shadow_pipeline(
    device: &wgpu::Device,
    shader: &wgpu::ShaderModule,
    frame: &wgpu::BindGroupLayout,
) -> wgpu::RenderPipeline {
    let layout = pipeline_layout(device, &[Some(frame)]);
    device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
        label: Some("shadow map"),
        layout: Some(&layout),
        vertex: vertex_state(shader, "vs_shadow", VERTEX_BUFFERS),
        primitive: wgpu::PrimitiveState::default(),
        depth_stencil: Some(depth_state(true, 2)),
        multisample: wgpu::MultisampleState::default(),
        fragment: None,
        multiview_mask: None,
        cache: None,
    })
}

fn catcher_pipeline(
    device: &wgpu::Device,
    shader: &wgpu::ShaderModule,
    frame: &wgpu::BindGroupLayout,
) -> wgpu::RenderPipeline {
    let layout = pipeline_layout(device, &[Some(frame)]);
    const ATTRIBUTES: [wgpu::VertexAttribute; 1] = wgpu::vertex_attr_array![0 => Float32x3];
    device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
        label: Some("catcher"),
        layout: Some(&layout),
        vertex: wgpu::VertexState {
            module: shader,
            entry_point: Some("vs_catcher"),
            compilation_options: Default::default(),
            buffers: &[Some(wgpu::VertexBufferLayout {
                array_stride: 12,
                step_mode: wgpu::VertexStepMode::Vertex,
                attributes: &ATTRIBUTES,
            })],
        },
        primitive: wgpu::PrimitiveState::default(),
        depth_stencil: None,
        multisample: wgpu::MultisampleState::default(),
        fragment: Some(wgpu::FragmentState {
            module: shader,
            entry_point: Some("fs_catcher"),
            compilation_options: Default::default(),
            targets: &[Some(wgpu::ColorTargetState {
                format: MASK_FORMAT,
                blend: None,
                write_mask: wgpu::ColorWrites::ALL,
            })],
        }),
        multiview_mask: None,
        cache: None,
    })
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

/// Uploads an image with a full mip chain (box-filtered on the CPU).
fn upload_texture(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    img: &image::RgbaImage,
    srgb: bool,
) -> wgpu::TextureView {
    let (w, h) = (img.width().max(1), img.height().max(1));
    let levels = 32 - w.max(h).leading_zeros();
    let format = if srgb {
        wgpu::TextureFormat::Rgba8UnormSrgb
    } else {
        wgpu::TextureFormat::Rgba8Unorm
    };
    let tex = device.create_texture(&wgpu::TextureDescriptor {
        label: Some("material texture"),
        size: wgpu::Extent3d {
            width: w,
            height: h,
            depth_or_array_layers: 1,
        },
        mip_level_count: levels,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format,
        usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
        view_formats: &[],
    });
    let mut level = img.clone();
    for mip in 0..levels {
        let (lw, lh) = (level.width(), level.height());
        queue.write_texture(
            wgpu::TexelCopyTextureInfo {
                texture: &tex,
                mip_level: mip,
                origin: wgpu::Origin3d::ZERO,
                aspect: wgpu::TextureAspect::All,
            },
            level.as_raw(),
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(4 * lw),
                rows_per_image: Some(lh),
            },
            wgpu::Extent3d {
                width: lw,
                height: lh,
                depth_or_array_layers: 1,
            },
        );
        level = image::imageops::resize(
            &level,
            (lw / 2).max(1),
            (lh / 2).max(1),
            image::imageops::FilterType::Triangle,
        );
    }
    tex.create_view(&Default::default())
}

fn material_uniforms(m: &Material) -> MaterialUniforms {
    let mut uv_rows = [[0.0; 4]; 10];
    for (i, (slot, _)) in m.slots().iter().enumerate() {
        let (t, set) = slot.map_or((super::material::UV_IDENTITY, 0), |s| {
            (s.uv_transform, s.tex_coord)
        });
        uv_rows[2 * i] = [t[0][0], t[0][1], t[0][2], set as f32];
        uv_rows[2 * i + 1] = [t[1][0], t[1][1], t[1][2], 0.0];
    }
    let (mode, cutoff) = match m.alpha_mode {
        AlphaMode::Opaque => (0.0, 0.0),
        AlphaMode::Mask { cutoff } => (1.0, cutoff),
        AlphaMode::Blend => (2.0, 0.0),
    };
    MaterialUniforms {
        base_color: m.base_color,
        emissive: [m.emissive[0], m.emissive[1], m.emissive[2], 0.0],
        params: [
            m.metallic,
            m.roughness,
            m.normal_scale,
            m.occlusion_strength,
        ],
        alpha: [mode, cutoff, 0.0, 0.0],
        uv_rows,
    }
}

/// Default texels per slot: white base, metallic-roughness and occlusion; flat normal; white
/// emissive (the factor decides).
const DEFAULT_TEXELS: [[u8; 4]; 5] = [[255; 4], [255; 4], [128, 128, 255, 255], [255; 4], [255; 4]];

fn upload_meshes(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    model: &ProductModel,
    world_from_object: Mat4,
    layout: &wgpu::BindGroupLayout,
) -> Vec<GpuMesh> {
    let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
        address_mode_u: wgpu::AddressMode::Repeat,
        address_mode_v: wgpu::AddressMode::Repeat,
        mag_filter: wgpu::FilterMode::Linear,
        min_filter: wgpu::FilterMode::Linear,
        mipmap_filter: wgpu::MipmapFilterMode::Linear,
        anisotropy_clamp: 4,
        ..Default::default()
    });
    let mut views: std::collections::HashMap<(usize, bool), wgpu::TextureView> =
        std::collections::HashMap::new();
    let defaults: Vec<wgpu::TextureView> = DEFAULT_TEXELS
        .iter()
        .enumerate()
        .map(|(i, t)| {
            upload_texture(
                device,
                queue,
                &image::RgbaImage::from_pixel(1, 1, image::Rgba(*t)),
                i == 0 || i == 4,
            )
        })
        .collect();
    let materials: Vec<wgpu::BindGroup> = model
        .materials
        .iter()
        .map(|m| {
            for (slot, srgb) in m.slots() {
                if let Some(t) = slot {
                    views.entry((t.image, srgb)).or_insert_with(|| {
                        upload_texture(device, queue, &model.textures[t.image], srgb)
                    });
                }
            }
            let uniforms = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("material"),
                contents: bytemuck::bytes_of(&material_uniforms(m)),
                usage: wgpu::BufferUsages::UNIFORM,
            });
            let slot_views: Vec<&wgpu::TextureView> = m
                .slots()
                .iter()
                .enumerate()
                .map(|(i, (slot, srgb))| {
                    slot.and_then(|t| views.get(&(t.image, *srgb)))
                        .unwrap_or(&defaults[i])
                })
                .collect();
            let mut entries = vec![wgpu::BindGroupEntry {
                binding: 0,
                resource: uniforms.as_entire_binding(),
            }];
            entries.extend(
                slot_views
                    .iter()
                    .enumerate()
                    .map(|(i, v)| wgpu::BindGroupEntry {
                        binding: i as u32 + 1,
                        resource: wgpu::BindingResource::TextureView(v),
                    }),
            );
            entries.push(wgpu::BindGroupEntry {
                binding: 6,
                resource: wgpu::BindingResource::Sampler(&sampler),
            });
            device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("material"),
                layout,
                entries: &entries,
            })
        })
        .collect();
    model
        .meshes
        .iter()
        .map(|mesh| upload_mesh(device, mesh, world_from_object, model, &materials))
        .collect()
}

fn upload_mesh(
    device: &wgpu::Device,
    mesh: &super::scene::Mesh,
    world_from_object: Mat4,
    model: &ProductModel,
    materials: &[wgpu::BindGroup],
) -> GpuMesh {
    let normal_matrix = glam::Mat3::from_mat4(world_from_object)
        .inverse()
        .transpose();
    let linear = glam::Mat3::from_mat4(world_from_object);
    let vertices: Vec<Vertex> = mesh
        .vertices
        .iter()
        .map(|v| {
            let t =
                (linear * Vec3::new(v.tangent[0], v.tangent[1], v.tangent[2])).normalize_or_zero();
            Vertex {
                position: world_from_object.transform_point3(v.position.into()).into(),
                normal: (normal_matrix * Vec3::from(v.normal))
                    .normalize_or_zero()
                    .into(),
                tangent: [t.x, t.y, t.z, v.tangent[3]],
                ..*v
            }
        })
        .collect();
    let centroid_in_world = vertices
        .iter()
        .map(|v| Vec3::from(v.position))
        .sum::<Vec3>()
        / vertices.len().max(1) as f32;
    let index = mesh.material.min(model.materials.len().saturating_sub(1));
    let material = &model.materials[index];
    let blend = material.alpha_mode == AlphaMode::Blend;
    GpuMesh {
        vertices: device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("vertices"),
            contents: bytemuck::cast_slice(&vertices),
            usage: wgpu::BufferUsages::VERTEX,
        }),
        indices: device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("indices"),
            contents: bytemuck::cast_slice(&mesh.indices),
            usage: wgpu::BufferUsages::INDEX,
        }),
        index_count: mesh.indices.len() as u32,
        material: materials[index].clone(),
        pipeline: pipeline_index(blend, material.double_sided),
        centroid_in_world,
        blend,
    }
}

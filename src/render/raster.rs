//! Offscreen rasterisation with wgpu (Vulkan or GL; lavapipe/llvmpipe on machines without a
//! GPU). Pipelines, buffers and targets are created once per clip and reused for every frame.

use glam::{DMat4, Mat4};
use wgpu::util::DeviceExt as _;

use crate::core::{CameraPose, Error, FrameSize, Result};

use super::scene::{ProductModel, Vertex};

const COLOR_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8UnormSrgb;
const DEPTH_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Depth32Float;
/// MSAA sample count for the product's edges.
pub const SAMPLE_COUNT: u32 = 4;

/// Light for one frame, in linear RGB.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lighting {
    /// Unit direction towards the key light (world).
    pub key_dir_in_world: [f32; 3],
    /// Key light colour.
    pub key_color: [f32; 3],
    /// Ambient colour.
    pub ambient_color: [f32; 3],
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct FrameUniforms {
    clip_from_world: [[f32; 4]; 4],
    light_dir_in_world: [f32; 4],
    light_color: [f32; 4],
    ambient_color: [f32; 4],
}

struct GpuMesh {
    vertices: wgpu::Buffer,
    indices: wgpu::Buffer,
    index_count: u32,
    material: wgpu::BindGroup,
}

struct Targets {
    msaa_view: wgpu::TextureView,
    resolve: wgpu::Texture,
    resolve_view: wgpu::TextureView,
    depth_view: wgpu::TextureView,
    readback: wgpu::Buffer,
    padded_row_bytes: u32,
}

/// A product uploaded to the GPU, ready to render from any camera.
pub struct Rasterizer {
    device: wgpu::Device,
    queue: wgpu::Queue,
    pipeline: wgpu::RenderPipeline,
    frame_uniforms: wgpu::Buffer,
    frame_bind_group: wgpu::BindGroup,
    meshes: Vec<GpuMesh>,
    targets: Targets,
    size: FrameSize,
    /// Adapter description, e.g. "llvmpipe (Vulkan)", for reports.
    pub adapter: String,
}

impl Rasterizer {
    /// Uploads `model` placed by `world_from_object` and prepares `size` targets.
    pub fn new(model: &ProductModel, world_from_object: DMat4, size: FrameSize) -> Result<Self> {
        let (device, queue, adapter) = open_device()?;
        let frame_layout = uniform_layout(&device);
        let material_layout = material_layout(&device);
        let pipeline = pipeline(&device, &frame_layout, &material_layout);
        let frame_uniforms = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("frame uniforms"),
            size: std::mem::size_of::<FrameUniforms>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let frame_bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("frame"),
            layout: &frame_layout,
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: frame_uniforms.as_entire_binding(),
            }],
        });
        let textures = upload_textures(&device, &queue, model);
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            address_mode_u: wgpu::AddressMode::Repeat,
            address_mode_v: wgpu::AddressMode::Repeat,
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            ..Default::default()
        });
        let world_from_object = world_from_object.as_mat4();
        let meshes = model
            .meshes
            .iter()
            .map(|m| {
                upload_mesh(
                    &device,
                    m,
                    world_from_object,
                    model,
                    &textures,
                    &sampler,
                    &material_layout,
                )
            })
            .collect();
        let targets = targets(&device, size);
        Ok(Self {
            device,
            queue,
            pipeline,
            frame_uniforms,
            frame_bind_group,
            meshes,
            targets,
            size,
            adapter,
        })
    }

    /// Renders the product seen by `camera`; returns premultiplied RGBA (sRGB-encoded).
    pub fn render(
        &self,
        camera: &CameraPose,
        near_far_m: [f64; 2],
        light: &Lighting,
    ) -> Result<image::RgbaImage> {
        let clip_from_world = clip_from_cam(camera, near_far_m) * camera.cam_from_world();
        let uniforms = FrameUniforms {
            clip_from_world: clip_from_world.as_mat4().to_cols_array_2d(),
            light_dir_in_world: [
                light.key_dir_in_world[0],
                light.key_dir_in_world[1],
                light.key_dir_in_world[2],
                0.0,
            ],
            light_color: [
                light.key_color[0],
                light.key_color[1],
                light.key_color[2],
                0.0,
            ],
            ambient_color: [
                light.ambient_color[0],
                light.ambient_color[1],
                light.ambient_color[2],
                0.0,
            ],
        };
        self.queue
            .write_buffer(&self.frame_uniforms, 0, bytemuck::bytes_of(&uniforms));
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("frame"),
            });
        self.draw(&mut encoder);
        self.copy_out(&mut encoder);
        self.queue.submit([encoder.finish()]);
        self.read_back()
    }

    fn draw(&self, encoder: &mut wgpu::CommandEncoder) {
        let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: Some("product"),
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view: &self.targets.msaa_view,
                depth_slice: None,
                resolve_target: Some(&self.targets.resolve_view),
                ops: wgpu::Operations {
                    load: wgpu::LoadOp::Clear(wgpu::Color::TRANSPARENT),
                    store: wgpu::StoreOp::Discard,
                },
            })],
            depth_stencil_attachment: Some(wgpu::RenderPassDepthStencilAttachment {
                view: &self.targets.depth_view,
                depth_ops: Some(wgpu::Operations {
                    load: wgpu::LoadOp::Clear(1.0),
                    store: wgpu::StoreOp::Discard,
                }),
                stencil_ops: None,
            }),
            timestamp_writes: None,
            occlusion_query_set: None,
            multiview_mask: None,
        });
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.frame_bind_group, &[]);
        for mesh in &self.meshes {
            pass.set_bind_group(1, &mesh.material, &[]);
            pass.set_vertex_buffer(0, mesh.vertices.slice(..));
            pass.set_index_buffer(mesh.indices.slice(..), wgpu::IndexFormat::Uint32);
            pass.draw_indexed(0..mesh.index_count, 0, 0..1);
        }
    }

    fn copy_out(&self, encoder: &mut wgpu::CommandEncoder) {
        encoder.copy_texture_to_buffer(
            wgpu::TexelCopyTextureInfo {
                texture: &self.targets.resolve,
                mip_level: 0,
                origin: wgpu::Origin3d::ZERO,
                aspect: wgpu::TextureAspect::All,
            },
            wgpu::TexelCopyBufferInfo {
                buffer: &self.targets.readback,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(self.targets.padded_row_bytes),
                    rows_per_image: Some(self.size.height),
                },
            },
            extent(self.size),
        );
    }

    fn read_back(&self) -> Result<image::RgbaImage> {
        let fail = |detail: String| Error::Render { detail };
        let slice = self.targets.readback.slice(..);
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| fail(e.to_string()))?;
        rx.recv()
            .map_err(|e| fail(e.to_string()))?
            .map_err(|e| fail(e.to_string()))?;
        let row_bytes = self.size.width as usize * 4;
        let pixels: Vec<u8> = {
            let view = slice.get_mapped_range().map_err(|e| fail(e.to_string()))?;
            view.chunks_exact(self.targets.padded_row_bytes as usize)
                .flat_map(|row| &row[..row_bytes])
                .copied()
                .collect()
        };
        self.targets.readback.unmap();
        image::RgbaImage::from_raw(self.size.width, self.size.height, pixels)
            .ok_or_else(|| fail("readback size mismatch".into()))
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

fn open_device() -> Result<(wgpu::Device, wgpu::Queue, String)> {
    let fail = |detail: String| {
        Error::Render {
        detail: format!("{detail}; install Mesa's Vulkan or GL drivers (mesa-vulkan-drivers libegl-mesa0) or a GPU driver, or select a backend with WGPU_BACKEND=vulkan|gl"),
    }
    };
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
        power_preference: wgpu::PowerPreference::HighPerformance,
        force_fallback_adapter: false,
        compatible_surface: None,
        ..Default::default()
    }))
    .map_err(|e| fail(e.to_string()))?;
    let info = adapter.get_info();
    let name = format!("{} ({:?})", info.name, info.backend);
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("vanelia"),
        ..Default::default()
    }))
    .map_err(|e| fail(e.to_string()))?;
    Ok((device, queue, name))
}

fn uniform_layout(device: &wgpu::Device) -> wgpu::BindGroupLayout {
    device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("frame"),
        entries: &[uniform_entry(0)],
    })
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

fn material_layout(device: &wgpu::Device) -> wgpu::BindGroupLayout {
    device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("material"),
        entries: &[
            uniform_entry(0),
            wgpu::BindGroupLayoutEntry {
                binding: 1,
                visibility: wgpu::ShaderStages::FRAGMENT,
                ty: wgpu::BindingType::Texture {
                    sample_type: wgpu::TextureSampleType::Float { filterable: true },
                    view_dimension: wgpu::TextureViewDimension::D2,
                    multisampled: false,
                },
                count: None,
            },
            wgpu::BindGroupLayoutEntry {
                binding: 2,
                visibility: wgpu::ShaderStages::FRAGMENT,
                ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                count: None,
            },
        ],
    })
}

fn pipeline(
    device: &wgpu::Device,
    frame: &wgpu::BindGroupLayout,
    material: &wgpu::BindGroupLayout,
) -> wgpu::RenderPipeline {
    let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("product"),
        source: wgpu::ShaderSource::Wgsl(include_str!("shader.wgsl").into()),
    });
    let layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some("product"),
        bind_group_layouts: &[Some(frame), Some(material)],
        immediate_size: 0,
    });
    let attributes = wgpu::vertex_attr_array![0 => Float32x3, 1 => Float32x3, 2 => Float32x2];
    device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
        label: Some("product"),
        layout: Some(&layout),
        vertex: wgpu::VertexState {
            module: &shader,
            entry_point: Some("vs_main"),
            compilation_options: Default::default(),
            buffers: &[Some(wgpu::VertexBufferLayout {
                array_stride: std::mem::size_of::<Vertex>() as u64,
                step_mode: wgpu::VertexStepMode::Vertex,
                attributes: &attributes,
            })],
        },
        primitive: wgpu::PrimitiveState {
            cull_mode: None,
            ..Default::default()
        },
        depth_stencil: Some(wgpu::DepthStencilState {
            format: DEPTH_FORMAT,
            depth_write_enabled: Some(true),
            depth_compare: Some(wgpu::CompareFunction::Less),
            stencil: Default::default(),
            bias: Default::default(),
        }),
        multisample: wgpu::MultisampleState {
            count: SAMPLE_COUNT,
            ..Default::default()
        },
        fragment: Some(wgpu::FragmentState {
            module: &shader,
            entry_point: Some("fs_main"),
            compilation_options: Default::default(),
            targets: &[Some(wgpu::ColorTargetState {
                format: COLOR_FORMAT,
                blend: None,
                write_mask: wgpu::ColorWrites::ALL,
            })],
        }),
        multiview_mask: None,
        cache: None,
    })
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

fn targets(device: &wgpu::Device, size: FrameSize) -> Targets {
    let attach = wgpu::TextureUsages::RENDER_ATTACHMENT;
    let msaa = texture(device, size, COLOR_FORMAT, SAMPLE_COUNT, attach);
    let resolve = texture(
        device,
        size,
        COLOR_FORMAT,
        1,
        attach | wgpu::TextureUsages::COPY_SRC,
    );
    let depth = texture(device, size, DEPTH_FORMAT, SAMPLE_COUNT, attach);
    let padded_row_bytes = (size.width * 4).div_ceil(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT)
        * wgpu::COPY_BYTES_PER_ROW_ALIGNMENT;
    let readback = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("readback"),
        size: u64::from(padded_row_bytes) * u64::from(size.height),
        usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
        mapped_at_creation: false,
    });
    Targets {
        msaa_view: msaa.create_view(&Default::default()),
        resolve_view: resolve.create_view(&Default::default()),
        resolve,
        depth_view: depth.create_view(&Default::default()),
        readback,
        padded_row_bytes,
    }
}

fn upload_textures(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    model: &ProductModel,
) -> Vec<wgpu::TextureView> {
    let white = image::RgbaImage::from_pixel(1, 1, image::Rgba([255; 4]));
    std::iter::once(&white)
        .chain(&model.textures)
        .map(|img| {
            let size = FrameSize {
                width: img.width().max(1),
                height: img.height().max(1),
            };
            let tex = texture(
                device,
                size,
                COLOR_FORMAT,
                1,
                wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
            );
            queue.write_texture(
                tex.as_image_copy(),
                img.as_raw(),
                wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(4 * size.width),
                    rows_per_image: Some(size.height),
                },
                extent(size),
            );
            tex.create_view(&Default::default())
        })
        .collect()
}

fn upload_mesh(
    device: &wgpu::Device,
    mesh: &super::scene::Mesh,
    world_from_object: Mat4,
    model: &ProductModel,
    textures: &[wgpu::TextureView],
    sampler: &wgpu::Sampler,
    layout: &wgpu::BindGroupLayout,
) -> GpuMesh {
    let normal_matrix = glam::Mat3::from_mat4(world_from_object)
        .inverse()
        .transpose();
    let vertices: Vec<Vertex> = mesh
        .vertices
        .iter()
        .map(|v| Vertex {
            position: world_from_object.transform_point3(v.position.into()).into(),
            normal: (normal_matrix * glam::Vec3::from(v.normal))
                .normalize_or_zero()
                .into(),
            uv: v.uv,
        })
        .collect();
    let material = &model.materials[mesh.material.min(model.materials.len() - 1)];
    let texture = material
        .base_color_texture
        .map_or(0, |i| i + 1)
        .min(textures.len() - 1);
    let uniforms = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("material"),
        contents: bytemuck::cast_slice(&material.base_color),
        usage: wgpu::BufferUsages::UNIFORM,
    });
    let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("material"),
        layout,
        entries: &[
            wgpu::BindGroupEntry {
                binding: 0,
                resource: uniforms.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: wgpu::BindingResource::TextureView(&textures[texture]),
            },
            wgpu::BindGroupEntry {
                binding: 2,
                resource: wgpu::BindingResource::Sampler(sampler),
            },
        ],
    });
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
        material: bind_group,
    }
}

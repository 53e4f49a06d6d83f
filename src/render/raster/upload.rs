//! Uploading the product to the GPU: textures with mip chains, material uniforms, meshes.

use glam::{Mat4, Vec3};
use wgpu::util::DeviceExt as _;

use super::gpu::{GpuMesh, MaterialUniforms};
use super::pipelines::pipeline_index;
use crate::render::material::{AlphaMode, Material};
use crate::render::scene::{ProductModel, Vertex};

/// Uploads an image with a full mip chain (box-filtered on the CPU).
pub(super) fn upload_texture(
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

pub(super) fn material_uniforms(m: &Material) -> MaterialUniforms {
    let mut uv_rows = [[0.0; 4]; 10];
    for (i, (slot, _)) in m.slots().iter().enumerate() {
        let (t, set) = slot.map_or((crate::render::material::UV_IDENTITY, 0), |s| {
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
pub(super) const DEFAULT_TEXELS: [[u8; 4]; 5] =
    [[255; 4], [255; 4], [128, 128, 255, 255], [255; 4], [255; 4]];

pub(super) fn upload_meshes(
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

pub(super) fn upload_mesh(
    device: &wgpu::Device,
    mesh: &crate::render::scene::Mesh,
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

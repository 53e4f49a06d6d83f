//! Camera and light projections, the per-clip uniforms, the key light's shadow map and the
//! render passes every frame uses.

use glam::{DMat4, DVec3, Mat4, Vec3};
use wgpu::util::DeviceExt as _;

use super::gpu::{FrameUniforms, GpuMesh};
use super::pipelines::shadow_pipeline;
use super::{GroundSetup, SHADOW_MAP_PX};
use crate::core::CameraPose;
use crate::render::scene::ProductModel;

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
pub(super) fn light_clip_from_world(centre: Vec3, radius: f32, key_dir: Vec3) -> Mat4 {
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

pub(super) fn static_uniforms(
    model: &ProductModel,
    world_from_object: Mat4,
    ground: &GroundSetup,
) -> FrameUniforms {
    let corners = model
        .box_corners()
        .map(|c| world_from_object.transform_point3(c));
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
        key_dir_in_world: [
            key.x,
            key.y,
            key.z,
            (ground.key_angle_deg.to_radians() / 2.0).tan() as f32,
        ],
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

pub(super) fn render_shadow_map(
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
pub(super) fn catcher_quad(
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

pub(super) fn begin_pass<'e>(
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

pub(super) fn begin_pass_cleared<'e>(
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

pub(super) fn draw_mesh(pass: &mut wgpu::RenderPass<'_>, mesh: &GpuMesh) {
    pass.set_bind_group(1, &mesh.material, &[]);
    pass.set_vertex_buffer(0, mesh.vertices.slice(..));
    pass.set_index_buffer(mesh.indices.slice(..), wgpu::IndexFormat::Uint32);
    pass.draw_indexed(0..mesh.index_count, 0, 0..1);
}

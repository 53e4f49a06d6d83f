//! The GPU-side data of a frame, a material and a mesh.

use glam::Vec3;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(super) struct FrameUniforms {
    pub(super) clip_from_world: [[f32; 4]; 4],
    pub(super) light_clip_from_world: [[f32; 4]; 4],
    pub(super) camera_in_world: [f32; 4],
    pub(super) depth_row: [f32; 4],
    pub(super) key_dir_in_world: [f32; 4],
    pub(super) key_color: [f32; 4],
    pub(super) sh: [[f32; 4]; 4],
    pub(super) plane: [f32; 4],
    pub(super) footprint_centre: [f32; 4],
    pub(super) footprint_u: [f32; 4],
    pub(super) footprint_v: [f32; 4],
    pub(super) shadow_params: [f32; 4],
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(super) struct MaterialUniforms {
    pub(super) base_color: [f32; 4],
    pub(super) emissive: [f32; 4],
    pub(super) params: [f32; 4],
    pub(super) alpha: [f32; 4],
    pub(super) uv_rows: [[f32; 4]; 10],
}

pub(super) struct GpuMesh {
    pub(super) vertices: wgpu::Buffer,
    pub(super) indices: wgpu::Buffer,
    pub(super) index_count: u32,
    pub(super) material: wgpu::BindGroup,
    pub(super) pipeline: usize,
    pub(super) centroid_in_world: Vec3,
    pub(super) blend: bool,
}

/// Per-slot GPU state for one frame of a batch.
pub(super) struct Slot {
    pub(super) uniforms: wgpu::Buffer,
    pub(super) bind_group: wgpu::BindGroup,
    pub(super) readback: [wgpu::Buffer; 4],
}

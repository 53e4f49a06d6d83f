//! Bind-group layouts and the render pipelines: product (opaque/blend, one/two-sided), depth
//! pre-pass, key-light shadow map and shadow catcher.

use super::{COLOR_FORMAT, DEPTH_FORMAT, MASK_FORMAT, SAMPLE_COUNT};
use crate::render::scene::Vertex;

pub(super) fn uniform_entry(binding: u32) -> wgpu::BindGroupLayoutEntry {
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

pub(super) fn texture_entry(
    binding: u32,
    sample_type: wgpu::TextureSampleType,
) -> wgpu::BindGroupLayoutEntry {
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

pub(super) fn sampler_entry(
    binding: u32,
    kind: wgpu::SamplerBindingType,
) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::FRAGMENT,
        ty: wgpu::BindingType::Sampler(kind),
        count: None,
    }
}

pub(super) fn frame_layout(device: &wgpu::Device, with_shadow_map: bool) -> wgpu::BindGroupLayout {
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
pub(super) fn frame_layout_shadow(device: &wgpu::Device) -> wgpu::BindGroupLayout {
    frame_layout(device, false)
}

pub(super) fn material_layout(device: &wgpu::Device) -> wgpu::BindGroupLayout {
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
pub(super) const VERTEX_BUFFERS: &[Option<wgpu::VertexBufferLayout<'static>>] = &[Some(
    wgpu::VertexBufferLayout {
        array_stride: std::mem::size_of::<Vertex>() as u64,
        step_mode: wgpu::VertexStepMode::Vertex,
        attributes: &wgpu::vertex_attr_array![
            0 => Float32x3, 1 => Float32x3, 2 => Float32x4, 3 => Float32x2, 4 => Float32x2, 5 => Float32x4
        ],
    },
)];

pub(super) fn pipeline_layout(
    device: &wgpu::Device,
    groups: &[Option<&wgpu::BindGroupLayout>],
) -> wgpu::PipelineLayout {
    device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: None,
        bind_group_layouts: groups,
        immediate_size: 0,
    })
}

pub(super) fn vertex_state<'a>(
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

pub(super) fn pipeline_index(blend: bool, double_sided: bool) -> usize {
    usize::from(blend) * 2 + usize::from(double_sided)
}

pub(super) fn main_pipeline(
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

pub(super) fn depth_state(write: bool, bias: i32) -> wgpu::DepthStencilState {
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

pub(super) fn depth_pipeline(
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

pub(super) fn shadow_pipeline(
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

pub(super) fn catcher_pipeline(
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

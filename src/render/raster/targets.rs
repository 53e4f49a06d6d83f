//! Render targets, and copying them back to the host.

use crate::core::{Error, FrameSize, Result};

use super::{COLOR_FORMAT, DEPTH_FORMAT, MASK_FORMAT, SAMPLE_COUNT};

/// A texture with its default view.
pub(super) struct Target {
    pub(super) texture: wgpu::Texture,
    pub(super) view: wgpu::TextureView,
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

pub(super) struct Targets {
    pub(super) color_msaa: Target,
    pub(super) mask_msaa: Target,
    pub(super) depth_msaa: Target,
    pub(super) color: Target,
    pub(super) mask: Target,
    pub(super) depth_m: Target,
    pub(super) depth_single: Target,
    pub(super) light: Target,
}

pub(super) fn padded_row(width: u32, bytes_per_px: u32) -> u32 {
    (width * bytes_per_px).div_ceil(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT)
        * wgpu::COPY_BYTES_PER_ROW_ALIGNMENT
}

pub(super) fn copy_out(
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

pub(super) fn read_buffer(
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

pub(super) fn extent(size: FrameSize) -> wgpu::Extent3d {
    wgpu::Extent3d {
        width: size.width,
        height: size.height,
        depth_or_array_layers: 1,
    }
}

pub(super) fn texture(
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

pub(super) fn create_targets(
    device: &wgpu::Device,
    size: FrameSize,
    depth_m_format: wgpu::TextureFormat,
) -> Targets {
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

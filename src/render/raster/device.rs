//! Opening the wgpu device (adapter ranking for CPU machines), the depth-layer format it can
//! render, and wgpu's error reports turned into [`Error::Render`] instead of panics.

use crate::core::{Error, Result};

/// The metric-depth layer's format: R32Float where the adapter can render to it, otherwise
/// Rgba16Float (Mesa's GL driver), decoded on readback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DepthLayer {
    R32Float,
    Rgba16Float,
}

impl DepthLayer {
    pub(super) fn for_adapter(adapter: &wgpu::Adapter) -> Self {
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

    pub(super) fn format(self) -> wgpu::TextureFormat {
        match self {
            Self::R32Float => wgpu::TextureFormat::R32Float,
            Self::Rgba16Float => wgpu::TextureFormat::Rgba16Float,
        }
    }

    pub(super) fn bytes_per_px(self) -> u32 {
        match self {
            Self::R32Float => 4,
            Self::Rgba16Float => 8,
        }
    }

    /// Depth in metres per pixel (`inf` where nothing was drawn) from read-back bytes.
    pub(super) fn decode(self, bytes: &[u8]) -> Vec<f32> {
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

/// Validation and device errors reported by wgpu, kept to be returned as [`Error::Render`]
/// instead of wgpu's default handler, which panics.
#[derive(Debug, Clone, Default)]
pub(super) struct GpuErrors(std::sync::Arc<std::sync::Mutex<Option<String>>>);

impl GpuErrors {
    pub(super) fn install(device: &wgpu::Device) -> Self {
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
    pub(super) fn check(&self) -> Result<()> {
        match self.0.lock().ok().and_then(|mut e| e.take()) {
            Some(detail) => Err(Error::Render { detail }),
            None => Ok(()),
        }
    }
}

pub(super) fn open_device() -> Result<(wgpu::Device, wgpu::Queue, String, DepthLayer)> {
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
pub(super) fn adapter_rank(info: &wgpu::AdapterInfo) -> u32 {
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

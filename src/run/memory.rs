//! The run's memory plan: the diffusion stages' batch size and attention chunk sized to the
//! device budget (`--vram-budget`, else the memory free now) from the configurations of the
//! weights actually loaded, checked before any frame is decoded.

use super::config::RunConfig;
use crate::core::{Error, FrameSize, Result};
use crate::diffusion::locate::ComponentDirs;
use crate::diffusion::weights::read_config;
use crate::memory::footprint::NetworkConfigs;
use crate::memory::plan::{plan, region_px, Plan, PlanRequest};
use crate::memory::profile::{gib, DeviceProfile};

/// The configurations of the located diffusion weights (the pose network is not part of a
/// diffusion plan: its stage has ended before refinement starts).
fn configs(dirs: &ComponentDirs) -> Result<NetworkConfigs> {
    let published = NetworkConfigs::published();
    let clip: crate::diffusion::clip::ClipTextConfig =
        read_config(&dirs.text_encoder.join("config.json"))?;
    Ok(NetworkConfigs {
        text_encoder: clip,
        unet: read_config(&dirs.unet.join("config.json"))?,
        controlnet: read_config(&dirs.controlnet.join("config.json"))?,
        vae: read_config(&dirs.vae.join("config.json"))?,
        ..published
    })
}

/// Plans the diffusion stages of `cfg` for frames of `frame` size and `frames` frames.
/// Returns the plan, at the user's `--batch-size` when one is set and fits (so that its
/// predicted peak is for the batch the run uses); `--batch-size N` above what fits in an
/// explicit `--vram-budget` is an error with the numbers.
pub(super) fn plan_refine(
    cfg: &RunConfig,
    dirs: &ComponentDirs,
    frame: FrameSize,
    frames: u64,
) -> Result<Plan> {
    let budget = cfg
        .vram_budget
        .unwrap_or_else(|| DeviceProfile::current().free_bytes);
    let opts = &cfg.diffusion;
    let req = PlanRequest {
        budget_bytes: budget,
        frame,
        region_px: region_px(frame, opts.region, &opts.roi),
        frames,
        dtype: opts.precision.dtype(),
        max_batch: None,
        configs: configs(dirs)?,
        pose: false,
        vae_tile_px: opts.vae.tiling.map(|t| t.sample_px as u64),
        budget_option: "--vram-budget",
    };
    let planned = plan(&req)?;
    if let (Some(wanted), Some(_)) = (opts.batch_size, cfg.vram_budget) {
        if wanted > planned.diffusion_batch {
            return Err(Error::InvalidArgument {
                name: "--batch-size",
                detail: format!(
                    "{wanted} frames per batch do not fit in --vram-budget {}: the plan allows \
                     at most {} (peak {}); lower --batch-size or use 'auto'",
                    gib(budget),
                    planned.diffusion_batch,
                    gib(planned.predicted_peak_bytes)
                ),
            });
        }
    }
    match opts.batch_size {
        Some(wanted) if wanted != planned.diffusion_batch => plan(&PlanRequest {
            max_batch: Some(wanted),
            ..req
        }),
        _ => Ok(planned),
    }
}

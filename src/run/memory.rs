//! The run's memory budget and the refinement's plan, made before any frame is decoded or any
//! network loaded: its batch size and attention chunk sized to the device budget
//! (`--vram-budget`, else the memory free now) from the configurations of the weights actually
//! located. The tracker's plan is in [`super::track`].

use std::path::Path;

use super::config::RunConfig;
use crate::core::{Error, FrameSize, Result};
use crate::diffusion::footprint::DiffusionConfigs;
use crate::diffusion::locate::ComponentDirs;
use crate::diffusion::weights::read_config;
use crate::memory::profile::{gib, DeviceProfile};
use crate::memory::{plan, Budget, Plan, RefineRequest};
use crate::nn::cost::ConvKernel;

/// The configurations of the located diffusion weights.
fn configs(dirs: &ComponentDirs) -> Result<DiffusionConfigs> {
    let json = |dir: &Path| dir.join("config.json");
    Ok(DiffusionConfigs {
        text_encoder: read_config(&json(&dirs.text_encoder))?,
        unet: read_config(&json(&dirs.unet))?,
        controlnet: read_config(&json(&dirs.controlnet))?,
        vae: read_config(&json(&dirs.vae))?,
    })
}

/// The budget to plan for: the user's, else the memory free now, else (where the device
/// does not say) no limit rather than none at all.
pub(super) fn budget(explicit: Option<u64>) -> Budget {
    let bytes = explicit.unwrap_or_else(|| match DeviceProfile::current().free_bytes {
        0 => u64::MAX,
        free => free,
    });
    Budget {
        bytes,
        option: "--vram-budget",
    }
}

/// Plans the diffusion stages of `cfg` for frames of `frame` size. Returns the plan, at the
/// user's `--batch-size` when one is set and fits (so that its predicted peak is for the batch
/// the run uses); `--batch-size N` above what fits in an explicit `--vram-budget` is an error
/// with the numbers.
pub(super) fn plan_refine(cfg: &RunConfig, dirs: &ComponentDirs, frame: FrameSize) -> Result<Plan> {
    let opts = &cfg.diffusion;
    let req = RefineRequest {
        budget: budget(cfg.vram_budget),
        frame,
        region_px: opts.roi.model_region_px(frame, opts.region),
        precision: opts.precision,
        conv: ConvKernel::of(&crate::nn::device()),
        max_batch: None,
        vae_tile_px: opts.vae.tiling.map(|t| t.sample_px as u64),
        configs: configs(dirs)?,
    };
    let planned = plan(&req, None)?;
    if let (Some(wanted), Some(_)) = (opts.batch_size, cfg.vram_budget) {
        if wanted > planned.diffusion_batch {
            return Err(Error::InvalidArgument {
                name: "--batch-size",
                detail: format!(
                    "{wanted} frames per batch do not fit in --vram-budget {}: the plan allows \
                     at most {} (peak {}); lower --batch-size or use 'auto'",
                    gib(req.budget.bytes),
                    planned.diffusion_batch,
                    gib(planned.predicted_peak_bytes)
                ),
            });
        }
    }
    match opts.batch_size {
        Some(wanted) if wanted != planned.diffusion_batch => plan(
            &RefineRequest {
                max_batch: Some(wanted),
                ..req
            },
            None,
        ),
        _ => Ok(planned),
    }
}

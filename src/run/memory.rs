//! The run's memory plan: the diffusion stages' batch size and attention chunk sized to the
//! device budget (`--vram-budget`, else the memory free now) from the configurations of the
//! weights actually loaded, checked before any frame is decoded.

use std::path::Path;

use super::config::RunConfig;
use crate::core::{Error, FrameSize, Result};
use crate::diffusion::locate::ComponentDirs;
use crate::diffusion::weights::read_config;
use crate::memory::footprint::NetworkConfigs;
use crate::memory::ops::ConvKernel;
use crate::memory::plan::{plan, plan_pose, region_px, Plan, PlanRequest, StagePlan};
use crate::memory::profile::{gib, DeviceProfile};
use crate::pose::stage::PoseOptions;

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

/// The budget to plan for: the user's, else the memory free now, else (where the device
/// does not say) no limit rather than none at all.
fn budget_bytes(explicit: Option<u64>) -> u64 {
    explicit.unwrap_or_else(|| match DeviceProfile::current().free_bytes {
        0 => u64::MAX,
        free => free,
    })
}

/// Plans the pose stage for tracking `frames` frames of `frame` size with the checkpoint at
/// `weights` (its own configuration), before it is loaded: the largest pair batch up to
/// `--pose-batch` that fits the budget (`--vram-budget`, else the memory free now); fails
/// with the bytes missing when one pair does not fit.
pub(super) fn plan_track(
    options: &PoseOptions,
    weights: &Path,
    frame: FrameSize,
    frames: u64,
) -> Result<StagePlan> {
    let device = crate::nn::device();
    plan_pose(&PlanRequest {
        budget_bytes: budget_bytes(options.vram_budget_bytes),
        frame,
        region_px: (0, 0),
        frames,
        dtype: options.dtype,
        conv: ConvKernel::of(&device),
        max_batch: None,
        max_pose_batch: Some(options.batch),
        pose_size_px: options.size_px,
        track: options.track,
        configs: NetworkConfigs {
            pose: crate::pose::weights::config(weights)?,
            ..NetworkConfigs::published()
        },
        pose: true,
        vae_tile_px: None,
        budget_option: "--vram-budget",
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
    let budget = budget_bytes(cfg.vram_budget);
    let opts = &cfg.diffusion;
    let req = PlanRequest {
        budget_bytes: budget,
        frame,
        region_px: region_px(frame, opts.region, &opts.roi),
        frames,
        dtype: opts.precision.dtype(),
        conv: ConvKernel::of(&crate::nn::device()),
        max_batch: None,
        max_pose_batch: None,
        pose_size_px: cfg.pose.size_px,
        track: cfg.pose.track,
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

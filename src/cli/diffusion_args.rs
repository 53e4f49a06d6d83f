//! Options of the diffusion refinement (`--refine diffusion`) and their validation into
//! [`RefineOptions`].

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::parse::{check, runs_on_gpu, PrecisionArg};
use vanelia::core::{Error, Result};
use vanelia::diffusion::locate::WeightsArgs;
use vanelia::diffusion::options::RefineOptions;
use vanelia::diffusion::roi::{RegionMode, RoiSettings};
use vanelia::diffusion::schedulers::SchedulerKind;
use vanelia::diffusion::vae::{TileConfig, VaeMode};

/// Diffusion scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchedulerArg {
    /// DPM-Solver++ 2M with Karras sigmas.
    #[value(name = "dpmpp-2m-karras")]
    DpmPp2mKarras,
    /// DDIM with leading spacing.
    Ddim,
}

/// Which part of the frame diffusion refines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RegionArg {
    /// A square around the product, at least --refine-px at model resolution.
    Product,
    /// The whole frame, short side scaled to --refine-px.
    FullFrame,
}

impl RegionArg {
    /// The library's region mode.
    pub fn mode(self) -> RegionMode {
        match self {
            Self::Product => RegionMode::Product,
            Self::FullFrame => RegionMode::FullFrame,
        }
    }
}

/// Options of `--refine diffusion`.
#[derive(Debug, Args)]
#[command(next_help_heading = "Diffusion refinement (--refine diffusion)")]
pub struct DiffusionArgs {
    /// What the refined product region should look like.
    #[arg(
        long,
        default_value = "a photo of a product in the scene, natural lighting, realistic shadows, filmed"
    )]
    pub prompt: String,
    /// What it should not look like (the unconditional half of guidance).
    #[arg(long, default_value = "")]
    pub negative_prompt: String,
    /// Frames per batch: "auto" sizes it to the device, or 1..64.
    #[arg(long, default_value = "auto", value_name = "auto|N")]
    pub batch_size: String,
    /// Denoising steps of the full schedule.
    #[arg(long, default_value_t = 12)]
    pub steps: u32,
    /// img2img strength in (0, 1]: the fraction of the schedule that runs.
    #[arg(long, default_value_t = 0.3)]
    pub strength: f64,
    /// Start at this noise level σ instead of at --strength, so schedulers and step counts
    /// can be compared at equal noise (DPM++ 12 @ 0.3 starts at 0.147, DDIM 20 @ 0.3 at 0.698).
    #[arg(long, value_name = "SIGMA")]
    pub start_sigma: Option<f64>,
    /// Scheduler.
    #[arg(long, value_enum, default_value_t = SchedulerArg::DpmPp2mKarras)]
    pub scheduler: SchedulerArg,
    /// Classifier-free guidance scale.
    #[arg(long, default_value_t = 7.5)]
    pub guidance: f64,
    /// ControlNet conditioning scale (diffusers' inpaint pipeline default).
    #[arg(long, default_value_t = 0.5)]
    pub controlnet_scale: f64,
    /// Region refined.
    #[arg(long, value_enum, default_value_t = RegionArg::Product)]
    pub region: RegionArg,
    /// Smallest side at model resolution, a multiple of 64 (SD 1.5 was trained at 512).
    #[arg(long, default_value_t = 512, value_name = "PX")]
    pub refine_px: u32,
    /// Pixels the product mask grows by to form the repaint mask.
    #[arg(long, default_value_t = 4, value_name = "PX")]
    pub mask_grow: u32,
    /// VAE tile size in pixels (diffusers' tiling with its blending); 0 turns tiling off.
    #[arg(long, default_value_t = 512, value_name = "PX")]
    pub vae_tile: u32,
    /// Encode and decode the whole batch at once instead of frame by frame.
    #[arg(long)]
    pub no_vae_slicing: bool,
    /// Network precision: auto is f16 on a CUDA GPU, f32 on the CPU.
    #[arg(long, value_enum, default_value_t = PrecisionArg::Auto)]
    pub precision: PrecisionArg,
    /// Stable Diffusion 1.5 folder in the diffusers layout [default: weights/stable-diffusion-v1-5,
    /// else the Hugging Face cache, else downloaded].
    #[arg(long, value_name = "DIR")]
    pub weights: Option<PathBuf>,
    /// Inpainting ControlNet folder [default: <weights>/controlnet,
    /// weights/control_v11p_sd15_inpaint, the Hugging Face cache, else downloaded].
    #[arg(long, value_name = "DIR")]
    pub controlnet: Option<PathBuf>,
    /// CLIP tokenizer: a tokenizer.json or a folder [default: <weights>/tokenizer].
    #[arg(long, value_name = "PATH")]
    pub tokenizer: Option<PathBuf>,
    /// Never download weights (also HF_HUB_OFFLINE=1).
    #[arg(long)]
    pub offline: bool,
}

impl DiffusionArgs {
    /// Validates into the stage's options.
    pub fn validate(&self, seed: u64, feather_px: f32) -> Result<RefineOptions> {
        check(
            "--strength",
            self.strength > 0.0 && self.strength <= 1.0,
            "must be in (0, 1]",
        )?;
        check(
            "--steps",
            (1..=1000).contains(&self.steps),
            "must be in 1..=1000",
        )?;
        check(
            "--start-sigma",
            self.start_sigma.is_none_or(|s| s.is_finite() && s > 0.0),
            "must be a positive noise level",
        )?;
        check(
            "--guidance",
            self.guidance.is_finite() && (1.0..=30.0).contains(&self.guidance),
            "must be in 1..=30 (1 turns guidance off)",
        )?;
        check(
            "--controlnet-scale",
            self.controlnet_scale.is_finite() && (0.0..=2.0).contains(&self.controlnet_scale),
            "must be in 0..=2",
        )?;
        check(
            "--refine-px",
            self.refine_px >= 64 && self.refine_px.is_multiple_of(64) && self.refine_px <= 2048,
            "must be a multiple of 64 in 64..=2048",
        )?;
        check("--mask-grow", self.mask_grow <= 64, "must be in 0..=64 px")?;
        check(
            "--vae-tile",
            self.vae_tile == 0 || (self.vae_tile >= 64 && self.vae_tile.is_multiple_of(64)),
            "must be 0 (off) or a multiple of 64",
        )?;
        Ok(RefineOptions {
            prompt: self.prompt.clone(),
            negative_prompt: self.negative_prompt.clone(),
            scheduler: match self.scheduler {
                SchedulerArg::DpmPp2mKarras => SchedulerKind::DpmPp2mKarras,
                SchedulerArg::Ddim => SchedulerKind::Ddim,
            },
            steps: self.steps as usize,
            strength: self.strength,
            start_sigma: self.start_sigma,
            guidance: self.guidance,
            controlnet_scale: self.controlnet_scale,
            region: self.region.mode(),
            roi: RoiSettings {
                min_model_px: self.refine_px,
                ..RoiSettings::default()
            },
            mask_grow_px: self.mask_grow,
            feather_px,
            vae: VaeMode {
                slicing: !self.no_vae_slicing,
                tiling: (self.vae_tile > 0).then_some(TileConfig {
                    sample_px: self.vae_tile as usize,
                    latent: self.vae_tile as usize / 8,
                    overlap: 0.25,
                }),
            },
            batch_size: parse_batch(&self.batch_size)?,
            precision: self.precision.precision(runs_on_gpu()),
            seed,
            weights: WeightsArgs {
                weights: self.weights.clone(),
                controlnet: self.controlnet.clone(),
                tokenizer: self.tokenizer.clone(),
                offline: self.offline,
            },
            inject_alloc_limit: vanelia::memory::profile::injected_alloc_limit(),
        })
    }
}

fn parse_batch(s: &str) -> Result<Option<usize>> {
    if s == "auto" {
        return Ok(None);
    }
    match s.parse::<usize>() {
        Ok(n) if (1..=64).contains(&n) => Ok(Some(n)),
        _ => Err(Error::InvalidArgument {
            name: "--batch-size",
            detail: format!("expected \"auto\" or 1..=64, got \"{s}\""),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_size_parses() {
        assert_eq!(parse_batch("auto").unwrap(), None);
        assert_eq!(parse_batch("8").unwrap(), Some(8));
        assert!(parse_batch("0").is_err());
        assert!(parse_batch("x").is_err());
    }
}

//! Options of `vanelia plan`: the memory plan for a budget, without loading anything.

use clap::{Args, ValueEnum};

use super::diffusion_args::RegionArg;
use super::parse::{check, memory_size, PrecisionArg};
use super::pose_args::check_tracker_shape;
use vanelia::core::{Error, FrameSize, Result};
use vanelia::diffusion::footprint::DiffusionConfigs;
use vanelia::diffusion::roi::RoiSettings;
use vanelia::memory::{Budget, PoseRequest, RefineRequest};
use vanelia::nn::cost::ConvKernel;
use vanelia::pose::network::config::Dust3rConfig;
use vanelia::pose::tracking::tracker::TrackOptions;

/// How the device planned for convolves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ConvArg {
    /// candle's CPU kernel.
    Cpu,
    /// CUDA without cuDNN: an im2col column buffer per convolution.
    Im2col,
    /// cuDNN.
    Cudnn,
}

impl ConvArg {
    fn kernel(self) -> ConvKernel {
        match self {
            Self::Cpu => ConvKernel::Cpu,
            Self::Im2col => ConvKernel::Im2col,
            Self::Cudnn => ConvKernel::Cudnn,
        }
    }
}

/// What `vanelia plan` plans: the refinement, and the tracker unless `--no-pose`.
#[derive(Debug, Clone)]
pub struct PlanJob {
    /// The refinement beside the renderer.
    pub refine: RefineRequest,
    /// The tracker.
    pub pose: Option<PoseRequest>,
}

/// Output format of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// A table.
    Table,
    /// JSON.
    Json,
}

/// Options of `vanelia plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Device memory to plan for, e.g. 6G, 8G, 12G, 24G, 80G.
    #[arg(long, value_name = "SIZE")]
    pub vram: String,
    /// Frame size WxH of the clip.
    #[arg(long, default_value = "1920x1080", value_name = "WxH")]
    pub resolution: String,
    /// Smallest refined side at model resolution (as the main job's --refine-px).
    #[arg(long, default_value_t = 512)]
    pub refine_px: u32,
    /// Which part of the frame diffusion refines.
    #[arg(long, value_enum, default_value_t = RegionArg::Product)]
    pub region: RegionArg,
    /// Frames of the clip (the tracker caches one encoding per frame).
    #[arg(long, default_value_t = 100)]
    pub frames: u64,
    /// Network precision: auto is what the planned device gets, f16 (plans are for GPUs).
    #[arg(long, value_enum, default_value_t = PrecisionArg::Auto)]
    pub precision: PrecisionArg,
    /// Convolution kernel of the device planned for [default: this build's GPU kernel:
    /// cudnn with the `cudnn` feature, else im2col].
    #[arg(long, value_enum, value_name = "KERNEL")]
    pub conv: Option<ConvArg>,
    /// VAE tile in pixels as the main job's --vae-tile (0: untiled unless needed to fit).
    #[arg(long, default_value_t = 512, value_name = "PX")]
    pub vae_tile: u32,
    /// Plan as if the camera track were imported (no pose stage).
    #[arg(long)]
    pub no_pose: bool,
    /// Plan at this diffusion batch (or the largest below it that fits) instead of the largest
    /// that fits.
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,
    /// Plan the pose stage at this many pairs per batch (or the largest below it that fits),
    /// as the main job's --pose-batch.
    #[arg(long, value_name = "N")]
    pub pose_batch: Option<usize>,
    /// Every N-th frame is a keyframe, as the main job's --keyframe-every.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub keyframe_every: usize,
    /// Keyframes are paired with this many following keyframes, as the main job's
    /// --pose-window.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub pose_window: usize,
    /// Pose network input long side in pixels, as the main job's --pose-size.
    #[arg(long, default_value_t = 512, value_name = "PX")]
    pub pose_size: u32,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

impl PlanArgs {
    /// Validates into plan requests for the published networks.
    pub fn validate(&self) -> Result<PlanJob> {
        let budget = Budget {
            bytes: memory_size("--vram", &self.vram)?,
            option: "--vram",
        };
        let frame = parse_resolution(&self.resolution)?;
        check(
            "--refine-px",
            (64..=4096).contains(&self.refine_px) && self.refine_px.is_multiple_of(64),
            "must be a multiple of 64 in 64..=4096",
        )?;
        check("--frames", self.frames >= 2, "must be at least 2")?;
        check(
            "--batch-size",
            self.batch_size.is_none_or(|b| (1..=64).contains(&b)),
            "must be in 1..=64",
        )?;
        check_tracker_shape(
            self.pose_size,
            self.keyframe_every,
            self.pose_window,
            self.pose_batch.unwrap_or(1),
        )?;
        let roi = RoiSettings {
            min_model_px: self.refine_px,
            ..RoiSettings::default()
        };
        let precision = self.precision.precision(true);
        let conv = self.conv.map_or_else(ConvKernel::gpu, ConvArg::kernel);
        let refine = RefineRequest {
            budget,
            frame,
            region_px: roi.model_region_px(frame, self.region.mode()),
            precision,
            conv,
            max_batch: self.batch_size,
            vae_tile_px: (self.vae_tile > 0).then_some(u64::from(self.vae_tile)),
            configs: DiffusionConfigs::published(),
        };
        let pose = (!self.no_pose).then(|| PoseRequest {
            budget,
            frame,
            frames: self.frames,
            precision,
            conv,
            max_pairs: self.pose_batch,
            size_px: self.pose_size,
            track: TrackOptions {
                keyframe_every: self.keyframe_every,
                window: self.pose_window,
                ..TrackOptions::default()
            },
            config: Dust3rConfig::released(),
        });
        Ok(PlanJob { refine, pose })
    }
}

/// Parses `WxH`.
pub fn parse_resolution(text: &str) -> Result<FrameSize> {
    let bad = || Error::InvalidArgument {
        name: "--resolution",
        detail: format!("expected WxH such as 1920x1080, got \"{text}\""),
    };
    let (w, h) = text.split_once(['x', 'X']).ok_or_else(bad)?;
    let (width, height) = (
        w.trim().parse::<u32>().map_err(|_| bad())?,
        h.trim().parse::<u32>().map_err(|_| bad())?,
    );
    if width < 16 || height < 16 || width > 16384 || height > 16384 {
        return Err(bad());
    }
    Ok(FrameSize { width, height })
}

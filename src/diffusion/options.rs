//! What the refinement is configured with and what it reports.

use super::locate::WeightsArgs;
use super::roi::{RegionMode, RoiSettings};
use super::schedulers::SchedulerKind;
use super::vae::VaeMode;
use crate::nn::Precision;

/// Everything the stage is configured with (validated by the command line).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RefineOptions {
    /// What the refined region should look like.
    pub prompt: String,
    /// What it should not (the unconditional half of guidance; "" by default, as diffusers).
    pub negative_prompt: String,
    /// Scheduler.
    pub scheduler: SchedulerKind,
    /// Inference steps of the full schedule.
    pub steps: usize,
    /// img2img strength in (0, 1].
    pub strength: f64,
    /// Start noise level instead of `strength`.
    pub start_sigma: Option<f64>,
    /// Classifier-free guidance scale.
    pub guidance: f64,
    /// ControlNet conditioning scale.
    pub controlnet_scale: f64,
    /// Which part of the frame is refined.
    pub region: RegionMode,
    /// Region sizing.
    pub roi: RoiSettings,
    /// Pixels the product mask grows by before it becomes the repaint mask (lets the model
    /// blend the silhouette into its surroundings).
    pub mask_grow_px: u32,
    /// Inward feather of the paste-back, in frame pixels.
    pub feather_px: f32,
    /// VAE slicing and tiling.
    pub vae: VaeMode,
    /// Frames per batch the user asked for (`--batch-size`); `None` lets the memory plan
    /// size it.
    pub batch_size: Option<usize>,
    /// Network precision.
    pub precision: Precision,
    /// Seed of every draw.
    pub seed: u64,
    /// Where the weights are.
    pub weights: WeightsArgs,
    /// Simulated device size: a batch whose UNet step needs more bytes than this fails as out
    /// of memory (the memory model's estimate; `VANELIA_INJECT_ALLOC_LIMIT`), so that the OOM
    /// recovery can be exercised on a CPU. `None` in normal runs.
    #[serde(skip)]
    pub inject_alloc_limit: Option<u64>,
}

/// What the run's memory plan decided for the loaded stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizing {
    /// Frames per batch (halved for the rest of the run if a batch runs out of memory).
    pub batch_size: usize,
    /// Query rows per attention chunk.
    pub attention_chunk: usize,
}

/// Counters for the run report.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RefineStats {
    /// UNet evaluations (a guidance-doubled batch counts once).
    pub unet_evaluations: usize,
    /// Batches run.
    pub batches: usize,
    /// Frames per batch.
    pub batch_size: usize,
    /// Model resolution of the last batch, width x height.
    pub model_px: [u32; 2],
    /// Times a batch ran out of memory and was retried at half the size.
    pub oom_retries: usize,
}

//! The memory plan's types: the typed requests ([`PoseRequest`] for the tracker's pair batch,
//! planned alone before it loads; [`RefineRequest`] for the refinement beside the renderer),
//! the steps planned and the [`Plan`] with its table. [`super::planner`] fills them in.

use serde::{Deserialize, Serialize};

use super::profile::gib;
use crate::core::{FrameSize, Stage};
use crate::diffusion::footprint::DiffusionConfigs;
use crate::nn::attention::QUERY_CHUNK;
use crate::nn::cost::ConvKernel;
use crate::nn::Precision;
use crate::pose::network::config::Dust3rConfig;
use crate::pose::tracking::tracker::TrackOptions;

/// Fraction of the budget a plan may use (the rest absorbs allocator slack and fragmentation).
pub const USABLE_FRACTION: f64 = 0.9;
/// Batch sizes tried, largest first.
pub const BATCHES: [usize; 4] = [8, 4, 2, 1];
/// Attention query chunks tried for each batch size, largest (fastest) first.
pub const CHUNKS: [usize; 3] = [QUERY_CHUNK, 1024, 256];
/// Frames rendered per GPU submission.
pub(super) const RENDER_BATCH: u64 = 8;
/// VAE tile (pixels) when the plan has to tile and the user set none.
pub(super) const VAE_TILE_PX: u64 = 512;

/// Device memory available to vanelia and the option that set it (for messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Bytes.
    pub bytes: u64,
    /// `--vram` or `--vram-budget`.
    pub option: &'static str,
}

impl Budget {
    /// What a plan may use of it.
    pub(super) fn usable(self) -> u64 {
        (self.bytes as f64 * USABLE_FRACTION) as u64
    }
}

/// What the pose stage's plan needs.
#[derive(Debug, Clone)]
pub struct PoseRequest {
    /// The budget.
    pub budget: Budget,
    /// Decoded frame size.
    pub frame: FrameSize,
    /// Frames tracked (one cached encoding each).
    pub frames: u64,
    /// Network precision.
    pub precision: Precision,
    /// The convolution kernel of the device planned for.
    pub conv: ConvKernel,
    /// Largest pair batch the user allows (`--pose-batch N`), if any.
    pub max_pairs: Option<usize>,
    /// The network's input long side, pixels (`--pose-size`).
    pub size_px: u32,
    /// The tracker's keyframes, window and registration chunk.
    pub track: TrackOptions,
    /// The network's configuration.
    pub config: Dust3rConfig,
}

/// What the refinement's plan needs.
#[derive(Debug, Clone)]
pub struct RefineRequest {
    /// The budget.
    pub budget: Budget,
    /// Decoded frame size (the renderer's targets).
    pub frame: FrameSize,
    /// Refined region at model resolution (pixels, multiples of 64).
    pub region_px: (u64, u64),
    /// Network precision.
    pub precision: Precision,
    /// The convolution kernel of the device planned for.
    pub conv: ConvKernel,
    /// Largest batch the user allows (`--batch-size N`), if any.
    pub max_batch: Option<usize>,
    /// The user's VAE tile (`--vae-tile`, pixels): the VAE tiles above it whatever the
    /// budget; `None` = untiled unless the plan needs it.
    pub vae_tile_px: Option<u64>,
    /// The networks' configurations.
    pub configs: DiffusionConfigs,
}

/// A step of the plan: the pose network, the renderer or one of the refinement's networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanStep {
    /// DUSt3R tracking.
    Pose,
    /// The renderer's targets.
    Render,
    /// The CLIP text encoder (once per run).
    TextEncoder,
    /// The VAE encoder.
    VaeEncode,
    /// One UNet + ControlNet step.
    UnetControlnet,
    /// The VAE decoder.
    VaeDecode,
}

impl PlanStep {
    /// The name in tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pose => "pose",
            Self::Render => "render",
            Self::TextEncoder => "text_encoder",
            Self::VaeEncode => "vae_encode",
            Self::UnetControlnet => "unet_controlnet",
            Self::VaeDecode => "vae_decode",
        }
    }

    /// The pipeline stage the step belongs to.
    pub fn stage(self) -> Stage {
        match self {
            Self::Pose => Stage::Track,
            Self::Render => Stage::Render,
            Self::TextEncoder | Self::VaeEncode | Self::UnetControlnet | Self::VaeDecode => {
                Stage::Refine
            }
        }
    }
}

/// One step of the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StagePlan {
    /// The step.
    pub name: PlanStep,
    /// Resident weights while the step runs.
    pub weights_bytes: u64,
    /// Activations at the step's high-water mark.
    pub activation_bytes: u64,
    /// Frames (pairs for the pose step) per batch.
    pub batch: usize,
    /// Network precision (`-` for the renderer, which runs no network).
    #[serde(with = "dash_if_none")]
    pub dtype: Option<Precision>,
    /// weights + activations.
    pub peak_bytes: u64,
}

/// How long the networks' weights stay loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Residency {
    /// A stage's weights are loaded when it starts and dropped when it ends. Within one run
    /// every stage runs once, in order (tracking, then rendering with refinement, the text
    /// encoder once before the first batch), so keeping finished stages' weights loaded would
    /// buy nothing; the pipeline always runs this way.
    StageAtATime,
}

/// The plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The budget planned for.
    pub budget_bytes: u64,
    /// Per step, in pipeline order.
    pub stages: Vec<StagePlan>,
    /// How long weights stay loaded.
    pub residency: Residency,
    /// Peak under that residency: the largest stage (the renderer counted beside refinement).
    pub predicted_peak_bytes: u64,
    /// Peak if every network stayed loaded (for a long-lived process serving many clips).
    pub all_resident_peak_bytes: u64,
    /// Diffusion frames per batch.
    pub diffusion_batch: usize,
    /// VAE per-frame slicing (always on: same FLOPs, peak divided by the batch).
    pub vae_slicing: bool,
    /// VAE tile in pixels (the user's, or the plan's when tiling is needed to fit).
    pub vae_tile_px: Option<u64>,
    /// Attention query chunk.
    pub attention_chunk: usize,
    /// The convolution kernel the activations were modelled for.
    pub conv_kernel: ConvKernel,
}

impl Plan {
    /// The plan as a text table.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{:<16} {:>12} {:>12} {:>6} {:>6} {:>12}\n",
            "stage", "weights", "activations", "batch", "dtype", "peak"
        );
        for s in &self.stages {
            out.push_str(&format!(
                "{:<16} {:>12} {:>12} {:>6} {:>6} {:>12}\n",
                s.name.name(),
                gib(s.weights_bytes),
                gib(s.activation_bytes),
                s.batch,
                s.dtype.map_or("-", Precision::name),
                gib(s.peak_bytes)
            ));
        }
        out.push_str(&format!(
            "budget {} ({}% usable), residency {}, predicted peak {} (all resident: {}), \
             VAE sliced{}, attention chunk {}, {} convolutions\n",
            gib(self.budget_bytes),
            (USABLE_FRACTION * 100.0) as u32,
            self.residency.name(),
            gib(self.predicted_peak_bytes),
            gib(self.all_resident_peak_bytes),
            self.vae_tile_px
                .map(|t| format!(" and tiled at {t} px"))
                .unwrap_or_default(),
            self.attention_chunk,
            self.conv_kernel.name()
        ));
        out
    }
}

impl Residency {
    /// The name in tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::StageAtATime => "stage-at-a-time",
        }
    }
}

/// `Option<Precision>` as its name, or `-` for none.
mod dash_if_none {
    use serde::{Deserialize as _, Deserializer, Serializer};

    use crate::nn::Precision;

    pub fn serialize<S: Serializer>(v: &Option<Precision>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v.map_or("-", Precision::name))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Precision>, D::Error> {
        let name = String::deserialize(d)?;
        match name.as_str() {
            "-" => Ok(None),
            "f32" => Ok(Some(Precision::F32)),
            "f16" => Ok(Some(Precision::F16)),
            "bf16" => Ok(Some(Precision::Bf16)),
            other => Err(serde::de::Error::custom(format!("unknown dtype {other}"))),
        }
    }
}

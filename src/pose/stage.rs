//! The pose stage as the pipeline runs it: frames in, a validated [`CameraTrack`] out (poses
//! and intrinsics in the decoded frame's pixels, confident scene points), plus figures and
//! warnings for the run report.

use std::path::{Path, PathBuf};

use super::footprint::pose_pair_bytes;
use super::preprocess::{PoseInput, PreprocessGeometry};
use super::tracking::predictor::{InjectedLimit, NetworkPredictor};
use super::tracking::tracker::{track, TrackOptions, TrackStats};
use crate::core::error::backend_failure;
use crate::core::{
    CameraPose, CameraTrack, Error, Frame, FrameSize, Intrinsics, Progress, Result, Stage,
};
use crate::nn::cost::Ops;
use crate::nn::Precision;

/// Options of the pose stage.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PoseOptions {
    /// Checkpoint file or folder (`--pose-weights`); `None` = ./weights, cache, hub.
    pub weights: Option<PathBuf>,
    /// Never download.
    pub offline: bool,
    /// Network input long side in pixels (512 for the released checkpoints).
    pub size_px: u32,
    /// Most pairs decoded per batch (`--pose-batch`); the memory plan may choose fewer.
    pub batch: usize,
    /// Simulated device size for the pair batches (`VANELIA_INJECT_ALLOC_LIMIT`, see
    /// [`super::tracking::predictor::InjectedLimit`]).
    #[serde(skip)]
    pub inject_alloc_limit_bytes: Option<u64>,
    /// Network precision (f16 is for GPUs; the reference runs f32).
    pub precision: Precision,
    /// Tracker settings.
    pub track: TrackOptions,
}

impl Default for PoseOptions {
    fn default() -> Self {
        Self {
            weights: None,
            offline: false,
            size_px: 512,
            batch: 8,
            inject_alloc_limit_bytes: None,
            precision: Precision::F32,
            track: TrackOptions::default(),
        }
    }
}

/// A tracked clip.
#[derive(Debug, Clone)]
pub struct TrackedClip {
    /// The camera track in the decoded frames' pixels.
    pub track: CameraTrack,
    /// Figures for the report.
    pub stats: TrackStats,
    /// Warnings for the report.
    pub warnings: Vec<String>,
}

/// Fails before any frame is decoded when the weights cannot be found; returns their path.
pub fn preflight(options: &PoseOptions) -> Result<PathBuf> {
    super::locate::locate(options.weights.as_deref(), options.offline)
}

/// Preprocesses every frame, tracks the camera with the checkpoint at `weights` (found by
/// [`preflight`]) at `options.batch` pairs per batch and maps the result to the frames' pixels.
pub fn track_frames(
    frames: impl Iterator<Item = Result<Frame>>,
    options: &PoseOptions,
    weights: &Path,
    progress: &dyn Progress,
) -> Result<TrackedClip> {
    let device = crate::nn::device();
    let dtype = options.precision.dtype();
    if options.precision == Precision::Bf16 && device.is_cpu() {
        return Err(Error::InvalidArgument {
            name: "--pose-precision",
            detail: "bf16 needs a CUDA device; use f32 or f16 on the CPU".into(),
        });
    }
    let inputs = preprocess_all(frames, options.size_px)?;
    let Some(first) = inputs.first() else {
        return Err(Error::InvalidArgument {
            name: "--input",
            detail: "camera tracking needs at least 2 frames, the clip has none".into(),
        });
    };
    let geometry = first.geometry;
    let model = super::network::weights::load(weights, dtype, &device)?;
    let net = geometry.network;
    let size_px = (net.height as usize, net.width as usize);
    progress.begin("tracking", 1);
    let load = |k: usize| -> candle_core::Result<candle_core::Tensor> {
        match inputs.get(k) {
            Some(input) => input.to_tensor(&device),
            None => candle_core::bail!("frame {k} out of range"),
        }
    };
    let injected = options
        .inject_alloc_limit_bytes
        .map(|limit_bytes| InjectedLimit {
            limit_bytes,
            per_pair_bytes: pose_pair_bytes(
                &model.config,
                Ops::on(&device, dtype),
                (net.height.into(), net.width.into()),
            ),
        });
    let mut predictor = NetworkPredictor::new(&model, &device, size_px, options.batch, load)
        .with_injected_limit(injected);
    let outcome = track(&mut predictor, inputs.len(), &options.track).map_err(|e| {
        backend_failure(Stage::Track, e.to_string(), |detail| Error::Unavailable {
            what: "camera tracking",
            hint: format!("{detail}; import a camera track with --poses instead"),
        })
    })?;
    progress.advance("tracking", 1);
    let mut warnings = outcome.warnings;
    if predictor.oom_retries > 0 {
        warnings.push(format!(
            "{} pair batches ran out of device memory and were retried at half the size; \
             tracking ended at {} pairs per batch (set --pose-batch to that to skip the retries)",
            predictor.oom_retries,
            predictor.batch()
        ));
    }
    let poses = outcome
        .world_from_cam
        .iter()
        .zip(&outcome.focal_px)
        .map(|(m, &f)| CameraPose {
            world_from_cam: *m,
            intrinsics: source_intrinsics(&geometry, f),
        })
        .collect();
    let track = CameraTrack {
        size: geometry.source,
        poses,
        points: outcome.points,
        scene_depth: Default::default(),
    };
    Ok(TrackedClip {
        track,
        stats: TrackStats {
            pair_batch: predictor.batch(),
            oom_retries: predictor.oom_retries,
            ..outcome.stats
        },
        warnings,
    })
}

/// Network-grid intrinsics (focal `focal_px`, principal point at the crop's centre as the
/// reference puts it) mapped to the decoded frame's pixels.
fn source_intrinsics(geometry: &PreprocessGeometry, focal_px: f64) -> Intrinsics {
    let net = geometry.network;
    let network = Intrinsics {
        focal_px: [focal_px, focal_px],
        principal_px: [f64::from(net.width) / 2.0, f64::from(net.height) / 2.0],
        size: FrameSize {
            width: net.width,
            height: net.height,
        },
        lens: Default::default(),
    };
    geometry.network_to_source(&network)
}

fn preprocess_all(
    frames: impl Iterator<Item = Result<Frame>>,
    size_px: u32,
) -> Result<Vec<PoseInput>> {
    frames
        .map(|frame| PoseInput::from_frame(&frame?, size_px))
        .collect()
}

//! The memory plan: for a budget, the dtype, batch sizes (8, 4, 2 or 1: the largest that fits
//! with headroom), VAE slicing/tiling, attention chunk and residency, with each stage's
//! weights, activations and predicted peak. Fails before anything is loaded when even batch 1
//! does not fit, naming the stage and the bytes missing.

use candle_core::DType;
use serde::Serialize;

use super::footprint::{
    control_hint_bytes, denoise_step_bytes, dtype_bytes, pose_bytes, pose_parameters, render_bytes,
    text_encoder_bytes, vae_decode_bytes, vae_encode_bytes, NetworkConfigs, ParameterCounts,
    PoseWork,
};
use super::ops::{ConvKernel, Ops};
use super::profile::gib;
use crate::core::{Error, FrameSize, Result};
use crate::nn::attention::QUERY_CHUNK;
use crate::pose::preprocess::PreprocessGeometry;
use crate::pose::tracker::TrackOptions;

/// Fraction of the budget a plan may use (the rest absorbs allocator slack and fragmentation).
pub const USABLE_FRACTION: f64 = 0.9;
/// Batch sizes tried, largest first.
pub const BATCHES: [usize; 4] = [8, 4, 2, 1];
/// Attention query chunks tried for each batch size, largest (fastest) first.
pub const CHUNKS: [usize; 3] = [QUERY_CHUNK, 1024, 256];
/// Frames rendered per GPU submission.
const RENDER_BATCH: u64 = 8;
/// VAE tile (pixels) when the plan has to tile and the user set none.
const VAE_TILE_PX: u64 = 512;

/// What to plan for.
#[derive(Debug, Clone)]
pub struct PlanRequest {
    /// Device memory available to vanelia, bytes.
    pub budget_bytes: u64,
    /// Decoded frame size.
    pub frame: FrameSize,
    /// Refined region at model resolution (pixels, multiples of 64).
    pub region_px: (u64, u64),
    /// Frames of the clip (the pose stage caches one encoding per frame).
    pub frames: u64,
    /// Network dtype of the diffusion and pose stages.
    pub dtype: DType,
    /// The convolution kernel of the device planned for.
    pub conv: ConvKernel,
    /// Largest diffusion batch the user allows (`--batch-size N`), if any.
    pub max_batch: Option<usize>,
    /// Largest pose pair batch the user allows (`--pose-batch N`), if any.
    pub max_pose_batch: Option<usize>,
    /// The pose network's input long side, pixels (`--pose-size`).
    pub pose_size_px: u32,
    /// The tracker's keyframes, window and registration chunk.
    pub track: TrackOptions,
    /// The networks' configurations.
    pub configs: NetworkConfigs,
    /// Whether the pose stage runs (no imported track).
    pub pose: bool,
    /// The user's VAE tile (`--vae-tile`, pixels): the VAE tiles above it whatever the
    /// budget; `None` = untiled unless the plan needs it.
    pub vae_tile_px: Option<u64>,
    /// The option that set the budget, for messages (`--vram`, `--vram-budget`).
    pub budget_option: &'static str,
}

/// One stage of the plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StagePlan {
    /// Stage name.
    pub name: String,
    /// Resident weights while the stage runs.
    pub weights_bytes: u64,
    /// Activations at the stage's high-water mark.
    pub activation_bytes: u64,
    /// Frames (pairs for the pose stage) per batch.
    pub batch: usize,
    /// Network dtype (`"-"` for the renderer).
    pub dtype: String,
    /// weights + activations.
    pub peak_bytes: u64,
}

/// The plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// The budget planned for.
    pub budget_bytes: u64,
    /// Per stage, in pipeline order.
    pub stages: Vec<StagePlan>,
    /// `"stage-at-a-time"`: a stage's weights are loaded when it starts and dropped when it
    /// ends. Within one run every stage runs once, in order (tracking, then rendering with
    /// refinement, the text encoder once before the first batch), so keeping finished stages'
    /// weights loaded would buy nothing; the pipeline always runs this way.
    pub residency: String,
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

/// What the allocator holds beyond the tensors the footprint model counts, as a fraction of
/// them: blocks freed but kept for reuse, fragmentation, convolution column buffers. Measured
/// on full-size SD 1.5 networks (CPU, f32 and f16, batch 1-4, ROI and full frame): the run
/// peaks 3-13 % above the counted activations (BENCHMARKS.md).
pub const ALLOCATOR_SLACK: f64 = 0.15;

/// A stage's plan: `weights` exact, the modelled `activation` plus [`ALLOCATOR_SLACK`].
fn stage(name: &str, weights: u64, activation: u64, batch: usize, dtype: DType) -> StagePlan {
    let activation = (activation as f64 * (1.0 + ALLOCATOR_SLACK)) as u64;
    StagePlan {
        name: name.into(),
        weights_bytes: weights,
        activation_bytes: activation,
        batch,
        dtype: format!("{dtype:?}").to_lowercase(),
        peak_bytes: weights + activation,
    }
}

/// The diffusion stages at batch `b` and attention chunk `chunk` (VAE sliced; tiled when
/// `tile`).
fn diffusion_stages(
    req: &PlanRequest,
    counts: &ParameterCounts,
    b: usize,
    chunk: usize,
    tile: bool,
) -> Vec<StagePlan> {
    let s = dtype_bytes(req.dtype);
    let ops = Ops::of(req.conv, req.dtype);
    let (h, w) = req.region_px;
    let (vh, vw) = match (tile, req.vae_tile_px) {
        (_, Some(t)) => (h.min(t), w.min(t)),
        (true, None) => (h.min(VAE_TILE_PX), w.min(VAE_TILE_PX)),
        (false, None) => (h, w),
    };
    let (vae, unet) = (&req.configs.vae, &req.configs.unet);
    let resident = (counts.unet + counts.controlnet + counts.vae) * s;
    let latents = (h / 8, w / 8);
    vec![
        stage(
            "text_encoder",
            counts.text_encoder * s,
            text_encoder_bytes(&req.configs.text_encoder, s),
            1,
            req.dtype,
        ),
        stage(
            "vae_encode",
            resident,
            vae_encode_bytes(vae, ops, vh, vw, 1) + b as u64 * 4 * h * w * 4,
            b,
            req.dtype,
        ),
        stage(
            "unet_controlnet",
            resident,
            denoise_step_bytes(unet, ops, latents, 2 * b as u64, chunk as u64).max(
                control_hint_bytes(
                    &req.configs.controlnet.conditioning_embedding_out_channels,
                    req.configs
                        .controlnet
                        .unet
                        .block_out_channels
                        .first()
                        .copied()
                        .unwrap_or(0),
                    ops,
                    (h, w),
                    2 * b as u64,
                ),
            ),
            b,
            req.dtype,
        ),
        stage(
            "vae_decode",
            resident,
            vae_decode_bytes(vae, ops, vh, vw, 1) + b as u64 * 4 * h * w * 4,
            b,
            req.dtype,
        ),
    ]
}

fn pose_stage(req: &PlanRequest, pose_params: u64, pairs: usize) -> Result<StagePlan> {
    let geometry = PreprocessGeometry::new(req.frame, req.pose_size_px)?;
    let (h, w) = (
        u64::from(geometry.network.height),
        u64::from(geometry.network.width),
    );
    let work = PoseWork::of(req.frames, (h, w), pairs as u64, &req.track)?;
    let s = dtype_bytes(req.dtype);
    let act = pose_bytes(&req.configs.pose, Ops::of(req.conv, req.dtype), &work);
    Ok(stage("pose", pose_params * s, act, pairs, req.dtype))
}

/// The pose stage at the largest pair batch up to the user's `--pose-batch` that fits in the
/// budget; fails, naming the bytes missing, when one pair does not.
pub fn plan_pose(req: &PlanRequest) -> Result<StagePlan> {
    pose_plan(req, pose_parameters(&req.configs.pose)?)
}

fn pose_plan(req: &PlanRequest, pose_params: u64) -> Result<StagePlan> {
    let usable = (req.budget_bytes as f64 * USABLE_FRACTION) as u64;
    let tried = allowed_batches(req.max_pose_batch)
        .into_iter()
        .map(|p| pose_stage(req, pose_params, p))
        .collect::<Result<Vec<_>>>()?;
    match tried.iter().find(|s| s.peak_bytes <= usable) {
        Some(p) => Ok(p.clone()),
        None => Err(too_small(req, tried.last())),
    }
}

/// Diffusion batch sizes to try, largest first: [`BATCHES`] up to the user's cap, the cap
/// itself first when it is not one of them (`--batch-size 3` is planned at 3).
fn allowed_batches(max_batch: Option<usize>) -> Vec<usize> {
    let mut allowed: Vec<usize> = max_batch
        .filter(|m| *m > 0 && !BATCHES.contains(m))
        .into_iter()
        .collect();
    allowed.extend(
        BATCHES
            .into_iter()
            .filter(|&b| max_batch.is_none_or(|m| b <= m)),
    );
    allowed
}

fn peak(stages: &[StagePlan]) -> u64 {
    stages.iter().map(|s| s.peak_bytes).max().unwrap_or(0)
}

/// Plans for `req`.
pub fn plan(req: &PlanRequest) -> Result<Plan> {
    let counts = ParameterCounts::of(&req.configs)?;
    let usable = (req.budget_bytes as f64 * USABLE_FRACTION) as u64;
    let allowed = allowed_batches(req.max_batch);
    let mut stages = Vec::new();
    if req.pose {
        stages.push(pose_plan(req, counts.pose)?);
    }
    // the renderer stays loaded while frames are refined (they alternate per batch)
    let render = StagePlan {
        dtype: "-".into(),
        ..stage(
            "render",
            0,
            render_bytes(
                u64::from(req.frame.width),
                u64::from(req.frame.height),
                RENDER_BATCH,
            ),
            RENDER_BATCH as usize,
            req.dtype,
        )
    };
    let beside_render = usable.saturating_sub(render.peak_bytes);
    let mut chosen = None;
    'search: for tile in [false, true] {
        for &b in &allowed {
            for chunk in CHUNKS {
                let stages = diffusion_stages(req, &counts, b, chunk, tile);
                if peak(&stages) <= beside_render {
                    chosen = Some((b, chunk, tile, stages));
                    break 'search;
                }
            }
        }
    }
    let smallest = CHUNKS[CHUNKS.len() - 1];
    let Some((batch, chunk, tile, diffusion)) = chosen else {
        let worst = diffusion_stages(req, &counts, 1, smallest, true);
        let mut over = worst.iter().max_by_key(|s| s.peak_bytes).cloned();
        if let Some(o) = over.as_mut() {
            o.name = format!(
                "{} (beside the renderer's {})",
                o.name,
                gib(render.peak_bytes)
            );
            o.peak_bytes += render.peak_bytes;
        }
        return Err(too_small(req, over.as_ref()));
    };
    let pose_peak = stages.first().map_or(0, |p| p.peak_bytes);
    let predicted = pose_peak.max(render.peak_bytes + peak(&diffusion));
    stages.push(render.clone());
    stages.extend(diffusion);
    let pose_weights = if req.pose { counts.pose } else { 0 };
    let all_resident =
        (pose_weights + counts.text_encoder + counts.unet + counts.controlnet + counts.vae)
            * dtype_bytes(req.dtype)
            + render.peak_bytes
            + stages
                .iter()
                .filter(|s| s.name != "render")
                .map(|s| s.activation_bytes)
                .max()
                .unwrap_or(0);
    Ok(Plan {
        budget_bytes: req.budget_bytes,
        predicted_peak_bytes: predicted,
        all_resident_peak_bytes: all_resident,
        residency: "stage-at-a-time".into(),
        stages,
        diffusion_batch: batch,
        vae_slicing: true,
        vae_tile_px: req.vae_tile_px.or(tile.then_some(VAE_TILE_PX)),
        attention_chunk: chunk,
        conv_kernel: req.conv,
    })
}

fn too_small(req: &PlanRequest, stage: Option<&StagePlan>) -> Error {
    let usable = (req.budget_bytes as f64 * USABLE_FRACTION) as u64;
    let (name, need) = stage.map_or(("?".to_string(), 0), |s| (s.name.clone(), s.peak_bytes));
    let smaller = if name == "pose" {
        crate::core::error::TRACK_MEMORY_HINT
    } else {
        "a smaller --refine-px or f16 precision"
    };
    Error::InvalidArgument {
        name: req.budget_option,
        detail: format!(
            "{} ({} usable) is too small: the {name} stage needs {} at batch 1 ({} missing); \
             use a larger budget, {smaller}",
            gib(req.budget_bytes),
            gib(usable),
            gib(need),
            gib(need.saturating_sub(usable))
        ),
    }
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
                s.name,
                gib(s.weights_bytes),
                gib(s.activation_bytes),
                s.batch,
                s.dtype,
                gib(s.peak_bytes)
            ));
        }
        out.push_str(&format!(
            "budget {} ({}% usable), residency {}, predicted peak {} (all resident: {}), \
             VAE sliced{}, attention chunk {}, {} convolutions\n",
            gib(self.budget_bytes),
            (USABLE_FRACTION * 100.0) as u32,
            self.residency,
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

/// The refined region at model resolution (height, width): the smallest square of a product
/// region (a large product gives a larger one, which the OOM fallback absorbs), or the whole
/// frame scaled to the model's short side.
pub fn region_px(
    frame: FrameSize,
    region: crate::diffusion::stage::RegionMode,
    roi: &crate::diffusion::roi::RoiSettings,
) -> (u64, u64) {
    match region {
        crate::diffusion::stage::RegionMode::Product => {
            (u64::from(roi.min_model_px), u64::from(roi.min_model_px))
        }
        crate::diffusion::stage::RegionMode::FullFrame => {
            let r = crate::diffusion::roi::Roi::full_frame(frame, roi);
            (u64::from(r.model_height_px), u64::from(r.model_width_px))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(gib: u64, dtype: DType) -> PlanRequest {
        PlanRequest {
            budget_bytes: gib << 30,
            frame: FrameSize {
                width: 1920,
                height: 1080,
            },
            region_px: (512, 512),
            frames: 100,
            dtype,
            conv: ConvKernel::Im2col,
            max_batch: None,
            max_pose_batch: None,
            pose_size_px: 512,
            track: TrackOptions::default(),
            configs: NetworkConfigs::published(),
            pose: true,
            vae_tile_px: None,
            budget_option: "--vram",
        }
    }

    #[test]
    fn more_memory_never_gives_a_smaller_batch() {
        let mut last = 0;
        for g in [6, 8, 12, 24, 80] {
            let p = plan(&request(g, DType::F16)).unwrap();
            assert!(p.diffusion_batch >= last, "{g}G: {}", p.table());
            assert!(p.predicted_peak_bytes <= (g << 30), "{g}G: {}", p.table());
            last = p.diffusion_batch;
        }
        assert_eq!(last, 8);
        let p = plan(&request(80, DType::F16)).unwrap();
        assert_eq!(p.residency, "stage-at-a-time");
        assert!(p.all_resident_peak_bytes > p.predicted_peak_bytes);
    }

    #[test]
    fn a_budget_below_batch_one_names_the_stage_and_the_missing_bytes() {
        let err = plan(&request(1, DType::F16)).unwrap_err().to_string();
        assert!(err.contains("missing") && err.contains("stage"), "{err}");
        // a user cap is honoured
        let mut req = request(80, DType::F16);
        req.max_batch = Some(2);
        assert_eq!(plan(&req).unwrap().diffusion_batch, 2);
        req.max_batch = Some(3);
        assert_eq!(plan(&req).unwrap().diffusion_batch, 3);
        assert_eq!(allowed_batches(Some(12)), [12, 8, 4, 2, 1]);
        assert_eq!(allowed_batches(None), BATCHES);
    }

    #[test]
    fn the_pose_batch_is_capped_and_the_kernel_changes_the_convolution_heavy_stages() {
        let mut req = request(80, DType::F16);
        assert_eq!(plan_pose(&req).unwrap().batch, 8);
        req.max_pose_batch = Some(3);
        assert_eq!(plan_pose(&req).unwrap().batch, 3);
        let peak_of = |conv, name: &str| {
            let p = plan(&PlanRequest {
                conv,
                ..request(80, DType::F16)
            })
            .unwrap();
            p.stages
                .iter()
                .find(|s| s.name == name)
                .map(|s| s.peak_bytes)
                .unwrap()
        };
        for name in ["pose", "vae_decode", "vae_encode"] {
            let (im2col, cudnn) = (
                peak_of(ConvKernel::Im2col, name),
                peak_of(ConvKernel::Cudnn, name),
            );
            assert!(im2col > cudnn, "{name}: {im2col} <= {cudnn}");
        }
        // the UNet step is attention-bound at 512 px: the same for both kernels
        assert_eq!(
            peak_of(ConvKernel::Im2col, "unet_controlnet"),
            peak_of(ConvKernel::Cudnn, "unet_controlnet")
        );
    }
}

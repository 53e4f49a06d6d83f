//! The memory planner: for a budget, the batch sizes (8, 4, 2 or 1: the largest that fits
//! with headroom), VAE slicing/tiling and attention chunk, with each step's weights,
//! activations and predicted peak, from the memory models the stages expose
//! (`pose::footprint`, `diffusion::footprint`, [`render_bytes`]). Fails before anything is
//! loaded when even batch 1 does not fit, naming the step and the bytes missing.

use super::plan::{
    Budget, Plan, PlanStep, PoseRequest, RefineRequest, Residency, StagePlan, BATCHES, CHUNKS,
    RENDER_BATCH, VAE_TILE_PX,
};
use super::profile::gib;
use crate::core::{Error, FrameSize, Result, Stage};
use crate::diffusion::footprint::{
    control_hint_bytes, denoise_step_bytes, text_encoder_bytes, vae_decode_bytes, vae_encode_bytes,
    DiffusionParameters,
};
use crate::nn::cost::{dtype_bytes, Ops};
use crate::nn::Precision;
use crate::pose::footprint::{pose_bytes, pose_parameters, PoseWork};
use crate::pose::preprocess::PreprocessGeometry;
use crate::render::render_bytes;

/// What the allocator holds beyond the tensors the footprint model counts, as a fraction of
/// them: blocks freed but kept for reuse, fragmentation, convolution column buffers. Measured
/// on full-size SD 1.5 networks (CPU, f32 and f16, batch 1-4, ROI and full frame): the run
/// peaks 3-13 % above the counted activations (BENCHMARKS.md).
pub const ALLOCATOR_SLACK: f64 = 0.15;

/// A step's plan: `weights` exact, the modelled `activation` plus [`ALLOCATOR_SLACK`].
fn step(
    name: PlanStep,
    weights: u64,
    activation: u64,
    batch: usize,
    dtype: Option<Precision>,
) -> StagePlan {
    let activation = (activation as f64 * (1.0 + ALLOCATOR_SLACK)) as u64;
    StagePlan {
        name,
        weights_bytes: weights,
        activation_bytes: activation,
        batch,
        dtype,
        peak_bytes: weights + activation,
    }
}

/// The diffusion steps at batch `b` and attention chunk `chunk` (VAE sliced; tiled when
/// `tile`).
fn diffusion_steps(
    req: &RefineRequest,
    counts: &DiffusionParameters,
    b: usize,
    chunk: usize,
    tile: bool,
) -> Vec<StagePlan> {
    let dtype = req.precision.dtype();
    let s = dtype_bytes(dtype);
    let ops = Ops::of(req.conv, dtype);
    let (h, w) = req.region_px;
    let (vh, vw) = match (tile, req.vae_tile_px) {
        (_, Some(t)) => (h.min(t), w.min(t)),
        (true, None) => (h.min(VAE_TILE_PX), w.min(VAE_TILE_PX)),
        (false, None) => (h, w),
    };
    let (vae, unet, controlnet) = (&req.configs.vae, &req.configs.unet, &req.configs.controlnet);
    let resident = counts.resident() * s;
    let latents = (h / 8, w / 8);
    let samples = 2 * b as u64;
    let images = b as u64 * 4 * h * w * 4;
    let hint_out = controlnet
        .unet
        .block_out_channels
        .first()
        .copied()
        .unwrap_or(0);
    let precision = Some(req.precision);
    vec![
        step(
            PlanStep::TextEncoder,
            counts.text_encoder * s,
            text_encoder_bytes(&req.configs.text_encoder, s),
            1,
            precision,
        ),
        step(
            PlanStep::VaeEncode,
            resident,
            vae_encode_bytes(vae, ops, vh, vw, 1) + images,
            b,
            precision,
        ),
        step(
            PlanStep::UnetControlnet,
            resident,
            denoise_step_bytes(unet, ops, latents, samples, chunk as u64).max(control_hint_bytes(
                &controlnet.conditioning_embedding_out_channels,
                hint_out,
                ops,
                (h, w),
                samples,
            )),
            b,
            precision,
        ),
        step(
            PlanStep::VaeDecode,
            resident,
            vae_decode_bytes(vae, ops, vh, vw, 1) + images,
            b,
            precision,
        ),
    ]
}

fn pose_step(req: &PoseRequest, pose_params: u64, pairs: usize) -> Result<StagePlan> {
    let geometry = PreprocessGeometry::new(req.frame, req.size_px)?;
    let (h, w) = (
        u64::from(geometry.network.height),
        u64::from(geometry.network.width),
    );
    let work = PoseWork::of(req.frames, (h, w), pairs as u64, &req.track)?;
    let dtype = req.precision.dtype();
    let act = pose_bytes(&req.config, Ops::of(req.conv, dtype), &work);
    let weights = pose_params * dtype_bytes(dtype);
    Ok(step(
        PlanStep::Pose,
        weights,
        act,
        pairs,
        Some(req.precision),
    ))
}

/// The pose stage at the largest pair batch up to the user's `--pose-batch` that fits in the
/// budget; fails, naming the bytes missing, when one pair does not.
pub fn plan_pose(req: &PoseRequest) -> Result<StagePlan> {
    let params = pose_parameters(&req.config)?;
    let tried = allowed_batches(req.max_pairs)
        .into_iter()
        .map(|p| pose_step(req, params, p))
        .collect::<Result<Vec<_>>>()?;
    match tried.iter().find(|s| s.peak_bytes <= req.budget.usable()) {
        Some(p) => Ok(p.clone()),
        None => Err(too_small(req.budget, tried.last())),
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

fn peak(steps: &[StagePlan]) -> u64 {
    steps.iter().map(|s| s.peak_bytes).max().unwrap_or(0)
}

/// The renderer's step: its targets stay allocated while frames are refined (they alternate
/// per batch).
fn render_step(frame: FrameSize) -> StagePlan {
    let bytes = render_bytes(
        u64::from(frame.width),
        u64::from(frame.height),
        RENDER_BATCH,
    );
    step(PlanStep::Render, 0, bytes, RENDER_BATCH as usize, None)
}

/// Plans the refinement of `req` beside the renderer, and the pose stage first when `pose` is
/// given (the track is computed, not imported).
pub fn plan(req: &RefineRequest, pose: Option<&PoseRequest>) -> Result<Plan> {
    let counts = DiffusionParameters::of(&req.configs)?;
    let pose_plan = pose.map(plan_pose).transpose()?;
    let render = render_step(req.frame);
    let beside_render = req.budget.usable().saturating_sub(render.peak_bytes);
    let Some((batch, chunk, tile, diffusion)) = search(req, &counts, beside_render) else {
        let smallest = CHUNKS[CHUNKS.len() - 1];
        let worst = diffusion_steps(req, &counts, 1, smallest, true);
        let over = worst
            .iter()
            .max_by_key(|s| s.peak_bytes)
            .map(|o| StagePlan {
                peak_bytes: o.peak_bytes + render.peak_bytes,
                ..o.clone()
            });
        let beside = format!("beside the renderer's {}", gib(render.peak_bytes));
        return Err(too_small_beside(req.budget, over.as_ref(), &beside));
    };
    let pose_peak = pose_plan.as_ref().map_or(0, |p| p.peak_bytes);
    let predicted = pose_peak.max(render.peak_bytes + peak(&diffusion));
    let all_resident = all_resident_bytes(req, &counts, pose, &render, &diffusion, &pose_plan)?;
    let mut stages: Vec<StagePlan> = pose_plan.into_iter().collect();
    stages.push(render);
    stages.extend(diffusion);
    Ok(Plan {
        budget_bytes: req.budget.bytes,
        predicted_peak_bytes: predicted,
        all_resident_peak_bytes: all_resident,
        residency: Residency::StageAtATime,
        stages,
        diffusion_batch: batch,
        vae_slicing: true,
        vae_tile_px: req.vae_tile_px.or(tile.then_some(VAE_TILE_PX)),
        attention_chunk: chunk,
        conv_kernel: req.conv,
    })
}

/// The first (largest batch, then largest chunk, untiled before tiled) diffusion setting whose
/// peak fits in `room`.
fn search(
    req: &RefineRequest,
    counts: &DiffusionParameters,
    room: u64,
) -> Option<(usize, usize, bool, Vec<StagePlan>)> {
    for tile in [false, true] {
        for &b in &allowed_batches(req.max_batch) {
            for chunk in CHUNKS {
                let steps = diffusion_steps(req, counts, b, chunk, tile);
                if peak(&steps) <= room {
                    return Some((b, chunk, tile, steps));
                }
            }
        }
    }
    None
}

/// Every network loaded at once, with the largest activation of any step beside the renderer.
fn all_resident_bytes(
    req: &RefineRequest,
    counts: &DiffusionParameters,
    pose: Option<&PoseRequest>,
    render: &StagePlan,
    diffusion: &[StagePlan],
    pose_plan: &Option<StagePlan>,
) -> Result<u64> {
    let pose_weights = match pose {
        Some(p) => pose_parameters(&p.config)?,
        None => 0,
    };
    let s = dtype_bytes(req.precision.dtype());
    let activations = pose_plan
        .iter()
        .chain(diffusion)
        .map(|s| s.activation_bytes)
        .max()
        .unwrap_or(0);
    Ok((pose_weights + counts.text_encoder + counts.resident()) * s
        + render.peak_bytes
        + activations)
}

fn too_small(budget: Budget, step: Option<&StagePlan>) -> Error {
    too_small_beside(budget, step, "")
}

/// The budget is too small for `step` at batch 1 (`beside` says what else holds memory then).
fn too_small_beside(budget: Budget, step: Option<&StagePlan>, beside: &str) -> Error {
    let (name, need) = step.map_or(("?", 0), |s| (s.name.name(), s.peak_bytes));
    let smaller = match step.map(|s| s.name.stage()) {
        Some(Stage::Track) => crate::core::error::TRACK_MEMORY_HINT,
        _ => "a smaller --refine-px or f16 precision",
    };
    let name = if beside.is_empty() {
        name.to_string()
    } else {
        format!("{name} ({beside})")
    };
    Error::InvalidArgument {
        name: budget.option,
        detail: format!(
            "{} ({} usable) is too small: the {name} stage needs {} at batch 1 ({} missing); \
             use a larger budget, {smaller}",
            gib(budget.bytes),
            gib(budget.usable()),
            gib(need),
            gib(need.saturating_sub(budget.usable()))
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diffusion::footprint::DiffusionConfigs;
    use crate::nn::cost::ConvKernel;
    use crate::pose::network::config::Dust3rConfig;
    use crate::pose::tracking::tracker::TrackOptions;

    fn budget(gib: u64) -> Budget {
        Budget {
            bytes: gib << 30,
            option: "--vram",
        }
    }

    const HD: FrameSize = FrameSize {
        width: 1920,
        height: 1080,
    };

    fn refine(gib: u64, conv: ConvKernel) -> RefineRequest {
        RefineRequest {
            budget: budget(gib),
            frame: HD,
            region_px: (512, 512),
            precision: Precision::F16,
            conv,
            max_batch: None,
            vae_tile_px: None,
            configs: DiffusionConfigs::published(),
        }
    }

    fn pose(gib: u64, conv: ConvKernel) -> PoseRequest {
        PoseRequest {
            budget: budget(gib),
            frame: HD,
            frames: 100,
            precision: Precision::F16,
            conv,
            max_pairs: None,
            size_px: 512,
            track: TrackOptions::default(),
            config: Dust3rConfig::released(),
        }
    }

    fn plan_at(gib: u64) -> Result<Plan> {
        plan(
            &refine(gib, ConvKernel::Im2col),
            Some(&pose(gib, ConvKernel::Im2col)),
        )
    }

    #[test]
    fn more_memory_never_gives_a_smaller_batch() {
        let mut last = 0;
        for g in [6, 8, 12, 24, 80] {
            let p = plan_at(g).unwrap();
            assert!(p.diffusion_batch >= last, "{g}G: {}", p.table());
            assert!(p.predicted_peak_bytes <= (g << 30), "{g}G: {}", p.table());
            last = p.diffusion_batch;
        }
        assert_eq!(last, 8);
        let p = plan_at(80).unwrap();
        assert_eq!(p.residency, Residency::StageAtATime);
        assert!(p.all_resident_peak_bytes > p.predicted_peak_bytes);
    }

    #[test]
    fn a_budget_below_batch_one_names_the_stage_and_the_missing_bytes() {
        let err = plan_at(1).unwrap_err().to_string();
        assert!(err.contains("missing") && err.contains("stage"), "{err}");
        // a user cap is honoured
        let mut req = refine(80, ConvKernel::Im2col);
        req.max_batch = Some(2);
        assert_eq!(plan(&req, None).unwrap().diffusion_batch, 2);
        req.max_batch = Some(3);
        assert_eq!(plan(&req, None).unwrap().diffusion_batch, 3);
        assert_eq!(allowed_batches(Some(12)), [12, 8, 4, 2, 1]);
        assert_eq!(allowed_batches(None), BATCHES);
    }

    #[test]
    fn the_pose_batch_is_capped_and_the_kernel_changes_the_convolution_heavy_stages() {
        let mut req = pose(80, ConvKernel::Im2col);
        assert_eq!(plan_pose(&req).unwrap().batch, 8);
        req.max_pairs = Some(3);
        assert_eq!(plan_pose(&req).unwrap().batch, 3);
        let peak_of = |conv, step: PlanStep| {
            let p = plan(&refine(80, conv), Some(&pose(80, conv))).unwrap();
            p.stages
                .iter()
                .find(|s| s.name == step)
                .map(|s| s.peak_bytes)
                .unwrap()
        };
        for step in [PlanStep::Pose, PlanStep::VaeDecode, PlanStep::VaeEncode] {
            let (im2col, cudnn) = (
                peak_of(ConvKernel::Im2col, step),
                peak_of(ConvKernel::Cudnn, step),
            );
            assert!(im2col > cudnn, "{step:?}: {im2col} <= {cudnn}");
        }
        // the UNet step is attention-bound at 512 px: the same for both kernels
        assert_eq!(
            peak_of(ConvKernel::Im2col, PlanStep::UnetControlnet),
            peak_of(ConvKernel::Cudnn, PlanStep::UnetControlnet)
        );
    }

    #[test]
    fn plans_round_trip_through_json_with_a_dash_for_the_renderer() {
        let p = plan_at(24).unwrap();
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["residency"], "stage-at-a-time");
        assert_eq!(json["stages"][1]["name"], "render");
        assert_eq!(json["stages"][1]["dtype"], "-");
        assert_eq!(json["stages"][0]["dtype"], "f16");
        let back: Plan = serde_json::from_value(json).unwrap();
        assert_eq!(back, p);
    }
}

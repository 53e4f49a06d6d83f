//! The refinement loop: SD 1.5 + ControlNet-inpaint img2img exactly as diffusers'
//! `StableDiffusionControlNetInpaintPipeline.__call__` computes it, written out step by step.
//! Every random draw is an argument, so the result depends only on the inputs.
//!
//! Reference: diffusers 0.42.1 `pipelines/controlnet/pipeline_controlnet_inpaint.py`
//! (`# 1.` … `# 8. Denoising loop`); diffusion spec §5–§8.

use candle_core::{DType, Result, Tensor};

use super::schedulers::{start_step, start_step_for_sigma, SchedulerConfig, SchedulerKind};
use super::unet::controlnet::ControlNetModel;
use super::unet::model::{ControlResiduals, UNet2DConditionModel};
use super::vae::{AutoencoderKL, Posterior, VaeMode};

/// The networks of a run.
pub struct Models<'a> {
    /// 4-channel UNet (known-region blending each step) or 9-channel inpainting UNet.
    pub unet: &'a UNet2DConditionModel,
    /// The inpainting ControlNet.
    pub controlnet: &'a ControlNetModel,
    /// The VAE.
    pub vae: &'a AutoencoderKL,
}

/// Settings of a run (diffusers' call arguments).
#[derive(Debug, Clone, PartialEq)]
pub struct RefineSettings {
    /// Scheduler.
    pub scheduler: SchedulerKind,
    /// Training schedule.
    pub scheduler_config: SchedulerConfig,
    /// Inference steps of the full schedule.
    pub steps: usize,
    /// img2img strength in (0, 1].
    pub strength: f64,
    /// Start at the first step whose σ does not exceed this instead of at `strength` (the same
    /// noise level whatever the scheduler and step count).
    pub start_sigma: Option<f64>,
    /// Classifier-free guidance scale.
    pub guidance: f64,
    /// ControlNet conditioning scale (the inpaint pipeline's default is 0.5).
    pub controlnet_scale: f64,
    /// ControlNet on the conditional half only, with logspace residual scales.
    pub guess_mode: bool,
    /// Fraction of the run before which the ControlNet is off.
    pub control_start: f64,
    /// Fraction of the run after which the ControlNet is off.
    pub control_end: f64,
    /// VAE slicing and tiling.
    pub vae: VaeMode,
}

/// Inputs of a run; every random draw is given, (B, 4, h, w) each.
pub struct RefineInputs<'a> {
    /// Frames in [0, 1], (B, 3, H, W).
    pub image: &'a Tensor,
    /// Repaint mask, 1 = repaint, (B, 1, H, W).
    pub mask: &'a Tensor,
    /// ControlNet image: the frame with masked pixels set to −1, (B, 3, H, W).
    pub control_image: &'a Tensor,
    /// Text embeddings, (B, 77, D).
    pub prompt_embeds: &'a Tensor,
    /// Negative text embeddings, (B, 77, D).
    pub negative_prompt_embeds: &'a Tensor,
    /// VAE posterior noise for the frames.
    pub eps_image: &'a Tensor,
    /// The img2img noise (reused for every re-noising).
    pub noise: &'a Tensor,
    /// VAE posterior noise for the masked frames (used by the 9-channel UNet only).
    pub eps_masked_image: &'a Tensor,
}

/// What a run produced, with the per-step states for inspection and tests.
pub struct RefineOutput {
    /// Latents after each step (after the known-region blend).
    pub latents: Vec<Tensor>,
    /// Raw UNet outputs (both guidance halves) per step.
    pub unet_out: Vec<Tensor>,
    /// Image latents of the frames (scaled by the VAE's factor).
    pub image_latents: Tensor,
    /// Start latents.
    pub latents_init: Tensor,
    /// Decoder output, about [−1, 1].
    pub decoded: Tensor,
    /// UNet evaluations (CFG-doubled batches count once per step).
    pub unet_evaluations: usize,
}

/// Runs the loop.
pub fn refine(
    models: &Models<'_>,
    input: &RefineInputs<'_>,
    s: &RefineSettings,
) -> Result<RefineOutput> {
    let scaling = models.vae.config.scaling_factor;
    // 1. preprocess: image in [-1, 1], binary mask, masked image with holes at 0, latent mask
    let image_pp = input.image.affine(2.0, -1.0)?;
    let dtype = input.image.dtype();
    let mask_pp = input.mask.ge(0.5)?.to_dtype(dtype)?;
    let keep = input.mask.lt(0.5)?.to_dtype(dtype)?;
    let masked_image_pp = image_pp.broadcast_mul(&keep)?;
    let (_, _, h, w) = image_pp.dims4()?;
    let mask_latent = nearest_every(&mask_pp, 8, h / 8, w / 8)?;
    // 2. encode the frames (and the masked frames for the 9-channel UNet) with the given draws
    let image_latents = (Posterior::from_moments(&models.vae.moments(&image_pp, &s.vae)?)?
        .sample(input.eps_image)?
        * scaling)?;
    let nine = models.unet.config.in_channels == 9;
    let masked_latents = if nine {
        Some(
            (Posterior::from_moments(&models.vae.moments(&masked_image_pp, &s.vae)?)?
                .sample(input.eps_masked_image)?
                * scaling)?,
        )
    } else {
        None
    };
    // 3. schedule and start step from strength (or from the start sigma)
    let mut scheduler = s.scheduler_config.build(s.scheduler, s.steps);
    let t_start = match s.start_sigma {
        Some(sigma) => start_step_for_sigma(scheduler.as_ref(), sigma),
        None => start_step(s.steps, s.strength),
    };
    let timesteps: Vec<i64> = scheduler.timesteps()[t_start..].to_vec();
    let run = timesteps.len();
    // 4. start latents
    let mut latents = if s.strength < 1.0 || s.start_sigma.is_some() {
        scheduler.add_noise(&image_latents, input.noise, t_start)?
    } else {
        (input.noise * scheduler.init_noise_sigma())?
    };
    let latents_init = latents.clone();
    // 5. guidance batches: unconditional half first
    let context = Tensor::cat(&[input.negative_prompt_embeds, input.prompt_embeds], 0)?;
    let control = Tensor::cat(&[input.control_image, input.control_image], 0)?;
    let mut out = RefineOutput {
        latents: Vec::with_capacity(run),
        unet_out: Vec::with_capacity(run),
        image_latents: image_latents.clone(),
        latents_init,
        decoded: Tensor::zeros(1, DType::F32, input.image.device())?,
        unet_evaluations: 0,
    };
    // 6. denoising loop
    for (i, &t) in timesteps.iter().enumerate() {
        let k = t_start + i;
        // 6a. UNet input: latents twice (+ mask and masked-image latents for 9 channels)
        let x4 = scheduler.scale_model_input(Tensor::cat(&[&latents, &latents], 0)?, k)?;
        let x_in = match &masked_latents {
            Some(ml) => {
                let m2 = Tensor::cat(&[&mask_latent, &mask_latent], 0)?;
                let ml2 = Tensor::cat(&[ml, ml], 0)?;
                Tensor::cat(&[&x4, &m2, &ml2], 1)?
            }
            None => x4.clone(),
        };
        // 6b. ControlNet, switched off outside [control_start, control_end]
        let off = (i as f64) / (run as f64) < s.control_start
            || ((i + 1) as f64) / (run as f64) > s.control_end;
        let scale = if off { 0.0 } else { s.controlnet_scale };
        let residuals = if s.guess_mode {
            guess_mode_residuals(
                models.controlnet,
                &latents,
                t as f64,
                input.prompt_embeds,
                input.control_image,
                scale,
            )?
        } else {
            models
                .controlnet
                .forward(&x4, t as f64, &context, &control, scale)?
        };
        // 6c. UNet and classifier-free guidance
        let eps_both = models
            .unet
            .forward(&x_in, t as f64, &context, Some(&residuals))?;
        out.unet_evaluations += 1;
        let b = latents.dim(0)?;
        let (eps_u, eps_c) = (eps_both.narrow(0, 0, b)?, eps_both.narrow(0, b, b)?);
        let eps = (&eps_u + ((&eps_c - &eps_u)? * s.guidance)?)?;
        out.unet_out.push(eps_both);
        // 6d. scheduler step
        latents = scheduler.step(&eps, k, &latents)?;
        // 6e. 4-channel UNet: keep the known region at this step's noise level
        if !nine {
            let proper = if i + 1 == run {
                image_latents.clone()
            } else {
                scheduler.add_noise(&image_latents, input.noise, k + 1)?
            };
            let inverse = mask_latent.affine(-1.0, 1.0)?;
            latents = (proper.broadcast_mul(&inverse)? + latents.broadcast_mul(&mask_latent)?)?;
        }
        out.latents.push(latents.clone());
    }
    // 7. decode
    out.decoded = models.vae.decode(&(latents / scaling)?, &s.vae)?;
    Ok(out)
}

/// `F.interpolate(mask, (h, w))` in legacy nearest mode for an exact factor: every
/// `factor`-th pixel from the top-left.
fn nearest_every(x: &Tensor, factor: usize, h: usize, w: usize) -> Result<Tensor> {
    let rows = Tensor::arange_step(0u32, (h * factor) as u32, factor as u32, x.device())?;
    let cols = Tensor::arange_step(0u32, (w * factor) as u32, factor as u32, x.device())?;
    x.index_select(&rows, 2)?.index_select(&cols, 3)
}

/// Guess mode: the ControlNet sees the conditional half only; residual j is scaled by
/// `logspace(-1, 0, K+1)[j]`, the unconditional half gets zeros.
fn guess_mode_residuals(
    cn: &ControlNetModel,
    latents: &Tensor,
    t: f64,
    prompt: &Tensor,
    control: &Tensor,
    scale: f64,
) -> Result<ControlResiduals> {
    let r = cn.forward(latents, t, prompt, control, scale)?;
    let k = r.down.len();
    let factor = |j: usize| 10f64.powf(-1.0 + j as f64 / k as f64);
    let double = |x: &Tensor| -> Result<Tensor> { Tensor::cat(&[&x.zeros_like()?, x], 0) };
    let down = r
        .down
        .iter()
        .enumerate()
        .map(|(j, d)| double(&(d * factor(j))?))
        .collect::<Result<Vec<_>>>()?;
    Ok(ControlResiduals {
        down,
        mid: double(&r.mid)?,
    })
}

/// 8-bit frames from decoder output: `round_half_even(clamp(x/2 + 0.5, 0, 1)·255)`,
/// (B, 3, H, W) → (B, H, W, 3).
pub fn to_u8(decoded: &Tensor) -> Result<Tensor> {
    let scaled = (decoded.affine(0.5, 0.5)?.clamp(0.0, 1.0)? * 255.0)?.permute((0, 2, 3, 1))?;
    let shape = scaled.dims().to_vec();
    let values: Vec<u8> = scaled
        .flatten_all()?
        .to_dtype(DType::F32)?
        .to_vec1::<f32>()?
        .iter()
        .map(|v| v.round_ties_even() as u8)
        .collect();
    Tensor::from_vec(values, shape, decoded.device())
}

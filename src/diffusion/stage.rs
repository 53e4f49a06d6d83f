//! The refinement stage as the pipeline runs it: weights located and loaded once, the prompt
//! encoded once (then the text encoder is dropped), and composited frames refined in batches
//! of B. Each frame's region (ROI or full frame), mask and noise depend only on that frame and
//! `(seed, frame number)`, so a frame's result does not depend on B or on its batch-mates.
//!
//! Per frame: repaint mask = product mask grown by `mask_grow_px`; region around it at model
//! resolution; [`denoise::refine`]; the decoded region pasted back through the repaint mask
//! feathered inwards, so every pixel outside the mask keeps the composite's bytes.

use candle_core::{DType, Device, Tensor};
use image::RgbImage;

use super::denoise::{self, Models, RefineInputs, RefineSettings};
use super::footprint::denoise_step_bytes;
use super::locate::{self, ComponentDirs};
use super::noise::{frame_noise, NoiseStream};
use super::options::{RefineOptions, RefineStats, Sizing};
use super::roi::{RegionMode, Roi};
use super::schedulers::SchedulerConfig;
use super::text::clip::ClipTextModel;
use super::text::tokenizer::ClipTokenizer;
use super::unet::controlnet::ControlNetModel;
use super::unet::model::UNet2DConditionModel;
use super::vae::AutoencoderKL;
use crate::core::batching::in_halving_batches;
use crate::core::filter::Plane;
use crate::core::{Error, FrameNr, FrameSize, Patch, RenderLayers, Result, Stage};
use crate::nn::cost::Ops;
use crate::nn::Precision;

/// A frame to refine: the composite and the product's coverage in [0, 1] (frame-sized).
pub struct RefineFrame {
    /// Frame number (seeds the noise).
    pub nr: FrameNr,
    /// The composited frame.
    pub composite: RgbImage,
    /// Product coverage.
    pub product_mask: Plane,
}

impl RefineFrame {
    /// The frame with the product coverage from its render layers.
    pub fn new(nr: FrameNr, composite: RgbImage, layers: &RenderLayers) -> Self {
        let [ox, oy] = layers.origin_px.map(|v| v as usize);
        let (lw, lh) = (layers.mask.width() as usize, layers.mask.height() as usize);
        let coverage = |x: usize, y: usize| {
            if (ox..ox + lw).contains(&x) && (oy..oy + lh).contains(&y) {
                f32::from(layers.mask.get_pixel((x - ox) as u32, (y - oy) as u32)[0]) / 255.0
            } else {
                0.0
            }
        };
        let (w, h) = composite.dimensions();
        Self {
            nr,
            product_mask: Plane::from_fn(w as usize, h as usize, coverage),
            composite,
        }
    }
}

/// What became of a frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Refined {
    /// The pixels refinement changed in the composite (the feathered repaint region).
    Patch(Patch),
    /// No product pixels: nothing to refine, the composite stands.
    EmptyMask,
    /// The networks produced NaN or infinity: the composite stands.
    NonFinite,
}

/// The loaded stage.
pub struct RefineStage {
    unet: UNet2DConditionModel,
    controlnet: ControlNetModel,
    vae: AutoencoderKL,
    prompt_embeds: Tensor,
    negative_embeds: Tensor,
    settings: RefineSettings,
    opts: RefineOptions,
    device: Device,
    /// What the stage did so far.
    pub stats: RefineStats,
}

/// One frame's region and repaint mask.
struct Job {
    index: usize,
    roi: Roi,
    repaint: Plane,
}

impl RefineStage {
    /// Loads the weights [`preflight`] found in `dirs`, encodes the prompts and drops the text
    /// encoder; batches and attention as `sizing` says.
    pub fn load(
        opts: &RefineOptions,
        dirs: &ComponentDirs,
        sizing: Sizing,
        device: &Device,
    ) -> Result<Self> {
        let dtype = opts.precision.dtype();
        let (prompt_embeds, negative_embeds) = encode_prompts(opts, dirs, dtype, device)?;
        let scheduler_config = match &dirs.scheduler {
            Some(dir) => read_scheduler_config(&dir.join("scheduler_config.json"))?,
            None => SchedulerConfig::default(),
        };
        let settings = RefineSettings {
            scheduler: opts.scheduler,
            scheduler_config,
            steps: opts.steps,
            strength: opts.strength,
            start_sigma: opts.start_sigma,
            guidance: opts.guidance,
            controlnet_scale: opts.controlnet_scale,
            guess_mode: false,
            control_start: 0.0,
            control_end: 1.0,
            vae: opts.vae,
        };
        let chunk = sizing.attention_chunk;
        Ok(Self {
            unet: UNet2DConditionModel::load(&dirs.unet, dtype, device, chunk)?,
            controlnet: ControlNetModel::load(&dirs.controlnet, dtype, device, chunk)?,
            vae: AutoencoderKL::load(&dirs.vae, dtype, device)?,
            prompt_embeds,
            negative_embeds,
            settings,
            stats: RefineStats {
                batch_size: sizing.batch_size,
                ..RefineStats::default()
            },
            opts: opts.clone(),
            device: device.clone(),
        })
    }

    /// Refines `frames`; frames of equal model size go through together, `batch_size` at a
    /// time, in order.
    pub fn refine(&mut self, frames: &[RefineFrame]) -> Result<Vec<Refined>> {
        let mut out = vec![Refined::EmptyMask; frames.len()];
        let jobs: Vec<Job> = frames
            .iter()
            .enumerate()
            .filter_map(|(i, f)| self.job(i, f))
            .collect();
        let mut pending: Vec<&Job> = jobs.iter().collect();
        while let Some(first) = pending.first() {
            let size = (first.roi.model_width_px, first.roi.model_height_px);
            let (batch, rest): (Vec<&Job>, Vec<&Job>) = pending
                .iter()
                .partition(|j| (j.roi.model_width_px, j.roi.model_height_px) == size);
            self.refine_group(frames, &batch, &mut out)?;
            pending = rest;
        }
        Ok(out)
    }

    /// Refines jobs of one model size, `batch_size` at a time; a batch that runs out of memory
    /// is dropped and retried at half the size (frames already refined are kept), and the
    /// smaller size is kept for the rest of the run. Noise depends only on (seed, frame), so
    /// the output equals a run at the smaller size.
    fn refine_group(
        &mut self,
        frames: &[RefineFrame],
        jobs: &[&Job],
        out: &mut [Refined],
    ) -> Result<()> {
        let mut size = self.stats.batch_size;
        let device = self.device.clone();
        let retries = in_halving_batches(
            jobs,
            &mut size,
            |chunk| {
                let refined = self.refine_batch(frames, chunk)?;
                for (job, r) in chunk.iter().zip(refined) {
                    out[job.index] = r;
                }
                Ok(())
            },
            |e| {
                let oom = matches!(e, Error::OutOfMemory { .. });
                if oom {
                    // the batch's tensors are gone with the error; let the device free them
                    let _ = device.synchronize();
                }
                oom
            },
        )?;
        self.stats.batch_size = size;
        self.stats.oom_retries += retries;
        Ok(())
    }

    /// The region and repaint mask of a frame; `None` when it shows no product.
    fn job(&self, index: usize, frame: &RefineFrame) -> Option<Job> {
        // Dilation as a box blur of the binary coverage: a pixel within r of a covered pixel
        // gets at least 1/(2r+1)^2; half that is the threshold, far above the running-sum
        // rounding that a plain `> 0` would pick up down whole columns.
        let r = self.opts.mask_grow_px as usize;
        let covered = frame
            .product_mask
            .data
            .iter()
            .map(|&v| f32::from(u8::from(v > 0.0)));
        let binary = Plane {
            data: covered.collect(),
            ..frame.product_mask.clone()
        };
        let grown = binary.box_blur(r, 1);
        let threshold = 0.5 / ((2 * r + 1) * (2 * r + 1)) as f32;
        let repaint = Plane::from_fn(grown.width, grown.height, |x, y| {
            f32::from(u8::from(grown.at(x, y) >= threshold))
        });
        let (w, h) = frame.composite.dimensions();
        let bbox = crate::core::layers::bounding_box(w, h, |x, y| {
            repaint.at(x as usize, y as usize) > 0.0
        })?;
        let size = FrameSize {
            width: w,
            height: h,
        };
        let roi = match self.opts.region {
            RegionMode::Product => Roi::square_around(size, bbox, &self.opts.roi),
            RegionMode::FullFrame => Roi::full_frame(size, &self.opts.roi),
        };
        Some(Job {
            index,
            roi,
            repaint,
        })
    }

    /// One batch through the networks; frames whose output is not finite fall back.
    fn refine_batch(&mut self, frames: &[RefineFrame], jobs: &[&Job]) -> Result<Vec<Refined>> {
        let dtype = self.opts.precision.dtype();
        let roi = jobs[0].roi;
        let (mw, mh) = (roi.model_width_px as usize, roi.model_height_px as usize);
        let nrs: Vec<FrameNr> = jobs.iter().map(|j| frames[j.index].nr).collect();
        let mut image = Vec::with_capacity(jobs.len() * 3 * mw * mh);
        let mut mask = Vec::with_capacity(jobs.len() * mw * mh);
        for job in jobs {
            let crop = job.roi.crop(&frames[job.index].composite);
            image.extend(chw_unit(&crop));
            mask.extend(job.roi.crop_plane(&job.repaint));
        }
        let b = jobs.len();
        let t = |v: Vec<f32>, c: usize| -> candle_core::Result<Tensor> {
            Tensor::from_vec(v, (b, c, mh, mw), &Device::Cpu)?
                .to_dtype(dtype)?
                .to_device(&self.device)
        };
        self.check_injected_limit(b, (mh, mw))?;
        let image = t(image, 3).map_err(compute)?;
        let mask = t(mask, 1).map_err(compute)?;
        let decoded = self
            .run_networks(&nrs, &image, &mask, (mh, mw))
            .map_err(compute)?;
        self.stats.batches += 1;
        self.stats.model_px = [roi.model_width_px, roi.model_height_px];
        (0..b)
            .map(|i| {
                let row = decoded.get(i).map_err(compute)?;
                let job = jobs[i];
                Ok(match to_rgb(&row).map_err(compute)? {
                    Some(refined) => {
                        let weight = job.repaint.feathered_inward(self.opts.feather_px);
                        Refined::Patch(job.roi.paste(
                            &frames[job.index].composite,
                            &refined,
                            &weight,
                        ))
                    }
                    None => Refined::NonFinite,
                })
            })
            .collect()
    }

    /// Noise, control image and the loop for one batch; returns decoder output (B, 3, H, W).
    fn run_networks(
        &mut self,
        nrs: &[FrameNr],
        image: &Tensor,
        mask: &Tensor,
        (mh, mw): (usize, usize),
    ) -> candle_core::Result<Tensor> {
        let dtype = image.dtype();
        let latent = [self.vae.config.latent_channels, mh / 8, mw / 8];
        let draw = |stream| frame_noise(self.opts.seed, nrs, &latent, stream, dtype, &self.device);
        let keep = mask.lt(0.5)?.to_dtype(dtype)?;
        // masked pixels at −1, the inpainting ControlNet's convention
        let control = (image.broadcast_mul(&keep)?
            + (keep.affine(1.0, -1.0)?.broadcast_as(image.shape())?))?;
        let repeat = |e: &Tensor| e.repeat((nrs.len(), 1, 1));
        let (prompt, negative) = (repeat(&self.prompt_embeds)?, repeat(&self.negative_embeds)?);
        let (eps_image, noise, eps_masked) = (
            draw(NoiseStream::PosteriorImage)?,
            draw(NoiseStream::Latents)?,
            draw(NoiseStream::PosteriorMaskedImage)?,
        );
        let out = denoise::refine(
            &Models {
                unet: &self.unet,
                controlnet: &self.controlnet,
                vae: &self.vae,
            },
            &RefineInputs {
                image,
                mask,
                control_image: &control,
                prompt_embeds: &prompt,
                negative_prompt_embeds: &negative,
                eps_image: &eps_image,
                noise: &noise,
                eps_masked_image: &eps_masked,
            },
            &self.settings,
        )?;
        self.stats.unet_evaluations += out.unet_evaluations;
        Ok(out.decoded)
    }
}

/// What can fail before any frame is processed: the precision on this device and the weights'
/// presence. Returns the component folders.
pub fn preflight(opts: &RefineOptions, device: &Device) -> Result<ComponentDirs> {
    if opts.precision == Precision::Bf16 && device.is_cpu() {
        // candle's CPU matmul has no bf16 kernel
        return Err(Error::InvalidArgument {
            name: "--precision",
            detail: "bf16 needs a CUDA device; use f32 or f16 on the CPU".into(),
        });
    }
    locate::locate(&opts.weights, opts.precision.dtype())
}

impl RefineStage {
    /// Fails like an out-of-memory device when the injected limit is below the memory model's
    /// estimate of this batch's UNet step (see [`RefineOptions::inject_alloc_limit`]).
    fn check_injected_limit(&self, frames: usize, (mh, mw): (usize, usize)) -> Result<()> {
        let Some(limit) = self.opts.inject_alloc_limit else {
            return Ok(());
        };
        let ops = Ops::on(&self.device, self.opts.precision.dtype());
        let need = denoise_step_bytes(
            &self.unet.config,
            ops,
            ((mh / 8) as u64, (mw / 8) as u64),
            2 * frames as u64,
            self.unet.config.query_chunk as u64,
        );
        if need > limit {
            return Err(Error::OutOfMemory {
                stage: Stage::Refine,
                detail: format!(
                    "a batch of {frames} needs {need} bytes, the injected limit is {limit}"
                ),
            });
        }
        Ok(())
    }
}

/// Encodes the prompt and negative prompt, each (1, 77, D), with a text encoder that is
/// dropped on return.
fn encode_prompts(
    opts: &RefineOptions,
    dirs: &ComponentDirs,
    dtype: DType,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    let encoder = ClipTextModel::load(&dirs.text_encoder, dtype, device)?;
    let tokenizer = ClipTokenizer::load(&dirs.tokenizer, encoder.config.max_position_embeddings)?;
    let encode = |text: &str| -> Result<Tensor> {
        let ids = tokenizer.encode(text)?;
        let ids = Tensor::from_vec(ids, (1, tokenizer.max_len), device).map_err(compute)?;
        encoder.forward(&ids).map_err(compute)
    };
    Ok((encode(&opts.prompt)?, encode(&opts.negative_prompt)?))
}

fn read_scheduler_config(path: &std::path::Path) -> Result<SchedulerConfig> {
    let text = std::fs::read_to_string(path).map_err(Error::io("read", path))?;
    SchedulerConfig::from_json(&text)
        .map_err(|e| Error::bad_input(e, "use SD 1.5's scheduler_config.json", path))
}

/// An RGB image as (3, H, W) values in [0, 1].
fn chw_unit(img: &RgbImage) -> Vec<f32> {
    let plane = |c: usize| img.pixels().map(move |p| f32::from(p.0[c]) / 255.0);
    plane(0).chain(plane(1)).chain(plane(2)).collect()
}

/// Decoder output (3, H, W) as an image; `None` when any value is not finite.
fn to_rgb(decoded: &Tensor) -> candle_core::Result<Option<RgbImage>> {
    let values = decoded
        .to_dtype(DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    if values.iter().any(|v| !v.is_finite()) {
        return Ok(None);
    }
    let bytes = denoise::to_u8(&decoded.unsqueeze(0)?)?;
    let (_, h, w, _) = bytes.dims4()?;
    let raw = bytes.flatten_all()?.to_vec1::<u8>()?;
    Ok(RgbImage::from_raw(w as u32, h as u32, raw))
}

/// A candle error as the stage's error, without the backtrace candle attaches when
/// `RUST_BACKTRACE` is set (the message is for users).
fn compute(e: candle_core::Error) -> Error {
    let inner = match e {
        candle_core::Error::WithBacktrace { inner, .. } => *inner,
        other => other,
    };
    crate::core::error::backend_failure(Stage::Refine, inner.to_string(), |detail| {
        Error::Diffusion { detail }
    })
}

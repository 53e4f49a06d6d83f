//! The diffusion stage's memory model: weights from the networks' own constructors
//! ([`crate::nn::census`]) and activations of a UNet + ControlNet step, the ControlNet's hint
//! encoder, the VAE's encoder and decoder and the text encoder, walked through the code
//! statement by statement. `memory::plan` sizes the batch, attention chunk and VAE tiling from
//! it; the stage uses it for its injectable limit.
//!
//! Activation models count the tensors alive at each stage's high-water mark; where a stage
//! has several candidates (a UNet level's attention, its feed-forward, an up-path resnet) the
//! largest wins. They are estimates of device memory, not of the host allocator's behaviour.

use super::text::clip::{ClipTextConfig, ClipTextModel};
use super::unet::controlnet::{ControlNetConfig, ControlNetModel};
use super::unet::model::UNet2DConditionModel;
use super::unet::UNet2DConditionConfig;
use super::vae::{AutoencoderKL, AutoencoderKLConfig};
use crate::core::{Error, Result};
use crate::nn::census::parameter_count;
use crate::nn::cost::{attention_bytes, attention_bytes_chunked, Conv, Ops};

/// Tokens of the CLIP prompt.
const PROMPT_TOKENS: u64 = 77;

/// The configurations of the refinement's networks.
#[derive(Debug, Clone)]
pub struct DiffusionConfigs {
    /// CLIP text encoder.
    pub text_encoder: ClipTextConfig,
    /// UNet.
    pub unet: UNet2DConditionConfig,
    /// ControlNet.
    pub controlnet: ControlNetConfig,
    /// VAE.
    pub vae: AutoencoderKLConfig,
}

impl DiffusionConfigs {
    /// The published checkpoints' configurations (SD 1.5, ControlNet inpaint v1.1).
    pub fn published() -> Self {
        Self {
            text_encoder: ClipTextConfig::default(),
            unet: UNet2DConditionConfig::default(),
            controlnet: ControlNetConfig::sd15_inpaint(),
            vae: AutoencoderKLConfig::default(),
        }
    }
}

/// Parameter counts of the refinement's networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DiffusionParameters {
    /// CLIP text encoder.
    pub text_encoder: u64,
    /// UNet.
    pub unet: u64,
    /// ControlNet.
    pub controlnet: u64,
    /// VAE (encoder and decoder; both are resident while refining).
    pub vae: u64,
}

impl DiffusionParameters {
    /// Counts of the networks `configs` describe.
    pub fn of(configs: &DiffusionConfigs) -> Result<Self> {
        Ok(Self {
            text_encoder: census(|vb| {
                ClipTextModel::new(vb.pp("text_model"), &configs.text_encoder)
            })?,
            unet: census(|vb| UNet2DConditionModel::new(vb, configs.unet.clone()))?,
            controlnet: census(|vb| ControlNetModel::new(vb, configs.controlnet.clone()))?,
            vae: census(|vb| AutoencoderKL::new(vb, configs.vae.clone()))?,
        })
    }

    /// What stays loaded while frames are refined: UNet, ControlNet and VAE.
    pub fn resident(&self) -> u64 {
        self.unet + self.controlnet + self.vae
    }
}

fn census<M>(
    build: impl FnOnce(candle_nn::VarBuilder<'static>) -> candle_core::Result<M>,
) -> Result<u64> {
    parameter_count(build).map_err(|e| Error::Unavailable {
        what: "memory plan",
        hint: format!("a network configuration did not build ({e})"),
    })
}

/// Pixels at each of `levels` resolutions, full size first (`ceil` halving: the UNet's
/// padded downsamplers, an upper bound for the VAE's, which floor odd sizes).
fn level_sizes(h: u64, w: u64, levels: usize) -> Vec<u64> {
    (0..levels)
        .map(|l| h.div_ceil(1 << l) * w.div_ceil(1 << l))
        .collect()
}

/// The text encoder on the prompt and the negative prompt.
pub fn text_encoder_bytes(cfg: &ClipTextConfig, s: u64) -> u64 {
    let d = cfg.hidden_size as u64;
    let heads = cfg.num_attention_heads as u64;
    2 * (PROMPT_TOKENS * (d * 4 + cfg.intermediate_size as u64) * s
        + attention_bytes(heads, PROMPT_TOKENS, PROMPT_TOKENS, s))
}

/// One UNet + ControlNet evaluation of `samples` latents of `h × w` (CFG doubles the frames).
pub fn denoise_step_bytes(
    cfg: &UNet2DConditionConfig,
    ops: Ops,
    (h, w): (u64, u64),
    samples: u64,
    chunk: u64,
) -> u64 {
    let s = ops.value_bytes;
    let c: Vec<u64> = cfg.block_out_channels.iter().map(|&c| c as u64).collect();
    let Some(last) = c.len().checked_sub(1) else {
        return 0;
    };
    let n = level_sizes(h, w, c.len());
    let lpb = cfg.layers_per_block as u64;
    // skip connections the up path consumes (conv_in, each down layer, each downsampler)
    let mut skips = c[0] * n[0];
    for l in 0..=last {
        skips += lpb * c[l] * n[l];
        if l < last {
            skips += c[l] * n[l + 1];
        }
    }
    // the ControlNet's residuals have the same shapes, plus the mid block's
    let residuals = skips + c[last] * n[last];
    let heads = cfg.attention_head_dim as u64;
    let transient = (0..=last)
        .map(|l| {
            let attn = 4 * c[l] * n[l] * s + attention_bytes_chunked(heads, n[l], n[l], s, chunk);
            let geglu = 16 * c[l] * n[l] * s;
            // an up-path resnet on the concatenation of the path (the coarser level's width
            // into the first resnet) and a skip (the finer level's into the last), the path
            // alive beside it ([`super::unet::model`]'s `up_block`): the widest of them
            let path = c[(l + 1).min(last)].max(c[l]);
            let skip = c[l.saturating_sub(1)].max(c[l]);
            let up_resnet = ops.map(path, n[l]) + ops.resnet(path + skip, c[l], n[l]);
            attn.max(geglu).max(up_resnet)
        })
        .max()
        .unwrap_or(0);
    let latents = 2 * cfg.in_channels.max(4) as u64 * n[0] * s;
    samples * ((skips + residuals) * s + transient + latents)
}

/// The ControlNet's hint encoder (`controlnet_cond_embedding`) on `samples` hint images of
/// `h × w` pixels: convolutions at image resolution, run at the start of every step before
/// the step's skips exist. `channels` is `conditioning_embedding_out_channels`, `out_channels`
/// the width of its last convolution (the UNet's first block).
pub fn control_hint_bytes(
    channels: &[usize],
    out_channels: usize,
    ops: Ops,
    (h, w): (u64, u64),
    samples: u64,
) -> u64 {
    let c: Vec<u64> = channels.iter().map(|&c| c as u64).collect();
    let (Some(&first), Some(&top)) = (c.first(), c.last()) else {
        return 0;
    };
    let n = |l: usize| h.div_ceil(1 << l) * w.div_ceil(1 << l);
    let hint = ops.map(3, n(0));
    // conv_in, then per width a same-size conv and a stride-2 conv to the next, each output
    // through a SiLU beside it; conv_out at the coarsest size
    let step = |conv: Conv| {
        ops.map(conv.c_in, conv.n_in) + ops.conv(conv) + ops.map(conv.c_out, conv.n_out)
    };
    let coarsest = n(c.len() - 1);
    let mut peak = step(Conv::same(3, first, 3, n(0))).max(step(Conv::same(
        top,
        out_channels as u64,
        3,
        coarsest,
    )));
    for l in 0..c.len() - 1 {
        peak = peak.max(step(Conv::same(c[l], c[l], 3, n(l))));
        peak = peak.max(step(Conv {
            c_in: c[l],
            c_out: c[l + 1],
            k: 3,
            n_in: n(l),
            n_out: n(l + 1),
        }));
    }
    samples * (hint + peak)
}

/// The VAE's mid block at the latent grid of `latent` pixels and `c` channels: its resnets,
/// or its single-head attention ([`super::vae`]'s block `Attention`, unchunked: the input, the
/// normalised tokens and q, k, v beside the score matrix and its scaled copy).
fn vae_mid_bytes(ops: Ops, c: u64, latent: u64) -> u64 {
    let scores = 2 * latent * latent * ops.value_bytes;
    let attention = 5 * ops.map(c, latent) + scores;
    ops.resnet(c, c, latent).max(attention)
}

/// VAE decoder peak for `frames` images of `h × w` pixels decoded together: the mid block,
/// each up level's resnets and upsampler (nearest ×2, then a 3x3 conv at the larger size),
/// and the output norm and conv, plus the decoded image in f32.
pub fn vae_decode_bytes(cfg: &AutoencoderKLConfig, ops: Ops, h: u64, w: u64, frames: u64) -> u64 {
    let rev: Vec<u64> = cfg
        .block_out_channels
        .iter()
        .rev()
        .map(|&c| c as u64)
        .collect();
    let (Some(&top), Some(&last)) = (rev.first(), rev.last()) else {
        return 0;
    };
    let n = level_sizes(h, w, rev.len());
    let levels = rev.len();
    let mut peak = vae_mid_bytes(ops, top, n[levels - 1]);
    for (k, &c_out) in rev.iter().enumerate() {
        let at = n[levels - 1 - k];
        let c_in = if k == 0 { c_out } else { rev[k - 1] };
        peak = peak.max(ops.resnet(c_in, c_out, at));
        if k + 1 < levels {
            let up = n[levels - 2 - k];
            let upsampled = ops.map(c_out, at) + ops.map(c_out, up);
            peak = peak.max(upsampled + ops.conv(Conv::same(c_out, c_out, 3, up)));
        }
    }
    // conv_norm_out → SiLU → conv_out (its input counted by norm_silu_conv)
    let out = ops.norm_silu_conv(Conv::same(last, 3, 3, n[0]));
    frames * (peak.max(out) + 3 * h * w * 4)
}

/// VAE encoder peak for `frames` images of `h × w` pixels encoded together: conv_in at full
/// size, each down level's resnets and downsampler (zero-padded, then a stride-2 3x3 conv),
/// the mid block and the output norm and conv (to the moments).
pub fn vae_encode_bytes(cfg: &AutoencoderKLConfig, ops: Ops, h: u64, w: u64, frames: u64) -> u64 {
    let c: Vec<u64> = cfg.block_out_channels.iter().map(|&c| c as u64).collect();
    let (Some(&first), Some(&top)) = (c.first(), c.last()) else {
        return 0;
    };
    let n = level_sizes(h, w, c.len());
    let levels = c.len();
    // the input image stays alive throughout (added once, below)
    let image = ops.map(3, n[0]);
    let mut peak = ops.conv(Conv::same(3, first, 3, n[0]));
    for (l, &ch) in c.iter().enumerate() {
        let c_in = if l == 0 { ch } else { c[l - 1] };
        peak = peak.max(ops.resnet(c_in, ch, n[l]));
        if l + 1 < levels {
            let padded = (h.div_ceil(1 << l) + 1) * (w.div_ceil(1 << l) + 1);
            let down = Conv {
                c_in: ch,
                c_out: ch,
                k: 3,
                n_in: padded,
                n_out: n[l + 1],
            };
            peak = peak.max(ops.map(ch, n[l]) + ops.map(ch, padded) + ops.conv(down));
        }
    }
    let latent = n[levels - 1];
    peak = peak.max(vae_mid_bytes(ops, top, latent));
    let moments = 2 * cfg.latent_channels as u64;
    let out = ops.norm_silu_conv(Conv::same(top, moments, 3, latent));
    frames * (peak.max(out) + image)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::cost::ConvKernel;

    const CPU_HALF: Ops = Ops::half(ConvKernel::Cpu);
    const IM2COL_HALF: Ops = Ops::half(ConvKernel::Im2col);

    #[test]
    fn activations_grow_with_batch_and_size_and_tiling_caps_the_decoder() {
        let unet = UNet2DConditionConfig::default();
        let one = denoise_step_bytes(&unet, CPU_HALF, (64, 64), 2, 4096);
        assert_eq!(
            denoise_step_bytes(&unet, CPU_HALF, (64, 64), 16, 4096),
            8 * one
        );
        assert!(denoise_step_bytes(&unet, CPU_HALF, (128, 128), 2, 4096) > 3 * one);
        assert!(denoise_step_bytes(&unet, CPU_HALF, (64, 64), 2, 1024) < one / 2);
        let vae = AutoencoderKLConfig::default();
        let decode = |ops, h, w| vae_decode_bytes(&vae, ops, h, w, 1);
        assert!(decode(CPU_HALF, 1080, 1920) > 4 * decode(CPU_HALF, 512, 512));
        // at 1080p the VAE's unchunked mid-block attention alone holds 135·240 = 32,400²
        // scores twice (the product and its scaled copy): 4.2 GB in half precision
        assert!(decode(CPU_HALF, 1080, 1920) > 32_400 * 32_400 * 4);
        // and without cuDNN a full-resolution 256-channel conv's column buffer is 9.6 GB
        assert!(decode(IM2COL_HALF, 1080, 1920) > 9_600_000_000);
    }

    /// The published parameter counts of SD 1.5's components, reproduced from the
    /// configurations alone.
    #[test]
    fn counts_match_the_published_models() {
        let counts = DiffusionParameters::of(&DiffusionConfigs::published()).unwrap();
        assert_eq!(counts.unet, 859_520_964);
        assert_eq!(counts.vae, 83_653_863);
        assert_eq!(counts.text_encoder, 123_060_480);
        assert!(
            counts.controlnet > 300_000_000 && counts.controlnet < 400_000_000,
            "{counts:?}"
        );
    }
}

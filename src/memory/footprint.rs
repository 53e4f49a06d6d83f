//! Memory footprints of the pipeline's stages: weights from the networks' own constructors
//! ([`super::census`]) times the dtype's size, and activations as functions of batch,
//! resolution, attention chunking and VAE slicing/tiling, derived from the same configs.
//!
//! Activation models count the tensors alive at each stage's high-water mark; where a stage
//! has several candidates (a UNet level's attention, its feed-forward, an up-path resnet) the
//! largest wins. They are estimates of device memory, not of the host allocator's behaviour.

use candle_core::DType;

use super::census::parameter_count;
use super::ops::{Conv, ConvKernel, Ops};
use crate::core::{Error, Result};
use crate::diffusion::clip::{ClipTextConfig, ClipTextModel};
use crate::diffusion::controlnet::{ControlNetConfig, ControlNetModel};
use crate::diffusion::unet::model::UNet2DConditionModel;
use crate::diffusion::unet::UNet2DConditionConfig;
use crate::diffusion::vae::{AutoencoderKL, AutoencoderKLConfig};
use crate::nn::attention::QUERY_CHUNK;
use crate::pose::config::{lenient_json, DptConfig, Dust3rConfig};
use crate::pose::model::Dust3r;
use crate::pose::tracker::{keyframe_edges, keyframes, TrackOptions};

/// Tokens of the CLIP prompt.
const PROMPT_TOKENS: u64 = 77;

/// The released `naver/DUSt3R_ViTLarge_BaseDecoder_512_dpt` `config.json`.
pub fn released_dust3r_config() -> Dust3rConfig {
    let text = r#"{"enc_embed_dim": 1024, "enc_depth": 24, "enc_num_heads": 16,
        "dec_embed_dim": 768, "dec_depth": 12, "dec_num_heads": 12, "head_type": "dpt",
        "pos_embed": "RoPE100", "depth_mode": ["exp", -Infinity, Infinity],
        "conf_mode": ["exp", 1, Infinity], "img_size": [512, 512],
        "patch_embed_cls": "PatchEmbedDust3R", "landscape_only": false}"#;
    // a literal known to parse: the unit test below holds it to that
    serde_json::from_str(&lenient_json(text)).unwrap_or_else(|_| unreachable!())
}

/// The SD 1.5 inpainting ControlNet v1.1 configuration.
pub fn controlnet_config() -> ControlNetConfig {
    ControlNetConfig {
        unet: UNet2DConditionConfig::default(),
        conditioning_embedding_out_channels: vec![16, 32, 96, 256],
        conditioning_channels: 3,
    }
}

/// Bytes per element.
pub fn dtype_bytes(dtype: DType) -> u64 {
    dtype.size_in_bytes() as u64
}

fn census<M>(
    build: impl FnOnce(candle_nn::VarBuilder<'static>) -> candle_core::Result<M>,
) -> Result<u64> {
    parameter_count(build).map_err(|e| crate::core::Error::Unavailable {
        what: "memory plan",
        hint: format!("a network configuration did not build ({e})"),
    })
}

/// The configurations of every network of the pipeline.
#[derive(Debug, Clone)]
pub struct NetworkConfigs {
    /// DUSt3R.
    pub pose: Dust3rConfig,
    /// CLIP text encoder.
    pub text_encoder: ClipTextConfig,
    /// UNet.
    pub unet: UNet2DConditionConfig,
    /// ControlNet.
    pub controlnet: ControlNetConfig,
    /// VAE.
    pub vae: AutoencoderKLConfig,
}

impl NetworkConfigs {
    /// The published checkpoints' configurations (SD 1.5, ControlNet inpaint v1.1, DUSt3R
    /// 512 DPT).
    pub fn published() -> Self {
        Self {
            pose: released_dust3r_config(),
            text_encoder: ClipTextConfig::default(),
            unet: UNet2DConditionConfig::default(),
            controlnet: controlnet_config(),
            vae: AutoencoderKLConfig::default(),
        }
    }
}

/// Parameter counts of every network of the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ParameterCounts {
    /// DUSt3R.
    pub pose: u64,
    /// CLIP text encoder.
    pub text_encoder: u64,
    /// UNet.
    pub unet: u64,
    /// ControlNet.
    pub controlnet: u64,
    /// VAE (encoder and decoder; both are resident while refining).
    pub vae: u64,
}

impl ParameterCounts {
    /// Counts of the networks `configs` describe.
    pub fn of(configs: &NetworkConfigs) -> Result<Self> {
        Ok(Self {
            pose: census(|vb| Dust3r::new(vb, configs.pose.clone()))?,
            text_encoder: census(|vb| {
                ClipTextModel::new(vb.pp("text_model"), &configs.text_encoder)
            })?,
            unet: census(|vb| UNet2DConditionModel::new(vb, configs.unet.clone()))?,
            controlnet: census(|vb| ControlNetModel::new(vb, configs.controlnet.clone()))?,
            vae: census(|vb| AutoencoderKL::new(vb, configs.vae.clone()))?,
        })
    }
}

/// Chunked attention's transient at the default chunk (see [`attention_bytes_chunked`]).
pub fn attention_bytes(heads: u64, queries: u64, keys: u64, s: u64) -> u64 {
    attention_bytes_chunked(heads, queries, keys, s, QUERY_CHUNK as u64)
}

/// Chunked attention's transient: per head, a (chunk × keys) score matrix and what
/// `nn::attention` derives from it in one statement. In half precision that is the scores,
/// their f32 copy, the f32 probabilities and their cast back, alive together (2s + 8 bytes per
/// score); in f32 the casts are no-ops: scores and probabilities (8 bytes).
pub fn attention_bytes_chunked(heads: u64, queries: u64, keys: u64, s: u64, chunk: u64) -> u64 {
    let per_score = if s < 4 { 2 * s + 8 } else { 2 * s };
    heads * queries.min(chunk) * keys * per_score
}

/// Pixels at each of `levels` resolutions, full size first (`ceil` halving, as the
/// downsamplers pad).
fn level_sizes(h: u64, w: u64, levels: usize) -> Vec<u64> {
    (0..levels)
        .map(|l| h.div_ceil(1 << l) * w.div_ceil(1 << l))
        .collect()
}

/// One UNet + ControlNet evaluation of `samples` latents of `h × w` (CFG doubles the frames).
pub fn denoise_step_bytes(
    cfg: &UNet2DConditionConfig,
    ops: Ops,
    (h, w): (u64, u64),
    samples: u64,
    chunk: u64,
) -> u64 {
    let s = ops.s;
    let c: Vec<u64> = cfg.block_out_channels.iter().map(|&c| c as u64).collect();
    let n = level_sizes(h, w, c.len());
    let last = c.len() - 1;
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
            // an up-path resnet on the concatenation of the path and its skip
            let up_resnet = ops.resnet(2 * c[l], c[l], n[l]);
            attn.max(geglu).max(up_resnet)
        })
        .max()
        .unwrap_or(0);
    let latents = 2 * cfg.in_channels.max(4) as u64 * n[0] * s;
    samples * ((skips + residuals) * s + transient + latents)
}

/// The ControlNet's hint encoder (`controlnet_cond_embedding`) on `samples` hint images of
/// `h × w` pixels: convolutions at image resolution, run at the start of every step before
/// the step's skips exist. `channels` is `conditioning_embedding_out_channels`.
pub fn control_hint_bytes(channels: &[usize], ops: Ops, (h, w): (u64, u64), samples: u64) -> u64 {
    let c: Vec<u64> = channels.iter().map(|&c| c as u64).collect();
    let n = |l: usize| h.div_ceil(1 << l) * w.div_ceil(1 << l);
    let hint = ops.map(3, n(0));
    // conv_in, then per width a same-size conv and a stride-2 conv to the next; each
    // convolution's output goes through a SiLU beside it
    let step = |conv: Conv| {
        ops.map(conv.c_in, conv.n_in) + ops.conv(conv) + ops.map(conv.c_out, conv.n_out)
    };
    let mut peak = step(Conv::same(3, c[0], 3, n(0)));
    for l in 0..c.len().saturating_sub(1) {
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
/// or its single-head attention (the input, the norm and the projections beside the
/// scores).
fn vae_mid_bytes(ops: Ops, c: u64, latent: u64) -> u64 {
    let attention =
        4 * ops.map(c, latent) + attention_bytes(1, latent, latent, ops.s).max(latent * latent * 8);
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
    let n = level_sizes(h, w, rev.len());
    let levels = rev.len();
    let mut peak = vae_mid_bytes(ops, rev[0], n[levels - 1]);
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
    let last = rev[levels - 1];
    let out = ops.map(last, n[0]) + ops.norm_silu_conv(Conv::same(last, 3, 3, n[0]));
    frames * (peak.max(out) + 3 * h * w * 4)
}

/// VAE encoder peak for `frames` images of `h × w` pixels encoded together: conv_in at full
/// size, each down level's resnets and downsampler (zero-padded, then a stride-2 3x3 conv),
/// the mid block and the output norm and conv (to the moments).
pub fn vae_encode_bytes(cfg: &AutoencoderKLConfig, ops: Ops, h: u64, w: u64, frames: u64) -> u64 {
    let c: Vec<u64> = cfg.block_out_channels.iter().map(|&c| c as u64).collect();
    let n = level_sizes(h, w, c.len());
    let levels = c.len();
    let image = ops.map(3, n[0]);
    let mut peak = image + ops.conv(Conv::same(3, c[0], 3, n[0]));
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
    let top = c[levels - 1];
    let latent = n[levels - 1];
    peak = peak.max(vae_mid_bytes(ops, top, latent));
    let moments = 2 * cfg.latent_channels as u64;
    let out = ops.map(top, latent) + ops.norm_silu_conv(Conv::same(top, moments, 3, latent));
    frames * (peak.max(out) + image)
}

/// The text encoder on the prompt and the negative prompt.
pub fn text_encoder_bytes(cfg: &ClipTextConfig, s: u64) -> u64 {
    let d = cfg.hidden_size as u64;
    let heads = cfg.num_attention_heads as u64;
    2 * (PROMPT_TOKENS * (d * 4 + cfg.intermediate_size as u64) * s
        + attention_bytes(heads, PROMPT_TOKENS, PROMPT_TOKENS, s))
}

/// What the pose stage runs, for its memory model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoseWork {
    /// Network input (height, width), pixels.
    pub size_px: (u64, u64),
    /// Pairs per network batch.
    pub batch_pairs: u64,
    /// Frames of the clip (one cached encoding each).
    pub frames: u64,
    /// Keyframes (their aligned points are kept while the others are registered).
    pub keyframes: u64,
    /// Keyframe pairs (predicted, then aligned globally).
    pub keyframe_pairs: u64,
    /// Pairs of one registration chunk.
    pub chunk_pairs: u64,
}

impl PoseWork {
    /// The work of tracking `frames` frames at `size_px` with `options`, `batch_pairs` pairs
    /// per batch: keyframes and pairs from the tracker's own functions.
    pub fn of(
        frames: u64,
        size_px: (u64, u64),
        batch_pairs: u64,
        options: &TrackOptions,
    ) -> Result<Self> {
        let n = usize::try_from(frames).unwrap_or(usize::MAX);
        let keys = keyframes(n, options.keyframe_every).len();
        // fewer than two frames are the tracker's to refuse, with its own message
        let edges = if keys < 2 {
            0
        } else {
            keyframe_edges(keys, options.window)
                .map_err(|e| Error::Unavailable {
                    what: "memory plan",
                    hint: format!("the keyframe graph did not build ({e})"),
                })?
                .len()
        };
        let registered = n.saturating_sub(keys).min(options.register_batch.max(1));
        Ok(Self {
            size_px,
            batch_pairs,
            frames,
            keyframes: keys as u64,
            keyframe_pairs: edges as u64,
            chunk_pairs: 2 * registered as u64,
        })
    }
}

/// DUSt3R tracking `work`, the largest of its phases (`pose::tracker::track`): a frame's
/// encoding; a batch of pair decodes ([`pose_pair_bytes`] each) beside the keyframe pairs'
/// point maps (and, while registering, the aligned keyframes and the chunk's maps); the global
/// alignment. Every frame's encoding stays cached throughout. On the CPU the device is the
/// host, so the preprocessed frames and the keyframes' host points count too.
pub fn pose_bytes(cfg: &Dust3rConfig, ops: Ops, work: &PoseWork) -> u64 {
    let s = ops.s;
    let (h, w) = work.size_px;
    let p = cfg.patch_size as u64;
    let n = (h / p) * (w / p);
    let enc = cfg.encoder();
    let encoder = n * (enc.embed_dim as u64 * 5 + enc.mlp_hidden as u64) * s
        + attention_bytes(enc.num_heads as u64, n, n, s);
    let batch = work.batch_pairs * pose_pair_bytes(cfg, ops, work.size_px);
    // one pair's point maps and confidences, both views, f32
    let maps = 2 * 4 * h * w * 4;
    let results = work.keyframe_pairs * maps;
    // predicting: the maps so far beside the batch in flight, then their concatenation
    let keyframe_phase = results + batch;
    // registering: the keyframes' maps and aligned points and depth, the chunk's maps (as
    // parts beside the batch, then concatenated)
    let chunk = work.chunk_pairs * maps;
    let registration = results + work.keyframes * h * w * 4 * 4 + chunk + batch.max(chunk);
    let alignment = alignment_bytes(work.keyframe_pairs, work.keyframes, (h, w));
    let cache = work.frames * n * enc.embed_dim as u64 * s;
    let host = if ops.conv == ConvKernel::Cpu {
        // preprocessed frames (8-bit RGB), the keyframes' points and a registered frame's
        // two pairs as f64 xyz
        work.frames * 3 * h * w + (work.keyframes + 4) * h * w * 24
    } else {
        0
    };
    cache + host + encoder.max(keyframe_phase).max(registration).max(alignment)
}

/// One pair of a batch of pair decodes at `h × w` pixels: both views' decoder lists (the head
/// inputs) and the decoder's transient or one view's head, whichever is larger (the heads
/// run one after the other), and both views' raw and f32 outputs.
pub fn pose_pair_bytes(cfg: &Dust3rConfig, ops: Ops, (h, w): (u64, u64)) -> u64 {
    let s = ops.s;
    let p = cfg.patch_size as u64;
    let grid = (h / p, w / p);
    let n = grid.0 * grid.1;
    let (enc, dec) = (cfg.encoder(), cfg.decoder());
    let decoder = 2
        * (n * (dec.embed_dim as u64 * 6 + dec.mlp_hidden as u64) * s
            + attention_bytes(dec.num_heads as u64, n, n, s));
    // per view [enc_out, dec_1 … dec_D] plus the last layer before dec_norm
    let lists =
        2 * n * (enc.embed_dim as u64 + (cfg.dec_depth as u64 + 1) * dec.embed_dim as u64) * s;
    let head = if cfg.head_type == "dpt" {
        dpt_head_bytes(&cfg.dpt(), ops, grid)
    } else {
        // the linear head's projection and its pixel shuffle
        2 * 4 * p * p * n * s
    };
    // raw outputs and the f32 point maps of both views
    let outputs = 2 * 4 * h * w * (s + 4);
    lists + decoder.max(head) + outputs
}

/// The global alignment (`pose::align`, f32) of `edges` keyframe pairs over `images`
/// keyframes of `h × w` pixels, the point maps included. Per edge and pixel: the two sides'
/// maps, confidences and log weights (10 values); the loss graph autograd keeps, per side the
/// aligned points (matmul, then + translation), the gathered world points, the residual, its
/// square, their sum, + ε, the root and the weighted distance (16 values); the backward pass
/// about as much again; and the gradients candle accumulates for the constant maps and
/// weights (4 per side). Per image pixel: the depth map's world points (14 values), their
/// gradients, the depth parameter with its gradient and Adam's two moments.
pub fn alignment_bytes(edges: u64, images: u64, (h, w): (u64, u64)) -> u64 {
    let per_edge_pixel = 10 + 2 * 16 + 2 * 16 + 2 * 4;
    let per_image_pixel = 2 * 14 + 4;
    (edges * per_edge_pixel + images * per_image_pixel) * h * w * 4
}

/// One view's DPT head (`pose::dpt`) on a `grid` of tokens: the four projected levels stay
/// alive while the path is fused coarse to fine to half resolution, then `head.0`, the ×2
/// upsampling and `head.2`/`head.4` at full resolution, each statement's temporaries alive
/// until it ends.
fn dpt_head_bytes(cfg: &DptConfig, ops: Ops, (gh, gw): (u64, u64)) -> u64 {
    let f = cfg.feature_dim as u64;
    let half = f / 2;
    let last = cfg.last_dim as u64;
    let n0 = 16 * gh * gw;
    let n_half = 4 * n0;
    let n_full = 4 * n_half;
    let levels = ops.map(f, n0 + n0 / 4 + gh * gw + gh.div_ceil(2) * gw.div_ceil(2));
    // refinenet1: x and RCU2(x) at level 0, their ×2 upsampling and out_conv's output
    let fuse = 2 * ops.map(f, n0) + ops.map(f, n_half) + ops.conv(Conv::same(f, f, 1, n_half));
    let path = ops.map(f, n_half);
    let head0 = ops.conv(Conv::same(f, half, 3, n_half));
    let up = ops.map(half, n_half) + ops.map(half, n_full);
    let upsampled = ops.map(half, n_full);
    let head2 = ops.conv(Conv::same(half, last, 3, n_full));
    let relu = 2 * ops.map(last, n_full);
    let head4 = ops.conv(Conv::same(last, cfg.num_channels as u64, 1, n_full));
    levels
        + fuse
            .max(path + head0)
            .max(path + up)
            .max(path + upsampled + head2)
            .max(path + upsampled + relu + head4)
}

/// Rendering a batch of `frames` frames of `w × h` pixels: RGBA8 + depth f32 + mask + shadow
/// targets, 4x MSAA colour and depth, and the read-back copies.
pub fn render_bytes(w: u64, h: u64, frames: u64) -> u64 {
    let per_frame = w * h * (4 + 4 + 1 + 1) + 4 * w * h * (4 + 4) + w * h * 10;
    frames * per_frame
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn released_config_parses_and_counts_are_published_ones() {
        let cfg = released_dust3r_config();
        assert_eq!(cfg.enc_depth, 24);
        let counts = ParameterCounts::of(&NetworkConfigs::published()).unwrap();
        assert_eq!(counts.unet, 859_520_964);
        assert!(
            counts.controlnet > 300_000_000 && counts.controlnet < 400_000_000,
            "{counts:?}"
        );
    }

    const CPU_HALF: Ops = Ops {
        conv: ConvKernel::Cpu,
        s: 2,
    };
    const IM2COL_HALF: Ops = Ops {
        conv: ConvKernel::Im2col,
        s: 2,
    };
    const CUDNN_HALF: Ops = Ops {
        conv: ConvKernel::Cudnn,
        s: 2,
    };

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
        // at 1080p the VAE's unchunked mid-block attention alone is 2.1 GB of f16 scores
        assert!(decode(CPU_HALF, 1080, 1920) > 2_000_000_000);
        // and without cuDNN a full-resolution 256-channel conv's column buffer is 9.6 GB
        assert!(decode(IM2COL_HALF, 1080, 1920) > 9_600_000_000);
    }

    #[test]
    fn a_pose_pair_holds_one_dpt_head_at_a_time() {
        let cfg = released_dust3r_config();
        let (h, w) = (288, 512);
        let batch = |ops, pairs| {
            let work = PoseWork::of(2, (h, w), pairs, &TrackOptions::default()).unwrap();
            pose_bytes(&cfg, ops, &work)
        };
        let pair = batch(CPU_HALF, 2) - batch(CPU_HALF, 1);
        assert_eq!(batch(CPU_HALF, 8) - batch(CPU_HALF, 1), 7 * pair);
        let head = dpt_head_bytes(&cfg.dpt(), CPU_HALF, (h / 16, w / 16));
        assert!(pair > head && pair < 2 * head, "{pair} vs head {head}");
        // head.2's 3x3 conv at full resolution: a column buffer of 9 x 128 values per pixel
        // that cuDNN does without
        let per_pair = |ops| batch(ops, 2) - batch(ops, 1);
        let (im2col, cudnn) = (per_pair(IM2COL_HALF), per_pair(CUDNN_HALF));
        assert!(im2col > cudnn + 8 * 128 * h * w * 2, "{im2col} vs {cudnn}");
    }
}

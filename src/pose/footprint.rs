//! The pose stage's memory model: weights from the network's own constructor
//! ([`crate::nn::census`]) and activations (pair decodes, the keyframe pairs' point maps, the
//! registration chunk and the global alignment) walked through [`super::tracking::tracker::track`].
//! `memory::plan` sizes the pair batch from it; the stage uses it for its injectable limit.

use super::network::config::{DptConfig, Dust3rConfig};
use super::network::model::Dust3r;
use super::tracking::tracker::{keyframe_edges, keyframes, TrackOptions};
use crate::core::{Error, Result};
use crate::nn::census::parameter_count;
use crate::nn::cost::{attention_bytes, Conv, ConvKernel, Ops};

/// The pose network's parameter count, from its configuration alone.
pub fn pose_parameters(cfg: &Dust3rConfig) -> Result<u64> {
    parameter_count(|vb| Dust3r::new(vb, cfg.clone())).map_err(|e| Error::Unavailable {
        what: "memory plan",
        hint: format!("the pose network's configuration did not build ({e})"),
    })
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

/// DUSt3R tracking `work`, the largest of its phases ([`super::tracking::tracker::track`]): a frame's
/// encoding; a batch of pair decodes ([`pose_pair_bytes`] each) beside the keyframe pairs'
/// point maps (and, while registering, the aligned keyframes and the chunk's maps); the global
/// alignment. Every frame's encoding stays cached throughout. On the CPU the device is the
/// host, so the preprocessed frames and the keyframes' host points count too.
pub fn pose_bytes(cfg: &Dust3rConfig, ops: Ops, work: &PoseWork) -> u64 {
    let s = ops.value_bytes;
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
    // predicting: the maps so far beside the batch in flight (their concatenation at the end,
    // twice the maps, stays below the alignment's figure)
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
    let s = ops.value_bytes;
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

/// The global alignment ([`super::tracking::align`], f32) of `edges` keyframe pairs over `images`
/// keyframes of `h × w` pixels, the point maps included. Per edge and pixel: the two sides'
/// maps, confidences and log weights (10 values); the loss graph autograd keeps, per side the
/// aligned points (matmul, then + translation: 6), the gathered world points (3), the
/// residual (3), its square (3), their sum, + ε, the root and the weighted distance (4): 19
/// values; the backward pass's frontier (candle drops a node's gradient once it has been
/// propagated): the gradients of a side's residual, of its aligned and gathered points and of
/// the matmul output in flight, 12 per side; and the gradients candle accumulates for the
/// constant maps and weights (4 per side). Per image pixel: the depth map's world points (14
/// values), their gradients, the depth parameter with its gradient and Adam's two moments.
pub fn alignment_bytes(edges: u64, images: u64, (h, w): (u64, u64)) -> u64 {
    let per_edge_pixel = 10 + 2 * 19 + 2 * 12 + 2 * 4;
    let per_image_pixel = 2 * 14 + 4;
    (edges * per_edge_pixel + images * per_image_pixel) * h * w * 4
}

/// One view's DPT head ([`super::network::dpt`]) on a `grid` of tokens: the four projected levels stay
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

#[cfg(test)]
mod tests {
    use super::*;

    const CPU_HALF: Ops = Ops::half(ConvKernel::Cpu);
    const IM2COL_HALF: Ops = Ops::half(ConvKernel::Im2col);
    const CUDNN_HALF: Ops = Ops::half(ConvKernel::Cudnn);

    #[test]
    fn a_pose_pair_holds_one_dpt_head_at_a_time() {
        let cfg = Dust3rConfig::released();
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

    /// DUSt3R 512 DPT's published parameter count (spec dust3r.md §1.1), reproduced from the
    /// configuration alone.
    #[test]
    fn the_released_network_has_its_published_parameter_count() {
        let cfg = Dust3rConfig::released();
        assert_eq!(cfg.enc_depth, 24);
        // 571,171,208 minus the training-only mask_token (768), which is not loaded
        assert_eq!(pose_parameters(&cfg).unwrap(), 571_171_208 - 768);
    }
}

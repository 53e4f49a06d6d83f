//! The VAE's building blocks with diffusers' key names: the single-head mid-block attention and
//! the down/up samplers; its resnet blocks are the shared ones, without time embedding.
//!
//! Reference: diffusers 0.42.1 `models/resnet.py` (`Downsample2D`,
//! `Upsample2D`), `models/attention_processor.py` (`Attention` with `AttnProcessor2_0`, as
//! built by `UNetMidBlock2D` with `attention_head_dim` = channels).

use candle_core::{Module as _, Result, Tensor, D};
use candle_nn::{Conv2d, GroupNorm, Linear, VarBuilder};

pub(crate) use crate::diffusion::blocks::{conv, ResnetBlock2D};

/// Every VAE GroupNorm uses this epsilon (diffusion spec §10).
pub const VAE_NORM_EPS: f64 = 1e-6;

/// The mid-block attention: one head over all channels, with a residual.
#[derive(Debug, Clone)]
pub struct Attention {
    group_norm: GroupNorm,
    to_q: Linear,
    to_k: Linear,
    to_v: Linear,
    to_out: Linear,
}

impl Attention {
    /// Loads `vb` (keys `group_norm`, `to_q`, `to_k`, `to_v`, `to_out.0`).
    pub fn new(vb: VarBuilder, channels: usize, groups: usize) -> Result<Self> {
        Ok(Self {
            group_norm: candle_nn::group_norm(groups, channels, VAE_NORM_EPS, vb.pp("group_norm"))?,
            to_q: candle_nn::linear(channels, channels, vb.pp("to_q"))?,
            to_k: candle_nn::linear(channels, channels, vb.pp("to_k"))?,
            to_v: candle_nn::linear(channels, channels, vb.pp("to_v"))?,
            to_out: candle_nn::linear(channels, channels, vb.pp("to_out.0"))?,
        })
    }

    /// (b, c, h, w) → (b, c, h, w)
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, c, h, w) = x.dims4()?;
        // 1. (b, c, h, w) → (b, hw, c), made contiguous: candle 0.11's batched `Linear` on a
        //    transposed view computes wrong values (found by the VAE golden test)
        let hs = self
            .group_norm
            .forward(x)?
            .reshape((b, c, h * w))?
            .transpose(1, 2)?
            .contiguous()?;
        let (q, k, v) = (
            self.to_q.forward(&hs)?,
            self.to_k.forward(&hs)?,
            self.to_v.forward(&hs)?,
        );
        // 2. softmax(q kᵀ / sqrt(c)) v, in f32
        let scores = (q.matmul(&k.t()?)? / (c as f64).sqrt())?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let out = self.to_out.forward(&probs.matmul(&v)?)?;
        // 3. back to (b, c, h, w), plus the residual
        out.transpose(1, 2)?.reshape((b, c, h, w))? + x
    }
}

/// Stride-2 3x3 convolution after zero-padding one row and column at the bottom/right
/// (diffusers' `Downsample2D` with `padding=0`, as the VAE encoder builds it).
#[derive(Debug, Clone)]
pub struct VaeDownsample2D {
    conv: Conv2d,
}

impl VaeDownsample2D {
    /// Loads `vb` (key `conv`).
    pub fn new(vb: VarBuilder, channels: usize) -> Result<Self> {
        Ok(Self {
            conv: conv(vb.pp("conv"), channels, channels, 3, 2, 0)?,
        })
    }

    /// (b, c, h, w) → (b, c, ⌈h/2⌉, ⌈w/2⌉) for even sizes (h/2).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let padded = x
            .pad_with_zeros(D::Minus1, 0, 1)?
            .pad_with_zeros(D::Minus2, 0, 1)?;
        self.conv.forward(&padded)
    }
}

/// diffusers' `Upsample2D` as the VAE decoder calls it: nearest-neighbour 2x upsampling
/// followed by a 3x3 convolution.
#[derive(Debug, Clone)]
pub struct VaeUpsample2D {
    conv: Conv2d,
}

impl VaeUpsample2D {
    /// Loads `vb` (key `conv`).
    pub fn new(vb: VarBuilder, channels: usize) -> Result<Self> {
        Ok(Self {
            conv: conv(vb.pp("conv"), channels, channels, 3, 1, 1)?,
        })
    }

    /// (b, c, h, w) → (b, c, 2h, 2w)
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (_, _, h, w) = x.dims4()?;
        self.conv.forward(&x.upsample_nearest2d(h * 2, w * 2)?)
    }
}

/// `UNetMidBlock2D` of the VAE: resnet, attention, resnet.
#[derive(Debug, Clone)]
pub struct MidBlock {
    resnets: [ResnetBlock2D; 2],
    attention: Attention,
}

impl MidBlock {
    /// Loads `vb` (keys `resnets.{0,1}`, `attentions.0`).
    pub fn new(vb: VarBuilder, channels: usize, groups: usize) -> Result<Self> {
        Ok(Self {
            resnets: [
                ResnetBlock2D::new(
                    vb.pp("resnets.0"),
                    channels,
                    channels,
                    None,
                    groups,
                    VAE_NORM_EPS,
                )?,
                ResnetBlock2D::new(
                    vb.pp("resnets.1"),
                    channels,
                    channels,
                    None,
                    groups,
                    VAE_NORM_EPS,
                )?,
            ],
            attention: Attention::new(vb.pp("attentions.0"), channels, groups)?,
        })
    }

    /// (b, c, h, w) → (b, c, h, w)
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.resnets[0].forward(x, None)?;
        let h = self.attention.forward(&h)?;
        self.resnets[1].forward(&h, None)
    }
}

//! `ResnetBlock2D` with a time embedding, and the UNet's resamplers.
//!
//! Reference: diffusers 0.42.1 `models/resnet.py` (`ResnetBlock2D` with
//! `time_embedding_norm="default"`, `Downsample2D` with padding 1, `Upsample2D` to an explicit
//! size so odd latent sizes line up with their skip connections).

use candle_core::{Module as _, Result, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, GroupNorm, Linear, VarBuilder};

pub(crate) fn conv(
    vb: VarBuilder,
    c_in: usize,
    c_out: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
) -> Result<Conv2d> {
    candle_nn::conv2d(
        c_in,
        c_out,
        kernel,
        Conv2dConfig {
            stride,
            padding,
            ..Default::default()
        },
        vb,
    )
}

/// Resnet block conditioned on the time embedding (added after the first convolution).
#[derive(Debug, Clone)]
pub struct ResnetBlock2D {
    norm1: GroupNorm,
    conv1: Conv2d,
    time_emb_proj: Linear,
    norm2: GroupNorm,
    conv2: Conv2d,
    conv_shortcut: Option<Conv2d>,
}

impl ResnetBlock2D {
    /// Loads `vb`; `temb` is the time-embedding width.
    pub fn new(
        vb: VarBuilder,
        c_in: usize,
        c_out: usize,
        temb: usize,
        groups: usize,
        eps: f64,
    ) -> Result<Self> {
        Ok(Self {
            norm1: candle_nn::group_norm(groups, c_in, eps, vb.pp("norm1"))?,
            conv1: conv(vb.pp("conv1"), c_in, c_out, 3, 1, 1)?,
            time_emb_proj: candle_nn::linear(temb, c_out, vb.pp("time_emb_proj"))?,
            norm2: candle_nn::group_norm(groups, c_out, eps, vb.pp("norm2"))?,
            conv2: conv(vb.pp("conv2"), c_out, c_out, 3, 1, 1)?,
            conv_shortcut: (c_in != c_out)
                .then(|| conv(vb.pp("conv_shortcut"), c_in, c_out, 1, 1, 0))
                .transpose()?,
        })
    }

    /// (b, c_in, h, w), temb (b, temb) → (b, c_out, h, w)
    pub fn forward(&self, x: &Tensor, temb: &Tensor) -> Result<Tensor> {
        let h = self
            .conv1
            .forward(&candle_nn::ops::silu(&self.norm1.forward(x)?)?)?;
        let t = self
            .time_emb_proj
            .forward(&candle_nn::ops::silu(temb)?)?
            .unsqueeze(2)?
            .unsqueeze(3)?;
        let h = h.broadcast_add(&t)?;
        let h = self
            .conv2
            .forward(&candle_nn::ops::silu(&self.norm2.forward(&h)?)?)?;
        let shortcut = match &self.conv_shortcut {
            Some(c) => c.forward(x)?,
            None => x.clone(),
        };
        shortcut + h
    }
}

/// Stride-2 3x3 convolution with padding 1: a side s becomes ⌈s/2⌉.
#[derive(Debug, Clone)]
pub struct Downsample2D {
    conv: Conv2d,
}

impl Downsample2D {
    /// Loads `vb` (key `conv`).
    pub fn new(vb: VarBuilder, channels: usize) -> Result<Self> {
        Ok(Self {
            conv: conv(vb.pp("conv"), channels, channels, 3, 2, 1)?,
        })
    }

    /// (b, c, h, w) → (b, c, ⌈h/2⌉, ⌈w/2⌉)
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.conv.forward(x)
    }
}

/// Nearest-neighbour upsampling to the next skip connection's size, then a 3x3 convolution.
#[derive(Debug, Clone)]
pub struct Upsample2D {
    conv: Conv2d,
}

impl Upsample2D {
    /// Loads `vb` (key `conv`).
    pub fn new(vb: VarBuilder, channels: usize) -> Result<Self> {
        Ok(Self {
            conv: conv(vb.pp("conv"), channels, channels, 3, 1, 1)?,
        })
    }

    /// (b, c, h, w) → (b, c, size.0, size.1)
    pub fn forward(&self, x: &Tensor, size: (usize, usize)) -> Result<Tensor> {
        self.conv.forward(&x.upsample_nearest2d(size.0, size.1)?)
    }
}

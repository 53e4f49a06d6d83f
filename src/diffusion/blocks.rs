//! diffusers' `ResnetBlock2D`, shared by the UNet, the ControlNet and the VAE.
//!
//! Reference: diffusers 0.42.1 `models/resnet.py` (`ResnetBlock2D` with
//! `time_embedding_norm="default"`, `output_scale_factor` 1).

use candle_core::{Module as _, Result, Tensor};
use candle_nn::{Conv2d, GroupNorm, Linear, VarBuilder};

pub(crate) use crate::nn::conv::conv;

/// diffusers' `ResnetBlock2D` (`time_embedding_norm="default"`): norm → SiLU → conv, twice,
/// with the projected time embedding added after the first convolution when there is one (UNet,
/// ControlNet; the VAE has none), plus a 1x1 shortcut when the channel count changes.
#[derive(Debug, Clone)]
pub struct ResnetBlock2D {
    norm1: GroupNorm,
    conv1: Conv2d,
    time_emb_proj: Option<Linear>,
    norm2: GroupNorm,
    conv2: Conv2d,
    conv_shortcut: Option<Conv2d>,
}

impl ResnetBlock2D {
    /// Loads `vb`; `temb` is the time-embedding width, `None` for blocks without one.
    pub fn new(
        vb: VarBuilder,
        c_in: usize,
        c_out: usize,
        temb: Option<usize>,
        groups: usize,
        eps: f64,
    ) -> Result<Self> {
        Ok(Self {
            norm1: candle_nn::group_norm(groups, c_in, eps, vb.pp("norm1"))?,
            conv1: conv(vb.pp("conv1"), c_in, c_out, 3, 1, 1)?,
            time_emb_proj: temb
                .map(|t| candle_nn::linear(t, c_out, vb.pp("time_emb_proj")))
                .transpose()?,
            norm2: candle_nn::group_norm(groups, c_out, eps, vb.pp("norm2"))?,
            conv2: conv(vb.pp("conv2"), c_out, c_out, 3, 1, 1)?,
            conv_shortcut: (c_in != c_out)
                .then(|| conv(vb.pp("conv_shortcut"), c_in, c_out, 1, 1, 0))
                .transpose()?,
        })
    }

    /// (b, c_in, h, w), temb (b, temb) → (b, c_out, h, w); `temb` must be given exactly when
    /// the block was built with a time embedding.
    pub fn forward(&self, x: &Tensor, temb: Option<&Tensor>) -> Result<Tensor> {
        let mut h = self
            .conv1
            .forward(&candle_nn::ops::silu(&self.norm1.forward(x)?)?)?;
        if let (Some(proj), Some(temb)) = (&self.time_emb_proj, temb) {
            let t = proj.forward(&candle_nn::ops::silu(temb)?)?;
            h = h.broadcast_add(&t.unsqueeze(2)?.unsqueeze(3)?)?;
        }
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

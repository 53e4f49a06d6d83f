//! The UNet's resamplers; its resnet blocks are the shared [`crate::diffusion::resnet`] ones.
//!
//! Reference: diffusers 0.42.1 `models/resnet.py` (`Downsample2D` with padding 1, `Upsample2D`
//! to an explicit size so odd latent sizes line up with their skip connections).

use candle_core::{Module as _, Result, Tensor};
use candle_nn::{Conv2d, VarBuilder};

pub(crate) use crate::diffusion::resnet::{conv, ResnetBlock2D};

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

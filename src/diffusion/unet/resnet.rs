//! The UNet's resamplers; its resnet blocks are the shared [`crate::diffusion::blocks`] ones.
//!
//! Reference: diffusers 0.42.1 `models/resnet.py` (`Downsample2D` with padding 1, `Upsample2D`
//! to an explicit size so odd latent sizes line up with their skip connections).

use candle_core::{Module as _, Result, Tensor};
use candle_nn::{Conv2d, VarBuilder};

pub(crate) use crate::diffusion::blocks::{conv, ResnetBlock2D};

/// diffusers' `Downsample2D` as the UNet builds it: a stride-2 3x3 convolution with padding 1,
/// so a side s becomes ⌈s/2⌉ (the VAE pads first:
/// [`VaeDownsample2D`](crate::diffusion::vae::blocks::VaeDownsample2D)).
#[derive(Debug, Clone)]
pub struct UNetDownsample2D {
    conv: Conv2d,
}

impl UNetDownsample2D {
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

/// diffusers' `Upsample2D` as the UNet calls it: nearest-neighbour upsampling to the next skip
/// connection's size, then a 3x3 convolution (the VAE's doubles:
/// [`VaeUpsample2D`](crate::diffusion::vae::blocks::VaeUpsample2D)).
#[derive(Debug, Clone)]
pub struct UNetUpsample2D {
    conv: Conv2d,
}

impl UNetUpsample2D {
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

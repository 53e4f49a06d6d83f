//! The SD 1.5 VAE (`AutoencoderKL`): encode to posterior moments, sample with injected noise,
//! decode; per-frame slicing and diffusers' tiling, each selectable.
//!
//! Main types: [`AutoencoderKLConfig`] (fields named after `vae/config.json`),
//! [`AutoencoderKL`] and [`Posterior`]. Reference: diffusers 0.42.1
//! `models/autoencoders/autoencoder_kl.py`; diffusion spec §11. Deviation from candle's
//! `AutoEncoderKL`: the posterior takes its noise as an argument and exposes mean and log-variance.

pub mod blocks;
pub mod coder;
pub mod tiling;

use std::path::Path;

use candle_core::{DType, Device, Module as _, Result, Tensor};
use candle_nn::{Conv2d, VarBuilder};

use coder::{Decoder, Encoder};

use super::weights::{load_component, DIFFUSERS_WEIGHTS};
pub use tiling::TileConfig;

/// `vae/config.json` of a diffusers `AutoencoderKL`; `Default` is SD 1.5's
/// (<https://huggingface.co/stable-diffusion-v1-5/stable-diffusion-v1-5/blob/main/vae/config.json>).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct AutoencoderKLConfig {
    /// `in_channels`.
    pub in_channels: usize,
    /// `out_channels`.
    pub out_channels: usize,
    /// `block_out_channels`.
    pub block_out_channels: Vec<usize>,
    /// `layers_per_block`.
    pub layers_per_block: usize,
    /// `latent_channels`.
    pub latent_channels: usize,
    /// `norm_num_groups`.
    pub norm_num_groups: usize,
    /// `sample_size`: the tile side in pixels.
    pub sample_size: usize,
    /// `scaling_factor`.
    pub scaling_factor: f64,
}

impl Default for AutoencoderKLConfig {
    fn default() -> Self {
        Self {
            in_channels: 3,
            out_channels: 3,
            block_out_channels: vec![128, 256, 512, 512],
            layers_per_block: 2,
            latent_channels: 4,
            norm_num_groups: 32,
            sample_size: 512,
            scaling_factor: 0.18215,
        }
    }
}

impl AutoencoderKLConfig {
    /// diffusers' default tiles: `sample_size` pixels, `sample_size / 2^(levels-1)` latents,
    /// overlap 0.25.
    pub fn default_tiles(&self) -> TileConfig {
        let levels = self.block_out_channels.len().max(1) as u32;
        TileConfig {
            sample_px: self.sample_size,
            latent: self.sample_size >> (levels - 1),
            overlap: 0.25,
        }
    }
}

/// How the VAE processes a batch.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct VaeMode {
    /// One frame at a time (diffusers `enable_slicing`).
    pub slicing: bool,
    /// Tiles when a side exceeds the tile (diffusers `enable_tiling`).
    pub tiling: Option<TileConfig>,
}

/// The diagonal Gaussian posterior of an encode.
#[derive(Debug, Clone)]
pub struct Posterior {
    /// Mean, (b, latent, h, w).
    pub mean: Tensor,
    /// Log-variance as the encoder produced it (unclamped).
    pub logvar: Tensor,
}

impl Posterior {
    /// Splits moments (b, 2·latent, h, w) into mean and log-variance.
    pub fn from_moments(moments: &Tensor) -> Result<Self> {
        let c = moments.dim(1)? / 2;
        Ok(Self {
            mean: moments.narrow(1, 0, c)?,
            logvar: moments.narrow(1, c, c)?,
        })
    }

    /// `exp(0.5 · clamp(logvar, −30, 20))`.
    pub fn std(&self) -> Result<Tensor> {
        (self.logvar.clamp(-30.0, 20.0)? * 0.5)?.exp()
    }

    /// `mean + std · eps`, with the caller's noise (never drawn here).
    pub fn sample(&self, eps: &Tensor) -> Result<Tensor> {
        self.mean.clone() + self.std()?.mul(eps)?
    }
}

/// The VAE.
#[derive(Debug, Clone)]
pub struct AutoencoderKL {
    encoder: Encoder,
    decoder: Decoder,
    quant_conv: Conv2d,
    post_quant_conv: Conv2d,
    /// Its configuration.
    pub config: AutoencoderKLConfig,
}

impl AutoencoderKL {
    /// Builds the VAE from weights under `vb` (diffusers keys).
    pub fn new(vb: VarBuilder, config: AutoencoderKLConfig) -> Result<Self> {
        let c = config.latent_channels;
        Ok(Self {
            encoder: Encoder::new(vb.pp("encoder"), &config)?,
            decoder: Decoder::new(vb.pp("decoder"), &config)?,
            quant_conv: candle_nn::conv2d(
                2 * c,
                2 * c,
                1,
                Default::default(),
                vb.pp("quant_conv"),
            )?,
            post_quant_conv: candle_nn::conv2d(
                c,
                c,
                1,
                Default::default(),
                vb.pp("post_quant_conv"),
            )?,
            config,
        })
    }

    /// Loads a diffusers `vae/` folder (`config.json`, `diffusion_pytorch_model.safetensors`).
    pub fn load(dir: &Path, dtype: DType, device: &Device) -> crate::Result<Self> {
        load_component(dir, DIFFUSERS_WEIGHTS, dtype, device, Self::new)
    }

    /// Posterior moments `quant_conv(encoder(x))` of images in [−1, 1], (b, 2·latent, h, w).
    pub fn moments(&self, x: &Tensor, mode: &VaeMode) -> Result<Tensor> {
        self.per_frame(x, mode.slicing, |frame| self.encode_one(frame, mode))
    }

    /// Images in about [−1, 1] from raw latents (already divided by the scaling factor).
    pub fn decode(&self, z: &Tensor, mode: &VaeMode) -> Result<Tensor> {
        self.per_frame(z, mode.slicing, |frame| self.decode_one(frame, mode))
    }

    fn per_frame(
        &self,
        x: &Tensor,
        slicing: bool,
        f: impl Fn(&Tensor) -> Result<Tensor>,
    ) -> Result<Tensor> {
        if !slicing || x.dim(0)? <= 1 {
            return f(x);
        }
        let frames = (0..x.dim(0)?)
            .map(|i| f(&x.narrow(0, i, 1)?))
            .collect::<Result<Vec<_>>>()?;
        Tensor::cat(&frames, 0)
    }

    fn encode_one(&self, x: &Tensor, mode: &VaeMode) -> Result<Tensor> {
        let raw = |t: &Tensor| self.quant_conv.forward(&self.encoder.forward(t)?);
        match mode.tiling {
            Some(t) => tiling::tiled_if_larger(x, t.sample_px, t.latent, t.overlap, raw),
            None => raw(x),
        }
    }

    fn decode_one(&self, z: &Tensor, mode: &VaeMode) -> Result<Tensor> {
        let raw = |t: &Tensor| self.decoder.forward(&self.post_quant_conv.forward(t)?);
        match mode.tiling {
            Some(t) => tiling::tiled_if_larger(z, t.latent, t.sample_px, t.overlap, raw),
            None => raw(z),
        }
    }
}

//! Timestep conditioning: the sinusoidal projection (`Timesteps`) and the two-layer MLP
//! (`TimestepEmbedding`, keys `time_embedding.linear_{1,2}`).
//!
//! Reference: diffusers 0.42.1 `models/embeddings.py` (`get_timestep_embedding`, `Timesteps`,
//! `TimestepEmbedding`), computed in f32 as there.

use candle_core::{Device, Module as _, Result, Tensor};
use candle_nn::{Linear, VarBuilder};

/// Sinusoidal features of `timesteps` (T) → (T, channels): frequencies
/// `exp(−ln(10000)·i / (half − shift))`, `[cos, sin]` when `flip_sin_to_cos`.
pub fn timestep_features(
    timesteps: &[f64],
    channels: usize,
    flip_sin_to_cos: bool,
    shift: f64,
    device: &Device,
) -> Result<Tensor> {
    let half = channels / 2;
    let freqs: Vec<f32> = (0..half)
        .map(|i| (-(10000.0_f32.ln()) * i as f32 / (half as f32 - shift as f32)).exp())
        .collect();
    let args: Vec<f32> = timesteps
        .iter()
        .flat_map(|&t| freqs.iter().map(move |f| t as f32 * f))
        .collect();
    let args = Tensor::from_vec(args, (timesteps.len(), half), device)?;
    let (sin, cos) = (args.sin()?, args.cos()?);
    let parts = if flip_sin_to_cos {
        [cos, sin]
    } else {
        [sin, cos]
    };
    Tensor::cat(&parts, 1)
}

/// `linear_1 → SiLU → linear_2`.
#[derive(Debug, Clone)]
pub struct TimestepEmbedding {
    linear_1: Linear,
    linear_2: Linear,
}

impl TimestepEmbedding {
    /// Loads `vb` (the `time_embedding` prefix): `channels` → `embed` → `embed`.
    pub fn new(vb: VarBuilder, channels: usize, embed: usize) -> Result<Self> {
        Ok(Self {
            linear_1: candle_nn::linear(channels, embed, vb.pp("linear_1"))?,
            linear_2: candle_nn::linear(embed, embed, vb.pp("linear_2"))?,
        })
    }

    /// (T, channels) → (T, embed), in the weights' dtype.
    pub fn forward(&self, features: &Tensor) -> Result<Tensor> {
        let dtype = self.linear_1.weight().dtype();
        let h = self.linear_1.forward(&features.to_dtype(dtype)?)?;
        self.linear_2.forward(&candle_nn::ops::silu(&h)?)
    }
}

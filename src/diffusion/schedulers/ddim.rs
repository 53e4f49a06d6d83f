//! DDIM (η = 0) with SD 1.5's "leading" spacing and `steps_offset` 1.
//!
//! Reference: Song et al. 2021, eq. 12; diffusers 0.42.1 `schedulers/scheduling_ddim.py`
//! (`set_timesteps`, `step`, `add_noise`) with `set_alpha_to_one` false.

use candle_core::{DType, Result, Tensor};

use super::{betas, scalar_div, scale, Scheduler, SchedulerConfig};

/// DDIM for one run of `n` steps.
#[derive(Debug, Clone)]
pub struct Ddim {
    timesteps: Vec<i64>,
    alphas_cumprod: Vec<f32>,
    ratio: i64,
}

impl Ddim {
    /// The schedule for `n` inference steps.
    pub fn new(config: &SchedulerConfig, n: usize) -> Self {
        let ac = betas::alphas_cumprod(&betas::scaled_linear(
            config.num_train_timesteps,
            config.beta_start,
            config.beta_end,
        ));
        let ratio = (config.num_train_timesteps / n.max(1)) as i64;
        let timesteps = (0..n as i64)
            .rev()
            .map(|i| i * ratio + config.steps_offset as i64)
            .collect();
        Self {
            timesteps,
            alphas_cumprod: ac,
            ratio,
        }
    }

    fn alpha_bar(&self, t: i64) -> f32 {
        // `set_alpha_to_one` false: before t = 0 the schedule uses ᾱ[0].
        let i = usize::try_from(t)
            .unwrap_or(0)
            .min(self.alphas_cumprod.len() - 1);
        self.alphas_cumprod[i]
    }
}

impl Scheduler for Ddim {
    fn timesteps(&self) -> &[i64] {
        &self.timesteps
    }

    fn sigma(&self, step: usize) -> f64 {
        let a = f64::from(self.timesteps.get(step).map_or(1.0, |&t| self.alpha_bar(t)));
        ((1.0 - a) / a).sqrt()
    }

    fn step(&mut self, eps: &Tensor, k: usize, x: &Tensor) -> Result<Tensor> {
        let dtype = x.dtype();
        let (x32, eps32) = (x.to_dtype(DType::F32)?, eps.to_dtype(DType::F32)?);
        let t = self.timesteps.get(k).copied().unwrap_or(0);
        let (a_t, a_prev) = (self.alpha_bar(t), self.alpha_bar(t - self.ratio));
        // 1. x0 = (x - sqrt(1 - a_t) eps) / sqrt(a_t)   (f32 scalars, as the reference)
        let x0 = scalar_div(&(&x32 - scale(&eps32, (1.0 - a_t).sqrt())?)?, a_t.sqrt())?;
        // 2. x_prev = sqrt(a_prev) x0 + sqrt(1 - a_prev) eps
        let out = (scale(&x0, a_prev.sqrt())? + scale(&eps32, (1.0 - a_prev).sqrt())?)?;
        out.to_dtype(dtype)
    }

    fn add_noise(&self, x0: &Tensor, noise: &Tensor, step: usize) -> Result<Tensor> {
        let a = self.timesteps.get(step).map_or(1.0, |&t| self.alpha_bar(t));
        let out = (scale(&x0.to_dtype(DType::F32)?, a.sqrt())?
            + scale(&noise.to_dtype(DType::F32)?, (1.0 - a).sqrt())?)?;
        out.to_dtype(x0.dtype())
    }
}

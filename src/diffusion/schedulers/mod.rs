//! Noise schedulers, one algorithm per file behind one trait. Steps are indexed by their
//! position in the full schedule (`t_start + i`), never by timestep value, because Karras
//! schedules repeat timesteps at large step counts.
//!
//! Main types: [`Scheduler`] (the trait), [`SchedulerConfig`] (SD 1.5's `scheduler_config.json`),
//! [`SchedulerKind`] and the strength / start-σ rules in [`start_step`] and
//! [`start_step_for_sigma`].

pub mod betas;
pub mod ddim;
pub mod dpm_solver_multistep;
pub mod sigmas;

use candle_core::{Result, Tensor};

/// A scheduler for one denoising run; build a fresh one per run with [`SchedulerConfig::build`].
pub trait Scheduler {
    /// The full schedule's integer timesteps (what the UNet is given).
    fn timesteps(&self) -> &[i64];
    /// Scale of pure-noise start latents (1 for variance-preserving schedulers, as both here).
    fn init_noise_sigma(&self) -> f64 {
        1.0
    }
    /// Input scaling before the UNet at `step` (identity for both SD schedulers here; diffusers'
    /// sigma-space schedulers such as Euler override it).
    fn scale_model_input(&self, x: Tensor, _step: usize) -> Result<Tensor> {
        Ok(x)
    }
    /// One denoising step from `x` at `step` with the guided model output `eps`.
    fn step(&mut self, eps: &Tensor, step: usize, x: &Tensor) -> Result<Tensor>;
    /// Noises clean latents to the level of `step`.
    fn add_noise(&self, x0: &Tensor, noise: &Tensor, step: usize) -> Result<Tensor>;
    /// The noise level σ at `step` (σ = sqrt((1 − ᾱ)/ᾱ)); 0 past the end.
    fn sigma(&self, step: usize) -> f64;
}

/// `x · c` with an f32 scalar (exact f32 multiply, as torch's scalar-tensor product).
pub(crate) fn scale(x: &Tensor, c: f32) -> Result<Tensor> {
    x.affine(f64::from(c), 0.0)
}

/// `x / c` as a true f32 division (not a multiply by the reciprocal), as torch divides.
pub(crate) fn scalar_div(x: &Tensor, c: f32) -> Result<Tensor> {
    x.broadcast_div(&Tensor::new(c, x.device())?.to_dtype(x.dtype())?)
}

/// Which scheduler to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SchedulerKind {
    /// DPM-Solver++ 2M, Karras sigmas.
    DpmPp2mKarras,
    /// DDIM, η = 0.
    Ddim,
}

/// The training schedule (SD 1.5 `scheduler_config.json`; `Default` is that file:
/// <https://huggingface.co/stable-diffusion-v1-5/stable-diffusion-v1-5/blob/main/scheduler/scheduler_config.json>).
#[derive(Debug, Clone, PartialEq)]
pub struct SchedulerConfig {
    /// `num_train_timesteps`.
    pub num_train_timesteps: usize,
    /// `beta_start`.
    pub beta_start: f64,
    /// `beta_end`.
    pub beta_end: f64,
    /// `steps_offset` (DDIM's leading spacing adds it).
    pub steps_offset: usize,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            num_train_timesteps: 1000,
            beta_start: 0.00085,
            beta_end: 0.012,
            steps_offset: 1,
        }
    }
}

impl SchedulerConfig {
    /// Reads a diffusers `scheduler_config.json`; only `scaled_linear` betas are supported
    /// (SD 1.5 and its fine-tunes).
    pub fn from_json(text: &str) -> std::result::Result<Self, String> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let schedule = v
            .get("beta_schedule")
            .and_then(|b| b.as_str())
            .unwrap_or("scaled_linear");
        if schedule != "scaled_linear" {
            return Err(format!(
                "beta_schedule \"{schedule}\" is not supported (SD 1.5 uses scaled_linear)"
            ));
        }
        let d = Self::default();
        let f = |k: &str, default: f64| {
            v.get(k)
                .and_then(serde_json::Value::as_f64)
                .unwrap_or(default)
        };
        let u = |k: &str, default: usize| {
            v.get(k)
                .and_then(serde_json::Value::as_u64)
                .map_or(default, |x| x as usize)
        };
        Ok(Self {
            num_train_timesteps: u("num_train_timesteps", d.num_train_timesteps),
            beta_start: f("beta_start", d.beta_start),
            beta_end: f("beta_end", d.beta_end),
            steps_offset: u("steps_offset", d.steps_offset),
        })
    }

    /// A fresh scheduler of `kind` for `n` inference steps.
    pub fn build(&self, kind: SchedulerKind, n: usize) -> Box<dyn Scheduler + Send> {
        match kind {
            SchedulerKind::DpmPp2mKarras => {
                Box::new(dpm_solver_multistep::DpmSolverMultistep::new(self, n))
            }
            SchedulerKind::Ddim => Box::new(ddim::Ddim::new(self, n)),
        }
    }
}

/// The first step run for img2img `strength`, as diffusers computes it: the product in f64,
/// truncated (12 x 0.3 = 3.5999999999999996 runs 3 steps, starting at step 9).
pub fn start_step(n: usize, strength: f64) -> usize {
    let init = ((n as f64 * strength) as usize).min(n);
    n - init
}

/// The first step whose noise level does not exceed `sigma`: the same noise level whatever
/// the scheduler and step count (DPM++ 12 at strength 0.3 starts at σ 0.147, DDIM 20 at 0.698).
pub fn start_step_for_sigma(scheduler: &dyn Scheduler, sigma: f64) -> usize {
    let n = scheduler.timesteps().len();
    (0..n)
        .find(|&k| scheduler.sigma(k) <= sigma * (1.0 + 1e-9))
        .unwrap_or(n.saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strength_truncates_in_f64() {
        assert_eq!(start_step(12, 0.3), 9);
        assert_eq!(start_step(20, 0.3), 14);
        assert_eq!(start_step(20, 1.0), 0);
        assert_eq!(start_step(12, 0.35), 8);
    }

    #[test]
    fn start_sigmas_of_the_spec_table() {
        let cfg = SchedulerConfig::default();
        let dpm = cfg.build(SchedulerKind::DpmPp2mKarras, 12);
        let ddim = cfg.build(SchedulerKind::Ddim, 20);
        assert!((dpm.sigma(start_step(12, 0.3)) - 0.147).abs() < 5e-4);
        assert!((ddim.sigma(start_step(20, 0.3)) - 0.698).abs() < 5e-4);
        assert_eq!(ddim.timesteps()[14..], [251, 201, 151, 101, 51, 1]);
        // Asking DDIM 20 for DPM's start sigma picks a later, quieter step.
        let k = start_step_for_sigma(ddim.as_ref(), 0.147);
        assert!(ddim.sigma(k) <= 0.147 && ddim.sigma(k - 1) > 0.147);
    }
}

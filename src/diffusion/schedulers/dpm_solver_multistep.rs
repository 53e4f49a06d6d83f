//! DPM-Solver++ 2M with Karras sigmas (data prediction, midpoint second-order update,
//! lower-order final step, final sigma zero), as SD 1.5 pipelines use it.
//!
//! Reference: Lu et al. 2022, "DPM-Solver++" (algorithm 2); diffusers 0.42.1
//! `schedulers/scheduling_dpmsolver_multistep.py` (`set_timesteps`,
//! `dpm_solver_first_order_update`, `multistep_dpm_solver_second_order_update`, `step`).
//! Host scalars are f64; the sample is updated in f32 and cast back to its dtype.

use candle_core::{DType, Result, Tensor};

use super::{betas, scalar_div, scale, sigmas, Scheduler, SchedulerConfig};

/// DPM-Solver++ 2M Karras for one run of `n` steps; a fresh instance per run.
#[derive(Debug, Clone)]
pub struct DpmSolverMultistep {
    timesteps: Vec<i64>,
    /// σ per step plus the final 0 (f32 values, as diffusers stores them).
    sigmas: Vec<f64>,
    /// Data prediction and step index of the previous step, for the second-order update.
    previous: Option<(Tensor, usize)>,
    steps_taken: usize,
    lower_order_final: bool,
}

impl DpmSolverMultistep {
    /// The schedule for `n` inference steps.
    pub fn new(config: &SchedulerConfig, n: usize) -> Self {
        let ac = betas::alphas_cumprod(&betas::scaled_linear(
            config.num_train_timesteps,
            config.beta_start,
            config.beta_end,
        ));
        let train = betas::train_sigmas(&ac);
        let log_sigmas: Vec<f32> = train.iter().map(|s| s.ln()).collect();
        let (min, max) = (f64::from(train[0]), f64::from(train[train.len() - 1]));
        let karras = sigmas::karras(min, max, n);
        let timesteps = karras
            .iter()
            .map(|&s| sigmas::sigma_to_timestep(s, &log_sigmas))
            .collect();
        // Stored as f32 in diffusers (`astype(np.float32)`), then used as f32 tensors.
        let sigmas = karras
            .iter()
            .map(|&s| f64::from(s as f32))
            .chain([0.0])
            .collect();
        Self {
            timesteps,
            sigmas,
            previous: None,
            steps_taken: 0,
            lower_order_final: true,
        }
    }

    /// `(α, s)` of σ in f32, like diffusers' `_sigma_to_alpha_sigma_t` on f32 tensors, so the
    /// step coefficients round as the reference's do.
    fn alpha_sigma(sigma: f32) -> (f32, f32) {
        let alpha = 1.0 / (sigma * sigma + 1.0).sqrt();
        (alpha, sigma * alpha)
    }

    /// λ = ln α − ln s (f32).
    fn lambda(sigma: f32) -> f32 {
        let (a, s) = Self::alpha_sigma(sigma);
        a.ln() - s.ln()
    }

    fn sigma_f32(&self, step: usize) -> f32 {
        self.sigmas.get(step).map_or(0.0, |&s| s as f32)
    }

    /// Whether step `k` uses the first-order update.
    fn first_order(&self, k: usize) -> bool {
        let n = self.timesteps.len();
        let last = k + 1 == n;
        self.previous.is_none()
            || self.steps_taken == 0
            || (last && (self.lower_order_final || self.sigmas[k + 1] == 0.0))
    }
}

impl Scheduler for DpmSolverMultistep {
    fn timesteps(&self) -> &[i64] {
        &self.timesteps
    }

    fn sigma(&self, step: usize) -> f64 {
        self.sigmas.get(step).copied().unwrap_or(0.0)
    }

    fn step(&mut self, eps: &Tensor, k: usize, x: &Tensor) -> Result<Tensor> {
        let dtype = x.dtype();
        let (x32, eps32) = (x.to_dtype(DType::F32)?, eps.to_dtype(DType::F32)?);
        // 1. data prediction x0 = (x - s_k eps) / alpha_k
        let (sigma_s, sigma_t) = (self.sigma_f32(k), self.sigma_f32(k + 1));
        let (alpha_s, s_s) = Self::alpha_sigma(sigma_s);
        let x0 = scalar_div(&(&x32 - scale(&eps32, s_s)?)?, alpha_s)?;
        // 2. update; the final step to sigma 0 lands exactly on x0
        let out = if sigma_t == 0.0 {
            x0.clone()
        } else {
            let (alpha_t, s_t) = Self::alpha_sigma(sigma_t);
            let h = Self::lambda(sigma_t) - Self::lambda(sigma_s);
            let c = alpha_t * ((-h).exp() - 1.0);
            let first = (scale(&x32, s_t / s_s)? - scale(&x0, c)?)?;
            match (&self.previous, self.first_order(k)) {
                (Some((x0_prev, k_prev)), false) => {
                    // 3. midpoint second order: D1 = (x0 - x0_prev) / r0
                    let r0 = (Self::lambda(sigma_s) - Self::lambda(self.sigma_f32(*k_prev))) / h;
                    let d1 = scale(&(&x0 - x0_prev)?, 1.0 / r0)?;
                    (first - scale(&d1, 0.5 * c)?)?
                }
                _ => first,
            }
        };
        self.previous = Some((x0, k));
        self.steps_taken += 1;
        out.to_dtype(dtype)
    }

    fn add_noise(&self, x0: &Tensor, noise: &Tensor, step: usize) -> Result<Tensor> {
        let (alpha, s) = Self::alpha_sigma(self.sigma_f32(step));
        let out =
            (scale(&x0.to_dtype(DType::F32)?, alpha)? + scale(&noise.to_dtype(DType::F32)?, s)?)?;
        out.to_dtype(x0.dtype())
    }
}

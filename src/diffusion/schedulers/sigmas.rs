//! Karras sigmas over SD's discrete training table and the σ → timestep map.
//!
//! Reference: diffusers 0.42.1 `schedulers/scheduling_dpmsolver_multistep.py`,
//! `_convert_to_karras` and `_sigma_to_t` (Karras et al. 2022, eq. 5, ρ = 7).

/// ρ of the Karras spacing.
const RHO: f64 = 7.0;

/// `n` Karras sigmas from σ_max down to σ_min (f64), as diffusers' `_convert_to_karras`.
pub fn karras(sigma_min: f64, sigma_max: f64, n: usize) -> Vec<f64> {
    let (min_inv, max_inv) = (sigma_min.powf(1.0 / RHO), sigma_max.powf(1.0 / RHO));
    (0..n)
        .map(|i| {
            let ramp = if n == 1 {
                0.0
            } else {
                i as f64 / (n - 1) as f64
            };
            (max_inv + ramp * (min_inv - max_inv)).powf(RHO)
        })
        .collect()
}

/// The fractional training timestep of σ, interpolated in log σ between the two neighbouring
/// table entries (`log_sigmas` ascending with t), then rounded half to even as numpy does.
pub fn sigma_to_timestep(sigma: f64, log_sigmas: &[f32]) -> i64 {
    let ls = sigma.max(1e-10).ln();
    let last = log_sigmas.len().saturating_sub(2);
    let low = log_sigmas
        .iter()
        .rposition(|&l| f64::from(l) <= ls)
        .unwrap_or(0)
        .min(last);
    let (lo, hi) = (f64::from(log_sigmas[low]), f64::from(log_sigmas[low + 1]));
    let w = ((lo - ls) / (lo - hi)).clamp(0.0, 1.0);
    let t = (1.0 - w) * low as f64 + w * (low + 1) as f64;
    t.round_ties_even() as i64
}

#[cfg(test)]
mod tests {
    use super::super::betas;
    use super::*;

    #[test]
    fn sd15_karras_12_matches_the_spec_table() {
        let ac = betas::alphas_cumprod(&betas::scaled_linear(1000, 0.00085, 0.012));
        let train = betas::train_sigmas(&ac);
        let log: Vec<f32> = train.iter().map(|s| s.ln()).collect();
        let sigmas = karras(f64::from(train[0]), f64::from(train[999]), 12);
        let t: Vec<i64> = sigmas.iter().map(|&s| sigma_to_timestep(s, &log)).collect();
        assert_eq!(t, [999, 933, 854, 761, 646, 506, 345, 190, 78, 23, 4, 0]);
        assert!((sigmas[9] - 0.147_136).abs() < 1e-6, "{}", sigmas[9]);
    }
}

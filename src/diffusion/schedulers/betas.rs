//! The training noise schedule of SD 1.5 (`scaled_linear`) in f32, bit for bit as diffusers
//! computes it with torch, because Karras timesteps depend on the last bits of ᾱ (diffusion
//! spec §2: an f64 ᾱ shifts some timesteps by one).
//!
//! Reference: diffusers 0.42.1 `schedulers/scheduling_dpmsolver_multistep.py`, `__init__`
//! (`betas = torch.linspace(beta_start**0.5, beta_end**0.5, n, dtype=torch.float32) ** 2`).

/// SD 1.5's table (1000 steps, 0.00085 to 0.012) exactly as torch computes it, taken from the
/// reference fixture (`schedule_tables.safetensors`, `betas`). torch's vectorised f32
/// `linspace` differs from the scalar formula in the last bit for some entries, which moves
/// Karras timesteps for some step counts; the spec says to embed the table in that case.
const SD15_BETAS: &[u8; 4000] = include_bytes!("sd15_betas_f32le.bin");

/// β_t for `n` training steps: `linspace(sqrt(start), sqrt(end), n)²` in f32 (SD 1.5's own
/// table bit for bit; other schedules recomputed, within an ulp or two of torch).
pub fn scaled_linear(n: usize, beta_start: f64, beta_end: f64) -> Vec<f32> {
    if n == 1000 && beta_start == 0.00085 && beta_end == 0.012 {
        return SD15_BETAS
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
    }
    linspace_f32(beta_start.sqrt() as f32, beta_end.sqrt() as f32, n)
        .into_iter()
        .map(|b| b * b)
        .collect()
}

/// ᾱ_t = Π (1 − β): `1 − β` in f32, the running product accumulated in f64 and each output
/// rounded to f32, as torch's CPU `cumprod` does (its accumulation type for f32 is f64).
pub fn alphas_cumprod(betas: &[f32]) -> Vec<f32> {
    betas
        .iter()
        .scan(1.0_f64, |acc, b| {
            *acc *= f64::from(1.0 - b);
            Some(*acc as f32)
        })
        .collect()
}

/// σ_t = sqrt((1 − ᾱ)/ᾱ) in f32, as diffusers' `((1 - ac) / ac) ** 0.5` on an f32 tensor.
pub fn train_sigmas(alphas_cumprod: &[f32]) -> Vec<f32> {
    alphas_cumprod
        .iter()
        .map(|a| ((1.0 - a) / a).sqrt())
        .collect()
}

/// The scalar form of torch's f32 `linspace`: `start + step·i` for the first half,
/// `end − step·(n−1−i)` for the second, with the step computed in f32.
fn linspace_f32(start: f32, end: f32, n: usize) -> Vec<f32> {
    if n == 1 {
        return vec![start];
    }
    let step = (end - start) / (n - 1) as f32;
    let half = n / 2;
    (0..n)
        .map(|i| {
            if i < half {
                start + step * i as f32
            } else {
                end - step * (n - 1 - i) as f32
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_table_is_within_four_ulps_of_the_formula() {
        let table = scaled_linear(1000, 0.00085, 0.012);
        let formula = linspace_f32(0.00085_f64.sqrt() as f32, 0.012_f64.sqrt() as f32, 1000);
        for (t, f) in table.iter().zip(formula) {
            assert!(
                (t - f * f).abs() <= 4.0 * f32::EPSILON * t,
                "{t} vs {}",
                f * f
            );
        }
    }

    #[test]
    fn sd15_sigma_range() {
        let ac = alphas_cumprod(&scaled_linear(1000, 0.00085, 0.012));
        let s = train_sigmas(&ac);
        // diffusion spec §2.
        assert!((s[0] - 0.029_167_533).abs() < 1e-7, "{}", s[0]);
        assert!((s[999] - 14.614_647).abs() < 1e-5, "{}", s[999]);
    }
}

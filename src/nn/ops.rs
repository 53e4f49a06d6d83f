//! Element-wise functions candle lacks, written from ones it has (with their gradients).

use candle_core::{Result, Tensor};

/// `exp(x) − 1` without the cancellation of computing it that way near 0:
/// `expm1(x) = tanh(x/2)·(exp(x) + 1)`, accurate to a few ulp for every x where `exp(x)` is
/// finite. The references use torch's `expm1` (DUSt3R's depth mode, signed translations); a
/// naive `exp(x) − 1` is off by up to 6e-8 absolute, which biases every point of a camera the
/// same way.
pub fn expm1(x: &Tensor) -> Result<Tensor> {
    (x * 0.5)?.tanh()? * (x.exp()? + 1.0)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expm1_is_accurate_near_zero_and_far_from_it() {
        let xs = [1e-8_f32, -3e-5, 0.01, -0.7, 2.5, 20.0];
        let t = Tensor::new(&xs, &candle_core::Device::Cpu).unwrap();
        let got: Vec<f32> = expm1(&t).unwrap().to_vec1().unwrap();
        for (x, g) in xs.iter().zip(got) {
            let want = f64::from(*x).exp_m1();
            assert!(
                ((f64::from(g) - want) / want).abs() < 1e-6,
                "{x}: {g} vs {want}"
            );
        }
    }
}

//! Deterministic randomness keyed by `(seed, frame)`: the same frame gets the same draws
//! whatever the batch size, device, thread count or resume point.

use super::frame::FrameNr;

/// A SplitMix64 stream; small, fast and good enough for film grain and sampling. Networks
/// draw their Gaussian noise from here too, on the CPU, so results do not depend on the device.
#[derive(Debug, Clone)]
pub struct FrameRng {
    state: u64,
}

impl FrameRng {
    /// The stream for one frame of one stochastic operation (`stream` tells operations apart).
    pub fn new(seed: u64, frame: FrameNr, stream: u64) -> Self {
        let mut rng = Self {
            state: seed ^ 0x9E37_79B9_7F4A_7C15,
        };
        let a = rng.next_u64() ^ frame.0.wrapping_mul(0xD1B5_4A32_D192_ED03);
        let b = a ^ stream.wrapping_mul(0x8CB9_2BA7_2F3D_8DD7);
        Self { state: b }
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1_u64 << 53) as f64
    }

    /// Standard normal draw (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(f64::MIN_POSITIVE);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let draw = |s, f, k| FrameRng::new(s, FrameNr(f), k).next_u64();
        assert_eq!(draw(1, 5, 0), draw(1, 5, 0));
        assert_ne!(draw(1, 5, 0), draw(1, 6, 0));
        assert_ne!(draw(1, 5, 0), draw(2, 5, 0));
        assert_ne!(draw(1, 5, 0), draw(1, 5, 1));
        let mut rng = FrameRng::new(0, FrameNr(0), 0);
        let n = 20_000;
        let (s, s2) = (0..n)
            .map(|_| rng.normal())
            .fold((0.0, 0.0), |(a, b), x| (a + x, b + x * x));
        let (mean, var) = (s / f64::from(n), s2 / f64::from(n));
        assert!(
            mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
    }
}

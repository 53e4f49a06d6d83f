//! `--refine classic`: a weights-free match of the rendered product to the camera's sensor.
//!
//! The renderer's pixels are clean; a filmed product carries the plate's grain. The grain's
//! strength is measured per channel in a ring around the product on the background plate
//! (the source frame, which does not contain the product) and added to the product's pixels,
//! from noise seeded by (seed, frame).
//!
//! What the product's light needs (exposure, white balance, the sky's colour in its shadow)
//! is read from the shot before rendering (`render::scenelight`), so no colour is moved here.
//! Earlier versions also pulled the product's colour and exposure towards the ring and bled
//! the blurred background into its edge (light wrap); measured against the path-traced
//! ground truth, each moved the result away from how it was filmed (BENCHMARKS.md), so they
//! are gone.

use crate::core::noise::FrameRng;

use crate::core::filter::Plane;

/// Strength of the classic harmonisation.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClassicSettings {
    /// Multiplier on the measured grain, 0 disables grain.
    pub grain: f32,
}

impl Default for ClassicSettings {
    fn default() -> Self {
        Self { grain: 1.0 }
    }
}

/// Background and product of one region of interest, in linear light.
pub struct Region<'a> {
    /// Background plate, per channel.
    pub bg: &'a [Plane; 3],
    /// Product coverage.
    pub alpha: &'a Plane,
    /// Ring around the product from which statistics are taken.
    pub ring: &'a [bool],
}

/// Harmonises the product's straight (not premultiplied) linear colour in place.
pub fn harmonise(
    product: &mut [Plane; 3],
    region: &Region<'_>,
    s: &ClassicSettings,
    rng: &mut FrameRng,
) {
    if s.grain > 0.0 {
        add_grain(product, region, s.grain, rng);
    }
}

/// Adds Gaussian grain of the ring's measured noise level (robust: MAD of a 3x3 high-pass).
fn add_grain(product: &mut [Plane; 3], region: &Region<'_>, strength: f32, rng: &mut FrameRng) {
    let sigmas = region.bg.each_ref().map(|bg| noise_sigma(bg, region.ring));
    for i in 0..product[0].data.len() {
        if region.alpha.data[i] <= 0.0 {
            continue;
        }
        for (plane, sigma) in product.iter_mut().zip(sigmas) {
            plane.data[i] += strength * sigma * rng.normal() as f32;
        }
    }
}

fn noise_sigma(plane: &Plane, ring: &[bool]) -> f32 {
    let local = plane.box_blur(1, 1);
    let mut residual: Vec<f32> = plane
        .data
        .iter()
        .zip(&local.data)
        .zip(ring)
        .filter(|(_, &r)| r)
        .map(|((v, m), _)| (v - m).abs())
        .collect();
    if residual.is_empty() {
        return 0.0;
    }
    let mid = residual.len() / 2;
    let (_, median, _) = residual.select_nth_unstable_by(mid, f32::total_cmp);
    // MAD -> sigma for a Gaussian, and undo the 3x3 mean's variance reduction (8/9).
    *median * 1.4826 * (9.0_f32 / 8.0).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::FrameNr;

    #[test]
    fn product_takes_on_the_ring_grain_and_keeps_its_colour() {
        let (w, h) = (40, 40);
        let inside = |x: usize, y: usize| (12..28).contains(&x) && (12..28).contains(&y);
        let mut noise = FrameRng::new(9, FrameNr(0), 0);
        let bg = [0.6_f32, 0.4, 0.2].map(|c| {
            Plane::from_fn(w, h, |_, _| c)
                .data
                .iter()
                .map(|v| v + 0.02 * noise.normal() as f32)
                .collect::<Vec<_>>()
        });
        let bg = bg.map(|data| Plane {
            width: w,
            height: h,
            data,
        });
        let alpha = Plane::from_fn(w, h, |x, y| f32::from(u8::from(inside(x, y))));
        let ring: Vec<bool> = (0..w * h).map(|i| !inside(i % w, i / w)).collect();
        let mut product = [0.3_f32; 3].map(|c| Plane::from_fn(w, h, |_, _| c));
        let region = Region {
            bg: &bg,
            alpha: &alpha,
            ring: &ring,
        };
        harmonise(
            &mut product,
            &region,
            &ClassicSettings::default(),
            &mut FrameRng::new(1, FrameNr(0), 1),
        );
        // Grain of about the background's 0.02 is added inside only.
        let inner: Vec<f32> = (14..26)
            .flat_map(|y| (14..26).map(move |x| (x, y)))
            .map(|(x, y)| product[1].at(x, y))
            .collect();
        let mean = inner.iter().sum::<f32>() / inner.len() as f32;
        let sd =
            (inner.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / inner.len() as f32).sqrt();
        assert!((0.012..0.03).contains(&sd), "grain sd {sd}");
        // Warm surroundings do not tint it: the grain is zero-mean.
        assert!((mean - 0.3).abs() < 0.01, "mean {mean}");
        // Outside the product nothing is added.
        assert_eq!(product[1].at(2, 2), 0.3);
    }
}

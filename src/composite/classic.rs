//! `--refine classic`: a weights-free harmonisation of the product to the shot.
//!
//! Three steps, all measured from the background plate around the product (the source frame,
//! which does not contain the product):
//! 1. colour statistics transfer from a ring around the mask: the ring's colour cast and a
//!    partial exposure match, so a neutral product picks up the scene's white balance;
//! 2. light wrap: the blurred background bleeds into the product's edge, as lens flare and
//!    defocus do for filmed objects;
//! 3. grain match: the renderer's clean pixels get noise of the strength measured in the ring.

use crate::core::noise::FrameRng;

use crate::core::filter::Plane;

/// Strengths of the classic harmonisation.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClassicSettings {
    /// How much of the surroundings' colour cast the product takes on, 0..1.
    pub tint: f32,
    /// Exponent of the exposure match towards the ring's mean luminance, 0..1.
    pub exposure: f32,
    /// Width of the light wrap in pixels.
    pub wrap_px: usize,
    /// Strength of the light wrap at the very edge, 0..1.
    pub wrap: f32,
    /// Multiplier on the measured grain, 0 disables grain.
    pub grain: f32,
}

impl Default for ClassicSettings {
    fn default() -> Self {
        Self {
            tint: 0.35,
            exposure: 0.25,
            wrap_px: 3,
            wrap: 0.3,
            grain: 1.0,
        }
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
    let inside: Vec<bool> = region.alpha.data.iter().map(|&a| a > 0.5).collect();
    let ring_mean = masked_mean(region.bg, region.ring);
    let product_mean = masked_mean(product, &inside);
    if let (Some(ring_mean), Some(product_mean)) = (ring_mean, product_mean) {
        let gains = colour_gains(ring_mean, product_mean, s);
        for (plane, gain) in product.iter_mut().zip(gains) {
            plane.data.iter_mut().for_each(|v| *v *= gain);
        }
    }
    light_wrap(product, region, s);
    if s.grain > 0.0 {
        add_grain(product, region, s.grain, rng);
    }
}

fn luminance(c: [f32; 3]) -> f32 {
    0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]
}

fn masked_mean(planes: &[Plane; 3], mask: &[bool]) -> Option<[f32; 3]> {
    let n = mask.iter().filter(|&&m| m).count();
    if n == 0 {
        return None;
    }
    let mean = |p: &Plane| {
        p.data
            .iter()
            .zip(mask)
            .filter(|(_, &m)| m)
            .map(|(v, _)| f64::from(*v))
            .sum::<f64>()
            / n as f64
    };
    Some([
        mean(&planes[0]) as f32,
        mean(&planes[1]) as f32,
        mean(&planes[2]) as f32,
    ])
}

/// Per-channel gains: the ring's colour cast (partially) times an exposure match.
fn colour_gains(ring: [f32; 3], product: [f32; 3], s: &ClassicSettings) -> [f32; 3] {
    let (ring_lum, product_lum) = (luminance(ring), luminance(product));
    let exposure = if ring_lum > 1e-4 && product_lum > 1e-4 {
        (ring_lum / product_lum).powf(s.exposure).clamp(0.6, 1.6)
    } else {
        1.0
    };
    ring.map(|c| {
        let cast = if ring_lum > 1e-4 {
            (c / ring_lum).clamp(0.5, 2.0)
        } else {
            1.0
        };
        (1.0 + s.tint * (cast - 1.0)) * exposure
    })
}

fn light_wrap(product: &mut [Plane; 3], region: &Region<'_>, s: &ClassicSettings) {
    if s.wrap_px == 0 || s.wrap <= 0.0 {
        return;
    }
    let blurred_alpha = region.alpha.box_blur(s.wrap_px, 2);
    for (plane, bg) in product.iter_mut().zip(region.bg) {
        let bg_blur = bg.box_blur(s.wrap_px * 2, 2);
        for (i, v) in plane.data.iter_mut().enumerate() {
            let edge = ((1.0 - blurred_alpha.data[i]) * 2.0).clamp(0.0, 1.0);
            let k = s.wrap * edge * (region.alpha.data[i] > 0.0) as u8 as f32;
            *v = *v * (1.0 - k) + bg_blur.data[i] * k;
        }
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
    fn product_takes_on_the_ring_cast_and_grain() {
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
        let settings = ClassicSettings {
            wrap: 0.0,
            ..ClassicSettings::default()
        };
        harmonise(
            &mut product,
            &region,
            &settings,
            &mut FrameRng::new(1, FrameNr(0), 1),
        );
        let centre = |p: &Plane| p.at(20, 20);
        // Warm surroundings: red gains over blue.
        assert!(centre(&product[0]) > centre(&product[2]) + 0.05);
        // Grain of about the background's 0.02 is added inside only.
        let inner: Vec<f32> = (14..26)
            .flat_map(|y| (14..26).map(move |x| (x, y)))
            .map(|(x, y)| product[1].at(x, y))
            .collect();
        let mean = inner.iter().sum::<f32>() / inner.len() as f32;
        let sd =
            (inner.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / inner.len() as f32).sqrt();
        assert!((0.012..0.03).contains(&sd), "grain sd {sd}");
    }
}

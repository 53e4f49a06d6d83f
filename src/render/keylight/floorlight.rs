//! How the floor is lit, read once the key light's direction is known: the lit floor's colour,
//! and the fraction of its light, per channel, left in the cast shadows of the scene's objects.
//! A cast shadow hides the key light and little of the sky, so that fraction is the sky's
//! share of the light on the floor, and its colour is the sky's colour against the key's.

use glam::DVec3;

use super::search::Search;
use super::MIN_SAMPLES;
use crate::core::color::luminance;

/// Darkness (`ln(lit / here)`) below which a floor point counts as lit.
const LIT_DARKNESS: f64 = 0.1;

/// The floor's light as the shot shows it.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FloorLight {
    /// Fraction of the lit floor's light left in the objects' cast shadows, linear RGB.
    pub shadow_transmission_rgb: [f64; 3],
    /// Colour of the lit floor: linear RGB over its luminance.
    pub lit_chroma_rgb: [f64; 3],
    /// Shadow-foot samples the transmission rests on.
    pub samples: usize,
}

/// Summed colours as a chroma (rgb over luminance); `None` when they are black.
fn chroma(sum: [f64; 3]) -> Option<[f64; 3]> {
    let y = luminance(sum);
    (y > 1e-9).then(|| sum.map(|c| c / y))
}

/// The floor's light for a key light towards `dir` (world).
pub(super) fn measure(search: &Search<'_>, dir: DVec3) -> Option<FloorLight> {
    let along = dir.dot(search.basis.n);
    if along <= 1e-3 {
        return None;
    }
    let feet = search.feet(dir, along);
    let samples: Vec<(f64, [f64; 3])> = search
        .frames
        .iter()
        .flat_map(|frame| {
            feet.iter()
                .filter_map(|&foot| Some((frame.darkness_at(foot)?, frame.rgb_at(foot)?)))
        })
        .collect();
    if samples.len() < MIN_SAMPLES {
        return None;
    }
    let mut darkness: Vec<f64> = samples.iter().map(|s| s.0).collect();
    let k = darkness.len() / 2;
    let (_, &mut median, _) = darkness.select_nth_unstable_by(k, f64::total_cmp);
    let transmission_y = (-median.max(0.0)).exp();
    // the shadow's colour from the feet well inside it (not the lit ones at its edges)
    let mut shadow_sum = [0.0; 3];
    for (d, rgb) in &samples {
        if *d >= 0.5 * median {
            for c in 0..3 {
                shadow_sum[c] += rgb[c];
            }
        }
    }
    let lit = lit_chroma(search)?;
    let shadow = chroma(shadow_sum).unwrap_or(lit);
    Some(FloorLight {
        shadow_transmission_rgb: [0, 1, 2]
            .map(|c| (transmission_y * shadow[c] / lit[c].max(1e-6)).clamp(0.0, 1.0)),
        lit_chroma_rgb: lit,
        samples: samples.len(),
    })
}

/// The colour of the lit floor over the frames (rgb over luminance of the summed samples).
pub(super) fn lit_chroma(search: &Search<'_>) -> Option<[f64; 3]> {
    let mut sum = [0.0; 3];
    for frame in &search.frames {
        for &p in &search.floor {
            let lit = frame.darkness_at(p).is_some_and(|d| d < LIT_DARKNESS);
            if let Some(rgb) = lit.then(|| frame.rgb_at(p)).flatten() {
                for c in 0..3 {
                    sum[c] += rgb[c];
                }
            }
        }
    }
    chroma(sum)
}

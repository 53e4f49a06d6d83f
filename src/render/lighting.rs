//! A frame's light on the product. The key light and the sky come from the shot, once per
//! clip ([`SceneLight`]); what the frame adds is the light from below and around: the floor
//! and the surroundings the camera sees. Each sampled pixel is the radiance arriving along its
//! camera ray (in world coordinates), and `L(d) = a + b . d` is fitted by ridge least squares
//! (for such a field the irradiance is exactly `E(n) / pi = a + (2/3) b . n`). The upper
//! hemisphere is the sky's, the lower the fitted floor's: for uniform hemispheres of radiance
//! `S` above and `F` below, `E(n) / pi = S (1 + n.up) / 2 + F (1 − n.up) / 2`, a first-order
//! field the shader evaluates; the fit's sideways terms are kept on top.

use glam::{DMat4, DVec2, DVec3, DVec4};

use crate::core::{color, CameraPose};

use super::keylight::{EvidenceFrame, Ground};
use super::raster::Lighting;
use super::scenelight::SceneLight;

/// Samples across the frame's longer side.
const GRID: u32 = 48;
/// Upper quantile of the lit surfaces' brightness that counts as their brightest.
const BRIGHT_QUANTILE: f64 = 0.995;
/// Values at or above this (of 255) are clipped and say nothing of the level.
const CLIPPED: u8 = 250;
/// Radius around the product, in camera distances, whose surfaces tell the level.
const LEVEL_RADIUS: f64 = 3.0;

/// The frame's lighting as seen from `camera`, under the shot's `light`, `up` the ground's
/// unit normal.
pub fn estimate(
    rgb: &image::RgbImage,
    camera: &CameraPose,
    light: &SceneLight,
    up: DVec3,
) -> Lighting {
    let samples = sample_rays(rgb, camera);
    let mean =
        samples.iter().fold(DVec3::ZERO, |acc, (_, l)| acc + *l) / samples.len().max(1) as f64;
    let (a, b) = fit_linear(&samples, mean);
    // per channel: the fit's component along `up`, and its floor radiance (looking down)
    let b_up = b[0] * up.x + b[1] * up.y + b[2] * up.z;
    let floor = (a - b_up).max(DVec3::ZERO);
    let sky = DVec3::from_array(light.sky_rgb);
    let sideways = |k: usize| (b[k] - b_up * up[k]) * (2.0 / 3.0);
    let along_up = (sky - floor) * 0.5;
    let sh = [
        (sky + floor) * 0.5,
        sideways(0) + along_up * up.x,
        sideways(1) + along_up * up.y,
        sideways(2) + along_up * up.z,
    ];
    Lighting {
        key_color: DVec3::from_array(light.key_rgb).as_vec3().to_array(),
        sh: sh.map(|c| c.as_vec3().to_array()),
    }
}

/// What the pictures say of the exposure and colour: the brightest lit surfaces near the
/// product (not clipped, not the sky: rays that reach the ground plane near it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShotLevels {
    /// Their brightness, linear luminance at the 99.5th percentile.
    pub bright: f64,
    /// The surfaces' mean colour (rgb over luminance).
    pub chroma_rgb: [f64; 3],
}

/// The levels of `frames` around `ground`'s anchor; `None` when no pixel sees the ground.
pub fn shot_levels(frames: &[EvidenceFrame<'_>], ground: &Ground) -> Option<ShotLevels> {
    let n = ground.normal_in_world.normalize_or(DVec3::Z);
    let mut values = Vec::new();
    let mut sum = [0.0; 3];
    for f in frames {
        let centre = f.camera.centre_in_world();
        let radius = LEVEL_RADIUS * (centre - ground.anchor_in_world).length();
        for (x, y) in grid(f.rgb.width(), f.rgb.height()) {
            let p = f.rgb.get_pixel(x, y);
            let d = ray(f.camera, x, y);
            let t = n.dot(ground.point_in_world - centre) / n.dot(d);
            let near = t > 0.0 && (centre + d * t - ground.anchor_in_world).length() < radius;
            if !near || p.0.iter().any(|&v| v >= CLIPPED) {
                continue;
            }
            let rgb = p.0.map(|v| f64::from(color::to_linear(v)));
            values.push(color::luminance(rgb));
            for c in 0..3 {
                sum[c] += rgb[c];
            }
        }
    }
    if values.is_empty() {
        return None;
    }
    let k = ((values.len() as f64 * BRIGHT_QUANTILE) as usize).min(values.len() - 1);
    let (_, &mut bright, _) = values.select_nth_unstable_by(k, f64::total_cmp);
    let y = color::luminance(sum);
    Some(ShotLevels {
        bright,
        chroma_rgb: if y > 1e-9 {
            sum.map(|c| c / y)
        } else {
            [1.0; 3]
        },
    })
}

/// Pixels on a regular grid, [`GRID`] across the longer side.
fn grid(w: u32, h: u32) -> impl Iterator<Item = (u32, u32)> {
    let step = (w.max(h) / GRID).max(1);
    (step / 2..h)
        .step_by(step as usize)
        .flat_map(move |y| (step / 2..w).step_by(step as usize).map(move |x| (x, y)))
}

/// The unit ray through pixel `(x, y)` in world coordinates.
fn ray(camera: &CameraPose, x: u32, y: u32) -> DVec3 {
    let r = camera
        .intrinsics
        .unproject(DVec2::new(f64::from(x), f64::from(y)));
    camera.world_from_cam.transform_vector3(r).normalize()
}

/// `(direction in world, linear radiance)` on a regular grid of pixels.
fn sample_rays(rgb: &image::RgbImage, camera: &CameraPose) -> Vec<(DVec3, DVec3)> {
    grid(rgb.width(), rgb.height())
        .map(|(x, y)| {
            let p = rgb.get_pixel(x, y);
            let l = DVec3::from_array(p.0.map(|v| f64::from(color::to_linear(v))));
            (ray(camera, x, y), l)
        })
        .collect()
}

/// Ridge least squares of `L(d) = a + b . d` per channel. Returns `a` (per channel) and the
/// coefficients of `d.x`, `d.y`, `d.z` (each an RGB colour); `b` is shrunk so that irradiance
/// stays non-negative in every direction. The ridge keeps the fit stable when the frame covers
/// only a narrow cone of directions (it pulls `b` towards 0 and `a` towards the mean).
fn fit_linear(samples: &[(DVec3, DVec3)], mean: DVec3) -> (DVec3, [DVec3; 3]) {
    if samples.len() < 4 {
        return (mean, [DVec3::ZERO; 3]);
    }
    let lambda = 0.5 * samples.len() as f64;
    let mut m = DMat4::from_diagonal(DVec4::new(0.0, lambda, lambda, lambda));
    let mut rhs = [DVec4::ZERO; 3];
    for (d, l) in samples {
        let f = DVec4::new(1.0, d.x, d.y, d.z);
        m += DMat4::from_cols(f * f.x, f * f.y, f * f.z, f * f.w);
        for c in 0..3 {
            rhs[c] += f * l[c];
        }
    }
    if m.determinant().abs() < 1e-12 {
        return (mean, [DVec3::ZERO; 3]);
    }
    let inv = m.inverse();
    let coef = rhs.map(|r| inv * r);
    let mut a = DVec3::new(coef[0].x, coef[1].x, coef[2].x).max(DVec3::ZERO);
    let mut b = [0, 1, 2].map(|c| DVec3::new(coef[c].y, coef[c].z, coef[c].w));
    for c in 0..3 {
        let limit = 1.5 * a[c];
        let len = b[c].length();
        if len > limit {
            b[c] *= limit / len;
        }
        if a[c] == 0.0 {
            a[c] = mean[c].max(0.0);
        }
    }
    // Re-arrange from per-channel vectors to per-axis colours.
    let axis = |k: usize| DVec3::new(b[0][k], b[1][k], b[2][k]);
    (a, [axis(0), axis(1), axis(2)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_radiance_is_recovered_with_sign() {
        // A sky brighter towards +z: L = 0.4 + 0.2 z for every channel.
        let mut samples = Vec::new();
        for i in 0..400 {
            let t = f64::from(i) * 0.1;
            let d = DVec3::new(t.cos(), t.sin(), (t * 0.37).sin()).normalize();
            samples.push((d, DVec3::splat(0.4 + 0.2 * d.z)));
        }
        let mean = samples.iter().map(|s| s.1).sum::<DVec3>() / 400.0;
        let (a, [_, _, bz]) = fit_linear(&samples, mean);
        assert!((a.x - 0.4).abs() < 0.05, "{a}");
        assert!(bz.x > 0.05, "{bz}");
    }
}

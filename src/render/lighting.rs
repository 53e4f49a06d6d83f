//! Lighting estimated from the shot. The ambient is a first-order spherical-harmonics
//! environment fitted to the background frame: each sampled pixel is the radiance arriving
//! along its camera ray (in world coordinates), and `L(d) = a + b . d` is fitted by ridge least
//! squares. For such a radiance field the irradiance is exactly `E(n) / pi = a + (2/3) b . n`,
//! which the shader evaluates. The key light's colour follows the frame's brightness; its
//! direction is fixed per clip so that shadows stay put.

use glam::{DMat4, DVec2, DVec3, DVec4};

use crate::core::{color, CameraPose};

use super::raster::Lighting;

/// Samples across the frame's longer side.
const GRID: u32 = 48;

/// The frame's lighting as seen from `camera`.
pub fn estimate(rgb: &image::RgbImage, camera: &CameraPose) -> Lighting {
    let samples = sample_rays(rgb, camera);
    let mean =
        samples.iter().fold(DVec3::ZERO, |acc, (_, l)| acc + *l) / samples.len().max(1) as f64;
    let (a, [bx, by, bz]) = fit_linear(&samples, mean);
    let sh = [a, bx * (2.0 / 3.0), by * (2.0 / 3.0), bz * (2.0 / 3.0)];
    let lum = 0.2126 * mean.x + 0.7152 * mean.y + 0.0722 * mean.z;
    let tint = if lum > 1e-6 { mean / lum } else { DVec3::ONE };
    let key = (DVec3::ONE * 0.7 + tint * 0.3) * (2.0 * lum).clamp(0.25, 2.0);
    Lighting {
        key_color: key.as_vec3().to_array(),
        sh: sh.map(|c| c.as_vec3().to_array()),
    }
}

/// `(direction in world, linear radiance)` on a regular grid of pixels.
fn sample_rays(rgb: &image::RgbImage, camera: &CameraPose) -> Vec<(DVec3, DVec3)> {
    let (w, h) = rgb.dimensions();
    let step = (w.max(h) / GRID).max(1);
    let mut out = Vec::new();
    for y in (step / 2..h).step_by(step as usize) {
        for x in (step / 2..w).step_by(step as usize) {
            let ray = camera
                .intrinsics
                .unproject(DVec2::new(f64::from(x), f64::from(y)));
            let dir = camera.world_from_cam.transform_vector3(ray).normalize();
            let p = rgb.get_pixel(x, y);
            let l = DVec3::new(
                f64::from(color::to_linear(p[0])),
                f64::from(color::to_linear(p[1])),
                f64::from(color::to_linear(p[2])),
            );
            out.push((dir, l));
        }
    }
    out
}

/// Ridge least squares of `L(d) = a + b . d` per channel. Returns `a` (per channel) and the
/// coefficients of `d.x`, `d.y`, `d.z` (each per channel); `b` is shrunk so that irradiance
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

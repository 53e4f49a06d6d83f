//! Point-set registration and focal estimation used by the initialisation.
//!
//! References: roma `rigid_points_registration(compute_scaling=True)` (weighted Umeyama);
//! dust3r `post_process.py::estimate_focal_knowing_depth` (`focal_mode='weiszfeld'`),
//! naver/dust3r 4c24a6e.

use glam::{DMat3, DVec3};

use super::linalg::symmetric_eigen;

/// A similarity `y ≈ scale · rotation · x + translation`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    /// Uniform scale.
    pub scale: f64,
    /// Proper rotation.
    pub rotation: DMat3,
    /// Translation (not scaled).
    pub translation: DVec3,
}

impl Similarity {
    /// The rigid part (rotation and translation; the scale is the pair's, not the camera's).
    pub fn rigid(&self) -> glam::DMat4 {
        crate::core::camera::rigid(&self.rotation, self.translation)
    }

    /// Applies the similarity to a point.
    pub fn apply(&self, x: DVec3) -> DVec3 {
        self.scale * (self.rotation * x) + self.translation
    }
}

/// The weighted similarity minimising `Σ w ‖s·R·x + t − y‖²` (Umeyama 1991). The rotation comes
/// from Horn's quaternion form (largest eigenvector of a 4 × 4 symmetric matrix), which is the
/// SVD solution with the reflection excluded; `s = Σ w (R x̄)·ȳ / Σ w ‖x̄‖²`.
pub fn umeyama(x: &[DVec3], y: &[DVec3], w: &[f64]) -> Similarity {
    let total: f64 = w.iter().sum::<f64>().max(1e-300);
    let mean = |p: &[DVec3]| p.iter().zip(w).map(|(p, w)| *p * *w).sum::<DVec3>() / total;
    let (mx, my) = (mean(x), mean(y));
    // S = Σ w x̄ ȳᵀ
    let mut s = [[0.0; 3]; 3];
    let mut var_x = 0.0;
    for ((xi, yi), wi) in x.iter().zip(y).zip(w) {
        let (a, b) = ((*xi - mx).to_array(), (*yi - my).to_array());
        for r in 0..3 {
            for c in 0..3 {
                s[r][c] += wi * a[r] * b[c];
            }
        }
        var_x += wi * (*xi - mx).length_squared();
    }
    let rotation = horn_rotation(&s);
    let cross: f64 = x
        .iter()
        .zip(y)
        .zip(w)
        .map(|((xi, yi), wi)| wi * (rotation * (*xi - mx)).dot(*yi - my))
        .sum();
    let scale = cross / var_x.max(1e-300);
    Similarity {
        scale,
        rotation,
        translation: my - scale * (rotation * mx),
    }
}

/// The rotation maximising `Σ w (R x̄)·ȳ` given `S = Σ w x̄ ȳᵀ` (Horn 1987).
fn horn_rotation(s: &[[f64; 3]; 3]) -> DMat3 {
    let [[sxx, sxy, sxz], [syx, syy, syz], [szx, szy, szz]] = *s;
    #[rustfmt::skip]
    let n = [
        sxx + syy + szz, syz - szy,        szx - sxz,        sxy - syx,
        syz - szy,       sxx - syy - szz,  sxy + syx,        szx + sxz,
        szx - sxz,       sxy + syx,        -sxx + syy - szz, syz + szy,
        sxy - syx,       szx + sxz,        syz + szy,        -sxx - syy + szz,
    ];
    let (values, vectors) = symmetric_eigen(&n, 4);
    let best = (0..4)
        .max_by(|&a, &b| values[a].total_cmp(&values[b]))
        .unwrap_or(0);
    // eigenvector (w, x, y, z) in column `best`
    let q = glam::DQuat::from_xyzw(
        vectors[4 + best],
        vectors[8 + best],
        vectors[12 + best],
        vectors[best],
    );
    DMat3::from_quat(q.normalize())
}

/// Focal length (pixels, fx = fy) of a camera that sees `points_in_cam` (row-major h × w, one
/// per pixel) at integer pixels with the principal point at (w/2, h/2): least squares on
/// `p ≈ f·(X/Z, Y/Z)`, then 10 Weiszfeld re-weightings towards the L1 solution; non-finite
/// ratios count as 0, the result is clipped at 0 (callers guard that).
pub fn weiszfeld_focal(points_in_cam: &[DVec3], height: usize, width: usize) -> f64 {
    let (cx, cy) = (width as f64 / 2.0, height as f64 / 2.0);
    let pairs: Vec<([f64; 2], [f64; 2])> = points_in_cam
        .iter()
        .enumerate()
        .map(|(k, pt)| {
            let p = [(k % width) as f64 - cx, (k / width) as f64 - cy];
            let finite = |v: f64| if v.is_finite() { v } else { 0.0 };
            (p, [finite(pt.x / pt.z), finite(pt.y / pt.z)])
        })
        .collect();
    let weighted = |weight: &dyn Fn(&[f64; 2], &[f64; 2]) -> f64| {
        let (num, den) = pairs.iter().fold((0.0, 0.0), |(n, d), (p, r)| {
            let w = weight(p, r);
            (
                n + w * (r[0] * p[0] + r[1] * p[1]),
                d + w * (r[0] * r[0] + r[1] * r[1]),
            )
        });
        num / den
    };
    let mut f = weighted(&|_, _| 1.0);
    for _ in 0..10 {
        let f0 = f;
        f = weighted(&|p, r| 1.0 / (p[0] - f0 * r[0]).hypot(p[1] - f0 * r[1]).max(1e-8));
    }
    f.max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn umeyama_recovers_a_similarity() {
        let truth = Similarity {
            scale: 1.7,
            rotation: DMat3::from_euler(glam::EulerRot::YXZ, 0.4, -0.2, 1.1),
            translation: DVec3::new(0.3, -2.0, 5.0),
        };
        let x: Vec<DVec3> = (0..50)
            .map(|i| {
                let t = i as f64;
                DVec3::new((t * 0.37).sin(), (t * 0.11).cos() * 2.0, t * 0.05)
            })
            .collect();
        let y: Vec<DVec3> = x.iter().map(|p| truth.apply(*p)).collect();
        let w: Vec<f64> = (0..50).map(|i| 1.0 + (i % 3) as f64).collect();
        let got = umeyama(&x, &y, &w);
        assert!((got.scale - truth.scale).abs() < 1e-9);
        assert!((got.rotation - truth.rotation)
            .to_cols_array()
            .iter()
            .all(|d| d.abs() < 1e-9));
        assert!((got.translation - truth.translation).length() < 1e-9);
    }

    #[test]
    fn weiszfeld_recovers_the_focal_of_a_pinhole_view() {
        let (h, w, f) = (12, 16, 23.0);
        let pts: Vec<DVec3> = (0..h * w)
            .map(|k| {
                let (u, v) = ((k % w) as f64 - 8.0, (k / w) as f64 - 6.0);
                let z = 2.0 + 0.1 * (k as f64).sin();
                DVec3::new(u * z / f, v * z / f, z)
            })
            .collect();
        assert!((weiszfeld_focal(&pts, h, w) - f).abs() < 1e-9);
    }
}

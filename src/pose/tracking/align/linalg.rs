//! Small dense linear algebra in f64 for the alignment's initialisation: a symmetric
//! eigensolver (Jacobi), rotations ↔ unit quaternions (XYZW, roma's order), the signed
//! log1p/expm1 pair of the pose parameterisation.

use glam::{DMat3, DQuat, DVec3};

/// Eigen-decomposition of a symmetric n × n matrix (row-major) by cyclic Jacobi rotations:
/// (eigenvalues, eigenvectors as columns of a row-major matrix). Exact to round-off for the
/// 4 × 4 matrices of [`super::register`]; no dependency for a 30-line routine.
pub fn symmetric_eigen(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = a.to_vec();
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|p| ((p + 1)..n).map(move |q| (p, q)))
            .map(|(p, q)| a[p * n + q] * a[p * n + q])
            .sum();
        let scale: f64 = a.iter().map(|x| x * x).sum();
        if off <= 1e-30 * scale.max(1e-300) {
            break;
        }
        for p in 0..n {
            for q in (p + 1)..n {
                let apq = a[p * n + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), v)
}

/// A rotation matrix as a unit quaternion `[x, y, z, w]` with w ≥ 0.
pub fn rotation_to_quat_xyzw(r: &DMat3) -> [f64; 4] {
    let q = DQuat::from_mat3(r).normalize();
    let q = if q.w < 0.0 { -q } else { q };
    [q.x, q.y, q.z, q.w]
}

/// The rotation of a (not necessarily normalised) quaternion `[x, y, z, w]`.
pub fn quat_xyzw_to_rotation(q: [f64; 4]) -> DMat3 {
    DMat3::from_quat(DQuat::from_xyzw(q[0], q[1], q[2], q[3]).normalize())
}

/// `sign(x)·ln(1 + |x|)`: translations are parameterised in this compressed scale.
pub fn signed_log1p(x: DVec3) -> DVec3 {
    let f = |v: f64| v.signum() * v.abs().ln_1p();
    DVec3::new(f(x.x), f(x.y), f(x.z))
}

/// Inverse of [`signed_log1p`].
pub fn signed_expm1(x: DVec3) -> DVec3 {
    let f = |v: f64| v.signum() * v.abs().exp_m1();
    DVec3::new(f(x.x), f(x.y), f(x.z))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eigen_of_a_known_matrix() {
        // [[2, 1], [1, 2]] → 1, 3
        let (mut values, _) = symmetric_eigen(&[2.0, 1.0, 1.0, 2.0], 2);
        values.sort_by(f64::total_cmp);
        assert!((values[0] - 1.0).abs() < 1e-12 && (values[1] - 3.0).abs() < 1e-12);
    }

    #[test]
    fn quaternion_round_trip_and_signed_log() {
        let r = DMat3::from_euler(glam::EulerRot::XYZ, 0.3, -1.2, 2.9);
        let back = quat_xyzw_to_rotation(rotation_to_quat_xyzw(&r));
        assert!((back - r).to_cols_array().iter().all(|d| d.abs() < 1e-12));
        let t = DVec3::new(-3.0, 0.0, 0.25);
        assert!((signed_expm1(signed_log1p(t)) - t).abs().max_element() < 1e-12);
    }
}

//! Lens distortion in OpenCV's models, applied to normalised image coordinates `(x/z, y/z)`:
//! the rational radial-tangential model (`k1, k2, p1, p2, k3, k4, k5, k6`; the common 4- and
//! 5-coefficient forms leave the rest 0) and the fisheye model (`k1..k4` on the angle). The
//! inverse ("undistort") is Newton's method on the forward model, so the two are each other's
//! inverse to numerical precision wherever the forward model is monotonic.

use glam::{DMat2, DVec2};
use serde::{Deserialize, Serialize};

/// Newton steps of the inverse at most.
const MAX_ITERATIONS: usize = 30;
/// Residual (normalised units) at which the inverse stops.
const TOLERANCE: f64 = 1e-12;

/// A lens's distortion.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case", deny_unknown_fields)]
pub enum Lens {
    /// No distortion.
    #[default]
    Pinhole,
    /// OpenCV's radial-tangential model (`cv::projectPoints`), rational form.
    Opencv {
        /// Radial coefficients (numerator).
        #[serde(default)]
        k1: f64,
        #[serde(default)]
        #[allow(missing_docs)]
        k2: f64,
        /// Tangential coefficients.
        #[serde(default)]
        p1: f64,
        #[serde(default)]
        #[allow(missing_docs)]
        p2: f64,
        /// Sixth-order radial coefficient.
        #[serde(default)]
        k3: f64,
        /// Radial coefficients of the denominator.
        #[serde(default)]
        k4: f64,
        #[serde(default)]
        #[allow(missing_docs)]
        k5: f64,
        #[serde(default)]
        #[allow(missing_docs)]
        k6: f64,
    },
    /// OpenCV's fisheye model (`cv::fisheye`): `θd = θ (1 + k1 θ² + k2 θ⁴ + k3 θ⁶ + k4 θ⁸)`.
    Fisheye {
        /// Coefficients on the angle from the axis.
        #[serde(default)]
        k1: f64,
        #[serde(default)]
        #[allow(missing_docs)]
        k2: f64,
        #[serde(default)]
        #[allow(missing_docs)]
        k3: f64,
        #[serde(default)]
        #[allow(missing_docs)]
        k4: f64,
    },
}

impl Lens {
    /// OpenCV's rational model from `[k1, k2, p1, p2, k3, k4, k5, k6]`.
    pub fn opencv([k1, k2, p1, p2, k3, k4, k5, k6]: [f64; 8]) -> Self {
        Self::Opencv {
            k1,
            k2,
            p1,
            p2,
            k3,
            k4,
            k5,
            k6,
        }
    }

    /// The coefficients in their model's order (OpenCV's: `k1, k2, p1, p2, k3, k4, k5, k6`;
    /// fisheye: `k1..k4`; none for a pinhole).
    pub fn coefficients(&self) -> Vec<f64> {
        match (self.as_opencv(), *self) {
            (Some(k), _) => k.to_vec(),
            (None, Self::Fisheye { k1, k2, k3, k4 }) => vec![k1, k2, k3, k4],
            _ => Vec::new(),
        }
    }

    /// OpenCV's eight coefficients, for that model.
    fn as_opencv(&self) -> Option<[f64; 8]> {
        match *self {
            Self::Opencv {
                k1,
                k2,
                p1,
                p2,
                k3,
                k4,
                k5,
                k6,
            } => Some([k1, k2, p1, p2, k3, k4, k5, k6]),
            _ => None,
        }
    }

    /// Whether the lens has no distortion (every coefficient zero counts).
    pub fn is_pinhole(&self) -> bool {
        self.coefficients().iter().all(|k| *k == 0.0)
    }

    /// Whether every coefficient is finite.
    pub fn is_finite(&self) -> bool {
        self.coefficients().iter().all(|k| k.is_finite())
    }

    /// The distorted normalised coordinates of the undistorted ones `p`.
    pub fn distort(&self, p: DVec2) -> DVec2 {
        if let Some([k1, k2, p1, p2, k3, k4, k5, k6]) = self.as_opencv() {
            let r2 = p.length_squared();
            let radial =
                (1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))) / (1.0 + r2 * (k4 + r2 * (k5 + r2 * k6)));
            return DVec2::new(
                p.x * radial + 2.0 * p1 * p.x * p.y + p2 * (r2 + 2.0 * p.x * p.x),
                p.y * radial + p1 * (r2 + 2.0 * p.y * p.y) + 2.0 * p2 * p.x * p.y,
            );
        }
        let Self::Fisheye { k1, k2, k3, k4 } = *self else {
            return p;
        };
        let r = p.length();
        if r < 1e-15 {
            return p;
        }
        let theta = r.atan();
        let t2 = theta * theta;
        let theta_d = theta * (1.0 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4))));
        p * (theta_d / r)
    }

    /// The undistorted normalised coordinates whose distortion is `q` (Newton's method from
    /// `q`, with a central-difference Jacobian).
    pub fn undistort(&self, q: DVec2) -> DVec2 {
        if self.is_pinhole() {
            return q;
        }
        let mut p = q;
        for _ in 0..MAX_ITERATIONS {
            let residual = self.distort(p) - q;
            if residual.length() < TOLERANCE {
                break;
            }
            let h = 1e-7 * (1.0 + p.length());
            let dx = (self.distort(p + DVec2::X * h) - self.distort(p - DVec2::X * h)) / (2.0 * h);
            let dy = (self.distort(p + DVec2::Y * h) - self.distort(p - DVec2::Y * h)) / (2.0 * h);
            let jacobian = DMat2::from_cols(dx, dy);
            if jacobian.determinant().abs() < 1e-12 {
                break;
            }
            p -= jacobian.inverse() * residual;
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lenses() -> [Lens; 3] {
        [
            Lens::opencv([-0.28, 0.07, 0.001, -0.0005, 0.0, 0.0, 0.0, 0.0]),
            Lens::opencv([0.9, 0.2, 0.0, 0.0, 0.01, 0.7, 0.1, 0.0]),
            Lens::Fisheye {
                k1: 0.05,
                k2: -0.01,
                k3: 0.002,
                k4: 0.0,
            },
        ]
    }

    #[test]
    fn undistort_inverts_distort_across_the_frame() {
        for lens in lenses() {
            for i in 0..=20 {
                for j in 0..=20 {
                    // a 16:9 frame with a 70° horizontal field of view
                    let q = DVec2::new(-0.7 + 0.07 * f64::from(i), -0.39 + 0.039 * f64::from(j));
                    let p = lens.undistort(q);
                    let back = lens.distort(p);
                    // 1e-9 normalised is a millionth of a pixel at 1000 px focal length
                    assert!((back - q).length() < 1e-9, "{lens:?} {q} -> {p} -> {back}");
                }
            }
        }
    }

    #[test]
    fn barrel_distortion_pulls_the_corners_in() {
        let lens = lenses()[0];
        let corner = DVec2::new(0.6, 0.34);
        assert!(lens.distort(corner).length() < corner.length());
        assert!(lens.undistort(corner).length() > corner.length());
        assert_eq!(Lens::Pinhole.distort(corner), corner);
        assert!(Lens::opencv([0.0; 8]).is_pinhole());
    }
}

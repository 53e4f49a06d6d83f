//! Directions by elevation and azimuth about the ground plane's normal, and places on it.

use glam::{DVec2, DVec3};

/// Directions by elevation above the plane and azimuth about its normal.
#[derive(Debug, Clone, Copy)]
pub(super) struct Basis {
    pub(super) n: DVec3,
    pub(super) u: DVec3,
    pub(super) v: DVec3,
}

impl Basis {
    pub(super) fn around(n: DVec3) -> Self {
        let u = n.any_orthonormal_vector();
        Self {
            n,
            u,
            v: n.cross(u),
        }
    }

    pub(super) fn direction(&self, elevation_deg: f64, azimuth_deg: f64) -> DVec3 {
        let (e, a) = (elevation_deg.to_radians(), azimuth_deg.to_radians());
        (self.n * e.sin() + (self.u * a.cos() + self.v * a.sin()) * e.cos()).normalize()
    }

    /// A point's coordinates in the plane through the origin with this normal.
    pub(super) fn on_plane(&self, p: DVec3) -> DVec2 {
        DVec2::new(self.u.dot(p), self.v.dot(p))
    }

    pub(super) fn angles(&self, dir: DVec3) -> (f64, f64) {
        let elevation = self.n.dot(dir).clamp(-1.0, 1.0).asin().to_degrees();
        let azimuth = self.v.dot(dir).atan2(self.u.dot(dir)).to_degrees();
        (elevation, azimuth)
    }
}

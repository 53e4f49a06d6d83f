//! Pinhole cameras in the OpenCV convention (x right, y down, z forward; pixel centres at
//! integer coordinates). This is the convention of DUSt3R and of the poses file; renderers
//! convert once at their own boundary.

use glam::{DMat3, DMat4, DQuat, DVec2, DVec3};
use serde::{Deserialize, Serialize};

use super::frame::FrameSize;
use super::lens::Lens;

/// Pinhole intrinsics in pixels of the decoded frame.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Intrinsics {
    /// Focal lengths `[fx, fy]` in pixels.
    pub focal_px: [f64; 2],
    /// Principal point `[cx, cy]` in pixels (pixel centres at integers).
    pub principal_px: [f64; 2],
    /// The frame size these intrinsics refer to.
    pub size: FrameSize,
    /// The lens's distortion (none by default).
    #[serde(default, skip_serializing_if = "Lens::is_pinhole")]
    pub lens: Lens,
}

impl Intrinsics {
    /// Projects a point in camera coordinates to pixel coordinates through the lens; `None`
    /// behind the camera.
    pub fn project(&self, point_in_cam: DVec3) -> Option<DVec2> {
        if point_in_cam.z <= 0.0 {
            return None;
        }
        let normalised = point_in_cam.truncate() / point_in_cam.z;
        Some(self.pixel_of(self.lens.distort(normalised)))
    }

    /// The ray direction (camera coordinates, z = 1) through a pixel, through the lens.
    pub fn unproject(&self, pixel: DVec2) -> DVec3 {
        self.lens.undistort(self.normalised_of(pixel)).extend(1.0)
    }

    /// The pixel of distorted normalised coordinates.
    pub fn pixel_of(&self, normalised: DVec2) -> DVec2 {
        DVec2::new(
            self.focal_px[0] * normalised.x + self.principal_px[0],
            self.focal_px[1] * normalised.y + self.principal_px[1],
        )
    }

    /// The distorted normalised coordinates of a pixel.
    pub fn normalised_of(&self, pixel: DVec2) -> DVec2 {
        DVec2::new(
            (pixel.x - self.principal_px[0]) / self.focal_px[0],
            (pixel.y - self.principal_px[1]) / self.focal_px[1],
        )
    }
}

/// A camera's pose and intrinsics for one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CameraPose {
    /// Rigid transform from camera coordinates to world coordinates.
    pub world_from_cam: DMat4,
    /// Intrinsics in pixels of the decoded frame.
    pub intrinsics: Intrinsics,
}

impl CameraPose {
    /// Camera centre in world coordinates.
    pub fn centre_in_world(&self) -> DVec3 {
        self.world_from_cam.w_axis.truncate()
    }

    /// The rigid inverse of `world_from_cam`.
    pub fn cam_from_world(&self) -> DMat4 {
        rigid_inverse(&self.world_from_cam)
    }

    /// Projects a world point to pixel coordinates; `None` behind the camera.
    pub fn project_world(&self, point_in_world: DVec3) -> Option<DVec2> {
        self.intrinsics
            .project(self.cam_from_world().transform_point3(point_in_world))
    }

    /// The camera a fraction `t` of the way from `self` to `other`: rotation on the sphere,
    /// centre and intrinsics linearly (the size is `self`'s).
    pub fn interpolate(&self, other: &Self, t: f64) -> Self {
        let from = DQuat::from_mat3(&DMat3::from_mat4(self.world_from_cam));
        let to = DQuat::from_mat3(&DMat3::from_mat4(other.world_from_cam));
        let rotation = DMat3::from_quat(from.slerp(to, t));
        let centre = self.centre_in_world().lerp(other.centre_in_world(), t);
        let lerp2 = |x: [f64; 2], y: [f64; 2]| [0, 1].map(|k| x[k] + (y[k] - x[k]) * t);
        Self {
            world_from_cam: rigid(&rotation, centre),
            intrinsics: Intrinsics {
                focal_px: lerp2(self.intrinsics.focal_px, other.intrinsics.focal_px),
                principal_px: lerp2(self.intrinsics.principal_px, other.intrinsics.principal_px),
                size: self.intrinsics.size,
                lens: self.intrinsics.lens,
            },
        }
    }
}

/// The 4x4 rigid transform `x ↦ rotation·x + translation`.
pub fn rigid(rotation: &DMat3, translation: DVec3) -> DMat4 {
    DMat4::from_cols(
        rotation.x_axis.extend(0.0),
        rotation.y_axis.extend(0.0),
        rotation.z_axis.extend(0.0),
        translation.extend(1.0),
    )
}

/// Inverse of a rotation + translation matrix, exact for orthonormal rotations.
pub fn rigid_inverse(m: &DMat4) -> DMat4 {
    let rotation = DMat3::from_mat4(*m).transpose();
    rigid(&rotation, -(rotation * m.w_axis.truncate()))
}

/// Largest angle (degrees) between two camera tracks' rotations, each taken relative to its
/// first camera (so the tracks' world frames need not agree): how a track is scored against
/// ground truth.
pub fn max_relative_rotation_deg(ours: &[DMat4], truth: &[DMat4]) -> f64 {
    let relative =
        |m: &[DMat4], k: usize| DMat3::from_mat4(m[0]).transpose() * DMat3::from_mat4(m[k]);
    (0..ours.len().min(truth.len()))
        .map(|k| {
            let d = relative(ours, k).transpose() * relative(truth, k);
            let cos = ((d.x_axis.x + d.y_axis.y + d.z_axis.z - 1.0) / 2.0).clamp(-1.0, 1.0);
            cos.acos().to_degrees()
        })
        .fold(0.0, f64::max)
}

/// Largest deviation of `r^T r` from identity, used to check rotations.
pub fn orthonormality_error(r: &DMat3) -> f64 {
    let d = r.transpose() * *r - DMat3::IDENTITY;
    d.to_cols_array()
        .iter()
        .fold(0.0_f64, |acc, v| acc.max(v.abs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rigid_inverse_round_trips() {
        let m = DMat4::from_rotation_translation(
            glam::DQuat::from_euler(glam::EulerRot::XYZ, 0.3, -0.2, 1.1),
            DVec3::new(1.0, -2.0, 3.0),
        );
        let id = rigid_inverse(&m) * m;
        assert!(id.abs_diff_eq(DMat4::IDENTITY, 1e-12));
    }

    #[test]
    fn projection_honours_principal_point() {
        let k = Intrinsics {
            focal_px: [500.0, 400.0],
            principal_px: [300.5, 100.25],
            size: FrameSize {
                width: 640,
                height: 360,
            },
            lens: Default::default(),
        };
        let px = k.project(DVec3::new(0.2, -0.1, 2.0)).unwrap();
        assert!((px.x - 350.5).abs() < 1e-12 && (px.y - 80.25).abs() < 1e-12);
        let ray = k.unproject(px) * 2.0;
        assert!(ray.abs_diff_eq(DVec3::new(0.2, -0.1, 2.0), 1e-12));
    }
}

//! Where the product stands: the dominant ground plane of the track's scene points (RANSAC and
//! a least-squares refit), an anchor where frame 0's optical axis meets it, the product's up
//! axis along the plane normal (towards the cameras), and a scale that makes the product span a
//! set fraction of frame 0's height. Computed once per clip.

use glam::{DMat3, DMat4, DVec3};
use serde::{Deserialize, Serialize};

use crate::core::noise::FrameRng;
use crate::core::{CameraTrack, Error, FrameNr, Result};

/// User overrides and defaults for placement.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PlacementOptions {
    /// Anchor in world coordinates instead of the optical-axis hit.
    pub place_in_world: Option<[f64; 3]>,
    /// Metres of world per metre of model; `None` to fit `height_fraction`.
    pub scale: Option<f64>,
    /// Rotation about the up axis in degrees.
    pub yaw_deg: f64,
    /// World up direction instead of the fitted plane normal.
    pub up_in_world: Option<[f64; 3]>,
    /// Fraction of frame 0's height the product spans by default.
    pub height_fraction: f64,
}

/// The result of placement, stored in the work directory and the run report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Placement {
    /// A point on the ground plane (world).
    pub plane_point_in_world: [f64; 3],
    /// Unit plane normal pointing towards the cameras (world).
    pub plane_normal_in_world: [f64; 3],
    /// How the plane was found: `ransac`, `--up` or `camera-fallback`.
    pub plane_source: String,
    /// Points supporting the plane.
    pub inliers: usize,
    /// Where the product's base centre stands (world).
    pub anchor_in_world: [f64; 3],
    /// Uniform scale applied to the model.
    pub scale: f64,
    /// Model-to-world transform, row-major.
    pub world_from_object: [[f64; 4]; 4],
}

impl Placement {
    /// `world_from_object` as a matrix.
    pub fn world_from_object(&self) -> DMat4 {
        DMat4::from_cols_array_2d(&self.world_from_object).transpose()
    }
}

/// A plane `n . p = d` with unit normal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plane {
    /// Unit normal.
    pub normal: DVec3,
    /// A point on the plane.
    pub point: DVec3,
}

/// Places a model with model-space bounds `bbox` (glTF: +Y up, +Z front) in the track's world.
pub fn place(
    track: &CameraTrack,
    bbox: (DVec3, DVec3),
    opts: &PlacementOptions,
) -> Result<(Placement, Vec<String>)> {
    let mut warnings = Vec::new();
    let first = track.pose(FrameNr(0)).ok_or(Error::Unavailable {
        what: "placement",
        hint: "the track has no frames".into(),
    })?;
    let cam_centre = first.centre_in_world();
    let (mut plane, source, inliers) = ground_plane(track, opts, &mut warnings);
    if plane.normal.dot(cam_centre - plane.point) < 0.0 {
        plane.normal = -plane.normal;
    }
    let axis = first.world_from_cam.transform_vector3(DVec3::Z);
    let anchor = match opts.place_in_world {
        Some(p) => DVec3::from_array(p),
        None => axis_hit(&plane, cam_centre, axis).unwrap_or_else(|| {
            warnings.push("frame 0's optical axis does not meet the ground plane; placing the product 2 units ahead".into());
            project_onto(&plane, cam_centre + axis * 2.0)
        }),
    };
    let extent = bbox.1 - bbox.0;
    let depth = (anchor - cam_centre).dot(axis).max(1e-6);
    let scale = opts.scale.unwrap_or_else(|| {
        opts.height_fraction * f64::from(first.intrinsics.size.height) * depth
            / (first.intrinsics.focal_px[1] * extent.y.max(1e-9))
    });
    check_scale(scale, extent.max_element(), (anchor - cam_centre).length())?;
    let rotation = orientation(plane.normal, cam_centre - anchor, opts.yaw_deg);
    let base_centre = DVec3::new(
        (bbox.0.x + bbox.1.x) / 2.0,
        bbox.0.y,
        (bbox.0.z + bbox.1.z) / 2.0,
    );
    let world_from_object = DMat4::from_translation(anchor)
        * DMat4::from_mat3(rotation)
        * DMat4::from_scale(DVec3::splat(scale))
        * DMat4::from_translation(-base_centre);
    Ok((
        Placement {
            plane_point_in_world: plane.point.to_array(),
            plane_normal_in_world: plane.normal.to_array(),
            plane_source: source.into(),
            inliers,
            anchor_in_world: anchor.to_array(),
            scale,
            world_from_object: world_from_object.transpose().to_cols_array_2d(),
        },
        warnings,
    ))
}

/// Largest placed product relative to the distance from the first camera.
const MAX_SIZE_PER_DISTANCE: f64 = 100.0;
/// Smallest placed product relative to that distance (below a pixel at any usual focal).
const MIN_SIZE_PER_DISTANCE: f64 = 1e-5;

/// Rejects scales that make the product absurdly large or small for the shot.
fn check_scale(scale: f64, model_size: f64, distance: f64) -> Result<()> {
    let size = scale * model_size;
    let ratio = size / distance.max(1e-12);
    if scale.is_finite()
        && scale > 0.0
        && (MIN_SIZE_PER_DISTANCE..=MAX_SIZE_PER_DISTANCE).contains(&ratio)
    {
        return Ok(());
    }
    Err(Error::InvalidArgument {
        name: "--scale",
        detail: format!(
            "the product would be {size:.3e} units across, {ratio:.1e} times its distance from the first camera; \
             use a scale that makes it between {MIN_SIZE_PER_DISTANCE:e} and {MAX_SIZE_PER_DISTANCE} times that distance"
        ),
    })
}

fn ground_plane(
    track: &CameraTrack,
    opts: &PlacementOptions,
    warnings: &mut Vec<String>,
) -> (Plane, &'static str, usize) {
    let first = &track.poses[0];
    let points: Vec<DVec3> = track
        .points
        .iter()
        .filter(|p| p.confidence > 0.0)
        .map(|p| p.point_in_world)
        .collect();
    if let Some(up) = opts.up_in_world {
        let normal = DVec3::from_array(up).normalize_or(DVec3::Z);
        let point = fit_along(&points, normal).unwrap_or(first.centre_in_world() - normal * 1.5);
        return (Plane { normal, point }, "--up", 0);
    }
    match ransac_plane(&points, 400, 0) {
        Some((plane, inliers)) => (plane, "ransac", inliers),
        None => {
            warnings.push("the track has too few scene points for a ground plane; assuming the floor 1.5 units below the first camera".into());
            let down = first.world_from_cam.transform_vector3(DVec3::Y).normalize();
            let plane = Plane {
                normal: -down,
                point: first.centre_in_world() + down * 1.5,
            };
            (plane, "camera-fallback", 0)
        }
    }
}

/// The lowest plane with normal `n` supported by the points (10th percentile along `n`).
fn fit_along(points: &[DVec3], n: DVec3) -> Option<DVec3> {
    let mut heights: Vec<f64> = points.iter().map(|p| p.dot(n)).collect();
    if heights.is_empty() {
        return None;
    }
    let k = heights.len() / 10;
    let (_, h, _) = heights.select_nth_unstable_by(k, f64::total_cmp);
    Some(n * *h)
}

/// RANSAC on 3-point samples, threshold 1 % of the cloud's RMS radius, then a least-squares
/// refit on the inliers. `None` with fewer than 3 points or no plane of 3+ inliers.
pub fn ransac_plane(points: &[DVec3], iterations: usize, seed: u64) -> Option<(Plane, usize)> {
    if points.len() < 3 {
        return None;
    }
    let centroid = points.iter().copied().sum::<DVec3>() / points.len() as f64;
    let rms = (points
        .iter()
        .map(|p| p.distance_squared(centroid))
        .sum::<f64>()
        / points.len() as f64)
        .sqrt();
    let threshold = (0.01 * rms).max(1e-9);
    let mut rng = FrameRng::new(seed, FrameNr(0), 0x0050_4c41_4e45);
    let mut best: Option<(Plane, usize)> = None;
    for _ in 0..iterations {
        let pick = |rng: &mut FrameRng| {
            points[(rng.uniform() * points.len() as f64) as usize % points.len()]
        };
        let (a, b, c) = (pick(&mut rng), pick(&mut rng), pick(&mut rng));
        let normal = (b - a).cross(c - a);
        if normal.length() < 1e-12 {
            continue;
        }
        let plane = Plane {
            normal: normal.normalize(),
            point: a,
        };
        let count = inliers(points, &plane, threshold).count();
        if best.as_ref().is_none_or(|(_, n)| count > *n) {
            best = Some((plane, count));
        }
    }
    let (plane, _) = best.filter(|(_, n)| *n >= 3)?;
    let support: Vec<DVec3> = inliers(points, &plane, threshold).collect();
    let refit = least_squares_plane(&support).unwrap_or(plane);
    let count = inliers(points, &refit, threshold).count();
    Some((refit, count))
}

fn inliers<'a>(points: &'a [DVec3], plane: &'a Plane, t: f64) -> impl Iterator<Item = DVec3> + 'a {
    points
        .iter()
        .copied()
        .filter(move |p| plane.normal.dot(*p - plane.point).abs() <= t)
}

/// Plane through the centroid with the covariance's least-variance direction as normal.
fn least_squares_plane(points: &[DVec3]) -> Option<Plane> {
    if points.len() < 3 {
        return None;
    }
    let centroid = points.iter().copied().sum::<DVec3>() / points.len() as f64;
    let mut cov = DMat3::ZERO;
    for p in points {
        let d = *p - centroid;
        cov += DMat3::from_cols(d * d.x, d * d.y, d * d.z);
    }
    let normal = smallest_eigenvector(cov)?;
    Some(Plane {
        normal,
        point: centroid,
    })
}

/// Eigenvector of the smallest eigenvalue of a symmetric 3x3 matrix (cyclic Jacobi).
fn smallest_eigenvector(m: DMat3) -> Option<DVec3> {
    let mut a = m.to_cols_array_2d();
    let mut v = DMat3::IDENTITY.to_cols_array_2d();
    for _ in 0..50 {
        for (p, q) in [(0, 1), (0, 2), (1, 2)] {
            if a[p][q].abs() < 1e-300 {
                continue;
            }
            let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
            let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
            let (c, s) = (1.0 / (t * t + 1.0).sqrt(), t / (t * t + 1.0).sqrt());
            rotate(&mut a, &mut v, p, q, c, s);
        }
    }
    let k = (0..3).min_by(|&i, &j| a[i][i].total_cmp(&a[j][j]))?;
    let e = DVec3::from_array(v[k]);
    (e.length() > 0.0).then(|| e.normalize())
}

/// One Jacobi rotation in the (p, q) plane: `a <- J^T a J`, `v <- v J` (columns of `v` are
/// the eigenvector estimates).
fn rotate(a: &mut [[f64; 3]; 3], v: &mut [[f64; 3]; 3], p: usize, q: usize, c: f64, s: f64) {
    for row in a.iter_mut() {
        let (akp, akq) = (row[p], row[q]);
        row[p] = c * akp - s * akq;
        row[q] = s * akp + c * akq;
    }
    let (ap, aq) = (a[p], a[q]);
    for k in 0..3 {
        a[p][k] = c * ap[k] - s * aq[k];
        a[q][k] = s * ap[k] + c * aq[k];
    }
    let (vp, vq) = (v[p], v[q]);
    for k in 0..3 {
        v[p][k] = c * vp[k] - s * vq[k];
        v[q][k] = s * vp[k] + c * vq[k];
    }
}

fn axis_hit(plane: &Plane, origin: DVec3, dir: DVec3) -> Option<DVec3> {
    let denom = plane.normal.dot(dir);
    if denom.abs() < 1e-9 {
        return None;
    }
    let t = plane.normal.dot(plane.point - origin) / denom;
    (t > 0.0).then(|| origin + dir * t)
}

fn project_onto(plane: &Plane, p: DVec3) -> DVec3 {
    p - plane.normal * plane.normal.dot(p - plane.point)
}

/// Rotation taking model axes (+Y up, +Z front) to world: up along `normal`, front towards
/// `towards_camera` projected on the plane, then `yaw_deg` about up.
fn orientation(normal: DVec3, towards_camera: DVec3, yaw_deg: f64) -> DMat3 {
    let up = normal.normalize();
    let flat = towards_camera - up * up.dot(towards_camera);
    let front = flat
        .try_normalize()
        .unwrap_or_else(|| up.any_orthonormal_vector());
    let base = DMat3::from_cols(up.cross(front), up, front);
    base * DMat3::from_rotation_y(yaw_deg.to_radians())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ransac_recovers_plane_with_40_percent_outliers() {
        let mut rng = FrameRng::new(5, FrameNr(0), 0);
        let normal = DVec3::new(0.1, 1.0, 0.2).normalize();
        let basis_u = normal.any_orthonormal_vector();
        let basis_v = normal.cross(basis_u);
        let origin = DVec3::new(0.5, -1.0, 3.0);
        let mut pts: Vec<DVec3> = (0..600)
            .map(|_| {
                let (u, v) = (rng.uniform() * 8.0 - 4.0, rng.uniform() * 8.0 - 4.0);
                origin + basis_u * u + basis_v * v + normal * (0.002 * rng.normal())
            })
            .collect();
        pts.extend(
            (0..400).map(|_| {
                origin + DVec3::new(rng.uniform(), rng.uniform(), rng.uniform()) * 6.0 - 3.0
            }),
        );
        let (plane, inliers) = ransac_plane(&pts, 400, 1).unwrap();
        let angle = plane.normal.dot(normal).abs().min(1.0).acos().to_degrees();
        assert!(angle < 1.0, "angle {angle}");
        assert!(inliers >= 550, "{inliers}");
    }

    #[test]
    fn orientation_is_a_rotation_with_up_along_normal() {
        let r = orientation(DVec3::new(0.0, 0.0, 1.0), DVec3::new(1.0, -3.0, 2.0), 30.0);
        assert!((r.determinant() - 1.0).abs() < 1e-12);
        assert!((r * DVec3::Y).abs_diff_eq(DVec3::Z, 1e-12));
    }
}

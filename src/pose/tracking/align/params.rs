//! The optimiser's parameters and their starting values (`init_from_pts3d`): per image a log
//! depth map, a camera-to-world pose (XYZW quaternion + `signed_log1p` translation) and
//! `20·ln f`; per edge a similarity (quaternion, `signed_log1p(T/s)`, `ln s`).
//!
//! Reference: dust3r `cloud_opt/init_im_poses.py::init_from_pts3d`, `cloud_opt/optimizer.py`
//! (`_set_pose`, `_set_depthmap`, `_set_focal`), naver/dust3r 4c24a6e.

use candle_core::Result;

use super::init::TreeInit;
use super::input::{PairwisePointMaps, Side};
use super::linalg::{rotation_to_quat_xyzw, signed_log1p};
use super::register::umeyama;

/// `im_focals` holds `FOCAL_BREAK · ln f` (slows the focal's effective learning rate).
pub const FOCAL_BREAK: f64 = 20.0;

/// Starting values of every parameter, row-major, f32 as the optimiser holds them.
#[derive(Debug, Clone)]
pub struct InitialParams {
    /// (N, H·W) log depth.
    pub im_depthmaps: Vec<f32>,
    /// (N, 7) quaternion XYZW + `signed_log1p(T)`.
    pub im_poses: Vec<f32>,
    /// (N, 1) `20·ln f`.
    pub im_focals: Vec<f32>,
    /// (E, 8) quaternion XYZW + `signed_log1p(T/s)` + `ln s`.
    pub pw_poses: Vec<f32>,
    /// Pixels whose initial depth was not positive (set to the image's median depth; the
    /// reference would write NaN or 0 there).
    pub bad_depths: usize,
}

/// Per-edge similarities from the tree's world points, the global scale normalisation
/// (geometric mean of the pair scales pinned to `base_scale`) and the per-image parameters.
pub fn initial_params(
    maps: &PairwisePointMaps,
    tree: &TreeInit,
    base_scale: f64,
) -> Result<InitialParams> {
    let mut pw_poses = Vec::with_capacity(maps.edges.len() * 8);
    let mut log_scales = Vec::with_capacity(maps.edges.len());
    for (e, &(i, _)) in maps.edges.iter().enumerate() {
        let sim = umeyama(
            &maps.points(e, Side::I)?,
            &tree.points_in_world[i],
            &maps.confidences(e, Side::I)?,
        );
        let q = rotation_to_quat_xyzw(&sim.rotation);
        let t = signed_log1p(sim.translation / sim.scale);
        pw_poses.extend(q.iter().chain(&t.to_array()).map(|&v| v as f32));
        pw_poses.push(sim.scale.ln() as f32);
        log_scales.push(sim.scale.ln());
    }
    let mean_log_scale = log_scales.iter().sum::<f64>() / log_scales.len().max(1) as f64;
    let s_factor = (base_scale.ln() - mean_log_scale).exp();
    let mut im_depthmaps = Vec::with_capacity(maps.n_images * maps.area());
    let mut im_poses = Vec::with_capacity(maps.n_images * 7);
    let mut bad_depths = 0;
    for (k, world_from_cam) in tree.world_from_cam.iter().enumerate() {
        let mut pose = *world_from_cam;
        pose.w_axis = (pose.w_axis.truncate() * s_factor).extend(1.0);
        let cam_from_world = pose.inverse();
        let depth: Vec<f64> = tree.points_in_world[k]
            .iter()
            .map(|p| cam_from_world.transform_point3(*p * s_factor).z)
            .collect();
        bad_depths += push_log_depth(&mut im_depthmaps, &depth);
        let rotation = glam::DMat3::from_mat4(pose);
        let q = rotation_to_quat_xyzw(&rotation);
        let t = signed_log1p(pose.w_axis.truncate());
        im_poses.extend(q.iter().chain(&t.to_array()).map(|&v| v as f32));
    }
    let im_focals = tree
        .focal_px
        .iter()
        .map(|f| (FOCAL_BREAK * f.ln()) as f32)
        .collect();
    Ok(InitialParams {
        im_depthmaps,
        im_poses,
        im_focals,
        pw_poses,
        bad_depths,
    })
}

/// Appends `ln depth`, replacing non-positive or non-finite depths with the median of the
/// valid ones (1 if none); returns how many were replaced.
fn push_log_depth(out: &mut Vec<f32>, depth: &[f64]) -> usize {
    let mut valid: Vec<f64> = depth
        .iter()
        .copied()
        .filter(|d| d.is_finite() && *d > 0.0)
        .collect();
    valid.sort_by(f64::total_cmp);
    let fallback = valid.get(valid.len() / 2).copied().unwrap_or(1.0);
    let mut replaced = 0;
    for &d in depth {
        let d = if d.is_finite() && d > 0.0 {
            d
        } else {
            replaced += 1;
            fallback
        };
        out.push(d.ln() as f32);
    }
    replaced
}

//! The alignment loss, vectorised over edges (the reference loops over edges in Python): every
//! image's depth map through its camera into the world, every edge's two point maps through
//! its similarity, confidence-weighted unsquared distances between them.
//!
//! Reference: dust3r `cloud_opt/optimizer.py::PointCloudOptimizer.forward`,
//! `cloud_opt/base_opt.py` (`get_pw_poses`, `get_pw_scale`), naver/dust3r 4c24a6e.

use candle_core::{DType, Device, Result, Tensor, D};

use super::input::PairwisePointMaps;
use super::params::FOCAL_BREAK;
use crate::nn::ops::expm1;

/// The optimiser's parameters as tensors (leaves of the autograd graph when optimising).
#[derive(Debug, Clone)]
pub struct ParamTensors {
    /// (N, H·W) log depth.
    pub im_depthmaps: Tensor,
    /// (N, 7) quaternion XYZW + `signed_log1p(T)`.
    pub im_poses: Tensor,
    /// (N, 1), or (1, 1) for one focal shared by every image: `20·ln f`.
    pub im_focals: Tensor,
    /// (E, 8) quaternion XYZW + `signed_log1p(T/s)` + `ln s`.
    pub pw_poses: Tensor,
}

/// The constant part of the loss: stacked predictions, weights, edge endpoints, pixel grid.
#[derive(Debug, Clone)]
pub struct AlignmentLoss {
    pred_i: Tensor,
    pred_j: Tensor,
    weight_i: Tensor,
    weight_j: Tensor,
    ei: Tensor,
    ej: Tensor,
    /// (1, H·W, 2): (u − W/2, v − H/2) at integer pixels.
    pixels_centred: Tensor,
    ln_base_scale: f64,
    normaliser: f64,
}

/// Rotations (K, 3, 3) of quaternions (K, 4) `[x, y, z, w]`, normalised first.
pub fn quat_xyzw_to_rotation(q: &Tensor) -> Result<Tensor> {
    let q = q.broadcast_div(&q.sqr()?.sum_keepdim(1)?.sqrt()?)?;
    let c = |k: usize| q.narrow(1, k, 1);
    let (x, y, z, w) = (c(0)?, c(1)?, c(2)?, c(3)?);
    let two = |a: &Tensor, b: &Tensor| -> Result<Tensor> { (a * b)? * 2.0 };
    let entries = [
        (1.0 - (two(&y, &y)? + two(&z, &z)?)?)?,
        (two(&x, &y)? - two(&z, &w)?)?,
        (two(&x, &z)? + two(&y, &w)?)?,
        (two(&x, &y)? + two(&z, &w)?)?,
        (1.0 - (two(&x, &x)? + two(&z, &z)?)?)?,
        (two(&y, &z)? - two(&x, &w)?)?,
        (two(&x, &z)? - two(&y, &w)?)?,
        (two(&y, &z)? + two(&x, &w)?)?,
        (1.0 - (two(&x, &x)? + two(&y, &y)?)?)?,
    ];
    Tensor::cat(&entries, 1)?.reshape((q.dim(0)?, 3, 3))
}

/// `sign(x)·expm1(|x|)` written as `[x ≠ 0]·(expm1(relu(x)) − expm1(relu(−x)))`: the same values,
/// and the same gradient as torch's, including 0 at exactly x = 0 (torch's `sign` has a zero
/// derivative). That zero matters: the spanning tree's root camera starts at translation 0 and
/// stays there, which pins the gauge the way the reference does.
pub fn signed_expm1(x: &Tensor) -> Result<Tensor> {
    let nonzero = x.ne(0.0)?.to_dtype(x.dtype())?;
    (expm1(&x.relu()?)? - expm1(&x.neg()?.relu()?)?)? * nonzero
}

/// Applies rotations (K, 3, 3) and translations (K, 3) to points (K, M, 3).
fn transform(points: &Tensor, rotation: &Tensor, translation: &Tensor) -> Result<Tensor> {
    points
        .matmul(&rotation.transpose(1, 2)?.contiguous()?)?
        .broadcast_add(&translation.unsqueeze(1)?)
}

impl AlignmentLoss {
    /// Stacks `maps` for the loss (weights `ln conf`); `base_scale` pins the geometric mean
    /// of the pair scales.
    pub fn new(maps: &PairwisePointMaps, base_scale: f64) -> Result<Self> {
        let (e, hw) = (maps.edges.len(), maps.area());
        let device = maps.pred_i.device();
        let stack = |t: &Tensor| t.to_dtype(DType::F32)?.reshape((e, hw, 3));
        let weight = |t: &Tensor| t.to_dtype(DType::F32)?.reshape((e, hw))?.log();
        let ends = |pick: fn(&(usize, usize)) -> usize| {
            let v: Vec<u32> = maps.edges.iter().map(|e| pick(e) as u32).collect();
            Tensor::from_vec(v, e, device)
        };
        Ok(Self {
            pred_i: stack(&maps.pred_i)?,
            pred_j: stack(&maps.pred_j)?,
            weight_i: weight(&maps.conf_i)?,
            weight_j: weight(&maps.conf_j)?,
            ei: ends(|e| e.0)?,
            ej: ends(|e| e.1)?,
            pixels_centred: pixel_grid(maps.height, maps.width, device)?,
            ln_base_scale: base_scale.ln(),
            normaliser: (e * hw) as f64,
        })
    }

    /// Camera-to-world rotations (N, 3, 3) and translations (N, 3) of the image poses.
    pub fn cameras(&self, p: &ParamTensors) -> Result<(Tensor, Tensor)> {
        Ok((
            quat_xyzw_to_rotation(&p.im_poses.narrow(1, 0, 4)?)?,
            signed_expm1(&p.im_poses.narrow(1, 4, 3)?)?,
        ))
    }

    /// World points of every image's depth map: (N, H·W, 3).
    pub fn world_points(&self, p: &ParamTensors) -> Result<Tensor> {
        let n = p.im_depthmaps.dim(0)?;
        let depth = p.im_depthmaps.exp()?.unsqueeze(2)?;
        let focal = (&p.im_focals / FOCAL_BREAK)?
            .exp()?
            .unsqueeze(2)?
            .broadcast_as((n, 1, 1))?;
        let xy = depth
            .broadcast_mul(&self.pixels_centred)?
            .broadcast_div(&focal)?;
        let in_cam = Tensor::cat(&[xy, depth], 2)?;
        let (rotation, translation) = self.cameras(p)?;
        transform(&in_cam, &rotation, &translation)
    }

    /// Per-edge similarity: scale·rotation (E, 3, 3) and scale·translation (E, 3).
    pub fn pair_transforms(&self, p: &ParamTensors) -> Result<(Tensor, Tensor)> {
        let log_scale = p.pw_poses.narrow(1, 7, 1)?;
        let scale =
            (log_scale.broadcast_sub(&log_scale.mean_all()?)? + self.ln_base_scale)?.exp()?;
        let rotation = quat_xyzw_to_rotation(&p.pw_poses.narrow(1, 0, 4)?)?
            .broadcast_mul(&scale.unsqueeze(2)?)?;
        let translation = signed_expm1(&p.pw_poses.narrow(1, 4, 3)?)?.broadcast_mul(&scale)?;
        Ok((rotation, translation))
    }

    /// `Σ_e Σ_px ln(conf)·‖P − A_e(pred)‖ / (E·H·W)` for both sides of every edge.
    pub fn loss(&self, p: &ParamTensors) -> Result<Tensor> {
        let world = self.world_points(p)?;
        let (rotation, translation) = self.pair_transforms(p)?;
        let side = |ends: &Tensor, pred: &Tensor, weight: &Tensor| -> Result<Tensor> {
            let aligned = transform(pred, &rotation, &translation)?;
            let residual = (world.index_select(ends, 0)? - aligned)?;
            // + 1e-20 keeps the gradient finite where the residual is exactly 0 (torch's norm
            // has a zero subgradient there); it moves the loss by < 1e-10 per pixel
            let dist = (residual.sqr()?.sum(D::Minus1)? + 1e-20)?.sqrt()?;
            (dist * weight)?.sum_all()
        };
        let total = (side(&self.ei, &self.pred_i, &self.weight_i)?
            + side(&self.ej, &self.pred_j, &self.weight_j)?)?;
        total / self.normaliser
    }
}

/// (1, H·W, 2) centred pixel coordinates (u − W/2, v − H/2), row-major.
fn pixel_grid(height: usize, width: usize, device: &Device) -> Result<Tensor> {
    let (cx, cy) = (width as f32 / 2.0, height as f32 / 2.0);
    let grid: Vec<f32> = (0..height)
        .flat_map(|v| (0..width).flat_map(move |u| [u as f32 - cx, v as f32 - cy]))
        .collect();
    Tensor::from_vec(grid, (1, height * width, 2), device)
}

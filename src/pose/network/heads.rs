//! The linear head and the post-processing shared by both heads.
//!
//! References: dust3r `heads/linear_head.py::LinearPts3d`, `heads/postprocess.py`
//! (`reg_dense_depth`, `reg_dense_conf`), naver/dust3r 4c24a6e.

use candle_core::{DType, Module as _, Result, Tensor, D};
use candle_nn::{Linear, VarBuilder};

use super::config::{RegressionMode, OUTPUT_CHANNELS};
use super::trace::{note, Trace};
use crate::nn::ops::expm1;

/// Points and confidences of one view of a pair, in the first view's camera frame (OpenCV:
/// x right, y down, z forward; arbitrary scale per pair).
#[derive(Debug, Clone)]
pub struct PointMap {
    /// (b, h, w, 3), f32.
    pub pts3d: Tensor,
    /// (b, h, w), f32, ≥ `conf_mode.vmin`.
    pub conf: Tensor,
}

/// `proj` Linear(C → 4·p²) on the last decoder output, then `pixel_shuffle(p)`.
#[derive(Debug, Clone)]
pub struct LinearHead {
    proj: Linear,
    patch_size: usize,
}

impl LinearHead {
    /// Loads `vb` (`downstream_head{1,2}`).
    pub fn new(vb: VarBuilder, dec_embed_dim: usize, patch_size: usize) -> Result<Self> {
        let out = OUTPUT_CHANNELS * patch_size * patch_size;
        Ok(Self {
            proj: candle_nn::linear(dec_embed_dim, out, vb.pp("proj"))?,
            patch_size,
        })
    }

    /// Last head input (b, gh·gw, C) → raw (b, 4, gh·p, gw·p).
    pub fn forward(
        &self,
        tokens: &Tensor,
        grid: (usize, usize),
        trace: &mut Option<&mut Trace>,
    ) -> Result<Tensor> {
        let b = tokens.dim(0)?;
        let feat = self.proj.forward(tokens)?;
        note(trace, || "head.proj".into(), &feat);
        let feat = feat
            .transpose(1, 2)?
            .contiguous()?
            .reshape((b, (), grid.0, grid.1))?;
        candle_nn::ops::pixel_shuffle(&feat, self.patch_size)
    }
}

/// Raw head output (b, 4, h, w) → points `xyz / max(|xyz|, 1e-8) · expm1(|xyz|)` and confidence
/// `vmin + min(exp(c), vmax − vmin)`, in f32 whatever the network's dtype. The depth mode is
/// unbounded `exp` (the reference asserts no bounds; [`super::config`] refuses others).
pub fn postprocess(raw: &Tensor, conf_mode: &RegressionMode) -> Result<PointMap> {
    let f = raw.to_dtype(DType::F32)?.permute((0, 2, 3, 1))?;
    let xyz = f.narrow(D::Minus1, 0, 3)?;
    let d = xyz.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?;
    let dir = xyz.broadcast_div(&d.clamp(1e-8, f64::INFINITY)?)?;
    let pts3d = dir.broadcast_mul(&expm1(&d)?)?;
    let conf = (f
        .narrow(D::Minus1, 3, 1)?
        .squeeze(D::Minus1)?
        .exp()?
        .clamp(f64::NEG_INFINITY, conf_mode.vmax - conf_mode.vmin)?
        + conf_mode.vmin)?;
    Ok(PointMap {
        pts3d: pts3d.contiguous()?,
        conf: conf.contiguous()?,
    })
}

//! The alignment's input: every directed pair's two point maps in the pair's first camera,
//! stacked over edges, with per-edge host access for the initialisation.

use candle_core::{DType, IndexOp as _, Result, Tensor};
use glam::DVec3;

/// Pair predictions for `edges` over `n_images` images of one size.
#[derive(Debug, Clone)]
pub struct PairwisePointMaps {
    /// Number of images (edge endpoints are `0..n_images`).
    pub n_images: usize,
    /// Image height in pixels (all images of a video have one size).
    pub height: usize,
    /// Image width in pixels.
    pub width: usize,
    /// Directed edges (i, j): view 1 = image i, view 2 = image j.
    pub edges: Vec<(usize, usize)>,
    /// Image i in camera i (`pred1.pts3d`): (E, H, W, 3) f32.
    pub pred_i: Tensor,
    /// Image j in camera i (`pred2.pts3d_in_other_view`): (E, H, W, 3) f32.
    pub pred_j: Tensor,
    /// Confidence of `pred_i` (≥ 1): (E, H, W) f32.
    pub conf_i: Tensor,
    /// Confidence of `pred_j`: (E, H, W) f32.
    pub conf_j: Tensor,
}

/// Which side of an edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// View 1: image i.
    I,
    /// View 2: image j.
    J,
}

impl PairwisePointMaps {
    /// Pixels per image.
    pub fn area(&self) -> usize {
        self.height * self.width
    }

    /// The edge index of (i, j), if the graph has it.
    pub fn edge_index(&self, i: usize, j: usize) -> Option<usize> {
        self.edges.iter().position(|&e| e == (i, j))
    }

    /// One side's points of edge `e`, row-major, on the host.
    pub fn points(&self, e: usize, side: Side) -> Result<Vec<DVec3>> {
        points_at(
            match side {
                Side::I => &self.pred_i,
                Side::J => &self.pred_j,
            },
            e,
        )
    }

    /// One side's confidences of edge `e`, row-major, on the host.
    pub fn confidences(&self, e: usize, side: Side) -> Result<Vec<f64>> {
        values_at(
            match side {
                Side::I => &self.conf_i,
                Side::J => &self.conf_j,
            },
            e,
        )
    }

    /// `mean(conf_i[e]) · mean(conf_j[e])` per edge: how much the initialisation trusts it.
    pub fn edge_scores(&self) -> Result<Vec<f64>> {
        let mean = |t: &Tensor| -> Result<Vec<f64>> {
            let m: Vec<f32> = t
                .to_dtype(DType::F32)?
                .flatten_from(1)?
                .mean(1)?
                .to_vec1()?;
            Ok(m.into_iter().map(f64::from).collect())
        };
        let (a, b) = (mean(&self.conf_i)?, mean(&self.conf_j)?);
        Ok(a.iter().zip(&b).map(|(a, b)| a * b).collect())
    }

    /// Per image, the largest confidence any edge gives its pixels: (N, H, W).
    pub fn image_confidence(&self) -> Result<Tensor> {
        let mut best: Vec<Option<Tensor>> = vec![None; self.n_images];
        for (e, &(i, j)) in self.edges.iter().enumerate() {
            for (k, conf) in [(i, self.conf_i.i(e)?), (j, self.conf_j.i(e)?)] {
                best[k] = Some(match best[k].take() {
                    Some(b) => b.maximum(&conf)?,
                    None => conf,
                });
            }
        }
        let zeros = Tensor::zeros((self.height, self.width), DType::F32, self.conf_i.device())?;
        let maps: Vec<Tensor> = best
            .into_iter()
            .map(|b| b.unwrap_or_else(|| zeros.clone()))
            .collect();
        Tensor::stack(&maps, 0)
    }
}

/// Entry `e` of stacked point maps (E, H, W, 3) as host points, row-major.
pub fn points_at(stacked: &Tensor, e: usize) -> Result<Vec<DVec3>> {
    let flat: Vec<f32> = stacked
        .i(e)?
        .to_dtype(DType::F32)?
        .flatten_all()?
        .to_vec1()?;
    Ok(flat
        .chunks_exact(3)
        .map(|p| DVec3::new(p[0].into(), p[1].into(), p[2].into()))
        .collect())
}

/// Entry `e` of stacked maps (E, H, W) as host values, row-major.
pub fn values_at(stacked: &Tensor, e: usize) -> Result<Vec<f64>> {
    let flat: Vec<f32> = stacked
        .i(e)?
        .to_dtype(DType::F32)?
        .flatten_all()?
        .to_vec1()?;
    Ok(flat.into_iter().map(f64::from).collect())
}

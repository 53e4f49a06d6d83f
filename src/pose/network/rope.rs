//! RoPE2D: rotary position embedding over 2-D patch coordinates, base 100.
//!
//! Reference: croco `models/pos_embed.py::RoPE2D` (naver/croco d7de070). Of a head's `d`
//! channels the first `d/2` rotate with the token's row y and the last `d/2` with its column x;
//! within each half the rotation is NeoX-style `x·cos + rotate_half(x)·sin` with
//! `rotate_half([a, b]) = [−b, a]` and frequencies `1 / base^(2k / (d/2))`, k < d/4. The tables
//! are computed in f32 as the reference does, so the result matches it to rounding.

use candle_core::{DType, Device, Result, Tensor, D};

/// The cos/sin tables of one set of token positions for one head size.
#[derive(Debug, Clone)]
pub struct Rope2d {
    /// (b, 1, n, d)
    cos: Tensor,
    /// (b, 1, n, d)
    sin: Tensor,
}

impl Rope2d {
    /// Tables for `positions` (b, n, 2) int64 `[y, x]` patch coordinates, head size
    /// `head_dim` (a multiple of 4), frequency base `base`, in `dtype`.
    pub fn new(positions: &Tensor, head_dim: usize, base: f64, dtype: DType) -> Result<Self> {
        if !head_dim.is_multiple_of(4) {
            candle_core::bail!("RoPE2D needs a head size divisible by 4, got {head_dim}");
        }
        let (b, n, _) = positions.dims3()?;
        let quarter = head_dim / 4;
        // inv_k = 1 / base^(2k / (d/2)), in f32 like torch's `arange(0, D, 2).float() / D`
        let inv_freq: Vec<f32> = (0..quarter)
            .map(|k| 1.0 / (base as f32).powf((2 * k) as f32 / (head_dim / 2) as f32))
            .collect();
        let coords = positions.to_dtype(DType::I64)?.to_vec3::<i64>()?;
        let mut cos = Vec::with_capacity(b * n * head_dim);
        let mut sin = Vec::with_capacity(b * n * head_dim);
        for token in coords.iter().flatten() {
            // [y half (freqs twice), x half (freqs twice)]
            for &p in &[token[0], token[1]] {
                for _ in 0..2 {
                    for &f in &inv_freq {
                        let angle = p as f32 * f;
                        cos.push(angle.cos());
                        sin.push(angle.sin());
                    }
                }
            }
        }
        let device = positions.device();
        let table = |v: Vec<f32>| -> Result<Tensor> {
            Tensor::from_vec(v, (b, 1, n, head_dim), device)?.to_dtype(dtype)
        };
        Ok(Self {
            cos: table(cos)?,
            sin: table(sin)?,
        })
    }

    /// Rotates `x` (b, heads, n, d).
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        let quarter = x.dim(D::Minus1)? / 4;
        let part = |i: usize| x.narrow(D::Minus1, i * quarter, quarter);
        // rotate_half on each half: [y1, y2, x1, x2] → [−y2, y1, −x2, x1]
        let rotated = Tensor::cat(&[part(1)?.neg()?, part(0)?, part(3)?.neg()?, part(2)?], 3)?;
        x.broadcast_mul(&self.cos)? + rotated.broadcast_mul(&self.sin)?
    }
}

/// Raster-order patch coordinates `[y, x]` of a `rows × cols` grid, repeated for `batch`
/// images: (batch, rows·cols, 2) int64 (CroCo's `PositionGetter`).
pub fn grid_positions(batch: usize, rows: usize, cols: usize, device: &Device) -> Result<Tensor> {
    let coords: Vec<i64> = (0..rows as i64)
        .flat_map(|y| (0..cols as i64).flat_map(move |x| [y, x]))
        .collect();
    Tensor::from_vec(coords, (1, rows * cols, 2), device)?.repeat((batch, 1, 1))
}

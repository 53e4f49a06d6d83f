//! diffusers' tiled VAE encode/decode: overlapping tiles processed alone, then blended with
//! linear ramps over the overlap, in raster order and in place (a tile's neighbours are read
//! after their own blending, which matters at corners).
//!
//! Reference: diffusers 0.42.1 `models/autoencoders/autoencoder_kl.py` (`_tiled_encode`,
//! `tiled_decode`, `blend_v`, `blend_h`); diffusion spec §11.

use candle_core::{DType, Result, Tensor, D};

/// Tile geometry (`tile_sample_min_size`, `tile_latent_min_size`, `tile_overlap_factor`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TileConfig {
    /// Tile side in pixels.
    pub sample_px: usize,
    /// Tile side in latents.
    pub latent: usize,
    /// Fraction of a tile shared with its neighbour.
    pub overlap: f64,
}

/// Splits `x` into tiles of side `tile` at `stride`, runs `f` on each, blends the results over
/// `blend` rows/columns and keeps `limit` rows/columns of each.
pub fn tiled(
    x: &Tensor,
    tile: usize,
    stride: usize,
    blend: usize,
    limit: usize,
    f: impl Fn(&Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    let mut rows: Vec<Vec<Tensor>> = Vec::new();
    for i in (0..h).step_by(stride.max(1)) {
        let mut row = Vec::new();
        for j in (0..w).step_by(stride.max(1)) {
            let piece = x
                .narrow(2, i, tile.min(h - i))?
                .narrow(3, j, tile.min(w - j))?;
            row.push(f(&piece)?);
        }
        rows.push(row);
    }
    for r in 0..rows.len() {
        for c in 0..rows[r].len() {
            let mut t = rows[r][c].clone();
            if r > 0 {
                t = blend_v(&rows[r - 1][c], &t, blend)?;
            }
            if c > 0 {
                t = blend_h(&rows[r][c - 1], &t, blend)?;
            }
            rows[r][c] = t;
        }
    }
    let kept = rows
        .iter()
        .map(|row| {
            let pieces = row
                .iter()
                .map(|t| crop(t, limit))
                .collect::<Result<Vec<_>>>()?;
            Tensor::cat(&pieces, 3)
        })
        .collect::<Result<Vec<_>>>()?;
    Tensor::cat(&kept, 2)
}

fn crop(t: &Tensor, limit: usize) -> Result<Tensor> {
    let (_, _, h, w) = t.dims4()?;
    t.narrow(2, 0, limit.min(h))?.narrow(3, 0, limit.min(w))
}

/// Blends the last rows of `a` into the first rows of `b` along `dim`.
fn blend(a: &Tensor, b: &Tensor, extent: usize, dim: usize) -> Result<Tensor> {
    let (na, nb) = (a.dim(dim)?, b.dim(dim)?);
    let e = extent.min(na).min(nb);
    if e == 0 {
        return Ok(b.clone());
    }
    // w_y = y / e for y in 0..e (f64, then f32 as torch multiplies by a Python float)
    let weights: Vec<f32> = (0..e).map(|y| (y as f64 / e as f64) as f32).collect();
    let inverse: Vec<f32> = (0..e).map(|y| (1.0 - y as f64 / e as f64) as f32).collect();
    let mut shape = vec![1; 4];
    shape[dim] = e;
    let w = Tensor::from_vec(weights, shape.as_slice(), b.device())?.to_dtype(b.dtype())?;
    let iw = Tensor::from_vec(inverse, shape.as_slice(), b.device())?.to_dtype(b.dtype())?;
    let a_tail = a.narrow(dim, na - e, e)?;
    let b_head = b.narrow(dim, 0, e)?;
    let band = (a_tail.broadcast_mul(&iw)? + b_head.broadcast_mul(&w)?)?;
    Tensor::cat(&[band, b.narrow(dim, e, nb - e)?], dim)
}

fn blend_v(a: &Tensor, b: &Tensor, extent: usize) -> Result<Tensor> {
    blend(a, b, extent, 2)
}

fn blend_h(a: &Tensor, b: &Tensor, extent: usize) -> Result<Tensor> {
    blend(a, b, extent, 3)
}

/// `f` over `x` whole when it fits in one `tile_in` tile, else in diffusers' overlapping tiles:
/// stride `tile_in * (1 - overlap)`, outputs of `tile_out` blended over `tile_out * overlap`
/// and cropped to `tile_out - blend` (diffusers' `tiled_encode` / `tiled_decode`).
pub fn tiled_if_larger(
    x: &Tensor,
    tile_in: usize,
    tile_out: usize,
    overlap: f64,
    f: impl Fn(&Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    if !needs_tiling(x, tile_in)? {
        return f(x);
    }
    let stride = (tile_in as f64 * (1.0 - overlap)) as usize;
    let blend = (tile_out as f64 * overlap) as usize;
    tiled(x, tile_in, stride, blend, tile_out - blend, f)
}

/// Whether a tensor of spatial size `(h, w)` is tiled for tile side `tile` (strictly larger).
pub fn needs_tiling(x: &Tensor, tile: usize) -> Result<bool> {
    Ok(x.dim(D::Minus2)? > tile || x.dim(D::Minus1)? > tile)
}

/// f32 view for blending arithmetic.
pub fn as_f32(x: &Tensor) -> Result<Tensor> {
    x.to_dtype(DType::F32)
}

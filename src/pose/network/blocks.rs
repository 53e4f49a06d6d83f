//! The ViT blocks of CroCo/DUSt3R with their checkpoint key names: pre-norm encoder blocks
//! (self-attention with RoPE2D, erf-GELU MLP) and decoder blocks (self-attention, then
//! cross-attention on the other view's tokens).
//!
//! Reference: croco `models/blocks.py` (`Attention`, `CrossAttention`, `Mlp`, `Block`,
//! `DecoderBlock`), naver/croco d7de070. Dropout and drop-path are identities at inference.

use candle_core::{Module as _, Result, Tensor};
use candle_nn::{LayerNorm, Linear, VarBuilder};

use super::rope::Rope2d;
use crate::nn::attention::{attention, merge_heads, split_heads, QUERY_CHUNK};

/// LayerNorm epsilon of every norm in the model (CroCo builds them with `eps=1e-6`).
pub const LAYER_NORM_EPS: f64 = 1e-6;

/// Width, heads and MLP hidden size of one stack of blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockDims {
    /// Token width C.
    pub embed_dim: usize,
    /// Attention heads; C / heads is the RoPE head size.
    pub num_heads: usize,
    /// MLP hidden width (`mlp_ratio` · C).
    pub mlp_hidden: usize,
}

impl BlockDims {
    /// C / heads.
    pub fn head_dim(&self) -> usize {
        self.embed_dim / self.num_heads
    }
}

fn layer_norm(vb: VarBuilder, dim: usize) -> Result<LayerNorm> {
    candle_nn::layer_norm(dim, LAYER_NORM_EPS, vb)
}

/// `fc1` → exact (erf) GELU → `fc2`.
#[derive(Debug, Clone)]
struct Mlp {
    fc1: Linear,
    fc2: Linear,
}

impl Mlp {
    fn new(vb: VarBuilder, dims: BlockDims) -> Result<Self> {
        Ok(Self {
            fc1: candle_nn::linear(dims.embed_dim, dims.mlp_hidden, vb.pp("fc1"))?,
            fc2: candle_nn::linear(dims.mlp_hidden, dims.embed_dim, vb.pp("fc2"))?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.fc2.forward(&self.fc1.forward(x)?.gelu_erf()?)
    }
}

/// Self-attention: one `qkv` Linear laid out [q | k | v] (each head-major), RoPE on q and k.
#[derive(Debug, Clone)]
struct SelfAttention {
    qkv: Linear,
    proj: Linear,
    heads: usize,
}

impl SelfAttention {
    fn new(vb: VarBuilder, dims: BlockDims) -> Result<Self> {
        let c = dims.embed_dim;
        Ok(Self {
            qkv: candle_nn::linear(c, 3 * c, vb.pp("qkv"))?,
            proj: candle_nn::linear(c, c, vb.pp("proj"))?,
            heads: dims.num_heads,
        })
    }

    fn forward(&self, x: &Tensor, rope: &Rope2d) -> Result<Tensor> {
        let c = x.dim(2)?;
        let qkv = self.qkv.forward(x)?;
        let q = rope.apply(&split_heads(&qkv.narrow(2, 0, c)?, self.heads)?)?;
        let k = rope.apply(&split_heads(&qkv.narrow(2, c, c)?, self.heads)?)?;
        let v = split_heads(&qkv.narrow(2, 2 * c, c)?, self.heads)?;
        let scale = 1.0 / ((c / self.heads) as f64).sqrt();
        self.proj
            .forward(&merge_heads(&attention(&q, &k, &v, scale, QUERY_CHUNK)?)?)
    }
}

/// Cross-attention: `projq` on the query tokens, `projk`/`projv` on the other view's
/// (normalised) tokens; q rotated with the query positions, k with the key positions.
#[derive(Debug, Clone)]
struct CrossAttention {
    projq: Linear,
    projk: Linear,
    projv: Linear,
    proj: Linear,
    heads: usize,
}

impl CrossAttention {
    fn new(vb: VarBuilder, dims: BlockDims) -> Result<Self> {
        let c = dims.embed_dim;
        let linear = |name: &str| candle_nn::linear(c, c, vb.pp(name));
        Ok(Self {
            projq: linear("projq")?,
            projk: linear("projk")?,
            projv: linear("projv")?,
            proj: linear("proj")?,
            heads: dims.num_heads,
        })
    }

    fn forward(&self, x: &Tensor, y: &Tensor, x_rope: &Rope2d, y_rope: &Rope2d) -> Result<Tensor> {
        let q = x_rope.apply(&split_heads(&self.projq.forward(x)?, self.heads)?)?;
        let k = y_rope.apply(&split_heads(&self.projk.forward(y)?, self.heads)?)?;
        let v = split_heads(&self.projv.forward(y)?, self.heads)?;
        let scale = 1.0 / ((x.dim(2)? / self.heads) as f64).sqrt();
        self.proj
            .forward(&merge_heads(&attention(&q, &k, &v, scale, QUERY_CHUNK)?)?)
    }
}

/// Encoder block: `x += attn(norm1(x))`, `x += mlp(norm2(x))`.
#[derive(Debug, Clone)]
pub struct EncoderBlock {
    norm1: LayerNorm,
    attn: SelfAttention,
    norm2: LayerNorm,
    mlp: Mlp,
}

impl EncoderBlock {
    /// Loads `vb` (`enc_blocks.{i}`).
    pub fn new(vb: VarBuilder, dims: BlockDims) -> Result<Self> {
        Ok(Self {
            norm1: layer_norm(vb.pp("norm1"), dims.embed_dim)?,
            attn: SelfAttention::new(vb.pp("attn"), dims)?,
            norm2: layer_norm(vb.pp("norm2"), dims.embed_dim)?,
            mlp: Mlp::new(vb.pp("mlp"), dims)?,
        })
    }

    /// (b, n, c) → (b, n, c)
    pub fn forward(&self, x: &Tensor, rope: &Rope2d) -> Result<Tensor> {
        let x = (x + self.attn.forward(&self.norm1.forward(x)?, rope)?)?;
        &x + self.mlp.forward(&self.norm2.forward(&x)?)?
    }
}

/// Decoder block: self-attention, cross-attention on `norm_y` of the other view's tokens, MLP.
#[derive(Debug, Clone)]
pub struct DecoderBlock {
    norm1: LayerNorm,
    attn: SelfAttention,
    norm_y: LayerNorm,
    norm2: LayerNorm,
    cross_attn: CrossAttention,
    norm3: LayerNorm,
    mlp: Mlp,
}

impl DecoderBlock {
    /// Loads `vb` (`dec_blocks.{i}` or `dec_blocks2.{i}`).
    pub fn new(vb: VarBuilder, dims: BlockDims) -> Result<Self> {
        let c = dims.embed_dim;
        Ok(Self {
            norm1: layer_norm(vb.pp("norm1"), c)?,
            attn: SelfAttention::new(vb.pp("attn"), dims)?,
            norm_y: layer_norm(vb.pp("norm_y"), c)?,
            norm2: layer_norm(vb.pp("norm2"), c)?,
            cross_attn: CrossAttention::new(vb.pp("cross_attn"), dims)?,
            norm3: layer_norm(vb.pp("norm3"), c)?,
            mlp: Mlp::new(vb.pp("mlp"), dims)?,
        })
    }

    /// Updates `x` (b, n, c) from itself and the other view's tokens `y` (b, m, c).
    pub fn forward(
        &self,
        x: &Tensor,
        y: &Tensor,
        x_rope: &Rope2d,
        y_rope: &Rope2d,
    ) -> Result<Tensor> {
        let x = (x + self.attn.forward(&self.norm1.forward(x)?, x_rope)?)?;
        let y = self.norm_y.forward(y)?;
        let x = (&x
            + self
                .cross_attn
                .forward(&self.norm2.forward(&x)?, &y, x_rope, y_rope)?)?;
        &x + self.mlp.forward(&self.norm3.forward(&x)?)?
    }
}

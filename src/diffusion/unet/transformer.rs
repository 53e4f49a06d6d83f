//! `Transformer2DModel` with one `BasicTransformerBlock`: self-attention, cross-attention on
//! the text embeddings, GEGLU feed-forward with exact (erf) GELU.
//!
//! Reference: diffusers 0.42.1 `models/transformers/transformer_2d.py` (1x1-conv projections,
//! `use_linear_projection` false), `models/attention.py` (`BasicTransformerBlock`,
//! `FeedForward`, `GEGLU`), `models/attention_processor.py` (`AttnProcessor2_0`).
//! Deviation from candle-transformers' blocks: erf GELU (theirs is tanh), and attention in
//! query chunks so no full (N x N) score matrix per head is formed at large sizes.

use candle_core::{Module as _, Result, Tensor, D};
use candle_nn::{Conv2d, GroupNorm, LayerNorm, Linear, VarBuilder};

use super::resnet::conv;
use crate::nn::attention::{attention, merge_heads, split_heads};

/// Transformer2D's GroupNorm epsilon (diffusion spec §10).
const TRANSFORMER_NORM_EPS: f64 = 1e-6;
/// BasicTransformerBlock LayerNorm epsilon.
const LAYER_NORM_EPS: f64 = 1e-5;

/// Multi-head attention with `to_q/to_k/to_v` (no bias) and `to_out.0`.
#[derive(Debug, Clone)]
pub struct Attention {
    to_q: Linear,
    to_k: Linear,
    to_v: Linear,
    to_out: Linear,
    heads: usize,
    query_chunk: usize,
}

/// The shape of a `Transformer2DModel` besides its width.
#[derive(Debug, Clone, Copy)]
pub struct TransformerDims {
    /// Width of the text embeddings (`cross_attention_dim`).
    pub context: usize,
    /// Attention heads.
    pub heads: usize,
    /// GroupNorm groups.
    pub groups: usize,
    /// Query rows per attention chunk ([`crate::nn::attention::attention`]).
    pub query_chunk: usize,
}

impl Attention {
    /// Loads `vb`; `context` is the key/value width (= `query` for self-attention).
    pub fn new(
        vb: VarBuilder,
        query: usize,
        context: usize,
        dims: &TransformerDims,
    ) -> Result<Self> {
        Ok(Self {
            to_q: candle_nn::linear_no_bias(query, query, vb.pp("to_q"))?,
            to_k: candle_nn::linear_no_bias(context, query, vb.pp("to_k"))?,
            to_v: candle_nn::linear_no_bias(context, query, vb.pp("to_v"))?,
            to_out: candle_nn::linear(query, query, vb.pp("to_out.0"))?,
            heads: dims.heads,
            query_chunk: dims.query_chunk,
        })
    }

    /// x (b, n, c), context (b, m, c_ctx) → (b, n, c)
    pub fn forward(&self, x: &Tensor, context: &Tensor) -> Result<Tensor> {
        let head_dim = x.dim(D::Minus1)? / self.heads;
        let q = split_heads(&self.to_q.forward(x)?, self.heads)?;
        let k = split_heads(&self.to_k.forward(context)?, self.heads)?;
        let v = split_heads(&self.to_v.forward(context)?, self.heads)?;
        let out = attention(&q, &k, &v, 1.0 / (head_dim as f64).sqrt(), self.query_chunk)?;
        self.to_out.forward(&merge_heads(&out)?)
    }
}

/// GEGLU feed-forward: `net.0.proj` to 2 × 4c, value · GELU_erf(gate), `net.2` back to c.
#[derive(Debug, Clone)]
struct FeedForward {
    proj: Linear,
    out: Linear,
}

impl FeedForward {
    fn new(vb: VarBuilder, c: usize) -> Result<Self> {
        Ok(Self {
            proj: candle_nn::linear(c, 8 * c, vb.pp("net.0.proj"))?,
            out: candle_nn::linear(4 * c, c, vb.pp("net.2"))?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.proj.forward(x)?;
        let half = h.dim(D::Minus1)? / 2;
        let (value, gate) = (
            h.narrow(D::Minus1, 0, half)?,
            h.narrow(D::Minus1, half, half)?,
        );
        self.out.forward(&(value * gate.gelu_erf()?)?)
    }
}

/// Self-attention, cross-attention and feed-forward, each pre-normed with a residual.
#[derive(Debug, Clone)]
struct BasicTransformerBlock {
    norm1: LayerNorm,
    attn1: Attention,
    norm2: LayerNorm,
    attn2: Attention,
    norm3: LayerNorm,
    ff: FeedForward,
}

impl BasicTransformerBlock {
    fn new(vb: VarBuilder, c: usize, dims: &TransformerDims) -> Result<Self> {
        Ok(Self {
            norm1: candle_nn::layer_norm(c, LAYER_NORM_EPS, vb.pp("norm1"))?,
            attn1: Attention::new(vb.pp("attn1"), c, c, dims)?,
            norm2: candle_nn::layer_norm(c, LAYER_NORM_EPS, vb.pp("norm2"))?,
            attn2: Attention::new(vb.pp("attn2"), c, dims.context, dims)?,
            norm3: candle_nn::layer_norm(c, LAYER_NORM_EPS, vb.pp("norm3"))?,
            ff: FeedForward::new(vb.pp("ff"), c)?,
        })
    }

    fn forward(&self, x: &Tensor, context: &Tensor) -> Result<Tensor> {
        let n1 = self.norm1.forward(x)?;
        let x = (self.attn1.forward(&n1, &n1)? + x)?;
        let x = (self.attn2.forward(&self.norm2.forward(&x)?, context)? + x)?;
        self.ff.forward(&self.norm3.forward(&x)?)? + x
    }
}

/// `Transformer2DModel`: GroupNorm, 1x1 `proj_in`, one transformer block, 1x1 `proj_out`,
/// residual.
#[derive(Debug, Clone)]
pub struct Transformer2D {
    norm: GroupNorm,
    proj_in: Conv2d,
    block: BasicTransformerBlock,
    proj_out: Conv2d,
}

impl Transformer2D {
    /// Loads `vb` (keys `norm`, `proj_in`, `transformer_blocks.0`, `proj_out`).
    pub fn new(vb: VarBuilder, c: usize, dims: &TransformerDims) -> Result<Self> {
        Ok(Self {
            norm: candle_nn::group_norm(dims.groups, c, TRANSFORMER_NORM_EPS, vb.pp("norm"))?,
            proj_in: conv(vb.pp("proj_in"), c, c, 1, 1, 0)?,
            block: BasicTransformerBlock::new(vb.pp("transformer_blocks.0"), c, dims)?,
            proj_out: conv(vb.pp("proj_out"), c, c, 1, 1, 0)?,
        })
    }

    /// (b, c, h, w), context (b, m, c_ctx) → (b, c, h, w)
    pub fn forward(&self, x: &Tensor, context: &Tensor) -> Result<Tensor> {
        let (b, c, h, w) = x.dims4()?;
        // 1. (b, c, h, w) → (b, hw, c), contiguous (candle's batched Linear needs it)
        let hs = self.proj_in.forward(&self.norm.forward(x)?)?;
        let hs = hs.reshape((b, c, h * w))?.transpose(1, 2)?.contiguous()?;
        // 2. transformer block
        let hs = self.block.forward(&hs, context)?;
        // 3. back to (b, c, h, w), projection, residual
        let hs = hs.transpose(1, 2)?.contiguous()?.reshape((b, c, h, w))?;
        self.proj_out.forward(&hs)? + x
    }
}

//! Scaled dot-product attention over heads, computed in query chunks so that no full
//! (N x N) score matrix per head is formed at large token counts, with the softmax in f32.
//!
//! Both references compute `softmax(q kᵀ · scale) v` in one matrix per head (diffusers'
//! `AttnProcessor2_0`, CroCo's `Attention`); chunking the queries changes no element of the
//! result, only the peak memory (chunk × keys instead of queries × keys per head).

use candle_core::{DType, Result, Tensor};

/// Default query rows per attention chunk (bounds the score matrix to chunk × keys per head).
/// The memory plan turns it down on small devices; every query row's softmax is computed from
/// its own scores, so the chunk changes peak memory, not what is computed.
pub const QUERY_CHUNK: usize = 4096;

/// The smallest chunk used (smaller ones only add kernel launches).
pub const MIN_QUERY_CHUNK: usize = 64;

/// (b, n, heads · d) → (b, heads, n, d), contiguous.
pub fn split_heads(t: &Tensor, heads: usize) -> Result<Tensor> {
    let (b, n, c) = t.dims3()?;
    t.reshape((b, n, heads, c / heads))?
        .transpose(1, 2)?
        .contiguous()
}

/// (b, heads, n, d) → (b, n, heads · d).
pub fn merge_heads(t: &Tensor) -> Result<Tensor> {
    let (b, heads, n, d) = t.dims4()?;
    t.transpose(1, 2)?.contiguous()?.reshape((b, n, heads * d))
}

/// `softmax(q kᵀ · scale) v` for q (b, h, n, d), k and v (b, h, m, d) → (b, h, n, d); scores and
/// softmax in f32 whatever the input dtype, queries in chunks of `query_chunk` rows (at least
/// [`MIN_QUERY_CHUNK`]).
pub fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    scale: f64,
    query_chunk: usize,
) -> Result<Tensor> {
    let n = q.dim(2)?;
    let chunk = query_chunk.max(MIN_QUERY_CHUNK);
    let k_t = k.t()?.contiguous()?;
    let chunks = (0..n)
        .step_by(chunk)
        .map(|start| {
            let q_chunk = q.narrow(2, start, chunk.min(n - start))?;
            let scores = (q_chunk.matmul(&k_t)? * scale)?;
            let dtype = scores.dtype();
            let probs =
                candle_nn::ops::softmax_last_dim(&scores.to_dtype(DType::F32)?)?.to_dtype(dtype)?;
            probs.matmul(v)
        })
        .collect::<Result<Vec<_>>>()?;
    Tensor::cat(&chunks, 2)
}

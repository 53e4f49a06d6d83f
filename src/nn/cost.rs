//! What the networks' building blocks hold at their high-water marks, in bytes: the terms each
//! stage's memory model (`pose::footprint`, `diffusion::footprint`) is made of. Read off the kernels this build runs
//! (candle 0.11.1), because they differ by backend far more than by network: a 3x3
//! convolution on CUDA without cuDNN materialises an im2col column buffer nine times its
//! input (platform.md §8: ≈9.6 GB for one 256-channel 1080p frame in f16), the CPU kernel
//! copies its input once, and cuDNN needs neither.

use candle_core::{DType, Device};
use serde::{Deserialize, Serialize};

use super::attention::QUERY_CHUNK;

/// How the backend's 2-D convolution allocates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConvKernel {
    /// candle's CPU kernel (`cpu_backend/conv2d.rs`): the general path copies the whole input
    /// to NHWC and runs the GEMM over 512-pixel column tiles; the 1x1 stride-1 path reshapes
    /// each sample inside the thread pool and multiplies it into a result of its own.
    Cpu,
    /// CUDA without cuDNN (`cuda_backend/mod.rs`, `USE_IM2COL_CONV2D`): the full column buffer
    /// (k²·c_in values per output pixel) and the GEMM's NHWC result before its copy to NCHW.
    Im2col,
    /// cuDNN (`cuda_backend/cudnn.rs`): the output only. The workspace of the algorithm the
    /// heuristics pick is not modelled: no GPU has measured it for this project yet.
    Cudnn,
}

impl ConvKernel {
    /// The kernel this build runs on `device`.
    pub fn of(device: &Device) -> Self {
        if device.is_cpu() {
            Self::Cpu
        } else {
            Self::gpu()
        }
    }

    /// The name in plans and options.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Im2col => "im2col",
            Self::Cudnn => "cudnn",
        }
    }

    /// The kernel this build runs on a GPU (`cudnn` feature or not): what a plan for a GPU
    /// budget assumes.
    pub fn gpu() -> Self {
        if cfg!(feature = "cudnn") {
            Self::Cudnn
        } else {
            Self::Im2col
        }
    }
}

/// A convolution's shape: channels in and out, kernel side, input and output pixels.
#[derive(Debug, Clone, Copy)]
pub struct Conv {
    /// Input channels.
    pub c_in: u64,
    /// Output channels.
    pub c_out: u64,
    /// Kernel side.
    pub k: u64,
    /// Input pixels.
    pub n_in: u64,
    /// Output pixels.
    pub n_out: u64,
}

impl Conv {
    /// A `k × k` stride-1 convolution at `n` pixels.
    pub fn same(c_in: u64, c_out: u64, k: u64, n: u64) -> Self {
        Self {
            c_in,
            c_out,
            k,
            n_in: n,
            n_out: n,
        }
    }
}

/// The block costs for one backend and network dtype.
#[derive(Debug, Clone, Copy)]
pub struct Ops {
    /// The convolution kernel.
    pub conv: ConvKernel,
    /// Bytes per value of the network dtype.
    pub value_bytes: u64,
}

impl Ops {
    /// Half precision (2-byte values) with `conv`.
    pub const fn half(conv: ConvKernel) -> Self {
        Self {
            conv,
            value_bytes: 2,
        }
    }

    /// `dtype` with the kernel this build runs on `device`.
    pub fn on(device: &Device, dtype: DType) -> Self {
        Self::of(ConvKernel::of(device), dtype)
    }

    /// `dtype` with `conv`.
    pub fn of(conv: ConvKernel, dtype: DType) -> Self {
        Self {
            conv,
            value_bytes: dtype_bytes(dtype),
        }
    }

    /// `c` channels at `n` pixels, bytes.
    pub fn map(&self, c: u64, n: u64) -> u64 {
        c * n * self.value_bytes
    }

    /// A convolution's output and scratch, per sample (its input is the caller's).
    pub fn conv(&self, c: Conv) -> u64 {
        let scratch = match self.conv {
            // the sample reshaped and its GEMM result; the pool runs min(batch, threads)
            // samples at once, so counting every sample is an upper bound
            ConvKernel::Cpu if c.k == 1 => (c.c_in + c.c_out) * c.n_out,
            // the NHWC copy; the per-thread column tiles (k²·c_in × 512 values) are left to
            // the allocator slack
            ConvKernel::Cpu => c.c_in * c.n_in,
            ConvKernel::Im2col => c.k * c.k * c.c_in * c.n_out + c.c_out * c.n_out,
            ConvKernel::Cudnn => 0,
        };
        (c.c_out * c.n_out + scratch) * self.value_bytes
    }

    /// candle-nn's GroupNorm on `elems` values, its input included: 20 bytes per value in
    /// every dtype. In f32 the input (its own f32 view), the centred, normalised, scaled and
    /// shifted tensors (5 × 4 B); in half precision the input (2), its f32 copy, the centred
    /// and normalised tensors (3 × 4), the cast back, scaled and shifted (3 × 2). The shadowed
    /// bindings of `group_norm.rs` stay alive until it returns.
    pub fn group_norm(&self, elems: u64) -> u64 {
        20 * elems
    }

    /// `conv(silu(norm(x)))` with `x` (`c_in` channels at `conv.n_in` pixels) alive: the
    /// larger of the norm's own peak and x, the norm's output, the SiLU and the convolution.
    pub fn norm_silu_conv(&self, conv: Conv) -> u64 {
        let x = self.map(conv.c_in, conv.n_in);
        self.group_norm(conv.c_in * conv.n_in)
            .max(3 * x + self.conv(conv))
    }

    /// A `ResnetBlock2D` (diffusers `resnet.py`, as `diffusion::blocks::resnet` runs it) on `c_in`
    /// channels at `n` pixels, its input included.
    pub fn resnet(&self, c_in: u64, c_out: u64, n: u64) -> u64 {
        let x = self.map(c_in, n);
        let h = self.map(c_out, n);
        let first = self.norm_silu_conv(Conv::same(c_in, c_out, 3, n));
        let second = x + self.norm_silu_conv(Conv::same(c_out, c_out, 3, n));
        let shortcut = if c_in == c_out {
            0
        } else {
            self.conv(Conv::same(c_in, c_out, 1, n))
        };
        // the sum beside x, the block's output and the shortcut
        let add = x + h + shortcut + h;
        first.max(second).max(add)
    }
}

/// Bytes per element.
pub fn dtype_bytes(dtype: DType) -> u64 {
    dtype.size_in_bytes() as u64
}

/// Chunked attention's transient at the default chunk (see [`attention_bytes_chunked`]).
pub fn attention_bytes(heads: u64, queries: u64, keys: u64, s: u64) -> u64 {
    attention_bytes_chunked(heads, queries, keys, s, QUERY_CHUNK as u64)
}

/// Chunked attention's transient: per head, a (chunk × keys) score matrix and what
/// [`super::attention::attention`] derives from it in one statement. In half precision that
/// is the scores, their f32 copy, the f32 probabilities and their cast back, alive together
/// (2s + 8 bytes per score); in f32 the casts are no-ops: scores and probabilities (8 bytes).
pub fn attention_bytes_chunked(heads: u64, queries: u64, keys: u64, s: u64, chunk: u64) -> u64 {
    let per_score = if s < 4 { 2 * s + 8 } else { 2 * s };
    heads * queries.min(chunk) * keys * per_score
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn im2col_holds_the_column_buffer_the_cpu_a_copy_and_cudnn_neither() {
        let c = Conv::same(256, 256, 3, 1000);
        let bytes = |conv| Ops::half(conv).conv(c);
        assert_eq!(bytes(ConvKernel::Cudnn), 256 * 1000 * 2);
        assert_eq!(bytes(ConvKernel::Cpu), 2 * 256 * 1000 * 2);
        assert_eq!(bytes(ConvKernel::Im2col), (9 + 2) * 256 * 1000 * 2);
        // platform.md §8: a 3x3, 256-channel 1080p column buffer is about 9.6 GB in f16
        let column = Ops::half(ConvKernel::Im2col).conv(Conv::same(256, 256, 3, 1920 * 1080))
            - 2 * 256 * 1920 * 1080 * 2;
        assert!((9.4e9..9.8e9).contains(&(column as f64)), "{column}");
    }

    #[test]
    fn group_norm_bounds_a_cpu_resnet_and_the_column_buffer_a_cuda_one() {
        let n = 4096;
        let resnet = |conv, value_bytes| Ops { conv, value_bytes }.resnet(256, 128, n);
        for s in [2, 4] {
            assert_eq!(resnet(ConvKernel::Cpu, s), 20 * 256 * n);
            assert!(resnet(ConvKernel::Im2col, s) > resnet(ConvKernel::Cpu, s));
        }
        assert!(resnet(ConvKernel::Im2col, 4) > 2 * resnet(ConvKernel::Cpu, 4));
    }
}

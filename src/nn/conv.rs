//! 2-D convolutions with PyTorch's key names (`weight`, `bias`), square kernels.

use candle_core::Result;
use candle_nn::{Conv2d, Conv2dConfig, VarBuilder};

fn config(stride: usize, padding: usize) -> Conv2dConfig {
    Conv2dConfig {
        stride,
        padding,
        ..Default::default()
    }
}

/// `nn.Conv2d(c_in, c_out, kernel, stride, padding)` with a bias.
pub fn conv(
    vb: VarBuilder,
    c_in: usize,
    c_out: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
) -> Result<Conv2d> {
    candle_nn::conv2d(c_in, c_out, kernel, config(stride, padding), vb)
}

/// `nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=False)`.
pub fn conv_no_bias(
    vb: VarBuilder,
    c_in: usize,
    c_out: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
) -> Result<Conv2d> {
    candle_nn::conv2d_no_bias(c_in, c_out, kernel, config(stride, padding), vb)
}

//! Building blocks shared by the networks of several stages (the diffusion stage's UNet and
//! ControlNet, the pose stage's ViT): pieces whose arithmetic is the same in both references.

pub mod attention;
pub mod conv;
pub mod hub;
pub mod ops;
pub mod weights;

/// The device networks run on: the first CUDA GPU in a `cuda` build, else the CPU.
pub fn device() -> candle_core::Device {
    candle_core::Device::cuda_if_available(0).unwrap_or(candle_core::Device::Cpu)
}

//! Building blocks shared by the networks of several stages (the diffusion stage's UNet and
//! ControlNet, the pose stage's ViT): pieces whose arithmetic is the same in both references,
//! the memory each block holds ([`cost`]) and a network's parameter count from its
//! constructor ([`census`]).

pub mod attention;
pub mod census;
pub mod conv;
pub mod cost;
pub mod hub;
pub mod ops;
pub mod weights;

use candle_core::DType;

/// The device networks run on: the first CUDA GPU in a `cuda` build, else the CPU.
pub fn device() -> candle_core::Device {
    candle_core::Device::cuda_if_available(0).unwrap_or(candle_core::Device::Cpu)
}

/// Network precision of a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// f32 everywhere (CPU default; what the golden tests check).
    F32,
    /// f16 weights and activations (GPU default).
    F16,
    /// bf16 weights and activations.
    Bf16,
}

impl Precision {
    /// The candle dtype.
    pub fn dtype(self) -> DType {
        match self {
            Self::F32 => DType::F32,
            Self::F16 => DType::F16,
            Self::Bf16 => DType::BF16,
        }
    }

    /// The name in plans and reports (`f32`, `f16`, `bf16`).
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::F16 => "f16",
            Self::Bf16 => "bf16",
        }
    }
}

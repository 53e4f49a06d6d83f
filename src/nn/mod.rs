//! Building blocks shared by the networks of several stages (the diffusion stage's UNet and
//! ControlNet, the pose stage's ViT): pieces whose arithmetic is the same in both references.

pub mod attention;
pub mod conv;
pub mod hub;
pub mod ops;
pub mod weights;

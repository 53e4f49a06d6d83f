//! The refinement stage: Stable Diffusion 1.5 + ControlNet-inpaint img2img in candle, matching
//! diffusers 0.42.1, each network checked against reference tensors (`tests/golden`).
//!
//! - Networks: [`text`] (tokenizer and CLIP text encoder), [`blocks`] (the resnet block the
//!   UNet, ControlNet and VAE share), [`unet`] (UNet and ControlNet), [`vae`]; their weights
//!   are read by [`weights`] and found by [`locate`].
//! - Sampling: [`schedulers`] (one per file) and the unrolled loop ([`denoise`]), with the
//!   per-frame noise ([`noise`]).
//! - The stage: [`options`], the refined region ([`roi`]), batches of composited frames
//!   through the networks ([`stage`]) and the stage's memory model ([`footprint`]).
//!
//! Uses only `core` and `nn`.

pub mod blocks;
pub mod denoise;
pub mod footprint;
pub mod locate;
pub mod noise;
pub mod options;
pub mod roi;
pub mod schedulers;
pub mod stage;
pub mod text;
pub mod unet;
pub mod vae;
pub mod weights;

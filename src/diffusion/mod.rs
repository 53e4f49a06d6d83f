//! The refinement stage: Stable Diffusion 1.5 + ControlNet-inpaint img2img in candle, matching
//! diffusers 0.42.1: schedulers ([`schedulers`]), VAE ([`vae`]), text encoder ([`clip`]), UNet
//! ([`unet`]), ControlNet ([`controlnet`]) and the unrolled loop ([`denoise`]), each checked
//! against reference tensors (`tests/golden`), plus the per-frame noise ([`noise`]) and the
//! refined region ([`roi`]). The stage that feeds video frames through them (tokenizer,
//! batches, weights discovery) follows.

pub mod clip;
pub mod controlnet;
pub mod denoise;
pub mod noise;
pub mod resnet;
pub mod roi;
pub mod schedulers;
pub mod unet;
pub mod vae;
pub mod weights;

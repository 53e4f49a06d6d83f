//! The refinement stage: Stable Diffusion 1.5 + ControlNet-inpaint img2img in candle, matching
//! diffusers 0.42.1: schedulers ([`schedulers`]), VAE ([`vae`]), text encoder ([`clip`]), UNet
//! ([`unet`]), ControlNet ([`controlnet`]) and the unrolled loop ([`denoise`]), each checked
//! against reference tensors (`tests/golden`), and the per-frame noise ([`noise`]). The stage that
//! feeds video frames through them (tokenizer, batches, ROI crop and paste) follows.

pub mod clip;
pub mod controlnet;
pub mod denoise;
pub mod noise;
pub mod schedulers;
pub mod unet;
pub mod vae;
pub mod weights;

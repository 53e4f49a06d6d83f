//! The refinement stage: Stable Diffusion 1.5 + ControlNet-inpaint img2img in candle, matching
//! diffusers 0.42.1: schedulers ([`schedulers`]), VAE ([`vae`]), text encoder ([`clip`]), UNet
//! ([`unet`]), ControlNet ([`controlnet`]) and the unrolled loop ([`denoise`]), each checked
//! against reference tensors (`tests/golden`), plus the per-frame noise ([`noise`]) and the
//! refined region ([`roi`]); the tokenizer ([`tokenizer`]), weights discovery ([`locate`]) and
//! the stage that feeds composited frames through them in batches ([`stage`]).

pub mod clip;
pub mod controlnet;
pub mod denoise;
pub mod locate;
pub mod noise;
pub mod resnet;
pub mod roi;
pub mod schedulers;
pub mod stage;
pub mod tokenizer;
pub mod unet;
pub mod vae;
pub mod weights;

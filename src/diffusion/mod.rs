//! The refinement stage: Stable Diffusion 1.5 + ControlNet-inpaint img2img in candle, matching
//! diffusers 0.42.1. This build has the schedulers ([`schedulers`]), the VAE ([`vae`]) and the
//! text encoder ([`clip`]), and the UNet's configuration and timestep embedding ([`unet`]); the
//! rest of the UNet, the ControlNet, the unrolled pipeline and the stage follow.

pub mod clip;
pub mod controlnet;
pub mod denoise;
pub mod schedulers;
pub mod unet;
pub mod vae;
pub mod weights;

//! The refinement stage: Stable Diffusion 1.5 + ControlNet-inpaint img2img in candle, matching
//! diffusers 0.42.1. This build has the schedulers ([`schedulers`]), the VAE ([`vae`]) and the
//! text encoder ([`clip`]); the UNet, ControlNet, the unrolled pipeline and the stage follow.

pub mod clip;
pub mod schedulers;
pub mod vae;
pub mod weights;

//! The refinement stage: Stable Diffusion 1.5 + ControlNet-inpaint img2img in candle, matching
//! diffusers 0.42.1. This build has the schedulers ([`schedulers`]); the networks, the unrolled
//! pipeline and the stage follow.

pub mod schedulers;

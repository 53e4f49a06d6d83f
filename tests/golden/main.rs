//! Golden tests: our ports against tensors produced by the reference implementations
//! (diffusers 0.42.1 for SD 1.5, DUSt3R through mini-dust3r 0.1.2) on tiny random weights. Every case directory under
//! `tests/fixtures/golden/<model>/` is checked, plus every case under the directory named by
//! `VANELIA_GOLDEN_SD15` (SD 1.5) or `VANELIA_GOLDEN_DUST3R` (DUSt3R) when set. All shapes and settings come from the case files.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

/// DUSt3R global alignment: spanning-tree start, loss, Adam trajectory, final accuracy.
mod dust3r_align;
/// DUSt3R preprocessing: resize, crop and normalisation of `load_images`.
mod dust3r_images;
/// DUSt3R: RoPE2D, every block and head intermediate, both checkpoint layouts, f16.
mod dust3r_net;
/// Case discovery, tensor loading and named-tolerance comparison.
mod harness;
/// The CLIP text encoder: every hidden state and the output.
mod sd15_clip;
/// Whole refinement runs (every scheduler, guidance, ControlNet and VAE setting of the case).
mod sd15_pipeline;
/// Schedules, strength tables and scheduler-only runs (DPM++ 2M Karras, DDIM).
mod sd15_schedulers;
/// The UNet's pieces (timestep projection and embedding so far).
mod sd15_unet;
/// The VAE: moments, posterior, decode; plain, sliced and tiled, on odd sizes too.
mod sd15_vae;

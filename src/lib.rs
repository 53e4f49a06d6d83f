//! vanelia inserts a 3D product into a video so that it looks filmed.
//!
//! The pipeline and the type on each arrow:
//! ```text
//! video/ ──Frame──▶ (camera track: core::CameraTrack, from --poses)
//!        ──Frame + CameraPose──▶ render/ ──RenderLayers──▶ composite/ ──Patch──▶ video/ (encode)
//! ```
//! [`run`] wires the stages and the [`workdir`] cache; stage modules depend only on [`core`].
//! [`cli`] turns command-line arguments into a validated [`run::RunConfig`].
#![deny(missing_docs)]

pub mod cli;
pub mod composite;
pub mod core;
pub mod diffusion;
pub mod memory;
pub mod nn;
pub mod pose;
pub mod render;
pub mod run;
pub mod video;
pub mod workdir;

pub use crate::core::{Error, Result};

//! vanelia inserts a 3D product into a video so that it looks filmed.
//!
//! The pipeline and the type on each arrow:
//! ```text
//!            ┌──────────── Frame ─────────────┐
//! video ─────┤                                ▼
//! (decode)   └─Frame─▶ pose ─CameraTrack─▶ render ─RenderLayers─▶ composite ─Patch─┐
//!                     (or --poses)     (placement once)                            │
//!                                                    ┌─────────────────────────────┘
//!                                                    ▼
//!                                        diffusion (--refine diffusion) ─Patch─▶ video (encode)
//! ```
//! Where each piece lives, bottom layer first (ARCHITECTURE.md has the whole table):
//! - [`core`]: the shared vocabulary (errors, frames, patches, cameras and tracks, stage
//!   names and clocks, noise, hashes, atomic writes). Imports nothing else of the crate.
//! - [`nn`], [`video`], [`workdir`]: network building blocks and their memory costs; decoding
//!   and encoding; the per-frame cache. Each uses only `core`.
//! - The stages [`pose`], [`render`], [`composite`], [`diffusion`]: each uses only the layers
//!   above, never another stage, and exposes its own memory model where it has one.
//! - [`eval`]: realism measured against path-traced ground truth (uses `core` and `video`).
//! - [`memory`]: the planner over what the stages expose, the device profile, measured memory.
//! - [`run`]: the only module that wires stages together (prepare, frame loop, encoder, report,
//!   track, bench).
//!
//! The command line is the binary's (`src/main.rs`, `src/cli/`); the library takes typed
//! configurations such as [`run::RunConfig`]. `tests/layering.rs` fails when an import breaks
//! these rules or closes a cycle.
#![deny(missing_docs)]

pub mod composite;
pub mod core;
pub mod diffusion;
pub mod eval;
pub mod memory;
pub mod nn;
pub mod pose;
pub mod render;
pub mod run;
pub mod video;
pub mod workdir;

pub use crate::core::{Error, Result};

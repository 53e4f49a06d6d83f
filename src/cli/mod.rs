//! The command-line front end: argument parsing and validation ([`args`]) and terminal progress
//! ([`progress`]). `main.rs` stays a thin shell around these.

pub mod args;
pub mod diffusion_args;
pub mod plan_args;
pub mod pose_args;
pub mod progress;

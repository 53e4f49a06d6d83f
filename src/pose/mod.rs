//! The pose stage: the camera track of a video from DUSt3R (a candle port of
//! `AsymmetricCroCo3DStereo`).
//!
//! Licence: DUSt3R and CroCo (code and checkpoints) are CC BY-NC-SA 4.0. This module is a port
//! of that code and keeps to its boundary (frames in, `world_from_cam` + intrinsics out) so
//! that it can be replaced; `--poses` imports a track from any other tracker.
//!
//! [`config`] reads the checkpoint's configuration, [`model`] is the network ([`blocks`],
//! [`rope`], [`dpt`], [`heads`]) loaded by [`weights`]; [`trace`] records intermediates for the
//! golden tests.

pub mod align;
pub mod blocks;
pub mod config;
pub mod dpt;
pub mod heads;
pub mod locate;
pub mod model;
pub mod pairs;
pub mod predictor;
pub mod preprocess;
pub mod rope;
pub mod stage;
pub mod trace;
pub mod tracker;
pub mod weights;

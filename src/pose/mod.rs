//! The pose stage: the camera track of a video from DUSt3R (a candle port of
//! `AsymmetricCroCo3DStereo`).
//!
//! Licence: DUSt3R and CroCo (code and checkpoints) are CC BY-NC-SA 4.0. This module is a port
//! of that code and keeps to its boundary (frames in, `world_from_cam` + intrinsics out) so
//! that it can be replaced; `--poses` imports a track from any other tracker.
//!
//! - [`network`]: the network, its configuration and checkpoint loading.
//! - [`preprocess`]: frames to network inputs (the reference's crop and resize) and back.
//! - [`tracking`]: pair graphs, pair batches, global alignment and the video tracker.
//! - [`stage`]: frames in, a validated [`crate::core::CameraTrack`] out; [`locate`] finds
//!   the checkpoint and [`footprint`] is the stage's memory model.
//!
//! Uses only `core` and `nn`.

pub mod footprint;
pub mod locate;
pub mod network;
pub mod preprocess;
pub mod stage;
pub mod tracking;

//! The bottom layer, shared by every module: errors, frames and patches, cameras and tracks,
//! stage names and clocks, progress, deterministic noise, content hashes, atomic writes and
//! out-of-memory batching. It imports nothing else of the crate.

pub mod atomic;
pub mod batching;
pub mod camera;
pub mod colmap;
pub mod color;
pub mod error;
pub mod filter;
pub mod frame;
pub mod hash;
pub mod layers;
pub mod lens;
pub mod noise;
pub mod patch;
pub mod progress;
pub mod stage;
pub mod track;

pub use camera::{CameraPose, Intrinsics};
pub use error::{Error, Result};
pub use frame::{Frame, FrameNr, FrameRange, FrameRate, FrameSize};
pub use layers::{DepthImage, RenderLayers};
pub use patch::Patch;
pub use progress::{NoProgress, Progress};
pub use stage::{Stage, StageClock, StageTiming};
pub use track::{CameraTrack, ScenePoint};

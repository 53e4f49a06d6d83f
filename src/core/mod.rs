//! Types shared by every stage: errors, frames, cameras and tracks, progress, the run report,
//! deterministic noise, content hashes, atomic writes and out-of-memory batching. Stage modules depend on this module
//! and never on each other.

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
pub mod noise;
pub mod progress;
pub mod report;
pub mod track;

pub use camera::{CameraPose, Intrinsics};
pub use error::{Error, Result};
pub use frame::{Frame, FrameNr, FrameRange, FrameRate, FrameSize};
pub use layers::{DepthImage, RenderLayers};
pub use progress::{NoProgress, Progress};
pub use report::{RunReport, StageClock, StageReport, Warning};
pub use track::{CameraTrack, ScenePoint};

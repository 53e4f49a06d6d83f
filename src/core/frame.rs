//! Frame numbering and pixel buffers shared by every stage.

use serde::{Deserialize, Serialize};

/// 0-based index of a frame in the output clip; names every artefact of that frame in every
/// stage (the original tool mixed 0- and 1-based names and processed nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FrameNr(pub u64);

impl FrameNr {
    /// The zero-padded file stem used for per-frame artefacts, e.g. `000042`.
    pub fn stem(self) -> String {
        format!("{:06}", self.0)
    }
}

impl std::fmt::Display for FrameNr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One decoded frame: 8-bit RGB in the video's transfer curve, upright (rotation applied).
#[derive(Debug, Clone)]
pub struct Frame {
    /// Position in the clip.
    pub nr: FrameNr,
    /// The pixels.
    pub rgb: image::RgbImage,
}

/// Width and height of a frame in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameSize {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl std::fmt::Display for FrameSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

/// A frame rate as an exact rational, taken from the stream (never from decoded timestamps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameRate {
    /// Frames per `den` seconds.
    pub num: u32,
    /// Seconds denominator.
    pub den: u32,
}

impl FrameRate {
    /// Frames per second as a float.
    pub fn fps(self) -> f64 {
        f64::from(self.num) / f64::from(self.den.max(1))
    }

    /// Presentation time of a frame in seconds.
    pub fn secs_of(self, nr: FrameNr) -> f64 {
        nr.0 as f64 * f64::from(self.den) / f64::from(self.num.max(1))
    }
}

/// An inclusive-exclusive range of frames, `first..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameRange {
    /// First frame in the range.
    pub first: u64,
    /// One past the last frame.
    pub end: u64,
}

impl FrameRange {
    /// Whether `nr` lies in the range.
    pub fn contains(self, nr: FrameNr) -> bool {
        (self.first..self.end).contains(&nr.0)
    }

    /// Number of frames in the range.
    pub fn len(self) -> u64 {
        self.end.saturating_sub(self.first)
    }

    /// Whether the range holds no frame.
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Display for FrameRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}..{}", self.first, self.end)
    }
}

//! What the clip-level estimates (the light, the optics) share: a few frames spread over the
//! clip, decoded once and only when an estimate is not in the work directory's cache already;
//! the track and placement they are read against; and that cache, keyed by the input, track,
//! placement, tool version and the estimate's own request.

use std::cell::OnceCell;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::json::{read_json, write_json};
use crate::core::{hash, CameraTrack, Frame, Result};
use crate::render::placement::Placement;
use crate::video::Source;
use crate::workdir::{WorkDir, TOOL_VERSION};

/// Frames decoded for the clip-level estimates: what the key light's estimate looks at.
const FRAMES: usize = crate::render::keylight::FRAMES;

/// The clip as the clip-level estimates see it.
pub(super) struct ClipContext<'a> {
    source: &'a Source,
    frame_count: u64,
    frames: OnceCell<Vec<Frame>>,
    pub track: &'a CameraTrack,
    pub placement: &'a Placement,
    pub workdir: &'a WorkDir,
    pub input_sha: &'a str,
}

/// What a cached estimate depends on.
#[derive(Serialize)]
struct Key<'a, R> {
    tool: &'a str,
    input_sha256: &'a str,
    track_sha256: &'a str,
    placement: &'a Placement,
    request: &'a R,
}

/// A cached estimate.
#[derive(Serialize, Deserialize)]
struct Cached<T> {
    key: String,
    value: T,
}

impl<'a> ClipContext<'a> {
    pub fn new(
        (source, frame_count): (&'a Source, u64),
        track: &'a CameraTrack,
        placement: &'a Placement,
        workdir: &'a WorkDir,
        input_sha: &'a str,
    ) -> Self {
        Self {
            source,
            frame_count,
            frames: OnceCell::new(),
            track,
            placement,
            workdir,
            input_sha,
        }
    }

    /// Up to [`FRAMES`] frames evenly spread over the clip (first and last included), decoded
    /// the first time they are asked for.
    pub fn frames(&self) -> Result<&[Frame]> {
        if let Some(frames) = self.frames.get() {
            return Ok(frames);
        }
        let frames = spread_frames(self.source, self.frame_count)?;
        Ok(self.frames.get_or_init(|| frames))
    }

    /// The estimate in the work directory's `file` when it was made for this clip and
    /// `request`; else `estimate()`, stored there.
    pub fn cached<T, R>(
        &self,
        file: &str,
        request: &R,
        estimate: impl FnOnce() -> Result<T>,
    ) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
        R: Serialize,
    {
        let key = hash::key_of(&Key {
            tool: TOOL_VERSION,
            input_sha256: self.input_sha,
            track_sha256: &hash::file_sha256(&self.workdir.file("track.json"))?,
            placement: self.placement,
            request,
        })?;
        let path = self.workdir.file(file);
        if let Ok(cached) = read_json::<Cached<T>>(&path) {
            if cached.key == key {
                return Ok(cached.value);
            }
        }
        let value = estimate()?;
        let cached = Cached { key, value };
        write_json(&path, &cached)?;
        Ok(cached.value)
    }
}

fn spread_frames(source: &Source, frame_count: u64) -> Result<Vec<Frame>> {
    let n = FRAMES as u64;
    let wanted: Vec<u64> = if frame_count <= n {
        (0..frame_count).collect()
    } else {
        (0..n).map(|i| i * (frame_count - 1) / (n - 1)).collect()
    };
    let last = wanted.last().copied().unwrap_or(0);
    let mut frames = Vec::with_capacity(wanted.len());
    for item in source.spawn_decoder(4) {
        let frame = item?;
        let nr = frame.nr.0;
        if wanted.contains(&nr) {
            frames.push(frame);
        }
        if nr >= last {
            break;
        }
    }
    Ok(frames)
}

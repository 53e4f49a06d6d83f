//! Decoding a video file into upright RGB frames with video-rs.

use std::path::{Path, PathBuf};

use crate::core::{Error, Frame, FrameNr, Result};

use super::rotation::Rotation;

/// Iterator over the frames of a video file, numbered from 0.
pub struct VideoFrames {
    decoder: video_rs::Decoder,
    rotation: Rotation,
    next: u64,
    expected: u64,
    path: PathBuf,
    done: bool,
    /// Packets in the stream, and those skipped so far (at most all of them).
    packets: u64,
    skipped: u64,
}

impl VideoFrames {
    /// Opens `path` for decoding; `expected` is the probed count of frames that decode (used
    /// to detect truncated files) out of `packets`.
    pub fn open(path: &Path, rotation: Rotation, (expected, packets): (u64, u64)) -> Result<Self> {
        super::info::init_ffmpeg();
        let decoder = video_rs::Decoder::new(path).map_err(|e| {
            Error::bad_input(
                format!("cannot open the video for decoding ({e})"),
                "pass a video file FFmpeg can read",
                path,
            )
        })?;
        Ok(Self {
            decoder,
            rotation,
            next: 0,
            expected,
            path: path.into(),
            done: false,
            packets,
            skipped: 0,
        })
    }

    fn frame_of(&mut self, array: video_rs::Frame) -> Frame {
        let (height, width, _) = array.dim();
        let data = if array.is_standard_layout() {
            array.into_raw_vec_and_offset().0
        } else {
            array.iter().copied().collect()
        };
        let rgb = image::RgbImage::from_raw(width as u32, height as u32, data)
            .unwrap_or_else(|| image::RgbImage::new(width as u32, height as u32));
        let nr = FrameNr(self.next);
        self.next += 1;
        Frame {
            nr,
            rgb: self.rotation.apply(rgb),
        }
    }
}

impl Iterator for VideoFrames {
    type Item = Result<Frame>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.next >= self.expected {
            return None;
        }
        loop {
            match self.decoder.decode() {
                Ok((_, array)) => return Some(Ok(self.frame_of(array))),
                // a packet the decoder refuses is skipped (the probe counted only the frames
                // that decode), as FFmpeg's tools skip it
                Err(video_rs::Error::BackendError(_)) if self.skipped < self.packets => {
                    self.skipped += 1;
                }
                Err(e) => return Some(Err(self.failed(e))),
            }
        }
    }
}

impl VideoFrames {
    /// Ends the iteration with the error that stopped it.
    fn failed(&mut self, e: video_rs::Error) -> Error {
        self.done = true;
        let detail = match e {
            video_rs::Error::DecodeExhausted | video_rs::Error::ReadExhausted => format!(
                "the video is truncated or corrupt: decoded {} of {} frames",
                self.next, self.expected
            ),
            other => format!("decoding failed at frame {} ({other})", self.next),
        };
        Error::bad_input(detail, "re-encode or re-export the video", &self.path)
    }
}

//! Video and image-sequence I/O: probe, decode (streamed on its own thread through a bounded
//! channel), encode with the source's audio, and image sequences for builds without FFmpeg.
//!
//! Frames leave this module upright (rotation metadata applied) as 8-bit RGB in the video's own
//! transfer curve; YUV conversion happens only here.

use std::path::{Path, PathBuf};
use std::sync::mpsc;

use crate::core::{hash, Error, Frame, FrameNr, FrameRate, FrameSize, Result};

#[cfg(feature = "video")]
mod audio;
#[cfg(feature = "video")]
pub mod decode;
#[cfg(feature = "video")]
pub mod encode;
pub mod image_seq;
#[cfg(feature = "video")]
pub mod info;
pub mod media;
#[cfg(feature = "video")]
pub mod rotation;

use image_seq::{ImageSeqInput, ImageSeqOutput};
pub use media::MediaPath;

/// Facts about an input clip that every later stage relies on.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClipSummary {
    /// Upright frame size.
    pub size: FrameSize,
    /// Frame rate (from the stream, or `--fps` for image sequences).
    pub rate: FrameRate,
    /// Number of frames.
    pub frame_count: u64,
    /// Video packets that do not decode and were left out (the clip is the frames that do).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub skipped_packets: u64,
    /// Audio codec of the source, if it has audio.
    pub audio_codec: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// An opened input: a video file or an image sequence.
#[derive(Debug, Clone)]
pub enum Source {
    /// A video file read through FFmpeg.
    #[cfg(feature = "video")]
    Video {
        /// The file.
        path: PathBuf,
        /// Its probed properties.
        info: info::ClipInfo,
    },
    /// Numbered images.
    Images {
        /// The sequence.
        seq: ImageSeqInput,
        /// Frame rate to assume.
        rate: FrameRate,
    },
}

impl Source {
    /// Opens an image sequence (at `seq_rate` frames per second) or a video file.
    pub fn open(media: &MediaPath, seq_rate: FrameRate) -> Result<Self> {
        match media {
            MediaPath::Sequence { pattern, .. } => Ok(Self::Images {
                seq: ImageSeqInput::open(pattern.clone())?,
                rate: seq_rate,
            }),
            MediaPath::Video(path) => Self::open_video(path),
        }
    }

    #[cfg(feature = "video")]
    fn open_video(path: &Path) -> Result<Self> {
        Ok(Self::Video {
            path: path.into(),
            info: info::probe(path)?,
        })
    }

    #[cfg(not(feature = "video"))]
    fn open_video(path: &Path) -> Result<Self> {
        Err(Error::bad_input(
            "this build has no video support (feature \"video\" is off)",
            "pass an image sequence such as frames/%06d.png, or rebuild with default features",
            path,
        ))
    }

    /// Size, rate, frame count and audio of the clip.
    pub fn summary(&self) -> ClipSummary {
        match self {
            #[cfg(feature = "video")]
            Self::Video { info, .. } => ClipSummary {
                size: info.size,
                rate: info.rate,
                frame_count: info.frame_count,
                skipped_packets: info.skipped_packets,
                audio_codec: info.audio_codec.clone(),
            },
            Self::Images { seq, rate } => ClipSummary {
                size: seq.size,
                rate: *rate,
                frame_count: seq.frame_count,
                skipped_packets: 0,
                audio_codec: None,
            },
        }
    }

    /// SHA-256 over the input's content (every image for a sequence).
    pub fn content_hash(&self) -> Result<String> {
        match self {
            #[cfg(feature = "video")]
            Self::Video { path, .. } => hash::file_sha256(path),
            Self::Images { seq, .. } => {
                let parts = seq
                    .paths()
                    .map(|p| hash::file_sha256(&p))
                    .collect::<Result<Vec<_>>>()?;
                Ok(hash::bytes_sha256(parts.join("").as_bytes()))
            }
        }
    }

    /// The video file to copy audio from, if any.
    pub fn audio_path(&self) -> Option<&Path> {
        match self {
            #[cfg(feature = "video")]
            Self::Video { path, info } => info.audio_codec.as_ref().map(|_| path.as_path()),
            Self::Images { .. } => None,
        }
    }

    /// Decodes all frames in order on a separate thread. At most `capacity` decoded frames wait
    /// in the channel, so host memory does not grow with clip length.
    pub fn spawn_decoder(&self, capacity: usize) -> mpsc::Receiver<Result<Frame>> {
        let (tx, rx) = mpsc::sync_channel(capacity);
        let source = self.clone();
        std::thread::spawn(move || {
            let frames = match source.frames() {
                Ok(f) => f,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            for frame in frames {
                let failed = frame.is_err();
                if tx.send(frame).is_err() || failed {
                    return;
                }
            }
        });
        rx
    }

    fn frames(&self) -> Result<Box<dyn Iterator<Item = Result<Frame>>>> {
        match self {
            #[cfg(feature = "video")]
            Self::Video { path, info } => Ok(Box::new(decode::VideoFrames::open(
                path,
                info.rotation,
                (info.frame_count, info.frame_count + info.skipped_packets),
            )?)),
            Self::Images { seq, .. } => {
                let seq = seq.clone();
                Ok(Box::new(
                    (0..seq.frame_count).map(move |n| seq.read(FrameNr(n))),
                ))
            }
        }
    }
}

/// Where finished frames go: an H.264 file or numbered images.
pub enum Sink {
    /// A video file being written under a temporary name.
    #[cfg(feature = "video")]
    Video {
        /// The encoder.
        encoder: Box<encode::VideoEncoder>,
        /// Temporary file being written.
        tmp: PathBuf,
        /// Final name.
        path: PathBuf,
    },
    /// Numbered images, each written atomically.
    Images(ImageSeqOutput),
}

/// Output settings that affect the written file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SinkSettings {
    /// x264 CRF.
    pub crf: u8,
}

impl Sink {
    /// Creates the output; returns a note when the source audio cannot be kept.
    pub fn create(
        media: &MediaPath,
        clip: &ClipSummary,
        settings: SinkSettings,
        audio_source: Option<&Path>,
    ) -> Result<(Self, Option<String>)> {
        match media {
            MediaPath::Sequence { pattern, .. } => {
                let note =
                    audio_source.map(|_| "image-sequence output has no audio track".to_owned());
                Ok((Self::Images(ImageSeqOutput::create(pattern.clone())?), note))
            }
            MediaPath::Video(path) => Self::create_video(path, clip, settings, audio_source),
        }
    }

    #[cfg(feature = "video")]
    fn create_video(
        path: &Path,
        clip: &ClipSummary,
        settings: SinkSettings,
        audio_source: Option<&Path>,
    ) -> Result<(Self, Option<String>)> {
        let tmp = crate::core::atomic::temp_path(path);
        let encode_settings = encode::EncodeSettings { crf: settings.crf };
        let (encoder, note) = encode::VideoEncoder::create(
            &tmp,
            clip.size,
            clip.rate,
            encode_settings,
            audio_source,
        )?;
        Ok((
            Self::Video {
                encoder: Box::new(encoder),
                tmp,
                path: path.into(),
            },
            note,
        ))
    }

    #[cfg(not(feature = "video"))]
    fn create_video(
        path: &Path,
        _clip: &ClipSummary,
        _settings: SinkSettings,
        _audio_source: Option<&Path>,
    ) -> Result<(Self, Option<String>)> {
        Err(Error::bad_input(
            "this build has no video support (feature \"video\" is off)",
            "write an image sequence such as out/%06d.png",
            path,
        ))
    }

    /// Writes the next frame.
    pub fn write(&mut self, frame: &Frame) -> Result<()> {
        match self {
            #[cfg(feature = "video")]
            Self::Video { encoder, .. } => encoder.write(frame),
            Self::Images(out) => out.write(frame),
        }
    }

    /// Gives up on a video output: closes it and deletes the temporary file, so a failed run
    /// leaves the previous output untouched. (Sequence frames are already complete files.)
    pub fn abandon(self) {
        match self {
            #[cfg(feature = "video")]
            Self::Video { encoder, tmp, .. } => {
                drop(encoder);
                let _ = std::fs::remove_file(&tmp);
            }
            Self::Images(_) => {}
        }
    }

    /// Finishes the output and moves it to its final name.
    pub fn finish(self) -> Result<()> {
        match self {
            #[cfg(feature = "video")]
            Self::Video { encoder, tmp, path } => {
                encoder.finish()?;
                crate::core::atomic::commit(&tmp, &path)
            }
            Self::Images(_) => Ok(()),
        }
    }
}

/// Checks that frames of `size` can be encoded to `output` (H.264 yuv420p needs even sizes),
/// before any work is done.
pub fn check_encodable(output: &MediaPath, input: &Path, size: FrameSize) -> Result<()> {
    let is_video = !output.is_sequence();
    if is_video && (size.width % 2 == 1 || size.height % 2 == 1) {
        return Err(Error::bad_input(
            format!("the video is {size}, but H.264 yuv420p output needs an even width and height"),
            "crop it first (ffmpeg -vf crop=trunc(iw/2)*2:trunc(ih/2)*2) or write an image sequence (--output out/%06d.png)",
            input,
        ));
    }
    Ok(())
}

/// Checks before any work that the output location can be written, so a long run does not
/// fail at its very end (a sequence's folder is created).
pub fn check_writable(output: &MediaPath) -> Result<()> {
    check_target_writable(&output.first_file(), output.is_sequence(), output.path())
}

/// [`check_writable`] for a plain file (a poses file, a layer image).
pub fn check_file_writable(path: &Path) -> Result<()> {
    check_target_writable(path, false, path)
}

fn check_target_writable(target: &Path, create_dir: bool, shown: &Path) -> Result<()> {
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let unwritable =
        |why: String| Error::bad_input(why, "choose a writable --output location", shown);
    if create_dir {
        std::fs::create_dir_all(&dir)
            .map_err(|e| unwritable(format!("cannot create the output directory ({e})")))?;
    }
    if !dir.is_dir() {
        return Err(unwritable("the output directory does not exist".into()));
    }
    let probe = dir.join(format!(".vanelia-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .map_err(|e| unwritable(format!("the output directory is not writable ({e})")))?;
    let _ = std::fs::remove_file(&probe);
    if target.is_dir() {
        return Err(unwritable("the output path is a directory".into()));
    }
    Ok(())
}

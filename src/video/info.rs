//! Probing a video file: size after rotation, exact frame rate, frame count, audio.

use std::path::Path;

use video_rs::ffmpeg::{self, media::Type};

use crate::core::{Error, FrameRate, FrameSize, Result};

use super::rotation::Rotation;

/// What the pipeline needs to know about an input clip before decoding it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ClipInfo {
    /// Upright frame size (rotation metadata applied).
    pub size: FrameSize,
    /// Frame rate from the stream header.
    pub rate: FrameRate,
    /// Number of frames: those that decode, in order (as FFmpeg plays the file).
    pub frame_count: u64,
    /// Video packets that do not decode (a broken slice, a lost reference): the clip is the
    /// frames that do, as with FFmpeg's own tools.
    pub skipped_packets: u64,
    /// Clockwise rotation to apply to decoded frames.
    pub rotation: Rotation,
    /// Codec name of the first audio stream, if any.
    pub audio_codec: Option<String>,
}

/// Initialises FFmpeg once per process.
pub(crate) fn init_ffmpeg() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Failure here only means logging could not be hooked up; opening files reports errors.
        let _ = video_rs::init();
        ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Error);
    });
}

/// Reads the stream headers and counts video packets (no decoding).
pub fn probe(path: &Path) -> Result<ClipInfo> {
    init_ffmpeg();
    if !path.is_file() {
        return Err(Error::bad_input(
            "input video not found",
            "check the --input path",
            path,
        ));
    }
    let not_video = |detail: String| {
        Error::bad_input(
            detail,
            "pass a video file FFmpeg can read (e.g. MP4/H.264)",
            path,
        )
    };
    let mut input = ffmpeg::format::input(path)
        .map_err(|e| not_video(format!("not a readable video ({e})")))?;
    let (index, rate, rotation, size, header_frames) = {
        let stream = input
            .streams()
            .best(Type::Video)
            .ok_or_else(|| not_video("the file has no video stream".into()))?;
        let decoder = ffmpeg::codec::context::Context::from_parameters(stream.parameters())
            .and_then(|c| c.decoder().video())
            .map_err(|e| not_video(format!("unsupported video codec ({e})")))?;
        if decoder.width() == 0 || decoder.height() == 0 {
            return Err(not_video("the video stream has no frame size".into()));
        }
        if decoder.format() == ffmpeg::format::Pixel::None {
            return Err(not_video("unsupported or unknown pixel format".into()));
        }
        let rotation = Rotation::of_stream(&stream);
        let size = rotation.apply_to_size(FrameSize {
            width: decoder.width(),
            height: decoder.height(),
        });
        (
            stream.index(),
            stream_rate(&stream),
            rotation,
            size,
            stream.frames(),
        )
    };
    let rate = rate.ok_or_else(|| not_video("the video stream has no frame rate".into()))?;
    let audio_codec = input
        .streams()
        .best(Type::Audio)
        .map(|s| s.parameters().id().name().to_owned());
    let (packets, frame_count) = count_frames(&mut input, index)
        .map_err(|e| not_video(format!("the video stream cannot be decoded ({e})")))?;
    if packets == 0 {
        return Err(not_video("the video has no frames".into()));
    }
    if frame_count == 0 {
        return Err(not_video(format!(
            "none of the video's {packets} frames decodes (the stream is corrupt)"
        )));
    }
    if header_frames > 0 && packets < header_frames as u64 {
        return Err(Error::bad_input(
            format!("the video is truncated: its header lists {header_frames} frames but only {packets} can be read"),
            "re-download or re-export the file",
            path,
        ));
    }
    Ok(ClipInfo {
        size,
        rate,
        frame_count,
        skipped_packets: packets.saturating_sub(frame_count),
        rotation,
        audio_codec,
    })
}

/// The stream's average frame rate, else its base rate.
fn stream_rate(stream: &ffmpeg::format::stream::Stream) -> Option<FrameRate> {
    [stream.avg_frame_rate(), stream.rate()]
        .into_iter()
        .find_map(|r| {
            let (num, den) = (
                u32::try_from(r.numerator()).ok()?,
                u32::try_from(r.denominator()).ok()?,
            );
            (num > 0 && den > 0).then_some(FrameRate { num, den })
        })
}

/// `(packets, frames)` of the video stream: its packets, and the frames they decode to (a
/// decode without pixel conversion, as `ffprobe -count_frames`). Packets the decoder refuses
/// are skipped, as FFmpeg's tools skip them.
fn count_frames(
    input: &mut ffmpeg::format::context::Input,
    index: usize,
) -> std::result::Result<(u64, u64), ffmpeg::Error> {
    let parameters = input
        .stream(index)
        .ok_or(ffmpeg::Error::StreamNotFound)?
        .parameters();
    let mut context = ffmpeg::codec::context::Context::from_parameters(parameters)?;
    // frame threads, as many as the machine has (count 0)
    context.set_threading(ffmpeg::codec::threading::Config::kind(
        ffmpeg::codec::threading::Type::Frame,
    ));
    let mut decoder = context.decoder().video()?;
    let mut frame = ffmpeg::frame::Video::empty();
    let (mut packets, mut frames) = (0_u64, 0_u64);
    let mut receive = |decoder: &mut ffmpeg::decoder::Video, frames: &mut u64| {
        while decoder.receive_frame(&mut frame).is_ok() {
            *frames += 1;
        }
    };
    for (stream, packet) in input.packets() {
        if stream.index() != index || packet.size() == 0 {
            continue;
        }
        packets += 1;
        // a packet the decoder refuses is skipped; the frames it holds back come later
        if decoder.send_packet(&packet).is_ok() {
            receive(&mut decoder, &mut frames);
        }
    }
    decoder.send_eof()?;
    receive(&mut decoder, &mut frames);
    Ok((packets, frames))
}

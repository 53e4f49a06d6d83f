//! H.264 encoding at the source frame rate, with the source's audio copied in the same pass.
//!
//! Written with ffmpeg-next directly (video-rs's encoder fixes 30 fps in the header and has no
//! CRF or audio): timestamps are frame numbers in a `1/fps` time base, and audio packets are
//! interleaved as the video advances so that memory does not grow with clip length.

use std::path::{Path, PathBuf};

use video_rs::ffmpeg::{self, codec, format, media::Type, Rational};

use crate::core::{Error, Frame, FrameRate, FrameSize, Result};

/// Encoder settings chosen by the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodeSettings {
    /// x264 constant rate factor (0-51, lower is better quality).
    pub crf: u8,
}

/// Streams frames into an H.264 file.
pub struct VideoEncoder {
    octx: format::context::Output,
    encoder: ffmpeg::encoder::Video,
    scaler: ffmpeg::software::scaling::Context,
    rgb: ffmpeg::frame::Video,
    yuv: ffmpeg::frame::Video,
    video_index: usize,
    encoder_time_base: Rational,
    rate: FrameRate,
    audio: Option<AudioCopy>,
    path: PathBuf,
}

/// Audio packets copied from the source, read one ahead.
struct AudioCopy {
    input: format::context::Input,
    in_index: usize,
    out_index: usize,
    in_time_base: Rational,
    /// Source video start in the audio time base, subtracted so A/V sync is kept.
    offset: i64,
    pending: Option<ffmpeg::Packet>,
}

/// Containers that take only a subset of audio codecs, with that subset.
const MP4_AUDIO: &[codec::Id] = &[
    codec::Id::AAC,
    codec::Id::MP3,
    codec::Id::AC3,
    codec::Id::EAC3,
    codec::Id::OPUS,
    codec::Id::FLAC,
    codec::Id::ALAC,
];

impl VideoEncoder {
    /// Creates `path` (usually a temporary name) for `size` frames at `rate`. When
    /// `audio_source` has an audio stream the container accepts, it is copied; otherwise the
    /// returned note says why the output has no audio.
    pub fn create(
        path: &Path,
        size: FrameSize,
        rate: FrameRate,
        settings: EncodeSettings,
        audio_source: Option<&Path>,
    ) -> Result<(Self, Option<String>)> {
        super::info::init_ffmpeg();
        let fail = |detail: String| Error::Video {
            op: "creating the encoder",
            detail,
            path: path.into(),
        };
        if size.width % 2 == 1 || size.height % 2 == 1 {
            return Err(fail(format!(
                "H.264 yuv420p needs an even frame size, got {size}"
            )));
        }
        let mut octx = format::output(path).map_err(|e| fail(e.to_string()))?;
        let (encoder, video_index) =
            open_video_stream(&mut octx, size, rate, settings).map_err(fail)?;
        let (audio, note) = match audio_source {
            Some(src) => add_audio_stream(&mut octx, src, path).map_err(fail)?,
            None => (None, None),
        };
        let mut options = ffmpeg::Dictionary::new();
        if is_mp4_family(path) {
            options.set("movflags", "+faststart");
        }
        octx.write_header_with(options)
            .map_err(|e| fail(e.to_string()))?;
        let scaler = ffmpeg::software::scaling::Context::get(
            format::Pixel::RGB24,
            size.width,
            size.height,
            format::Pixel::YUV420P,
            size.width,
            size.height,
            ffmpeg::software::scaling::Flags::BILINEAR,
        )
        .map_err(|e| fail(e.to_string()))?;
        let encoder_time_base = encoder.time_base();
        Ok((
            Self {
                octx,
                encoder,
                scaler,
                rgb: ffmpeg::frame::Video::new(format::Pixel::RGB24, size.width, size.height),
                yuv: ffmpeg::frame::Video::empty(),
                video_index,
                encoder_time_base,
                rate,
                audio,
                path: path.into(),
            },
            note,
        ))
    }

    /// Encodes the next frame; frames must come in order, numbered from 0.
    pub fn write(&mut self, frame: &Frame) -> Result<()> {
        let stride = self.rgb.stride(0);
        let width_bytes = frame.rgb.width() as usize * 3;
        let plane = self.rgb.data_mut(0);
        for (row, src) in frame.rgb.as_raw().chunks_exact(width_bytes).enumerate() {
            plane[row * stride..row * stride + width_bytes].copy_from_slice(src);
        }
        self.scaler
            .run(&self.rgb, &mut self.yuv)
            .map_err(|e| self.fail(e))?;
        self.yuv.set_pts(Some(frame.nr.0 as i64));
        self.encoder
            .send_frame(&self.yuv)
            .map_err(|e| self.fail(e))?;
        self.drain_video()?;
        let until_secs = self.rate.secs_of(crate::core::FrameNr(frame.nr.0 + 1));
        self.copy_audio(Some(until_secs))
    }

    /// Flushes the encoder, copies the remaining audio and writes the trailer.
    pub fn finish(mut self) -> Result<()> {
        self.encoder.send_eof().map_err(|e| self.fail(e))?;
        self.drain_video()?;
        self.copy_audio(None)?;
        self.octx.write_trailer().map_err(|e| self.fail(e))
    }

    fn drain_video(&mut self) -> Result<()> {
        let mut packet = ffmpeg::Packet::empty();
        while self.encoder.receive_packet(&mut packet).is_ok() {
            let out_tb = self.stream_time_base(self.video_index);
            packet.set_stream(self.video_index);
            packet.rescale_ts(self.encoder_time_base, out_tb);
            packet
                .write_interleaved(&mut self.octx)
                .map_err(|e| self.fail(e))?;
        }
        Ok(())
    }

    /// Copies source audio packets that start before `until_secs` (all when `None`).
    fn copy_audio(&mut self, until_secs: Option<f64>) -> Result<()> {
        let Some(out_tb) = self
            .audio
            .as_ref()
            .map(|a| self.stream_time_base(a.out_index))
        else {
            return Ok(());
        };
        while let Some(mut packet) = self.audio.as_mut().and_then(|a| a.next_before(until_secs)) {
            let Some(audio) = self.audio.as_ref() else {
                break;
            };
            packet.set_stream(audio.out_index);
            packet.set_position(-1);
            packet.rescale_ts(audio.in_time_base, out_tb);
            packet
                .write_interleaved(&mut self.octx)
                .map_err(|e| self.fail(e))?;
        }
        Ok(())
    }

    fn stream_time_base(&self, index: usize) -> Rational {
        self.octx
            .stream(index)
            .map_or(self.encoder_time_base, |s| s.time_base())
    }

    fn fail(&self, e: ffmpeg::Error) -> Error {
        Error::Video {
            op: "encoding",
            detail: e.to_string(),
            path: self.path.clone(),
        }
    }
}

impl AudioCopy {
    /// The next packet if it starts before `until_secs`, with the sync offset applied.
    fn next_before(&mut self, until_secs: Option<f64>) -> Option<ffmpeg::Packet> {
        if self.pending.is_none() {
            self.pending = self.read_next();
        }
        let packet = self.pending.as_ref()?;
        let pts = packet.pts().or(packet.dts()).unwrap_or(0);
        let secs = pts as f64 * f64::from(self.in_time_base);
        if until_secs.is_some_and(|limit| secs >= limit) {
            return None;
        }
        let mut packet = self.pending.take()?;
        packet.set_pts(packet.pts().map(|t| t - self.offset));
        packet.set_dts(packet.dts().map(|t| t - self.offset));
        Some(packet)
    }

    fn read_next(&mut self) -> Option<ffmpeg::Packet> {
        loop {
            let mut packet = ffmpeg::Packet::empty();
            packet.read(&mut self.input).ok()?;
            if packet.stream() == self.in_index {
                return Some(packet);
            }
        }
    }
}

fn open_video_stream(
    octx: &mut format::context::Output,
    size: FrameSize,
    rate: FrameRate,
    settings: EncodeSettings,
) -> std::result::Result<(ffmpeg::encoder::Video, usize), String> {
    let codec = ffmpeg::encoder::find_by_name("libx264")
        .or_else(|| ffmpeg::encoder::find(codec::Id::H264))
        .ok_or("no H.264 encoder in this FFmpeg build; install libavcodec with libx264")?;
    let global_header = octx.format().flags().contains(format::Flags::GLOBAL_HEADER);
    let mut stream = octx.add_stream(codec).map_err(|e| e.to_string())?;
    let index = stream.index();
    let mut context = codec::context::Context::new_with_codec(codec)
        .encoder()
        .video()
        .map_err(|e| e.to_string())?;
    let time_base = Rational::new(rate.den as i32, rate.num as i32);
    context.set_width(size.width);
    context.set_height(size.height);
    context.set_format(format::Pixel::YUV420P);
    context.set_time_base(time_base);
    context.set_frame_rate(Some(Rational::new(rate.num as i32, rate.den as i32)));
    if global_header {
        context.set_flags(codec::Flags::GLOBAL_HEADER);
    }
    let mut options = ffmpeg::Dictionary::new();
    options.set("crf", &settings.crf.to_string());
    options.set("preset", "medium");
    let encoder = context.open_with(options).map_err(|e| e.to_string())?;
    stream.set_parameters(&encoder);
    stream.set_time_base(time_base);
    stream.set_avg_frame_rate(Rational::new(rate.num as i32, rate.den as i32));
    stream.set_rate(Rational::new(rate.num as i32, rate.den as i32));
    Ok((encoder, index))
}

fn add_audio_stream(
    octx: &mut format::context::Output,
    source: &Path,
    output: &Path,
) -> std::result::Result<(Option<AudioCopy>, Option<String>), String> {
    let input = format::input(source).map_err(|e| e.to_string())?;
    let Some(stream) = input.streams().best(Type::Audio) else {
        return Ok((None, None));
    };
    let id = stream.parameters().id();
    if is_mp4_family(output) && !MP4_AUDIO.contains(&id) {
        let note = format!(
            "source audio codec {} cannot be stored in {}; the output has no audio \
             (convert the audio to AAC first, or write .mkv)",
            id.name(),
            output
                .extension()
                .map(|e| e.to_string_lossy())
                .unwrap_or_default()
        );
        return Ok((None, Some(note)));
    }
    let in_index = stream.index();
    let in_time_base = stream.time_base();
    let offset = video_start_in(&input, in_time_base);
    let mut out = octx
        .add_stream(ffmpeg::encoder::find(codec::Id::None))
        .map_err(|e| e.to_string())?;
    out.set_parameters(stream.parameters());
    clear_codec_tag(&mut out);
    let out_index = out.index();
    Ok((
        Some(AudioCopy {
            input,
            in_index,
            out_index,
            in_time_base,
            offset,
            pending: None,
        }),
        None,
    ))
}

/// Start time of the source's video stream expressed in `time_base` (0 when unknown).
fn video_start_in(input: &format::context::Input, time_base: Rational) -> i64 {
    input
        .streams()
        .best(Type::Video)
        .filter(|v| v.start_time() != ffmpeg::ffi::AV_NOPTS_VALUE)
        .map_or(0, |v| {
            let secs = v.start_time() as f64 * f64::from(v.time_base());
            (secs / f64::from(time_base)).round() as i64
        })
}

/// Lets the output muxer choose the codec tag, as `ffmpeg -c copy` does; a tag from another
/// container (e.g. MOV's) can be invalid in the output.
#[allow(unsafe_code)]
fn clear_codec_tag(stream: &mut format::stream::StreamMut<'_>) {
    // SAFETY: `parameters()` of a live output stream points at its valid AVCodecParameters;
    // writing a plain integer field is the documented way to reset the tag before the header.
    unsafe {
        (*stream.parameters().as_mut_ptr()).codec_tag = 0;
    }
}

fn is_mp4_family(path: &Path) -> bool {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    matches!(ext.as_deref(), Some("mp4" | "m4v" | "mov"))
}

//! H.264 encoding at the source frame rate, with the source's audio copied in the same pass.
//!
//! Written with ffmpeg-next directly (video-rs's encoder fixes 30 fps in the header and has no
//! CRF or audio): timestamps are frame numbers in a `1/fps` time base, and audio packets are
//! interleaved as the video advances so that memory does not grow with clip length.

use std::path::{Path, PathBuf};

use video_rs::ffmpeg::{self, codec, format, Rational};

use crate::core::{Error, Frame, FrameRate, FrameSize, Result};

use super::audio::AudioTrack;

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
    audio: Option<AudioTrack>,
    path: PathBuf,
}

impl VideoEncoder {
    /// Creates `path` (usually a temporary name) for `size` frames at `rate`. The audio of
    /// `audio_source` is copied, or re-encoded to AAC when the container cannot hold its codec
    /// (the returned note says so).
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
        let audio = match audio_source {
            Some(src) => {
                AudioTrack::add(&mut octx, src, path).map_err(|e| fail(format!("audio: {e}")))?
            }
            None => None,
        };
        let note = audio.as_ref().filter(|a| a.is_transcoded()).map(|_| {
            "the source audio codec cannot be stored in this container; it was re-encoded to AAC".to_owned()
        });
        let mut options = ffmpeg::Dictionary::new();
        if super::audio::is_mp4_family(path) {
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

    /// Writes source audio that starts before `until_secs` (all when `None`).
    fn copy_audio(&mut self, until_secs: Option<f64>) -> Result<()> {
        let result = match self.audio.as_mut() {
            Some(audio) if until_secs.is_none() => audio.finish(&mut self.octx),
            Some(audio) => audio.write_until(&mut self.octx, until_secs),
            None => Ok(()),
        };
        result.map_err(|e| self.fail(e))
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

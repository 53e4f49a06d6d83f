//! The source's audio in the output: packets copied when the container can hold the codec,
//! otherwise decoded and re-encoded to AAC. Either way the audio is written as the video
//! advances, so nothing accumulates in memory.

use std::path::Path;

use video_rs::ffmpeg::{self, codec, filter, format, frame, media::Type, Rational};

/// Audio codecs an MP4 (ISO BMFF) file can hold; others are re-encoded to AAC.
const MP4_AUDIO: &[codec::Id] = &[
    codec::Id::AAC,
    codec::Id::MP3,
    codec::Id::AC3,
    codec::Id::EAC3,
    codec::Id::OPUS,
    codec::Id::FLAC,
    codec::Id::ALAC,
];

/// Bit rate of re-encoded AAC audio.
const AAC_BIT_RATE: usize = 192_000;

/// Packets of the source's audio stream, read one ahead, shifted by the video's start time.
struct PacketReader {
    input: format::context::Input,
    index: usize,
    time_base: Rational,
    offset: i64,
    pending: Option<ffmpeg::Packet>,
}

impl PacketReader {
    /// The next packet if it starts before `until_secs` (any packet when `None`).
    fn next_before(&mut self, until_secs: Option<f64>) -> Option<ffmpeg::Packet> {
        if self.pending.is_none() {
            self.pending = self.read_next();
        }
        let packet = self.pending.as_ref()?;
        let pts = packet.pts().or(packet.dts()).unwrap_or(0) - self.offset;
        if until_secs.is_some_and(|limit| pts as f64 * f64::from(self.time_base) >= limit) {
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
            if packet.stream() == self.index {
                return Some(packet);
            }
        }
    }
}

/// Decoder → format/rate/frame-size filter → AAC encoder.
struct Transcoder {
    decoder: ffmpeg::decoder::Audio,
    filter: filter::Graph,
    encoder: ffmpeg::encoder::Audio,
    /// Samples fed to the filter, in the decoder's rate (timestamps for the filter).
    samples_in: i64,
    /// Samples written, in the encoder's rate (timestamps for the encoder).
    samples_out: i64,
}

/// The audio stream of the output.
pub(super) struct AudioTrack {
    reader: PacketReader,
    out_index: usize,
    transcoder: Option<Box<Transcoder>>,
}

impl AudioTrack {
    /// Adds the audio of `source` to `octx` (before its header is written). Returns `None`
    /// when the source has no audio.
    pub(super) fn add(
        octx: &mut format::context::Output,
        source: &Path,
        output: &Path,
    ) -> Result<Option<Self>, ffmpeg::Error> {
        let input = format::input(source)?;
        let Some(stream) = input.streams().best(Type::Audio) else {
            return Ok(None);
        };
        let (index, time_base) = (stream.index(), stream.time_base());
        let offset = video_start_in(&input, time_base);
        let copyable = !is_mp4_family(output) || MP4_AUDIO.contains(&stream.parameters().id());
        let (out_index, transcoder) = if copyable {
            let mut out = octx.add_stream(ffmpeg::encoder::find(codec::Id::None))?;
            out.set_parameters(stream.parameters());
            clear_codec_tag(&mut out);
            (out.index(), None)
        } else {
            let (i, t) = Transcoder::add(octx, &stream)?;
            (i, Some(Box::new(t)))
        };
        let reader = PacketReader {
            input,
            index,
            time_base,
            offset,
            pending: None,
        };
        Ok(Some(Self {
            reader,
            out_index,
            transcoder,
        }))
    }

    /// Whether the audio is re-encoded (for the run report).
    pub(super) fn is_transcoded(&self) -> bool {
        self.transcoder.is_some()
    }

    /// Writes the audio that starts before `until_secs`; all that is left when `None`.
    pub(super) fn write_until(
        &mut self,
        octx: &mut format::context::Output,
        until_secs: Option<f64>,
    ) -> Result<(), ffmpeg::Error> {
        let out_tb = stream_time_base(octx, self.out_index);
        while let Some(mut packet) = self.reader.next_before(until_secs) {
            match self.transcoder.as_mut() {
                None => {
                    packet.set_stream(self.out_index);
                    packet.set_position(-1);
                    packet.rescale_ts(self.reader.time_base, out_tb);
                    packet.write_interleaved(octx)?;
                }
                Some(t) => {
                    t.decoder.send_packet(&packet)?;
                    t.drain_decoder(octx, self.out_index)?;
                }
            }
        }
        Ok(())
    }

    /// Flushes a transcoder at the end of the stream.
    pub(super) fn finish(
        &mut self,
        octx: &mut format::context::Output,
    ) -> Result<(), ffmpeg::Error> {
        self.write_until(octx, None)?;
        if let Some(t) = self.transcoder.as_mut() {
            t.decoder.send_eof()?;
            t.drain_decoder(octx, self.out_index)?;
            t.filter
                .get("in")
                .ok_or(ffmpeg::Error::Bug)?
                .source()
                .flush()?;
            t.drain_filter(octx, self.out_index)?;
            t.encoder.send_eof()?;
            t.drain_encoder(octx, self.out_index)?;
        }
        Ok(())
    }
}

impl Transcoder {
    fn add(
        octx: &mut format::context::Output,
        stream: &format::stream::Stream<'_>,
    ) -> Result<(usize, Self), ffmpeg::Error> {
        let decoder = codec::context::Context::from_parameters(stream.parameters())?
            .decoder()
            .audio()?;
        let aac = ffmpeg::encoder::find(codec::Id::AAC).ok_or(ffmpeg::Error::EncoderNotFound)?;
        let global_header = octx.format().flags().contains(format::Flags::GLOBAL_HEADER);
        let mut out = octx.add_stream(aac)?;
        let mut context = codec::context::Context::new_with_codec(aac)
            .encoder()
            .audio()?;
        let layout = if decoder.channel_layout().channels() >= 2 {
            ffmpeg::ChannelLayout::STEREO
        } else {
            ffmpeg::ChannelLayout::MONO
        };
        context.set_rate(decoder.rate() as i32);
        context.set_channel_layout(layout);
        context.set_format(format::Sample::F32(format::sample::Type::Planar));
        context.set_bit_rate(AAC_BIT_RATE);
        context.set_time_base((1, decoder.rate() as i32));
        if global_header {
            context.set_flags(codec::Flags::GLOBAL_HEADER);
        }
        let encoder = context.open_as(aac)?;
        out.set_parameters(&encoder);
        out.set_time_base((1, decoder.rate() as i32));
        let filter = format_filter(&decoder, &encoder)?;
        Ok((
            out.index(),
            Self {
                decoder,
                filter,
                encoder,
                samples_in: 0,
                samples_out: 0,
            },
        ))
    }

    fn drain_decoder(
        &mut self,
        octx: &mut format::context::Output,
        out: usize,
    ) -> Result<(), ffmpeg::Error> {
        let mut decoded = frame::Audio::empty();
        while self.decoder.receive_frame(&mut decoded).is_ok() {
            decoded.set_pts(Some(self.samples_in));
            self.samples_in += decoded.samples() as i64;
            self.filter
                .get("in")
                .ok_or(ffmpeg::Error::Bug)?
                .source()
                .add(&decoded)?;
            self.drain_filter(octx, out)?;
        }
        Ok(())
    }

    fn drain_filter(
        &mut self,
        octx: &mut format::context::Output,
        out: usize,
    ) -> Result<(), ffmpeg::Error> {
        let mut filtered = frame::Audio::empty();
        while self
            .filter
            .get("out")
            .ok_or(ffmpeg::Error::Bug)?
            .sink()
            .frame(&mut filtered)
            .is_ok()
        {
            filtered.set_pts(Some(self.samples_out));
            self.samples_out += filtered.samples() as i64;
            self.encoder.send_frame(&filtered)?;
            self.drain_encoder(octx, out)?;
        }
        Ok(())
    }

    fn drain_encoder(
        &mut self,
        octx: &mut format::context::Output,
        out: usize,
    ) -> Result<(), ffmpeg::Error> {
        let out_tb = stream_time_base(octx, out);
        let mut packet = ffmpeg::Packet::empty();
        while self.encoder.receive_packet(&mut packet).is_ok() {
            packet.set_stream(out);
            packet.rescale_ts(self.encoder.time_base(), out_tb);
            packet.write_interleaved(octx)?;
        }
        Ok(())
    }
}

/// `abuffer → abuffersink` converting to the encoder's sample format, layout and rate, in
/// chunks of the encoder's frame size (AAC takes exactly 1024 samples a frame).
fn format_filter(
    decoder: &ffmpeg::decoder::Audio,
    encoder: &ffmpeg::encoder::Audio,
) -> Result<filter::Graph, ffmpeg::Error> {
    let mut graph = filter::Graph::new();
    let layout = if decoder.channel_layout().is_empty() {
        ffmpeg::ChannelLayout::default(decoder.channels() as i32)
    } else {
        decoder.channel_layout()
    };
    let args = format!(
        "time_base=1/{rate}:sample_rate={rate}:sample_fmt={}:channel_layout=0x{:x}",
        decoder.format().name(),
        layout.bits(),
        rate = decoder.rate(),
    );
    graph.add(
        &filter::find("abuffer").ok_or(ffmpeg::Error::FilterNotFound)?,
        "in",
        &args,
    )?;
    graph.add(
        &filter::find("abuffersink").ok_or(ffmpeg::Error::FilterNotFound)?,
        "out",
        "",
    )?;
    {
        let mut out = graph.get("out").ok_or(ffmpeg::Error::Bug)?;
        out.set_sample_format(encoder.format());
        out.set_channel_layout(encoder.channel_layout());
        out.set_sample_rate(encoder.rate());
    }
    graph.output("in", 0)?.input("out", 0)?.parse("anull")?;
    graph.validate()?;
    graph
        .get("out")
        .ok_or(ffmpeg::Error::Bug)?
        .sink()
        .set_frame_size(encoder.frame_size());
    Ok(graph)
}

fn stream_time_base(octx: &format::context::Output, index: usize) -> Rational {
    octx.stream(index)
        .map_or(Rational::new(1, 90_000), |s| s.time_base())
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

/// Whether `path` is an MP4-family file by extension.
pub(super) fn is_mp4_family(path: &Path) -> bool {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    matches!(ext.as_deref(), Some("mp4" | "m4v" | "mov"))
}

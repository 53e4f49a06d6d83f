//! The encoder thread: finished frames arrive in order through a bounded channel and are
//! written to the output, which is committed (renamed into place) only after `Finish`.

use std::path::Path;
use std::sync::mpsc;

use crate::core::{Error, Frame, Result, Stage, StageClock};
use crate::video::{ClipSummary, MediaPath, Sink, SinkSettings};

/// Frames waiting for the encoder at most.
const QUEUE: usize = 4;

/// What the encoder thread returns: its clock and a note about the audio, if any.
pub(super) type EncoderHandle = std::thread::JoinHandle<Result<(StageClock, Option<String>)>>;

/// Messages to the encoder thread: frames in order, then `Finish` when all went well.
pub(super) enum ToEncoder {
    Frame(Frame),
    Finish,
}

/// Starts the encoder thread; returns once the output is created (or failed to be).
pub(super) fn spawn_encoder(
    output: &MediaPath,
    clip: &ClipSummary,
    settings: SinkSettings,
    audio: Option<&Path>,
) -> Result<(mpsc::SyncSender<ToEncoder>, EncoderHandle)> {
    let (tx, rx) = mpsc::sync_channel::<ToEncoder>(QUEUE);
    let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<()>>(1);
    let (target, clip, audio) = (output.clone(), clip.clone(), audio.map(Path::to_path_buf));
    let handle = std::thread::spawn(move || -> Result<(StageClock, Option<String>)> {
        let mut clock = StageClock::new(Stage::Encode);
        let (mut sink, note) = match Sink::create(&target, &clip, settings, audio.as_deref()) {
            Ok(s) => {
                let _ = ready_tx.send(Ok(()));
                s
            }
            Err(e) => {
                let _ = ready_tx.send(Err(e));
                return Ok((clock, None));
            }
        };
        for msg in rx {
            match msg {
                ToEncoder::Frame(frame) => {
                    clock.time(|| sink.write(&frame))?;
                    clock.processed += 1;
                }
                ToEncoder::Finish => {
                    clock.time(|| sink.finish())?;
                    return Ok((clock, note));
                }
            }
        }
        sink.abandon();
        Ok((clock, note))
    });
    ready_rx.recv().map_err(|_| Error::Video {
        op: "encoding",
        detail: "the encoder thread stopped before the output was created".into(),
        path: output.path().to_path_buf(),
    })??;
    Ok((tx, handle))
}

/// Waits for the encoder thread; a panic there is an encoding failure of `output`.
pub(super) fn join(
    handle: EncoderHandle,
    output: &MediaPath,
) -> Result<(StageClock, Option<String>)> {
    handle.join().map_err(|_| Error::Video {
        op: "encoding",
        detail: "the encoder thread panicked".into(),
        path: output.path().to_path_buf(),
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 13: a failure of the encoder thread was reported as a render error.
    #[test]
    fn r13_an_encoder_thread_that_dies_is_an_encoding_error_of_the_output() {
        let output = MediaPath::new(std::path::Path::new("out/final.mp4"));
        let handle: EncoderHandle = std::thread::spawn(|| panic!("encoder bug"));
        let err = join(handle, &output).unwrap_err();
        assert!(matches!(err, Error::Video { op: "encoding", .. }), "{err}");
        assert!(err.to_string().contains("out/final.mp4"), "{err}");
    }
}

//! The frame loop: decoding on its own thread, batches of frames through render, composite and
//! refinement, finished frames to the encoder thread, both through bounded channels so host
//! memory stays flat however long the clip is.

use super::config::RunConfig;
use super::contact_sheet::{self, ContactSheet};
use super::encode::{self, ToEncoder};
use super::frames::{process_batch, BatchContext, FramePlan, BATCH};
use super::prepare::Prepared;
use super::state::{Clocks, StreamState};
use crate::core::{Error, Progress, Result, Stage};
use crate::video::SinkSettings;
use crate::workdir::ArtefactStore;

/// Decodes, processes and encodes every frame in order; the output is committed only when
/// every frame went through.
pub(super) fn stream_frames(
    p: &mut Prepared,
    cfg: &RunConfig,
    plans: &[FramePlan],
    stores: (&ArtefactStore, &ArtefactStore),
    clocks: &mut Clocks,
    progress: &dyn Progress,
) -> Result<()> {
    let settings = SinkSettings { crf: cfg.crf };
    let (encoder_tx, encoder) =
        encode::spawn_encoder(&cfg.output, &p.clip, settings, p.source.audio_path())?;
    let decoded = p.source.spawn_decoder(BATCH);
    let mut state = StreamState {
        renderer: None,
        refiner: None,
        refine_notes: Vec::new(),
        passthrough: 0,
        sheet: ContactSheet::new(p.clip.frame_count),
    };
    let mut received = 0_u64;
    progress.begin("frames", p.clip.frame_count);
    let streamed = (|| -> Result<()> {
        let ctx = BatchContext {
            p,
            cfg,
            plans,
            renders: stores.0,
            composites: stores.1,
        };
        let mut batch = Vec::with_capacity(BATCH);
        let mut decoded = decoded.into_iter().peekable();
        while let Some(item) = decoded.next() {
            batch.push(item?);
            received += 1;
            if batch.len() == BATCH || decoded.peek().is_none() {
                let frames = std::mem::take(&mut batch);
                let n = frames.len() as u64;
                let finished = process_batch(&ctx, frames, &mut state, clocks)?;
                if finished
                    .into_iter()
                    .any(|f| encoder_tx.send(ToEncoder::Frame(f)).is_err())
                {
                    break; // the encoder failed; its error is collected below
                }
                progress.advance("frames", n);
            }
        }
        Ok(())
    })();
    // The output is committed only after every frame went through; on any error the encoder
    // drops its temporary file and the previous output stays.
    if streamed.is_ok() && received == p.clip.frame_count {
        let _ = encoder_tx.send(ToEncoder::Finish);
    }
    drop(encoder_tx);
    progress.finish("frames");
    let joined = encode::join(encoder, &cfg.output);
    streamed?;
    let (encode_clock, audio_note) = joined?;
    clocks.encode = encode_clock;
    if received != p.clip.frame_count {
        return Err(Error::bad_input(
            format!("decoded {received} of {} frames", p.clip.frame_count),
            "the input is truncated or corrupt; re-encode it",
            cfg.input.path(),
        ));
    }
    state.sheet.write(&contact_sheet::sheet_path(&cfg.output))?;
    finish(p, state, clocks, audio_note);
    Ok(())
}

/// What the loop leaves for the report.
fn finish(p: &mut Prepared, state: StreamState, clocks: &mut Clocks, audio_note: Option<String>) {
    if let Some(note) = audio_note {
        p.report.warn(Stage::Encode, None, note);
    }
    if state.passthrough > 0 {
        let n = state.passthrough;
        p.report.warn(
            Stage::Composite,
            None,
            format!(
                "{n} frames outside --frames had no cached result and were copied from the \
                 input unchanged"
            ),
        );
    }
    if let Some(r) = &state.renderer {
        p.report.record_renderer(r);
    }
    if let Some(stage) = &state.refiner {
        clocks.refine_stats = Some(stage.stats.clone());
    }
    for (nr, note) in state.refine_notes {
        p.report.warn(Stage::Refine, Some(nr), note);
    }
}

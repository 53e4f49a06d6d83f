//! The diffusion refinement inside the frame loop: composited frames of a batch go through
//! the [`RefineStage`] (loaded on first use), and what it changed becomes the frame's cached
//! patch. Frames it cannot refine keep their composite, with a note in the report.

use super::{Clocks, RefineMode, RunConfig, StreamState};
use crate::composite::Patch;
use crate::core::{Frame, RenderLayers, Result};
use crate::diffusion::stage::{RefineFrame, RefineStage, Refined};

/// The part of the composite key that diffusion settings contribute ("" otherwise).
pub(super) fn key_part(cfg: &RunConfig) -> String {
    match cfg.refine {
        RefineMode::Diffusion => serde_json::to_string(&cfg.diffusion).unwrap_or_default(),
        RefineMode::Composite(_) => String::new(),
    }
}

/// Refines the composites of `frames` (whose plain composites are `patches`) and returns the
/// patches of the refined frames.
pub(super) fn refine_patches(
    cfg: &RunConfig,
    batch: Option<usize>,
    frames: &[&Frame],
    layers: &[RenderLayers],
    patches: Vec<Patch>,
    state: &mut StreamState,
    clocks: &mut Clocks,
) -> Result<Vec<Patch>> {
    let stage = match &mut state.refiner {
        Some(stage) => stage,
        None => {
            let device = crate::diffusion::stage::device();
            let opts = crate::diffusion::stage::RefineOptions {
                batch_size: batch.or(cfg.diffusion.batch_size),
                ..cfg.diffusion.clone()
            };
            let loaded = clocks.refine.time(|| RefineStage::load(&opts, &device))?;
            state.refiner.insert(loaded)
        }
    };
    let inputs: Vec<RefineFrame> = frames
        .iter()
        .zip(layers)
        .zip(&patches)
        .map(|((f, l), patch)| {
            let mut composite = f.rgb.clone();
            patch.apply(&mut composite);
            RefineFrame::new(f.nr, composite, l)
        })
        .collect();
    let refined = clocks.refine.time(|| stage.refine(&inputs))?;
    let mut out = Vec::with_capacity(patches.len());
    for ((frame, patch), result) in frames.iter().zip(patches).zip(refined) {
        match result {
            Refined::Frame(rgb) => {
                clocks.refine.processed += 1;
                out.push(Patch::from_diff(&frame.rgb, &rgb));
            }
            Refined::EmptyMask => {
                state.refine_notes.push((
                    frame.nr,
                    "no product pixels in this frame; refinement skipped".into(),
                ));
                out.push(patch);
            }
            Refined::NonFinite => {
                state.refine_notes.push((
                    frame.nr,
                    "the networks produced non-finite values; the plain composite was kept".into(),
                ));
                out.push(patch);
            }
        }
    }
    Ok(out)
}

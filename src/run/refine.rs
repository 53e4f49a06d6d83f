//! The diffusion refinement inside the frame loop: composited frames of a batch go through
//! the [`RefineStage`] (loaded on first use with the weights and sizing the run prepared), and
//! the patch it changed, laid over the composite's, becomes the frame's cached patch. Frames it
//! cannot refine keep their composite, with a note in the report.

use super::prepare::RefineSetup;
use super::state::{Clocks, StreamState};
use crate::core::{Frame, Patch, RenderLayers, Result};
use crate::diffusion::stage::{RefineFrame, RefineStage, Refined};

/// Refines the composites of `frames` (whose plain composites are `patches`) and returns each
/// frame's patch: the composite's with the refined region on top.
pub(super) fn refine_patches(
    setup: &RefineSetup,
    frames: &[&Frame],
    layers: &[RenderLayers],
    patches: Vec<Patch>,
    state: &mut StreamState,
    clocks: &mut Clocks,
) -> Result<Vec<Patch>> {
    let stage = match &mut state.refiner {
        Some(stage) => stage,
        None => {
            let device = crate::nn::device();
            let loaded = clocks
                .refine
                .time(|| RefineStage::load(&setup.options, &setup.dirs, setup.sizing, &device))?;
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
    for (((frame, patch), result), input) in frames.iter().zip(patches).zip(refined).zip(&inputs) {
        match result {
            Refined::Patch(changed) => {
                clocks.refine.processed += 1;
                out.push(patch.overlaid(&changed, &frame.rgb));
            }
            Refined::EmptyMask => {
                state.refine_notes.push((
                    input.nr,
                    "no product pixels in this frame; refinement skipped".into(),
                ));
                out.push(patch);
            }
            Refined::NonFinite => {
                state.refine_notes.push((
                    input.nr,
                    "the networks produced non-finite values; the plain composite was kept".into(),
                ));
                out.push(patch);
            }
        }
    }
    Ok(out)
}

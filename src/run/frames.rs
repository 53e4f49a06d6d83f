//! What happens to each frame: the frame plan (compute, reuse a cached composite, or pass the
//! source frame through), and a batch of frames rendered, composited, refined and cached.

use serde::Serialize;

use super::config::RunConfig;
use super::prepare::Prepared;
use super::state::{Clocks, StreamState};
use super::{artefacts, refine};
use crate::composite;
use crate::core::{
    hash, CameraPose, Error, Frame, FrameNr, Patch, RenderLayers, Result, StageClock,
};
use crate::render::{RenderJob, RenderStage};
use crate::workdir::ArtefactStore;

/// Frames decoded together, rendered in one GPU submission and composited in parallel.
pub(super) const BATCH: usize = 8;

/// What happens to one frame in this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum FramePlan {
    /// Render and composite now.
    Compute,
    /// Take the cached composite stored under this key.
    Reuse(String),
    /// Outside the selection and never computed: the source frame unchanged.
    Passthrough,
}

/// Each frame's plan: selected frames are computed unless cached under the current key (or
/// `--force`); others reuse whatever composite they were last given, or pass through.
pub(super) fn plan_frames(p: &Prepared, force: bool, composites: &ArtefactStore) -> Vec<FramePlan> {
    (0..p.clip.frame_count)
        .map(FrameNr)
        .map(|nr| {
            if p.range.contains(nr) {
                if !force && composites.is_done(nr, &p.composite_key) {
                    FramePlan::Reuse(p.composite_key.clone())
                } else {
                    FramePlan::Compute
                }
            } else {
                composites
                    .current_key(nr)
                    .map_or(FramePlan::Passthrough, FramePlan::Reuse)
            }
        })
        .collect()
}

/// What an output depends on: the input, where it goes, its quality and each frame's result.
#[derive(Serialize)]
struct OutputKey<'a> {
    input: &'a std::path::Path,
    output: &'a std::path::Path,
    crf: u8,
    frames: Vec<&'a str>,
}

/// Identifies the exact output a plan produces, to skip re-encoding an identical output.
pub(super) fn output_key(p: &Prepared, cfg: &RunConfig, plans: &[FramePlan]) -> Result<String> {
    hash::key_of(&OutputKey {
        input: cfg.input.path(),
        output: cfg.output.path(),
        crf: cfg.crf,
        frames: plans
            .iter()
            .map(|plan| match plan {
                FramePlan::Compute => p.composite_key.as_str(),
                FramePlan::Reuse(k) => k.as_str(),
                FramePlan::Passthrough => "-",
            })
            .collect(),
    })
}

/// What a batch of frames needs besides the frames themselves.
pub(super) struct BatchContext<'a> {
    pub p: &'a Prepared,
    pub cfg: &'a RunConfig,
    pub plans: &'a [FramePlan],
    pub renders: &'a ArtefactStore,
    pub composites: &'a ArtefactStore,
}

/// Renders, composites and caches the frames of a batch that need it, applies every frame's
/// patch (new or cached) and returns the finished frames in order.
pub(super) fn process_batch(
    ctx: &BatchContext<'_>,
    mut frames: Vec<Frame>,
    state: &mut StreamState,
    clocks: &mut Clocks,
) -> Result<Vec<Frame>> {
    let plan_of = |f: &Frame| {
        ctx.plans
            .get(f.nr.0 as usize)
            .cloned()
            .unwrap_or(FramePlan::Passthrough)
    };
    let to_compute: Vec<&Frame> = frames
        .iter()
        .filter(|f| plan_of(f) == FramePlan::Compute)
        .collect();
    let layers = layers_for(
        ctx.p,
        ctx.cfg.force,
        &to_compute,
        ctx.renders,
        &mut state.renderer,
        &mut clocks.render,
    )?;
    let patches = composite_and_refine(ctx, &to_compute, &layers, state, clocks)?;
    for (frame, patch) in to_compute.iter().zip(&patches) {
        ctx.composites
            .store(frame.nr, &ctx.p.composite_key, &artefacts::of_patch(patch))?;
    }
    clocks.composite.processed += patches.len() as u64;
    let mut computed = patches.into_iter();
    for frame in &mut frames {
        let patch = match plan_of(frame) {
            FramePlan::Compute => computed.next(),
            FramePlan::Reuse(key) => {
                clocks.render.reused += 1;
                clocks.composite.reused += 1;
                Some(artefacts::load_patch(ctx.composites, frame.nr, &key)?)
            }
            FramePlan::Passthrough => {
                state.passthrough += 1;
                None
            }
        };
        let before = state.sheet.wants(frame.nr).then(|| frame.rgb.clone());
        if let Some(patch) = patch {
            patch.apply(&mut frame.rgb);
        }
        if let Some(before) = before {
            state.sheet.record(frame.nr, &before, &frame.rgb);
        }
    }
    Ok(frames)
}

/// The composites of `frames` (in parallel), refined when the run refines.
fn composite_and_refine(
    ctx: &BatchContext<'_>,
    frames: &[&Frame],
    layers: &[RenderLayers],
    state: &mut StreamState,
    clocks: &mut Clocks,
) -> Result<Vec<Patch>> {
    let settings = &ctx.p.composite;
    let patches: Vec<Patch> = clocks.composite.time(|| {
        use rayon::prelude::*;
        frames
            .par_iter()
            .zip(layers)
            .map(|(f, l)| composite::composite(&f.rgb, l, f.nr, settings))
            .collect()
    });
    match &ctx.p.refine {
        Some(setup) if !frames.is_empty() => {
            refine::refine_patches(setup, frames, layers, patches, state, clocks)
        }
        _ => Ok(patches),
    }
}

/// The render layers of `frames`: from the cache where valid, the rest rendered in one batch
/// (and cached).
pub(super) fn layers_for(
    p: &Prepared,
    force: bool,
    frames: &[&Frame],
    renders: &ArtefactStore,
    renderer: &mut Option<RenderStage>,
    clock: &mut StageClock,
) -> Result<Vec<RenderLayers>> {
    let mut layers: Vec<Option<RenderLayers>> = frames
        .iter()
        .map(|f| {
            if force {
                None
            } else {
                renders
                    .load(f.nr, &p.render_key)
                    .and_then(|a| artefacts::layers_of(&a))
            }
        })
        .collect();
    clock.reused += layers.iter().filter(|l| l.is_some()).count() as u64;
    let missing: Vec<usize> = (0..frames.len()).filter(|&i| layers[i].is_none()).collect();
    if !missing.is_empty() {
        let jobs = missing
            .iter()
            .map(|&i| {
                let nr = frames[i].nr.0;
                Ok(RenderJob {
                    frame: frames[i],
                    camera: pose_of(p, frames[i])?,
                    neighbours: [
                        nr.checked_sub(1).and_then(|n| p.track.pose(FrameNr(n))),
                        p.track.pose(FrameNr(nr + 1)),
                    ],
                    scene_depth_m: p.track.scene_depth.load(frames[i].nr, p.clip.size)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let stage = match renderer {
            Some(stage) => stage,
            None => renderer.insert(RenderStage::new(
                &p.model,
                &p.placement,
                &p.track.poses[0],
                &p.render_options,
                p.clip.size,
            )?),
        };
        let rendered = clock.time(|| stage.render_batch(&jobs))?;
        for (&i, l) in missing.iter().zip(rendered) {
            renders.store(frames[i].nr, &p.render_key, &artefacts::of_layers(&l))?;
            layers[i] = Some(l);
        }
        clock.processed += missing.len() as u64;
    }
    Ok(layers
        .into_iter()
        .map(|l| l.unwrap_or_else(RenderLayers::empty))
        .collect())
}

fn pose_of<'a>(p: &'a Prepared, frame: &Frame) -> Result<&'a CameraPose> {
    p.track.pose(frame.nr).ok_or(Error::InvalidTrack {
        detail: format!("no pose for frame {}", frame.nr),
        path: p.workdir.file("track.json"),
    })
}

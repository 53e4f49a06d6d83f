//! Everything resolved once, before the first frame is decoded: the weights (located once and
//! handed to the stages), the memory plan, the outputs' checks, the work directory, the camera
//! track, the placement and the cache keys of the stages.

use serde::Serialize;

use super::clip::ClipContext;
use super::config::{RefineMode, RunConfig};
use super::json::write_json;
use super::light::{self, KeyLight};
use super::memory;
use super::optics;
use super::report::{MotionBlur, RunReport, StageReport};
use super::track::{self, TrackFrom, Tracker};
use crate::composite::CompositeSettings;
use crate::core::{hash, CameraTrack, Error, FrameRange, Progress, Result, Stage};
use crate::diffusion::locate::ComponentDirs;
use crate::diffusion::options::{RefineOptions, Sizing};
use crate::memory::profile::DeviceProfile;
use crate::memory::Plan;
use crate::render::placement::{self, Placement};
use crate::render::scene::ProductModel;
use crate::render::RenderOptions;
use crate::video::{ClipSummary, Source};
use crate::workdir::{WorkDir, TOOL_VERSION};

/// What the run writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Target {
    /// The composited clip (`--output`).
    Clip,
    /// `vanelia render`: the layers as images in the `--output` folder.
    LayerFolder,
}

/// The weights a run needs, each located once.
#[derive(Debug, Clone)]
pub(super) struct Weights {
    /// The diffusion components (`--refine diffusion`).
    pub diffusion: Option<ComponentDirs>,
    /// The imported track, or the DUSt3R checkpoint that computes it.
    pub track: TrackFrom,
}

/// The refinement's settings for this run: options, weights and the plan's sizing.
#[derive(Debug, Clone)]
pub(super) struct RefineSetup {
    pub options: RefineOptions,
    pub dirs: ComponentDirs,
    pub sizing: Sizing,
}

/// Everything resolved before the first frame is decoded.
pub(super) struct Prepared {
    pub source: Source,
    pub clip: ClipSummary,
    pub range: FrameRange,
    pub workdir: WorkDir,
    pub track: CameraTrack,
    pub model: ProductModel,
    pub placement: Placement,
    pub render_options: RenderOptions,
    /// The composite settings with the shot's shadow colour.
    pub composite: CompositeSettings,
    pub render_key: String,
    pub composite_key: String,
    pub report: RunReport,
    /// The tracker's stage report when the track was computed or reused (not imported).
    pub track_stage: Option<StageReport>,
    /// The refinement's settings, with `--refine diffusion`.
    pub refine: Option<RefineSetup>,
}

/// What a frame's render layers depend on.
#[derive(Serialize)]
struct RenderKey<'a> {
    tool: &'a str,
    input_sha256: &'a str,
    track_sha256: &'a str,
    model_sha256: &'a str,
    placement: &'a Placement,
    render: &'a RenderOptions,
}

/// What a frame's composite (refined or not) depends on.
#[derive(Serialize)]
struct CompositeKey<'a> {
    render: &'a str,
    composite: &'a CompositeSettings,
    refine: Option<&'a RefineOptions>,
}

/// Fails on missing weights before anything is decoded or hashed; returns where they are.
fn locate_weights(cfg: &RunConfig) -> Result<Weights> {
    let diffusion = match cfg.refine {
        RefineMode::Diffusion => Some(crate::diffusion::stage::preflight(
            &cfg.diffusion,
            &crate::nn::device(),
        )?),
        RefineMode::Composite(_) => None,
    };
    let track = match &cfg.poses {
        Some(poses) => TrackFrom::Imported(poses.clone()),
        None => TrackFrom::Tracker(crate::pose::stage::preflight(&cfg.pose)?),
    };
    Ok(Weights { diffusion, track })
}

/// Checks the output can be written before any work is done.
fn check_target(cfg: &RunConfig, target: Target, clip: &ClipSummary) -> Result<()> {
    match target {
        Target::LayerFolder => {
            let dir = cfg.output.path();
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::bad_input(
                    format!("cannot create the layer directory ({e})"),
                    "choose a writable --output",
                    dir,
                )
            })?;
            crate::video::check_file_writable(&dir.join("000000.rgba.png"))
        }
        Target::Clip => {
            crate::video::check_writable(&cfg.output)?;
            crate::video::check_encodable(&cfg.output, cfg.input.path(), clip.size)
        }
    }
}

/// Resolves everything before the first frame.
pub(super) fn prepare(
    cfg: &RunConfig,
    target: Target,
    progress: &dyn Progress,
) -> Result<Prepared> {
    let weights = locate_weights(cfg)?;
    let source = Source::open(&cfg.input, cfg.seq_rate)?;
    let clip = source.summary();
    let memory_plan = weights
        .diffusion
        .as_ref()
        .map(|d| memory::plan_refine(cfg, d, clip.size))
        .transpose()?;
    let range = cfg.frames.resolve(clip.frame_count)?;
    check_target(cfg, target, &clip)?;
    let model = ProductModel::load(&cfg.model)?;
    let input_sha = source.content_hash()?;
    let clip_json = serde_json::to_value(&clip).map_err(|e| Error::WorkDir {
        detail: format!("clip summary ({e})"),
        path: cfg.workdir.clone(),
    })?;
    let (workdir, stale) = WorkDir::open(&cfg.workdir, &input_sha, clip_json)?;
    let run_track = match &weights.track {
        TrackFrom::Imported(path) => track::imported(path, &clip)?,
        TrackFrom::Tracker(checkpoint) => {
            let tracker = Tracker {
                weights: checkpoint,
                options: &cfg.pose,
                vram_budget: cfg.vram_budget,
            };
            track::tracked(&tracker, (&source, &clip), &workdir, &input_sha, progress)?
        }
    };
    let track = run_track.track;
    track.write(&workdir.file("track.json"))?;
    let bbox = (model.bbox_min.as_dvec3(), model.bbox_max.as_dvec3());
    let (placement, placement_notes) = placement::place(&track, bbox, &cfg.placement)?;
    write_json(&workdir.file("placement.json"), &placement)?;
    let context = ClipContext::new(
        (&source, clip.frame_count),
        &track,
        &placement,
        &workdir,
        &input_sha,
    );
    let shot_light = light::resolve(&context, cfg.render.light_dir_in_world)?;
    let optics = optics::resolve(&context, cfg.focus, cfg.render.shutter_deg)?;
    drop(context);
    let render_options = RenderOptions {
        light_dir_in_world: Some(shot_light.key.dir_in_world()),
        light: Some(shot_light.scene),
        shutter_deg: Some(optics.shutter.shutter_deg),
        defocus: optics.depth_of_field.defocus,
    };
    let composite = CompositeSettings {
        shadow_tint_rgb: shot_light.scene.shadow_tint_rgb(),
        ..cfg.composite
    };
    let refine = match (weights.diffusion, &memory_plan) {
        (Some(dirs), Some(plan)) => Some(refine_setup(cfg, dirs, plan)),
        _ => None,
    };
    let render_key = hash::key_of(&RenderKey {
        tool: TOOL_VERSION,
        input_sha256: &input_sha,
        track_sha256: &hash::file_sha256(&workdir.file("track.json"))?,
        model_sha256: &hash::file_sha256(&cfg.model)?,
        placement: &placement,
        render: &render_options,
    })?;
    let composite_key = hash::key_of(&CompositeKey {
        render: &render_key,
        composite: &composite,
        refine: refine.as_ref().map(|r| &r.options),
    })?;
    workdir.record_stage(
        Stage::Render,
        &render_key,
        &serde_json::json!({ "placement": &placement, "model": &cfg.model }),
    )?;
    workdir.record_stage(Stage::Composite, &composite_key, &composite)?;
    let mut report = new_report(cfg, &clip, &placement);
    report.memory_plan = memory_plan;
    report.model = Some(model.summary());
    if stale {
        report.warn(
            Stage::WorkDir,
            None,
            "the work directory held results for another input or version; they were removed",
        );
    }
    if clip.skipped_packets > 0 {
        report.warn(
            Stage::Decode,
            None,
            format!(
                "{} video packet(s) do not decode and were skipped, as FFmpeg's own tools skip \
                 them: the clip is the {} frames that decode, numbered in order",
                clip.skipped_packets, clip.frame_count
            ),
        );
    }
    for note in &cfg.notes {
        report.warn(Stage::Refine, None, note.clone());
    }
    for note in placement_notes {
        report.warn(Stage::Placement, None, note);
    }
    if let KeyLight::Default { why, .. } = &shot_light.key {
        let how = if shot_light.soft {
            "the light is taken as soft: a wide key above the product, leaning towards the first \
             camera, with a faint shadow"
        } else {
            "the key light stays above the product, leaning towards the first camera"
        };
        report.warn(
            Stage::Render,
            None,
            format!("{why}; {how} (--light-dir sets its direction)"),
        );
    }
    report.depth_of_field = Some(optics.depth_of_field);
    report.lens = Some(track.poses[0].intrinsics.lens).filter(|l| !l.is_pinhole());
    report.motion_blur = Some(MotionBlur {
        shutter_deg: optics.shutter.shutter_deg,
        source: optics.shutter.source,
        renders: 0,
    });
    report.key_light = Some(shot_light.key.clone());
    report.light = Some(shot_light);
    for note in run_track.warnings {
        report.warn(Stage::Track, None, note);
    }
    Ok(Prepared {
        source,
        clip,
        range,
        workdir,
        track,
        model,
        placement,
        render_options,
        composite,
        render_key,
        composite_key,
        report,
        track_stage: run_track.stage,
        refine,
    })
}

/// The refinement's options at the plan's batch (or the user's `--batch-size`) and chunk.
fn refine_setup(cfg: &RunConfig, dirs: ComponentDirs, plan: &Plan) -> RefineSetup {
    RefineSetup {
        options: cfg.diffusion.clone(),
        dirs,
        sizing: Sizing {
            batch_size: cfg.diffusion.batch_size.unwrap_or(plan.diffusion_batch),
            attention_chunk: plan.attention_chunk,
        },
    }
}

fn new_report(cfg: &RunConfig, clip: &ClipSummary, placement: &Placement) -> RunReport {
    RunReport {
        tool_version: TOOL_VERSION.into(),
        input: cfg.input.path().to_path_buf(),
        output: cfg.output.path().to_path_buf(),
        workdir: cfg.workdir.clone(),
        frames_total: clip.frame_count,
        options: cfg.clone(),
        render_adapter: None,
        motion_blur: None,
        depth_of_field: None,
        lens: None,
        key_light: None,
        light: None,
        stages: Vec::new(),
        output_written: false,
        placement: Some(placement.clone()),
        model: None,
        peak_rss_bytes: 0,
        memory_plan: None,
        measured_memory: None,
        device: Some(DeviceProfile::current()),
        warnings: Vec::new(),
    }
}

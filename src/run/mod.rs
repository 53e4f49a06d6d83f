//! The main job, wired stage by stage: probe → track → placement → per frame (render →
//! composite → cache) → encode. Decoding and encoding run on their own threads with bounded
//! channels, so host memory stays flat however long the clip is.
//!
//! Caching: every per-frame result is stored in the work directory under a key that hashes
//! what it depends on. A frame is recomputed when it is selected (`--frames`, default all) and
//! its cached result is missing, stale or `--force` is given; frames outside the selection are
//! taken from the cache as they are (splicing), or pass through unchanged if never computed.

use std::path::{Path, PathBuf};
use std::sync::mpsc;

mod artefacts;
pub mod bench;
mod config;
mod contact_sheet;
mod memory;
mod refine;
mod track;

pub use track::{track_only, TrackJob, TrackReport};

pub use contact_sheet::sheet_path;

pub use config::{FrameSelection, RefineMode, RunConfig};

use crate::composite::{self, Patch};
use crate::core::{
    hash, report, CameraTrack, Error, Frame, FrameNr, FrameRange, Progress, RenderLayers, Result,
    RunReport, StageClock,
};
use crate::diffusion::stage::RefineStage;
use crate::memory::monitor::PeakMonitor;
use crate::render::placement::{self, Placement};
use crate::render::scene::ProductModel;
use crate::render::{RenderJob, RenderStage};
use crate::video::{ClipSummary, Sink, SinkSettings, Source};
use crate::workdir::{ArtefactStore, WorkDir, TOOL_VERSION};

/// What happens to one frame in this run.
#[derive(Debug, Clone, PartialEq, Eq)]
enum FramePlan {
    /// Render and composite now.
    Compute,
    /// Take the cached composite stored under this key.
    Reuse(String),
    /// Outside the selection and never computed: the source frame unchanged.
    Passthrough,
}

/// Everything resolved before the first frame is decoded.
struct Prepared {
    source: Source,
    clip: ClipSummary,
    range: FrameRange,
    workdir: WorkDir,
    track: CameraTrack,
    model: ProductModel,
    placement: Placement,
    render_options: crate::render::RenderOptions,
    render_key: String,
    composite_key: String,
    report: RunReport,
    /// The tracker's stage report when the track was computed or reused (not imported).
    track_stage: Option<crate::core::StageReport>,
    /// Diffusion frames per batch (`--batch-size`, else the memory plan's).
    refine_batch: Option<usize>,
}

/// Runs the main job and returns its report (also written next to the output).
pub fn run(cfg: &RunConfig, progress: &dyn Progress) -> Result<RunReport> {
    let monitor = PeakMonitor::start(&crate::nn::device());
    let mut p = prepare(cfg, false, progress)?;
    let renders = p.workdir.stage("render")?;
    let composites = p.workdir.stage("composite")?;
    let plans = plan_frames(&p, cfg, &composites);
    let output_key = output_key(&p, cfg, &plans);
    let up_to_date = !plans.contains(&FramePlan::Compute)
        && cfg.output_exists()
        && p.workdir.manifest()?.and_then(|m| m.output_key).as_deref() == Some(output_key.as_str());
    let mut clocks = Clocks::default();
    if up_to_date {
        clocks.composite.reused = p.clip.frame_count;
    } else {
        stream_frames(
            &mut p,
            cfg,
            &plans,
            (&renders, &composites),
            &mut clocks,
            progress,
        )?;
        let mut manifest = p.workdir.manifest()?.ok_or_else(|| Error::WorkDir {
            detail: "manifest disappeared during the run".into(),
            path: p.workdir.file("manifest.json"),
        })?;
        manifest.output_key = Some(output_key);
        p.workdir.write_manifest(&manifest)?;
    }
    p.report.output_written = !up_to_date;
    p.report.stages = p.track_stage.take().into_iter().collect();
    p.report.stages.push(clocks.render.report());
    p.report.stages.push(clocks.composite.report());
    if cfg.refine == RefineMode::Diffusion {
        let mut refine = clocks.refine.report();
        refine.diffusion = clocks.refine_stats.clone();
        if let Some(stats) = clocks.refine_stats.as_ref().filter(|s| s.oom_retries > 0) {
            p.report.warn(
                "refine",
                None,
                format!(
                    "the device ran out of memory {} time(s); batches were halved and retried, \
                     the run finished at {} frame(s) per batch",
                    stats.oom_retries, stats.batch_size
                ),
            );
        }
        p.report.stages.push(refine);
    }
    p.report.stages.push(clocks.encode.report());
    close_memory(&mut p.report, monitor);
    write_report(&p.report, &cfg.output)?;
    Ok(p.report)
}

#[derive(Debug)]
struct Clocks {
    refine_stats: Option<crate::diffusion::stage::RefineStats>,
    render: StageClock,
    composite: StageClock,
    refine: StageClock,
    encode: StageClock,
}

impl Default for Clocks {
    fn default() -> Self {
        Self {
            refine_stats: None,
            render: StageClock::new("render"),
            composite: StageClock::new("composite"),
            refine: StageClock::new("refine"),
            encode: StageClock::new("encode"),
        }
    }
}

fn prepare(cfg: &RunConfig, layers_dir: bool, progress: &dyn Progress) -> Result<Prepared> {
    let dirs = if cfg.refine == RefineMode::Diffusion {
        // fail on missing weights before any frame is decoded (loading waits for the first batch)
        Some(crate::diffusion::stage::preflight(
            &cfg.diffusion,
            &crate::diffusion::stage::device(),
        )?)
    } else {
        None
    };
    let source = Source::open(&cfg.input, cfg.seq_rate)?;
    let clip = source.summary();
    let memory_plan = dirs
        .as_ref()
        .map(|d| memory::plan_refine(cfg, d, clip.size, clip.frame_count))
        .transpose()?;
    let range = cfg.frames.resolve(clip.frame_count)?;
    if layers_dir {
        std::fs::create_dir_all(&cfg.output).map_err(|e| {
            Error::bad_input(
                format!("cannot create the layer directory ({e})"),
                "choose a writable --output",
                &cfg.output,
            )
        })?;
        crate::video::check_writable(&cfg.output.join("000000.rgba.png"))?;
    } else {
        crate::video::check_writable(&cfg.output)?;
        crate::video::check_encodable(&cfg.output, &cfg.input, clip.size)?;
    }
    let model = ProductModel::load(&cfg.model)?;
    if cfg.poses.is_none() {
        // fail on missing pose weights before the input is hashed or decoded
        crate::pose::stage::preflight(&cfg.pose)?;
    }
    let input_sha = source.content_hash()?;
    let clip_json = serde_json::to_value(&clip).unwrap_or_default();
    let (workdir, stale) = WorkDir::open(&cfg.workdir, &input_sha, clip_json)?;
    let run_track = track::obtain(
        cfg.poses.as_deref(),
        &cfg.pose,
        &source,
        &clip,
        &workdir,
        &input_sha,
        progress,
    )?;
    let track = run_track.track;
    track.write(&workdir.file("track.json"))?;
    let bbox = (model.bbox_min.as_dvec3(), model.bbox_max.as_dvec3());
    let (placement, placement_notes) = placement::place(&track, bbox, &cfg.placement)?;
    write_json(&workdir.file("placement.json"), &placement)?;
    let render_key = hash::key_of(&[
        ("tool", TOOL_VERSION),
        ("input", &input_sha),
        ("track", &hash::file_sha256(&workdir.file("track.json"))?),
        ("model", &hash::file_sha256(&cfg.model)?),
        ("placement", &json_string(&placement)),
        ("render", &json_string(&cfg.render)),
    ]);
    let composite_key = hash::key_of(&[
        ("render", &render_key),
        ("composite", &json_string(&cfg.composite)),
        ("refine", &refine::key_part(cfg)),
    ]);
    workdir.record_stage(
        "render",
        &render_key,
        serde_json::json!({ "placement": &placement, "model": &cfg.model }),
    )?;
    workdir.record_stage(
        "composite",
        &composite_key,
        serde_json::to_value(cfg.composite).unwrap_or_default(),
    )?;
    let mut report = new_report(cfg, &clip, &placement);
    report.memory_plan = memory_plan
        .as_ref()
        .and_then(|p| serde_json::to_value(p).ok());
    report.model = Some(model.summary());
    if stale {
        report.warn(
            "workdir",
            None,
            "the work directory held results for another input or version; they were removed",
        );
    }
    for note in placement_notes {
        report.warn("placement", None, note);
    }
    for note in run_track.warnings {
        report.warn("track", None, note);
    }
    Ok(Prepared {
        source,
        clip,
        range,
        workdir,
        track,
        model,
        placement,
        render_options: cfg.render,
        render_key,
        composite_key,
        report,
        track_stage: run_track.stage,
        refine_batch: memory_plan.map(|p| {
            crate::nn::attention::set_query_chunk(p.attention_chunk);
            cfg.diffusion.batch_size.unwrap_or(p.diffusion_batch)
        }),
    })
}

fn new_report(cfg: &RunConfig, clip: &ClipSummary, placement: &Placement) -> RunReport {
    RunReport {
        tool_version: TOOL_VERSION.into(),
        input: cfg.input.clone(),
        output: cfg.output.clone(),
        workdir: cfg.workdir.clone(),
        frames_total: clip.frame_count,
        options: serde_json::to_value(cfg).unwrap_or_default(),
        stages: Vec::new(),
        output_written: false,
        placement: serde_json::to_value(placement).ok(),
        model: None,
        peak_rss_bytes: 0,
        memory_plan: None,
        measured_memory: None,
        device: serde_json::to_value(crate::memory::profile::DeviceProfile::current()).ok(),
        warnings: Vec::new(),
    }
}

fn plan_frames(p: &Prepared, cfg: &RunConfig, composites: &ArtefactStore) -> Vec<FramePlan> {
    (0..p.clip.frame_count)
        .map(FrameNr)
        .map(|nr| {
            if p.range.contains(nr) {
                if !cfg.force && composites.is_done(nr, &p.composite_key) {
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

/// Identifies the exact output a plan produces, to skip re-encoding an identical output.
fn output_key(p: &Prepared, cfg: &RunConfig, plans: &[FramePlan]) -> String {
    let frames: String = plans
        .iter()
        .map(|plan| match plan {
            FramePlan::Compute => p.composite_key.as_str(),
            FramePlan::Reuse(k) => k.as_str(),
            FramePlan::Passthrough => "-",
        })
        .collect::<Vec<_>>()
        .join(",");
    hash::key_of(&[
        ("input", &p.report.input.display().to_string()),
        ("output", &cfg.output.display().to_string()),
        ("crf", &cfg.crf.to_string()),
        ("frames", &frames),
    ])
}

/// Frames decoded together, rendered in one GPU submission and composited in parallel.
const BATCH: usize = 8;

/// What a batch of frames needs besides the frames themselves.
struct BatchContext<'a> {
    p: &'a Prepared,
    cfg: &'a RunConfig,
    plans: &'a [FramePlan],
    renders: &'a ArtefactStore,
    composites: &'a ArtefactStore,
}

/// Decodes, processes and encodes every frame in order.
fn stream_frames(
    p: &mut Prepared,
    cfg: &RunConfig,
    plans: &[FramePlan],
    stores: (&ArtefactStore, &ArtefactStore),
    clocks: &mut Clocks,
    progress: &dyn Progress,
) -> Result<()> {
    let (encoder_tx, encoder) = spawn_encoder(cfg, &p.clip, p.source.audio_path())?;
    let decoded = p.source.spawn_decoder(BATCH);
    let mut state = StreamState {
        renderer: None,
        refiner: None,
        refine_notes: Vec::new(),
        passthrough: 0,
        sheet: contact_sheet::ContactSheet::new(p.clip.frame_count),
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
    let joined = encoder.join().map_err(|_| Error::Render {
        detail: "encoder thread panicked".into(),
    });
    streamed?;
    let (encode_clock, audio_note) = joined??;
    clocks.encode = encode_clock;
    if received != p.clip.frame_count {
        return Err(Error::bad_input(
            format!("decoded {received} of {} frames", p.clip.frame_count),
            "the input is truncated or corrupt; re-encode it",
            &cfg.input,
        ));
    }
    if let Some(note) = audio_note {
        p.report.warn("encode", None, note);
    }
    if state.passthrough > 0 {
        let n = state.passthrough;
        p.report.warn("composite", None, format!("{n} frames outside --frames had no cached result and were copied from the input unchanged"));
    }
    if let Some(r) = &state.renderer {
        p.report.options["render_adapter"] = r.adapter().into();
    }
    if let Some(stage) = &state.refiner {
        clocks.refine_stats = Some(stage.stats.clone());
    }
    for (nr, note) in std::mem::take(&mut state.refine_notes) {
        p.report.warn("refine", Some(nr), note);
    }
    state.sheet.write(&contact_sheet::sheet_path(&cfg.output))
}

/// What changes while frames stream through.
struct StreamState {
    renderer: Option<RenderStage>,
    refiner: Option<RefineStage>,
    refine_notes: Vec<(FrameNr, String)>,
    passthrough: u64,
    sheet: contact_sheet::ContactSheet,
}

/// Renders, composites and caches the frames of a batch that need it, applies every frame's
/// patch (new or cached) and returns the finished frames in order.
fn process_batch(
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
    let settings = &ctx.cfg.composite;
    let mut patches: Vec<Patch> = clocks.composite.time(|| {
        use rayon::prelude::*;
        to_compute
            .par_iter()
            .zip(&layers)
            .map(|(f, l)| composite::composite(&f.rgb, l, f.nr, settings))
            .collect()
    });
    if ctx.cfg.refine == RefineMode::Diffusion && !to_compute.is_empty() {
        patches = refine::refine_patches(
            ctx.cfg,
            ctx.p.refine_batch,
            &to_compute,
            &layers,
            patches,
            state,
            clocks,
        )?;
    }
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

/// The render layers of `frames`: from the cache where valid, the rest rendered in one batch
/// (and cached).
fn layers_for(
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
                Ok(RenderJob {
                    frame: frames[i],
                    camera: pose_of(p, frames[i])?,
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

fn pose_of<'a>(p: &'a Prepared, frame: &Frame) -> Result<&'a crate::core::CameraPose> {
    p.track.pose(frame.nr).ok_or(Error::InvalidTrack {
        detail: format!("no pose for frame {}", frame.nr),
        path: p.workdir.file("track.json"),
    })
}

type EncoderHandle = std::thread::JoinHandle<Result<(StageClock, Option<String>)>>;

/// Messages to the encoder thread: frames in order, then `Finish` when all went well.
enum ToEncoder {
    Frame(Frame),
    Finish,
}

/// Starts the encoder thread; returns once the output is created (or failed to be).
fn spawn_encoder(
    cfg: &RunConfig,
    clip: &ClipSummary,
    audio: Option<&Path>,
) -> Result<(mpsc::SyncSender<ToEncoder>, EncoderHandle)> {
    let (tx, rx) = mpsc::sync_channel::<ToEncoder>(4);
    let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<()>>(1);
    let (output, clip, audio) = (
        cfg.output.clone(),
        clip.clone(),
        audio.map(Path::to_path_buf),
    );
    let settings = SinkSettings { crf: cfg.crf };
    let handle = std::thread::spawn(move || -> Result<(StageClock, Option<String>)> {
        let (mut sink, note) = match Sink::create(&output, &clip, settings, audio.as_deref()) {
            Ok(s) => {
                let _ = ready_tx.send(Ok(()));
                s
            }
            Err(e) => {
                let _ = ready_tx.send(Err(e));
                return Ok((StageClock::new("encode"), None));
            }
        };
        let mut clock = StageClock::new("encode");
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
    ready_rx.recv().map_err(|_| Error::Render {
        detail: "encoder thread stopped".into(),
    })??;
    Ok((tx, handle))
}

/// `vanelia render`: writes each selected frame's layers (`<nr>.rgba.png`, premultiplied;
/// `<nr>.shadow.png`, multiplicative; `<nr>.mask.png`; `<nr>.depth.png`, 16-bit millimetres)
/// into the `--output` directory.
pub fn render_layers(cfg: &RunConfig, progress: &dyn Progress) -> Result<RunReport> {
    let monitor = PeakMonitor::start(&crate::nn::device());
    let mut p = prepare(cfg, true, progress)?;
    let renders = p.workdir.stage("render")?;
    let mut clock = StageClock::new("render");
    let mut renderer: Option<RenderStage> = None;
    progress.begin("render", p.range.len());
    let mut batch = Vec::with_capacity(BATCH);
    let mut decoded = p.source.spawn_decoder(BATCH).into_iter().peekable();
    while let Some(item) = decoded.next() {
        let frame = item?;
        if p.range.contains(frame.nr) {
            batch.push(frame);
        }
        if batch.len() == BATCH || (decoded.peek().is_none() && !batch.is_empty()) {
            let frames: Vec<&Frame> = batch.iter().collect();
            let layers = layers_for(&p, cfg.force, &frames, &renders, &mut renderer, &mut clock)?;
            for (frame, l) in frames.iter().zip(&layers) {
                artefacts::write_full_layers(&cfg.output, frame.nr, l, p.clip.size)?;
            }
            progress.advance("render", frames.len() as u64);
            batch.clear();
        }
    }
    progress.finish("render");
    p.report.stages = p.track_stage.take().into_iter().collect();
    p.report.stages.push(clock.report());
    p.report.output_written = true;
    close_memory(&mut p.report, monitor);
    write_json(&cfg.output.join("report.json"), &p.report)?;
    Ok(p.report)
}

/// The report's memory figures: peak host RSS and the device memory the run used.
fn close_memory(report: &mut RunReport, monitor: PeakMonitor) {
    report.peak_rss_bytes = report::peak_rss_bytes();
    report.measured_memory = serde_json::to_value(monitor.finish()).ok();
}

fn json_string<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

pub(super) fn write_json<T: serde::Serialize>(path: &Path, v: &T) -> Result<()> {
    let text = serde_json::to_vec_pretty(v).map_err(|e| Error::WorkDir {
        detail: e.to_string(),
        path: path.into(),
    })?;
    crate::core::atomic::write(path, &text)
}

/// The report's path: `<output stem>.report.json` beside a video, `report.json` in a
/// sequence's directory.
pub fn report_path(output: &Path) -> PathBuf {
    match crate::video::image_seq::SeqPattern::parse(output) {
        Some(p) => p.path_of(0).with_file_name("report.json"),
        None => output.with_extension("report.json"),
    }
}

fn write_report(report: &RunReport, output: &Path) -> Result<()> {
    write_json(&report_path(output), report)
}

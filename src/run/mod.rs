//! The main job, wired stage by stage: `prepare` (weights located once, memory plan, probe,
//! work directory, track, placement, the shot's light, cache keys) → `stream` the frames
//! (decode → per batch: render → composite → refine → cache, in `frames`) → `encode` → the
//! [`report`]. Decoding
//! and encoding run on their own threads with bounded channels, so host memory stays flat
//! however long the clip is. This is the only module that imports several stages.
//!
//! Caching: every per-frame result is stored in the work directory under a key that hashes
//! what it depends on. A frame is recomputed when it is selected (`--frames`, default all) and
//! its cached result is missing, stale or `--force` is given; frames outside the selection are
//! taken from the cache as they are (splicing), or pass through unchanged if never computed.

mod artefacts;
pub mod bench;
mod clip;
mod config;
mod contact_sheet;
mod encode;
mod frames;
pub mod json;
mod light;
mod memory;
mod optics;
mod prepare;
mod refine;
pub mod report;
mod state;
mod stream;
mod track;

pub use config::{FrameSelection, RefineMode, RunConfig};
pub use contact_sheet::sheet_path;
pub use light::{KeyLight, ShotLight};
pub use optics::{DepthOfField, ShutterSource};
pub use report::{report_path, RunReport, StageReport, TrackingReport, Warning};
pub use track::{track_only, track_report_path, TrackJob, TrackReport};

use frames::{layers_for, plan_frames, FramePlan, BATCH};
use json::write_json;
use prepare::{prepare, Prepared, Target};
use state::Clocks;
use stream::stream_frames;

use crate::core::{Error, Frame, Progress, Result, Stage, StageClock};
use crate::memory::monitor::PeakMonitor;
use crate::render::RenderStage;

/// Runs the main job and returns its report (also written next to the output).
pub fn run(cfg: &RunConfig, progress: &dyn Progress) -> Result<RunReport> {
    let monitor = PeakMonitor::start(&crate::nn::device());
    let mut p = prepare(cfg, Target::Clip, progress)?;
    let renders = p.workdir.stage(Stage::Render)?;
    let composites = p.workdir.stage(Stage::Composite)?;
    let plans = plan_frames(&p, cfg.force, &composites);
    let output_key = frames::output_key(&p, cfg, &plans)?;
    let up_to_date = !plans.contains(&FramePlan::Compute)
        && cfg.output.exists()
        && p.workdir.manifest()?.and_then(|m| m.output_key).as_deref() == Some(output_key.as_str());
    let mut clocks = Clocks::default();
    if up_to_date {
        clocks.composite.reused = p.clip.frame_count;
    } else {
        let stores = (&renders, &composites);
        stream_frames(&mut p, cfg, &plans, stores, &mut clocks, progress)?;
        let mut manifest = p.workdir.manifest()?.ok_or_else(|| Error::WorkDir {
            detail: "manifest disappeared during the run".into(),
            path: p.workdir.file("manifest.json"),
        })?;
        manifest.output_key = Some(output_key);
        p.workdir.write_manifest(&manifest)?;
    }
    p.report.output_written = !up_to_date;
    report_stages(&mut p, cfg, clocks);
    close_memory(&mut p.report, monitor);
    write_json(&report_path(&cfg.output), &p.report)?;
    Ok(p.report)
}

/// The stages' entries in execution order, and the refinement's out-of-memory warning.
fn report_stages(p: &mut Prepared, cfg: &RunConfig, clocks: Clocks) {
    p.report.stages = p.track_stage.take().into_iter().collect();
    p.report.stages.push(clocks.render.timing().into());
    p.report.stages.push(clocks.composite.timing().into());
    if cfg.refine == RefineMode::Diffusion {
        if let Some(stats) = clocks.refine_stats.as_ref().filter(|s| s.oom_retries > 0) {
            p.report.warn(
                Stage::Refine,
                None,
                format!(
                    "the device ran out of memory {} time(s); batches were halved and retried, \
                     the run finished at {} frame(s) per batch",
                    stats.oom_retries, stats.batch_size
                ),
            );
        }
        p.report.stages.push(StageReport {
            diffusion: clocks.refine_stats,
            ..clocks.refine.timing().into()
        });
    }
    p.report.stages.push(clocks.encode.timing().into());
}

/// `vanelia render`: writes each selected frame's layers (`<nr>.rgba.png`, premultiplied;
/// `<nr>.shadow.png`, multiplicative; `<nr>.mask.png`; `<nr>.depth.png`, 16-bit millimetres)
/// into the `--output` directory.
pub fn render_layers(cfg: &RunConfig, progress: &dyn Progress) -> Result<RunReport> {
    let monitor = PeakMonitor::start(&crate::nn::device());
    let mut p = prepare(cfg, Target::LayerFolder, progress)?;
    let renders = p.workdir.stage(Stage::Render)?;
    let mut clock = StageClock::new(Stage::Render);
    let mut renderer: Option<RenderStage> = None;
    let dir = cfg.output.path();
    progress.begin("render", p.range.len());
    let mut batch: Vec<Frame> = Vec::with_capacity(BATCH);
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
                artefacts::write_full_layers(dir, frame.nr, l, p.clip.size)?;
            }
            progress.advance("render", frames.len() as u64);
            batch.clear();
        }
    }
    progress.finish("render");
    if let Some(r) = &renderer {
        p.report.record_renderer(r);
    }
    p.report.stages = p.track_stage.take().into_iter().collect();
    p.report.stages.push(clock.timing().into());
    p.report.output_written = true;
    close_memory(&mut p.report, monitor);
    write_json(&dir.join("report.json"), &p.report)?;
    Ok(p.report)
}

/// The report's memory figures: peak host RSS and the device memory the run used.
fn close_memory(report: &mut RunReport, monitor: PeakMonitor) {
    report.peak_rss_bytes = crate::memory::profile::peak_rss_bytes();
    report.measured_memory = Some(monitor.finish());
}

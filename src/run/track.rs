//! The camera track of a run: imported (`--poses`), or computed by the pose stage and cached in
//! the work directory under a key of the input, the weights and the tracker's options; and
//! `vanelia track`, the pose stage alone.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use super::json::write_json;
use super::report::{StageReport, TrackingReport};
use crate::core::{hash, CameraTrack, FrameRate, FrameSize, Progress, Result, Stage, StageTiming};
use crate::memory::monitor::{MeasuredMemory, PeakMonitor};
use crate::memory::profile::{peak_rss_bytes, DeviceProfile};
use crate::memory::{plan_pose, PoseRequest, StagePlan};
use crate::nn::cost::ConvKernel;
use crate::nn::Precision;
use crate::pose::stage::{track_frames, PoseOptions};
use crate::pose::tracking::tracker::TrackOptions;
use crate::video::{ClipSummary, MediaPath, Source};
use crate::workdir::{WorkDir, TOOL_VERSION};

/// A track and, when it was computed or reused rather than imported, its stage report and
/// warnings.
pub(super) struct RunTrack {
    pub track: CameraTrack,
    pub stage: Option<StageReport>,
    pub warnings: Vec<String>,
}

/// Where the run's track comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum TrackFrom {
    /// A poses file (`--poses`).
    Imported(PathBuf),
    /// The tracker, with the checkpoint located once by the run.
    Tracker(PathBuf),
}

/// The tracker's settings for one run.
pub(super) struct Tracker<'a> {
    /// The DUSt3R checkpoint.
    pub weights: &'a Path,
    /// The tracker's options.
    pub options: &'a PoseOptions,
    /// `--vram-budget`.
    pub vram_budget: Option<u64>,
}

/// What a computed track depends on (the pair batch does not change it).
#[derive(Serialize)]
struct TrackKey<'a> {
    tool: &'a str,
    input_sha256: &'a str,
    weights: &'a Path,
    weights_bytes: u64,
    size_px: u32,
    precision: Precision,
    track: &'a TrackOptions,
}

fn track_key(input_sha: &str, weights: &Path, options: &PoseOptions) -> Result<String> {
    let file = crate::pose::network::weights::checkpoint_file(weights)?;
    let weights_bytes = std::fs::metadata(&file).map_or(0, |m| m.len());
    hash::key_of(&TrackKey {
        tool: TOOL_VERSION,
        input_sha256: input_sha,
        weights,
        weights_bytes,
        size_px: options.size_px,
        precision: options.precision,
        track: &options.track,
    })
}

/// The imported track (a poses file or a COLMAP model's folder), checked against the clip.
pub(super) fn imported(path: &Path, clip: &ClipSummary) -> Result<RunTrack> {
    let (track, warnings) = if path.is_dir() {
        let imported = crate::core::colmap::import(path, clip.frame_count, clip.size)?;
        (imported.track, imported.warnings)
    } else {
        (CameraTrack::read(path)?, Vec::new())
    };
    track.check_clip(clip.size, clip.frame_count, path)?;
    Ok(RunTrack {
        track,
        stage: None,
        warnings,
    })
}

/// The tracker's track: cached under its key in the work directory, else computed.
pub(super) fn tracked(
    tracker: &Tracker<'_>,
    (source, clip): (&Source, &ClipSummary),
    workdir: &WorkDir,
    input_sha: &str,
    progress: &dyn Progress,
) -> Result<RunTrack> {
    let key = track_key(input_sha, tracker.weights, tracker.options)?;
    let cached = workdir.file("tracked.json");
    let key_file = workdir.file("tracked.key");
    if std::fs::read_to_string(&key_file).ok().as_deref() == Some(key.as_str()) {
        if let Ok(track) = CameraTrack::read(&cached) {
            return Ok(RunTrack {
                track,
                stage: Some(StageTiming::reused(Stage::Track, clip.frame_count).into()),
                warnings: Vec::new(),
            });
        }
    }
    let started = Instant::now();
    let tracked = compute(source, tracker, None, progress)?;
    tracked.track.write(&cached)?;
    crate::core::atomic::write(&key_file, key.as_bytes())?;
    let timing = StageTiming::computed(
        Stage::Track,
        clip.frame_count,
        started.elapsed().as_secs_f64(),
    );
    Ok(RunTrack {
        track: tracked.track,
        stage: Some(StageReport {
            tracking: Some(tracked.report),
            ..timing.into()
        }),
        warnings: tracked.warnings,
    })
}

/// A computed track with its report.
struct Computed {
    track: CameraTrack,
    report: TrackingReport,
    warnings: Vec<String>,
}

/// Tracks the clip's frames, or its first `limit` frames, at the pair batch the memory plan
/// chooses (failing before anything is decoded or loaded when one pair does not fit).
fn compute(
    source: &Source,
    tracker: &Tracker<'_>,
    limit: Option<u64>,
    progress: &dyn Progress,
) -> Result<Computed> {
    let clip = source.summary();
    let frames = limit.map_or(clip.frame_count, |n| n.min(clip.frame_count));
    let plan = plan_track(tracker, clip.size, frames)?;
    let planned = PoseOptions {
        batch: plan.batch,
        ..tracker.options.clone()
    };
    let decoded = source.spawn_decoder(8).into_iter();
    let take = usize::try_from(frames).unwrap_or(usize::MAX);
    let tracked = track_frames(decoded.take(take), &planned, tracker.weights, progress)?;
    Ok(Computed {
        track: tracked.track,
        report: TrackingReport {
            stats: tracked.stats,
            memory_plan: Some(plan),
        },
        warnings: tracked.warnings,
    })
}

/// Plans the pose stage for tracking `frames` frames of `frame` size with the tracker's
/// checkpoint (its own configuration), before it is loaded: the largest pair batch up to
/// `--pose-batch` that fits the budget; fails with the bytes missing when one pair does not.
fn plan_track(tracker: &Tracker<'_>, frame: FrameSize, frames: u64) -> Result<StagePlan> {
    let options = tracker.options;
    plan_pose(&PoseRequest {
        budget: super::memory::budget(tracker.vram_budget),
        frame,
        frames,
        precision: options.precision,
        conv: ConvKernel::of(&crate::nn::device()),
        max_pairs: Some(options.batch),
        size_px: options.size_px,
        track: options.track,
        config: crate::pose::network::weights::config(tracker.weights)?,
    })
}

/// What `vanelia track` was asked to do.
#[derive(Debug, Clone)]
pub struct TrackJob {
    /// Input video or image sequence.
    pub input: MediaPath,
    /// Frame rate of image-sequence input.
    pub seq_rate: FrameRate,
    /// Poses file to write.
    pub output: PathBuf,
    /// COLMAP text model folder to write, if any.
    pub colmap: Option<PathBuf>,
    /// Track only the first this many frames.
    pub max_frames: Option<u64>,
    /// Tracker options.
    pub options: PoseOptions,
    /// Device memory the tracker may use (`--vram-budget`); `None` = the memory free now.
    pub vram_budget: Option<u64>,
}

/// What `vanelia track` did, written next to the poses file (`poses.report.json` for
/// `poses.json`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TrackReport {
    /// `vanelia` version.
    pub tool_version: String,
    /// Input video or image sequence.
    pub input: PathBuf,
    /// Poses file written.
    pub output: PathBuf,
    /// The pose stage (one entry, in the run report's `stages` form).
    pub stages: Vec<StageReport>,
    /// The tracker's warnings.
    pub warnings: Vec<String>,
    /// Peak resident set size of the process in bytes.
    pub peak_rss_bytes: u64,
    /// The compute device and its memory.
    pub device: DeviceProfile,
    /// Device memory the stage used, sampled while it ran.
    pub measured_memory: MeasuredMemory,
}

/// The report beside a poses file: `poses.report.json` for `poses.json`.
pub fn track_report_path(poses: &Path) -> PathBuf {
    poses.with_extension("report.json")
}

/// Runs the pose stage alone: decodes the input (or its first `max_frames` frames), tracks,
/// writes the poses file (and the COLMAP model) and the report beside it.
pub fn track_only(job: &TrackJob, progress: &dyn Progress) -> Result<TrackReport> {
    let weights = crate::pose::stage::preflight(&job.options)?;
    let source = Source::open(&job.input, job.seq_rate)?;
    let clip = source.summary();
    crate::video::check_file_writable(&job.output)?;
    let device = DeviceProfile::current();
    let monitor = PeakMonitor::start(&crate::nn::device());
    let started = Instant::now();
    let tracker = Tracker {
        weights: &weights,
        options: &job.options,
        vram_budget: job.vram_budget,
    };
    let tracked = compute(&source, &tracker, job.max_frames, progress)?;
    tracked.track.write(&job.output)?;
    if let Some(dir) = &job.colmap {
        crate::core::colmap::write(&tracked.track, dir)?;
    }
    let frames = job
        .max_frames
        .map_or(clip.frame_count, |n| n.min(clip.frame_count));
    let timing = StageTiming::computed(Stage::Track, frames, started.elapsed().as_secs_f64());
    let report = TrackReport {
        tool_version: TOOL_VERSION.into(),
        input: job.input.path().to_path_buf(),
        output: job.output.clone(),
        stages: vec![StageReport {
            tracking: Some(tracked.report),
            ..timing.into()
        }],
        warnings: tracked.warnings,
        peak_rss_bytes: peak_rss_bytes(),
        device,
        measured_memory: monitor.finish(),
    };
    write_json(&track_report_path(&job.output), &report)?;
    Ok(report)
}

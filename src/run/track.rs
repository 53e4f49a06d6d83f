//! The camera track of a run: imported (`--poses`), or computed by the pose stage and cached in
//! the work directory under a key of the input, the weights and the tracker's options; and
//! `vanelia track`, the pose stage alone.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::core::{hash, CameraTrack, Progress, Result, StageReport};
use crate::pose::stage::{track_frames, PoseOptions, TrackedClip};
use crate::video::{ClipSummary, Source};
use crate::workdir::{WorkDir, TOOL_VERSION};

/// A track and, when it was computed or reused rather than imported, its stage report and
/// warnings.
pub(super) struct RunTrack {
    pub track: CameraTrack,
    pub stage: Option<StageReport>,
    pub warnings: Vec<String>,
}

/// Identifies a computed track: input, weights (path and size), options, version.
fn track_key(input_sha: &str, weights: &Path, options: &PoseOptions) -> String {
    let weights_len =
        std::fs::metadata(crate::pose::weights::checkpoint_file(weights).unwrap_or_default())
            .map(|m| m.len())
            .unwrap_or(0);
    hash::key_of(&[
        ("tool", TOOL_VERSION),
        ("input", input_sha),
        ("weights", &format!("{}:{weights_len}", weights.display())),
        ("options", &options.key()),
    ])
}

/// The run's track: `poses` when given, else the cached or freshly computed one.
pub(super) fn obtain(
    poses: Option<&Path>,
    options: &PoseOptions,
    source: &Source,
    clip: &ClipSummary,
    workdir: &WorkDir,
    input_sha: &str,
    progress: &dyn Progress,
) -> Result<RunTrack> {
    if let Some(path) = poses {
        let track = CameraTrack::read(path)?;
        track.check_clip(clip.size, clip.frame_count, path)?;
        return Ok(RunTrack {
            track,
            stage: None,
            warnings: Vec::new(),
        });
    }
    let weights = crate::pose::stage::preflight(options)?;
    let key = track_key(input_sha, &weights, options);
    let cached = workdir.file("tracked.json");
    let key_file = workdir.file("tracked.key");
    if std::fs::read_to_string(&key_file).ok().as_deref() == Some(key.as_str()) {
        if let Ok(track) = CameraTrack::read(&cached) {
            return Ok(RunTrack {
                track,
                stage: Some(StageReport::reused("track", clip.frame_count)),
                warnings: Vec::new(),
            });
        }
    }
    let started = Instant::now();
    let tracked = compute(source, options, &weights, None, progress)?;
    tracked.track.write(&cached)?;
    crate::core::atomic::write(&key_file, key.as_bytes())?;
    let mut stage =
        StageReport::computed("track", clip.frame_count, started.elapsed().as_secs_f64());
    stage.tracking = Some(tracked.stats);
    Ok(RunTrack {
        track: tracked.track,
        stage: Some(stage),
        warnings: tracked.warnings,
    })
}

/// Tracks the clip's frames, or its first `limit` frames, at the pair batch the memory plan
/// chooses (failing before anything is decoded or loaded when one pair does not fit).
fn compute(
    source: &Source,
    options: &PoseOptions,
    weights: &Path,
    limit: Option<u64>,
    progress: &dyn Progress,
) -> Result<TrackedClip> {
    let clip = source.summary();
    let frames = limit.map_or(clip.frame_count, |n| n.min(clip.frame_count));
    let plan = super::memory::plan_track(options, weights, clip.size, frames)?;
    let planned = PoseOptions {
        batch: plan.batch,
        ..options.clone()
    };
    let decoded = source.spawn_decoder(8).into_iter();
    let take = usize::try_from(frames).unwrap_or(usize::MAX);
    let mut tracked = track_frames(decoded.take(take), &planned, weights, progress)?;
    tracked.stats.memory_plan = Some(plan);
    Ok(tracked)
}

/// What `vanelia track` was asked to do.
#[derive(Debug, Clone)]
pub struct TrackJob {
    /// Input video or image sequence.
    pub input: PathBuf,
    /// Frame rate of image-sequence input.
    pub seq_rate: crate::core::FrameRate,
    /// Poses file to write.
    pub output: PathBuf,
    /// COLMAP text model folder to write, if any.
    pub colmap: Option<PathBuf>,
    /// Track only the first this many frames.
    pub max_frames: Option<u64>,
    /// Tracker options.
    pub options: PoseOptions,
}

/// What `vanelia track` did, written next to the poses file (`poses.report.json` for
/// `poses.json`).
#[derive(Debug, Clone, serde::Serialize)]
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
    pub device: crate::memory::profile::DeviceProfile,
    /// Device memory the stage used, sampled while it ran.
    pub measured_memory: crate::memory::monitor::MeasuredMemory,
}

/// Runs the pose stage alone: decodes the input (or its first `max_frames` frames), tracks,
/// writes the poses file (and the COLMAP model) and the report beside it.
pub fn track_only(job: &TrackJob, progress: &dyn Progress) -> Result<TrackReport> {
    let weights = crate::pose::stage::preflight(&job.options)?;
    let source = Source::open(&job.input, job.seq_rate)?;
    let clip = source.summary();
    crate::video::check_writable(&job.output)?;
    let device = crate::memory::profile::DeviceProfile::current();
    let monitor = crate::memory::monitor::PeakMonitor::start(&crate::nn::device());
    let started = Instant::now();
    let tracked = compute(&source, &job.options, &weights, job.max_frames, progress)?;
    tracked.track.write(&job.output)?;
    if let Some(dir) = &job.colmap {
        crate::core::colmap::write(&tracked.track, dir)?;
    }
    let frames = job
        .max_frames
        .map_or(clip.frame_count, |n| n.min(clip.frame_count));
    let mut stage = StageReport::computed("track", frames, started.elapsed().as_secs_f64());
    stage.tracking = Some(tracked.stats);
    let report = TrackReport {
        tool_version: TOOL_VERSION.into(),
        input: job.input.clone(),
        output: job.output.clone(),
        stages: vec![stage],
        warnings: tracked.warnings,
        peak_rss_bytes: crate::core::report::peak_rss_bytes(),
        device,
        measured_memory: monitor.finish(),
    };
    super::write_json(&super::report_path(&job.output), &report)?;
    Ok(report)
}

//! The run report: what each stage did, how long it took, what it reused, and every warning.
//! Written as JSON next to the output so a run can be audited after the fact.

use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

use super::frame::FrameNr;

/// Summary of one stage of a run.
#[derive(Debug, Clone, Serialize)]
pub struct StageReport {
    /// Stage name, e.g. `composite`.
    pub name: String,
    /// Wall-clock time spent in the stage.
    pub wall_secs: f64,
    /// Frames computed in this run.
    pub frames_processed: u64,
    /// Frames taken from the work directory.
    pub frames_reused: u64,
    /// Frames handled per second of wall time (processed and reused).
    pub frames_per_sec: f64,
    /// UNet evaluations and batch size of the diffusion stage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diffusion: Option<crate::diffusion::stage::RefineStats>,
    /// Keyframes, pairs and alignment figures of the camera tracker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracking: Option<crate::pose::tracker::TrackStats>,
}

impl StageReport {
    /// A stage that computed `frames` frames in `wall_secs`.
    pub fn computed(name: &str, frames: u64, wall_secs: f64) -> Self {
        Self {
            name: name.into(),
            wall_secs,
            frames_processed: frames,
            frames_reused: 0,
            frames_per_sec: if wall_secs > 0.0 {
                frames as f64 / wall_secs
            } else {
                0.0
            },
            diffusion: None,
            tracking: None,
        }
    }

    /// A stage whose result for `frames` frames came from the work directory.
    pub fn reused(name: &str, frames: u64) -> Self {
        Self {
            frames_processed: 0,
            frames_reused: frames,
            ..Self::computed(name, 0, 0.0)
        }
    }
}

/// Accumulates the time and frame counts of one stage over a run.
#[derive(Debug, Clone)]
pub struct StageClock {
    name: &'static str,
    busy: std::time::Duration,
    /// Frames computed so far.
    pub processed: u64,
    /// Frames reused so far.
    pub reused: u64,
}

impl StageClock {
    /// A clock for stage `name` with nothing recorded.
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            busy: std::time::Duration::ZERO,
            processed: 0,
            reused: 0,
        }
    }

    /// Runs `f`, adding its duration to the stage.
    pub fn time<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = f();
        self.busy += start.elapsed();
        out
    }

    /// The stage's summary.
    pub fn report(&self) -> StageReport {
        let wall_secs = self.busy.as_secs_f64();
        let frames = (self.processed + self.reused) as f64;
        StageReport {
            name: self.name.into(),
            wall_secs,
            frames_processed: self.processed,
            frames_reused: self.reused,
            frames_per_sec: if wall_secs > 0.0 {
                frames / wall_secs
            } else {
                0.0
            },
            diffusion: None,
            tracking: None,
        }
    }
}

/// A recoverable problem that did not stop the run.
#[derive(Debug, Clone, Serialize)]
pub struct Warning {
    /// Stage that raised it.
    pub stage: String,
    /// Frame concerned, if any.
    pub frame: Option<FrameNr>,
    /// What happened and what was done instead.
    pub message: String,
}

/// Everything a run did, serialised next to the output.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// `vanelia` version.
    pub tool_version: String,
    /// Input video or image sequence.
    pub input: PathBuf,
    /// Output video or image sequence.
    pub output: PathBuf,
    /// Work directory used.
    pub workdir: PathBuf,
    /// Frames in the clip.
    pub frames_total: u64,
    /// The effective options after validation and defaults.
    pub options: serde_json::Value,
    /// Per-stage summaries in execution order.
    pub stages: Vec<StageReport>,
    /// Whether the output file was (re)written by this run.
    pub output_written: bool,
    /// Product placement in world coordinates, when a product was rendered.
    pub placement: Option<serde_json::Value>,
    /// The product model: bounds in metres, triangles, materials.
    pub model: Option<serde_json::Value>,
    /// Peak resident set size of the process in bytes.
    pub peak_rss_bytes: u64,
    /// The compute device and its memory when the run started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<serde_json::Value>,
    /// The memory plan of the diffusion stages (budget, per-stage bytes, batch, chunk).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_plan: Option<serde_json::Value>,
    /// The device memory the run used, sampled while it ran (`memory::monitor`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measured_memory: Option<serde_json::Value>,
    /// Recoverable problems.
    pub warnings: Vec<Warning>,
}

impl RunReport {
    /// Records a warning.
    pub fn warn(&mut self, stage: &str, frame: Option<FrameNr>, message: impl Into<String>) {
        self.warnings.push(Warning {
            stage: stage.into(),
            frame,
            message: message.into(),
        });
    }
}

/// Peak resident set size of this process (`VmHWM`), 0 where the OS does not tell.
pub fn peak_rss_bytes() -> u64 {
    proc_status_bytes("VmHWM:").unwrap_or(0)
}

/// A memory field of `/proc/self/status` (`RssAnon:`, `VmHWM:`, …) in bytes; `None` where the
/// OS does not tell.
pub fn proc_status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

//! The run report: what each stage did, how long it took, what it reused, and every warning.
//! Written as JSON next to the output so a run can be audited after the fact, and read back
//! by `vanelia bench` (the same types, so a field cannot drift between writer and reader).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::config::RunConfig;
use super::light::{KeyLight, ShotLight};
use crate::core::{FrameNr, Stage, StageTiming};
use crate::diffusion::options::RefineStats;
use crate::memory::monitor::MeasuredMemory;
use crate::memory::profile::DeviceProfile;
use crate::memory::{Plan, StagePlan};
use crate::pose::tracking::tracker::TrackStats;
use crate::render::placement::Placement;
use crate::render::scene::ModelSummary;
use crate::video::MediaPath;

/// The tracker's figures and the plan its pair batch came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackingReport {
    /// Keyframes, pairs, alignment and smoothing figures.
    #[serde(flatten)]
    pub stats: TrackStats,
    /// The memory plan of the stage (its pair batch and predicted peak), when it was planned.
    pub memory_plan: Option<StagePlan>,
}

/// Summary of one stage of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageReport {
    /// Time and frames.
    #[serde(flatten)]
    pub timing: StageTiming,
    /// UNet evaluations and batch size of the diffusion stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diffusion: Option<RefineStats>,
    /// Keyframes, pairs and alignment figures of the camera tracker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking: Option<TrackingReport>,
}

impl From<StageTiming> for StageReport {
    fn from(timing: StageTiming) -> Self {
        Self {
            timing,
            diffusion: None,
            tracking: None,
        }
    }
}

/// The product's motion blur in a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MotionBlur {
    /// Shutter angle, degrees.
    pub shutter_deg: f64,
    /// Where it came from: `--shutter` or the default.
    pub source: super::optics::ShutterSource,
    /// Renders made, shutter samples included (frames rendered × samples per frame; a still
    /// camera takes one per frame).
    pub renders: u64,
}

/// A recoverable problem that did not stop the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Warning {
    /// Stage that raised it.
    pub stage: Stage,
    /// Frame concerned, if any.
    pub frame: Option<FrameNr>,
    /// What happened and what was done instead.
    pub message: String,
}

/// Everything a run did, serialised next to the output.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    pub options: RunConfig,
    /// The product's motion blur: shutter and renders made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub motion_blur: Option<MotionBlur>,
    /// The product's depth of field: the lens given or read from the plate, and the disk at
    /// the product's depth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth_of_field: Option<super::optics::DepthOfField>,
    /// The lens's distortion (the first frame's) the product is bent by; absent for a pinhole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lens: Option<crate::core::lens::Lens>,
    /// The renderer's adapter (`llvmpipe`, a GPU's name), when frames were rendered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub render_adapter: Option<String>,
    /// Per-stage summaries in execution order.
    pub stages: Vec<StageReport>,
    /// Whether the output file was (re)written by this run.
    pub output_written: bool,
    /// Product placement in world coordinates.
    pub placement: Option<Placement>,
    /// The key light and where it came from (given, read from the shot, or the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_light: Option<KeyLight>,
    /// The shot's light: key, sky and shadow levels, and the floor evidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub light: Option<ShotLight>,
    /// The product model: bounds in metres, triangles, materials.
    pub model: Option<ModelSummary>,
    /// Peak resident set size of the process in bytes.
    pub peak_rss_bytes: u64,
    /// The compute device and its memory when the run started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceProfile>,
    /// The memory plan of the diffusion stages (budget, per-stage bytes, batch, chunk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_plan: Option<Plan>,
    /// The device memory the run used, sampled while it ran (`memory::monitor`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured_memory: Option<MeasuredMemory>,
    /// Recoverable problems.
    pub warnings: Vec<Warning>,
}

impl RunReport {
    /// What the renderer says of the run: its adapter and the renders it made.
    pub(super) fn record_renderer(&mut self, renderer: &crate::render::RenderStage) {
        self.render_adapter = Some(renderer.adapter().into());
        if let Some(blur) = &mut self.motion_blur {
            blur.renders = renderer.renders;
        }
    }

    /// Records a warning.
    pub fn warn(&mut self, stage: Stage, frame: Option<FrameNr>, message: impl Into<String>) {
        self.warnings.push(Warning {
            stage,
            frame,
            message: message.into(),
        });
    }

    /// The stage's entry, if it ran.
    pub fn stage(&self, stage: Stage) -> Option<&StageReport> {
        self.stages.iter().find(|s| s.timing.name == stage)
    }
}

/// A companion file of `output` named `name` (`report.json`, `contact.png`):
/// `<output stem>.<name>` beside a video, `<name>` in a sequence's folder.
pub fn companion_path(output: &MediaPath, name: &str) -> PathBuf {
    match output {
        MediaPath::Sequence { .. } => output.first_file().with_file_name(name),
        MediaPath::Video(path) => path.with_extension(name),
    }
}

/// The report's path: `<output stem>.report.json` beside a video (or a poses file),
/// `report.json` in a sequence's folder.
pub fn report_path(output: &MediaPath) -> PathBuf {
    companion_path(output, "report.json")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn stage_entries_keep_their_json_shape_and_read_back() {
        let mut entry = StageReport::from(StageTiming::computed(Stage::Track, 4, 2.0));
        entry.tracking = Some(TrackingReport {
            stats: TrackStats {
                pair_batch: 2,
                ..TrackStats::default()
            },
            memory_plan: None,
        });
        let json = serde_json::to_value(&entry).unwrap();
        assert_eq!(json["name"], "track");
        assert_eq!(json["frames_per_sec"], 2.0);
        assert_eq!(json["tracking"]["pair_batch"], 2);
        assert!(json["tracking"]["memory_plan"].is_null());
        assert!(json.get("diffusion").is_none());
        let back: StageReport = serde_json::from_value(json).unwrap();
        assert_eq!(back, entry);
        let seq = MediaPath::new(Path::new("out/%06d.png"));
        assert_eq!(report_path(&seq), PathBuf::from("out/report.json"));
        let video = MediaPath::new(Path::new("out/a.mp4"));
        assert_eq!(report_path(&video), PathBuf::from("out/a.report.json"));
    }
}

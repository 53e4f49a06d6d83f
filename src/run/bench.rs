//! `vanelia bench`: the main job run on N frames under several settings, each in its own
//! process (so that peak memory is measured per setting), and one report comparing them:
//! per-stage wall time, frames/s, UNet evaluations, peak host RSS, and the memory plan's
//! predicted peak against the device memory the run was measured to use.
//!
//! Comparisons (diffusion refinement): DPM++ 2M Karras 12 against DDIM 20 at equal strength
//! and at the same start noise level (`start_sigma`), and batch 8 against batch 1. With
//! [`BenchStage::Track`] the pose stage alone (`vanelia track` on the first N frames): pair
//! batch 8 against batch 1. The settings are typed [`Overrides`]; the caller (the binary, which
//! owns the command line) turns a variant into the child's command, and the child's report is
//! read back as the run's own report types.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use super::json::{read_json, write_json};
use super::report::{report_path, StageReport};
use super::track::{track_report_path, TrackReport};
use super::RunReport;
use crate::core::{Error, Result, Stage};
use crate::diffusion::schedulers::{start_step, SchedulerConfig, SchedulerKind};
use crate::memory::profile::DeviceProfile;
use crate::video::MediaPath;

mod table;

/// Settings a variant sets, replacing the user's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Overrides {
    /// Diffusion scheduler.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<SchedulerKind>,
    /// Steps of the full schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<usize>,
    /// img2img strength.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strength: Option<f64>,
    /// Start noise level instead of the strength.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_sigma: Option<f64>,
    /// Diffusion frames per batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<usize>,
    /// Pose pairs per batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pose_batch: Option<usize>,
}

/// One setting to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchVariant {
    /// Short name (also the output folder).
    pub name: String,
    /// What it sets.
    pub overrides: Overrides,
}

/// What a bench runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BenchStage {
    /// The main job (with diffusion refinement: the scheduler and batch comparisons).
    Pipeline,
    /// The pose stage alone (`vanelia track --max-frames N`).
    Track,
}

impl BenchStage {
    /// The stage whose time the comparisons use.
    fn focus(self, diffusion: bool) -> Stage {
        match self {
            Self::Track => Stage::Track,
            Self::Pipeline if diffusion => Stage::Refine,
            Self::Pipeline => Stage::Composite,
        }
    }
}

/// Where one variant's run writes.
#[derive(Debug, Clone)]
pub struct VariantRun {
    /// The stage benchmarked.
    pub stage: BenchStage,
    /// Frames from frame 0.
    pub frames: u64,
    /// The run's output (an image sequence, or a poses file for the pose stage).
    pub output: PathBuf,
    /// The run's own work directory (pipeline only).
    pub workdir: PathBuf,
}

/// The start noise level of DPM++ 2M Karras with `steps` steps at `strength` (SD 1.5 schedule).
pub fn dpm_start_sigma(steps: usize, strength: f64) -> f64 {
    let scheduler = SchedulerConfig::default().build(SchedulerKind::DpmPp2mKarras, steps);
    scheduler.sigma(start_step(steps, strength).min(steps.saturating_sub(1)))
}

/// The settings compared: for the pose stage pair batch 8 and 1; with diffusion refinement the
/// scheduler and batch comparisons; else the pipeline once.
pub fn variants(stage: BenchStage, diffusion: bool) -> Vec<BenchVariant> {
    let variant = |name: &str, overrides| BenchVariant {
        name: name.into(),
        overrides,
    };
    if stage == BenchStage::Track {
        return [8, 1]
            .map(|b| {
                let pairs = Overrides {
                    pose_batch: Some(b),
                    ..Overrides::default()
                };
                variant(&format!("pose_b{b}"), pairs)
            })
            .to_vec();
    }
    if !diffusion {
        return vec![variant("pipeline", Overrides::default())];
    }
    let dpm = |batch| Overrides {
        scheduler: Some(SchedulerKind::DpmPp2mKarras),
        steps: Some(12),
        strength: Some(0.3),
        batch_size: Some(batch),
        ..Overrides::default()
    };
    let ddim = |strength, start_sigma| Overrides {
        scheduler: Some(SchedulerKind::Ddim),
        steps: Some(20),
        strength,
        start_sigma,
        batch_size: Some(8),
        ..Overrides::default()
    };
    let sigma = (dpm_start_sigma(12, 0.3) * 1e6).round() / 1e6;
    vec![
        variant("dpmpp12_s0.3_b8", dpm(8)),
        variant("ddim20_s0.3_b8", ddim(Some(0.3), None)),
        variant("ddim20_same_sigma_b8", ddim(None, Some(sigma))),
        variant("dpmpp12_s0.3_b1", dpm(1)),
    ]
}

/// One variant's measured figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchResult {
    /// The setting.
    pub variant: BenchVariant,
    /// Wall time of the whole process.
    pub wall_secs: f64,
    /// Per stage: time and frames.
    pub stages: Vec<StageReport>,
    /// UNet evaluations.
    pub unet_evaluations: u64,
    /// Diffusion frames (or pose pairs) per batch used.
    pub batch_size: u64,
    /// Pairs through the pose network (keyframe graph and registration), when tracked.
    pub pose_pairs: u64,
    /// Peak resident host memory of the process.
    pub peak_rss_bytes: u64,
    /// The memory plan's predicted peak (device memory), when the run planned.
    pub predicted_peak_bytes: Option<u64>,
    /// Device memory the run added above its starting level, sampled (`memory::monitor`).
    pub measured_peak_bytes: Option<u64>,
}

impl BenchResult {
    /// Predicted over measured peak (the plan's goal: between 1 and 1.25).
    pub fn predicted_over_measured(&self) -> Option<f64> {
        match (self.predicted_peak_bytes, self.measured_peak_bytes) {
            (Some(p), Some(m)) if m > 0 => Some(p as f64 / m as f64),
            _ => None,
        }
    }

    /// The busy seconds of `stage` in this run (0 when it did not run).
    pub fn stage_secs(&self, stage: Stage) -> f64 {
        self.stage(stage).map_or(0.0, |s| s.timing.wall_secs)
    }

    fn stage(&self, stage: Stage) -> Option<&StageReport> {
        self.stages.iter().find(|s| s.timing.name == stage)
    }
}

/// The bench report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchReport {
    /// What ran.
    pub stage: BenchStage,
    /// The stage the comparisons time.
    pub focus: Stage,
    /// Frames per run.
    pub frames: u64,
    /// The machine.
    pub device: DeviceProfile,
    /// Per setting.
    pub results: Vec<BenchResult>,
    /// Named ratios (e.g. DDIM 20 / DPM++ 12 refine time).
    pub ratios: Vec<(String, f64)>,
}

/// Runs every variant through `command` (which builds the child process for a variant) in
/// `dir`, `frames` frames each; writes `bench.json` and `bench.txt` there.
pub fn run_bench(
    command: &dyn Fn(&BenchVariant, &VariantRun) -> Command,
    stage: BenchStage,
    diffusion: bool,
    frames: u64,
    dir: &Path,
) -> Result<BenchReport> {
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::bad_input(
            format!("cannot create the bench folder ({e})"),
            "choose a writable --bench-dir",
            dir,
        )
    })?;
    let focus = stage.focus(diffusion);
    let mut results = Vec::new();
    for variant in variants(stage, diffusion) {
        let out_dir = dir.join(&variant.name);
        let run = VariantRun {
            stage,
            frames,
            output: match stage {
                BenchStage::Pipeline => out_dir.join("%06d.png"),
                BenchStage::Track => out_dir.join("poses.json"),
            },
            workdir: dir.join(format!("{}.workdir", variant.name)),
        };
        results.push(run_variant(command(&variant, &run), &run, &variant)?);
    }
    let ratios = table::ratios(&results, focus);
    let report = BenchReport {
        stage,
        focus,
        frames,
        device: DeviceProfile::current(),
        results,
        ratios,
    };
    write_json(&dir.join("bench.json"), &report)?;
    crate::core::atomic::write(&dir.join("bench.txt"), report.table().as_bytes())?;
    Ok(report)
}

fn run_variant(
    mut command: Command,
    run: &VariantRun,
    variant: &BenchVariant,
) -> Result<BenchResult> {
    if let Some(parent) = run.output.parent() {
        std::fs::create_dir_all(parent).map_err(Error::io("create bench folder", parent))?;
    }
    let started = std::time::Instant::now();
    let status = command.output().map_err(|e| Error::Unavailable {
        what: "bench",
        hint: format!("could not start {:?} ({e})", command.get_program()),
    })?;
    let wall_secs = started.elapsed().as_secs_f64();
    if !status.status.success() {
        return Err(Error::Unavailable {
            what: "bench",
            hint: format!(
                "the {} run failed: {}",
                variant.name,
                String::from_utf8_lossy(&status.stderr).trim()
            ),
        });
    }
    let result = match run.stage {
        BenchStage::Pipeline => {
            let report: RunReport = read_json(&report_path(&MediaPath::new(&run.output)))?;
            of_run(report)
        }
        BenchStage::Track => of_track(read_json(&track_report_path(&run.output))?),
    };
    Ok(BenchResult {
        variant: variant.clone(),
        wall_secs,
        ..result
    })
}

/// The figures of a main-job report.
fn of_run(report: RunReport) -> BenchResult {
    let refine = report
        .stage(Stage::Refine)
        .and_then(|s| s.diffusion.clone());
    BenchResult {
        unet_evaluations: refine.as_ref().map_or(0, |r| r.unet_evaluations as u64),
        batch_size: refine.as_ref().map_or(0, |r| r.batch_size as u64),
        predicted_peak_bytes: report.memory_plan.as_ref().map(|p| p.predicted_peak_bytes),
        measured_peak_bytes: report
            .measured_memory
            .as_ref()
            .map(|m| m.peak_above_baseline_bytes),
        peak_rss_bytes: report.peak_rss_bytes,
        ..empty_result(report.stages)
    }
}

/// The figures of a `vanelia track` report.
fn of_track(report: TrackReport) -> BenchResult {
    let tracking = report
        .stages
        .iter()
        .find(|s| s.timing.name == Stage::Track)
        .and_then(|s| s.tracking.clone());
    let stats = tracking.as_ref().map(|t| &t.stats);
    BenchResult {
        batch_size: stats.map_or(0, |t| t.pair_batch as u64),
        pose_pairs: stats.map_or(0, |t| (t.keyframe_pairs + t.registration_pairs) as u64),
        predicted_peak_bytes: tracking
            .as_ref()
            .and_then(|t| t.memory_plan.as_ref())
            .map(|p| p.peak_bytes),
        measured_peak_bytes: Some(report.measured_memory.peak_above_baseline_bytes),
        peak_rss_bytes: report.peak_rss_bytes,
        ..empty_result(report.stages)
    }
}

fn empty_result(stages: Vec<StageReport>) -> BenchResult {
    BenchResult {
        variant: BenchVariant {
            name: String::new(),
            overrides: Overrides::default(),
        },
        wall_secs: 0.0,
        stages,
        unet_evaluations: 0,
        batch_size: 0,
        pose_pairs: 0,
        peak_rss_bytes: 0,
        predicted_peak_bytes: None,
        measured_peak_bytes: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_compare_schedulers_batches_and_pair_batches() {
        // the README's figure
        assert!((dpm_start_sigma(12, 0.3) - 0.147).abs() < 1e-3);
        let pipeline = variants(BenchStage::Pipeline, true);
        assert_eq!(pipeline.len(), 4);
        assert_eq!(pipeline[2].overrides.strength, None);
        assert!(pipeline[2].overrides.start_sigma.is_some());
        assert_eq!(variants(BenchStage::Track, false).len(), 2);
        assert_eq!(
            variants(BenchStage::Pipeline, false)[0].overrides,
            Overrides::default()
        );
    }
}

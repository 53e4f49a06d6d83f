//! `vanelia bench`: the main job run on N frames under several settings, each in its own
//! process (so that peak memory is measured per setting), and one report comparing them:
//! per-stage wall time, frames/s, UNet evaluations, peak host RSS, and the memory plan's
//! predicted peak against the device memory the run was measured to use.
//!
//! Comparisons (diffusion refinement): DPM++ 2M Karras 12 against DDIM 20 at equal strength
//! and at the same start noise level (`--start-sigma`), and batch 8 against batch 1. With
//! `--bench-stage track` the pose stage alone (`vanelia track` on the first N frames): pair
//! batch 8 against batch 1.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

use crate::core::{Error, Result};
use crate::diffusion::schedulers::{start_step, SchedulerConfig, SchedulerKind};
use crate::memory::profile::{gib, DeviceProfile};

/// One setting to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BenchVariant {
    /// Short name (also the output folder).
    pub name: String,
    /// Options added to the user's.
    pub args: Vec<String>,
}

/// What a bench runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BenchStage {
    /// The main job (with `--refine diffusion`: the scheduler and batch comparisons).
    Pipeline,
    /// The pose stage alone (`vanelia track --max-frames N`).
    Track,
}

impl BenchStage {
    /// Options the bench sets for each run, removed from the user's arguments first.
    fn overridden(self) -> &'static [&'static str] {
        match self {
            Self::Pipeline => &[
                "--scheduler",
                "--steps",
                "--strength",
                "--start-sigma",
                "--batch-size",
                "--frames",
                "--output",
                "-o",
                "--workdir",
                "--vram-budget",
                "--force",
                "--quiet",
                "-q",
            ],
            Self::Track => &[
                "--output",
                "-o",
                "--max-frames",
                "--pose-batch",
                "--quiet",
                "-q",
            ],
        }
    }

    /// The stage whose time the comparisons use.
    fn focus(self, diffusion: bool) -> &'static str {
        match self {
            Self::Track => "track",
            Self::Pipeline if diffusion => "refine",
            Self::Pipeline => "composite",
        }
    }
}

/// Options of a command: flag (`--name`, `-c`) → whether it takes a value.
fn option_table(cmd: &clap::Command) -> HashMap<String, bool> {
    let mut table = HashMap::new();
    for arg in cmd.get_arguments() {
        let takes = arg.get_action().takes_values();
        if let Some(long) = arg.get_long() {
            table.insert(format!("--{long}"), takes);
        }
        if let Some(short) = arg.get_short() {
            table.insert(format!("-{short}"), takes);
        }
    }
    table
}

/// The options `vanelia bench` accepts (its own and the main job's).
fn bench_options() -> HashMap<String, bool> {
    option_table(&<crate::cli::args::BenchArgs as clap::Args>::augment_args(
        clap::Command::new("bench"),
    ))
}

/// The options `vanelia track` accepts.
fn track_options() -> HashMap<String, bool> {
    option_table(
        &<crate::cli::pose_args::TrackArgs as clap::Args>::augment_args(clap::Command::new(
            "track",
        )),
    )
}

/// The start noise level of DPM++ 2M Karras with `steps` steps at `strength` (SD 1.5 schedule).
pub fn dpm_start_sigma(steps: usize, strength: f64) -> f64 {
    let scheduler = SchedulerConfig::default().build(SchedulerKind::DpmPp2mKarras, steps);
    scheduler.sigma(start_step(steps, strength).min(steps.saturating_sub(1)))
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_string()).collect()
}

/// The settings compared: for the pose stage pair batch 8 and 1; with diffusion refinement the
/// scheduler and batch comparisons; else the pipeline once.
pub fn variants(stage: BenchStage, diffusion: bool) -> Vec<BenchVariant> {
    if stage == BenchStage::Track {
        return [8, 1]
            .map(|b| BenchVariant {
                name: format!("pose_b{b}"),
                args: strings(&["--pose-batch", &b.to_string()]),
            })
            .to_vec();
    }
    if !diffusion {
        return vec![BenchVariant {
            name: "pipeline".into(),
            args: Vec::new(),
        }];
    }
    let sigma = format!("{:.6}", dpm_start_sigma(12, 0.3));
    let dpm = [
        "--scheduler",
        "dpmpp-2m-karras",
        "--steps",
        "12",
        "--strength",
        "0.3",
    ];
    let ddim = ["--scheduler", "ddim", "--steps", "20"];
    let with = |base: &[&str], extra: &[&str]| strings(&[base, extra].concat());
    vec![
        BenchVariant {
            name: "dpmpp12_s0.3_b8".into(),
            args: with(&dpm, &["--batch-size", "8"]),
        },
        BenchVariant {
            name: "ddim20_s0.3_b8".into(),
            args: with(&ddim, &["--strength", "0.3", "--batch-size", "8"]),
        },
        BenchVariant {
            name: "ddim20_same_sigma_b8".into(),
            args: with(&ddim, &["--start-sigma", &sigma, "--batch-size", "8"]),
        },
        BenchVariant {
            name: "dpmpp12_s0.3_b1".into(),
            args: with(&dpm, &["--batch-size", "1"]),
        },
    ]
}

/// The user's arguments that go to every run of `stage`: without the bench's own options and
/// those the bench sets, and for the pose stage only those `vanelia track` takes (values
/// travel with their options).
pub fn base_args(user: &[String], stage: BenchStage) -> Vec<String> {
    let bench = bench_options();
    let track = (stage == BenchStage::Track).then(track_options);
    let mut out = Vec::new();
    let mut args = user.iter();
    while let Some(arg) = args.next() {
        let name = arg.split('=').next().unwrap_or(arg);
        let value = if !arg.contains('=') && bench.get(name).copied().unwrap_or(false) {
            args.next()
        } else {
            None
        };
        let keep = !name.starts_with("--bench-")
            && !stage.overridden().contains(&name)
            && track.as_ref().is_none_or(|t| t.contains_key(name));
        if keep {
            out.push(arg.clone());
            out.extend(value.cloned());
        }
    }
    out
}

/// One variant's measured figures.
#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    /// The setting.
    pub variant: BenchVariant,
    /// Wall time of the whole process.
    pub wall_secs: f64,
    /// Per stage: name, busy seconds, frames/s.
    pub stages: Vec<(String, f64, f64)>,
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
}

/// The bench report.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// What ran.
    pub stage: BenchStage,
    /// The stage the comparisons time.
    pub focus: String,
    /// Frames per run.
    pub frames: u64,
    /// The machine.
    pub device: DeviceProfile,
    /// Per setting.
    pub results: Vec<BenchResult>,
    /// Named ratios (e.g. DDIM 20 / DPM++ 12 refine time).
    pub ratios: Vec<(String, f64)>,
}

/// Runs every variant with `exe` (this binary) in `dir`, `frames` frames each; writes
/// `bench.json` and `bench.txt` there.
pub fn run_bench(
    exe: &Path,
    user_args: &[String],
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
    let base = base_args(user_args, stage);
    let focus = stage.focus(diffusion);
    let mut results = Vec::new();
    for variant in variants(stage, diffusion) {
        let (command, output) = command(exe, &base, &variant, stage, frames, dir);
        results.push(run_variant(command, &output, &variant)?);
    }
    let ratios = ratios(&results, focus);
    let report = BenchReport {
        stage,
        focus: focus.into(),
        frames,
        device: DeviceProfile::current(),
        results,
        ratios,
    };
    super::write_json(&dir.join("bench.json"), &report)?;
    crate::core::atomic::write(&dir.join("bench.txt"), report.table().as_bytes())?;
    Ok(report)
}

/// The command line of one run and the output it writes (its report lies beside it).
fn command(
    exe: &Path,
    base: &[String],
    variant: &BenchVariant,
    stage: BenchStage,
    frames: u64,
    dir: &Path,
) -> (Command, PathBuf) {
    let out_dir = dir.join(&variant.name);
    let mut command = Command::new(exe);
    let output = match stage {
        BenchStage::Pipeline => {
            command
                .args(["--frames", &format!("0..{frames}"), "--force"])
                .arg("--workdir")
                .arg(dir.join(format!("{}.workdir", variant.name)));
            out_dir.join("%06d.png")
        }
        BenchStage::Track => {
            command
                .arg("track")
                .args(["--max-frames", &frames.to_string()]);
            out_dir.join("poses.json")
        }
    };
    command
        .args(base)
        .args(&variant.args)
        .arg("--quiet")
        .arg("--output")
        .arg(&output);
    (command, output)
}

fn run_variant(mut command: Command, output: &Path, variant: &BenchVariant) -> Result<BenchResult> {
    if let Some(parent) = output.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::Io {
            op: "create bench folder",
            path: parent.to_path_buf(),
            source: e,
        })?;
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
    let report_path = super::report_path(output);
    let text = std::fs::read_to_string(&report_path).map_err(|e| Error::Io {
        op: "read run report",
        path: report_path.clone(),
        source: e,
    })?;
    let report: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let stages: Vec<(String, f64, f64)> = report["stages"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| {
                    (
                        s["name"].as_str().unwrap_or_default().to_string(),
                        s["wall_secs"].as_f64().unwrap_or(0.0),
                        s["frames_per_sec"].as_f64().unwrap_or(0.0),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let stage_entry = |name: &str, field: &str| {
        report["stages"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["name"] == name))
            .map(|s| s[field].clone())
            .unwrap_or_default()
    };
    let refine = stage_entry("refine", "diffusion");
    let tracking = stage_entry("track", "tracking");
    let count = |v: &serde_json::Value, key: &str| v[key].as_u64().unwrap_or(0);
    Ok(BenchResult {
        variant: variant.clone(),
        wall_secs,
        stages,
        unet_evaluations: count(&refine, "unet_evaluations"),
        batch_size: count(&refine, "batch_size").max(count(&tracking, "pair_batch")),
        pose_pairs: count(&tracking, "keyframe_pairs") + count(&tracking, "registration_pairs"),
        peak_rss_bytes: report["peak_rss_bytes"].as_u64().unwrap_or(0),
        // the larger of the diffusion plan's and the pose stage's, whichever ran
        predicted_peak_bytes: report["memory_plan"]["predicted_peak_bytes"]
            .as_u64()
            .max(tracking["memory_plan"]["peak_bytes"].as_u64()),
        measured_peak_bytes: report["measured_memory"]["peak_above_baseline_bytes"].as_u64(),
    })
}

fn stage_secs(r: &BenchResult, name: &str) -> f64 {
    r.stages.iter().find(|s| s.0 == name).map_or(0.0, |s| s.1)
}

fn ratios(results: &[BenchResult], focus: &str) -> Vec<(String, f64)> {
    let by = |name: &str| results.iter().find(|r| r.variant.name == name);
    let mut out = Vec::new();
    let mut ratio = |label: &str, a: &str, b: &str| {
        if let (Some(a), Some(b)) = (by(a), by(b)) {
            let (ta, tb) = (stage_secs(a, focus), stage_secs(b, focus));
            if tb > 0.0 {
                out.push((format!("{focus} {label}"), ta / tb));
            }
        }
    };
    ratio(
        "time DDIM 20 / DPM++ 12, strength 0.3",
        "ddim20_s0.3_b8",
        "dpmpp12_s0.3_b8",
    );
    ratio(
        "time DDIM 20 / DPM++ 12, same start sigma",
        "ddim20_same_sigma_b8",
        "dpmpp12_s0.3_b8",
    );
    ratio(
        "throughput batch 8 / batch 1",
        "dpmpp12_s0.3_b1",
        "dpmpp12_s0.3_b8",
    );
    ratio("throughput pair batch 8 / batch 1", "pose_b1", "pose_b8");
    out
}

/// `bytes` for a table cell, `-` when unknown.
fn cell_bytes(bytes: Option<u64>) -> String {
    bytes.map(gib).unwrap_or_else(|| "-".into())
}

impl BenchReport {
    /// The report as a table: per setting the focus stage's time and frames/s, its work
    /// (UNet evaluations or pose pairs), batch, memory.
    pub fn table(&self) -> String {
        let focus = self.focus.as_str();
        let mut out = format!(
            "{} frames on {} ({}, {} total)\n{:<24} {:>8} {:>10} {:>10} {:>7} {:>6} {:>12} {:>12} {:>12} {:>6}\n",
            self.frames,
            self.device.kind,
            self.device.name,
            gib(self.device.total_bytes),
            "setting",
            "wall s",
            format!("{focus} s"),
            "frames/s",
            if self.stage == BenchStage::Track { "pairs" } else { "UNet" },
            "batch",
            "peak RSS",
            "predicted",
            "measured",
            "p/m"
        );
        for r in &self.results {
            let fps = r.stages.iter().find(|s| s.0 == focus).map_or(0.0, |s| s.2);
            let work = if self.stage == BenchStage::Track {
                r.pose_pairs
            } else {
                r.unet_evaluations
            };
            out.push_str(&format!(
                "{:<24} {:>8.2} {:>10.2} {:>10.2} {:>7} {:>6} {:>12} {:>12} {:>12} {:>6}\n",
                r.variant.name,
                r.wall_secs,
                stage_secs(r, focus),
                fps,
                work,
                r.batch_size,
                gib(r.peak_rss_bytes),
                cell_bytes(r.predicted_peak_bytes),
                cell_bytes(r.measured_peak_bytes),
                r.predicted_over_measured()
                    .map(|x| format!("{x:.2}"))
                    .unwrap_or_else(|| "-".into())
            ));
        }
        for (label, value) in &self.ratios {
            out.push_str(&format!("{label}: {value:.2}x\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variant_options_replace_the_user_s() {
        let user = strings(&[
            "--input",
            "a.mp4",
            "--batch-size",
            "4",
            "--steps=20",
            "-o",
            "x.mp4",
            "--force",
            "--refine",
            "diffusion",
            "--bench-frames",
            "3",
        ]);
        assert_eq!(
            base_args(&user, BenchStage::Pipeline),
            strings(&["--input", "a.mp4", "--refine", "diffusion"])
        );
        // the pose stage gets only what `vanelia track` takes
        let user = strings(&[
            "-i",
            "a.mp4",
            "--model",
            "p.glb",
            "--pose-size=224",
            "--pose-batch",
            "4",
            "--keyframe-every",
            "5",
            "--refine",
            "diffusion",
            "--offline",
        ]);
        assert_eq!(
            base_args(&user, BenchStage::Track),
            strings(&[
                "-i",
                "a.mp4",
                "--pose-size=224",
                "--keyframe-every",
                "5",
                "--offline"
            ])
        );
        // the README's figure
        assert!((dpm_start_sigma(12, 0.3) - 0.147).abs() < 1e-3);
        assert_eq!(variants(BenchStage::Pipeline, true).len(), 4);
        assert_eq!(variants(BenchStage::Track, false).len(), 2);
    }
}

//! `vanelia bench`: the main job run on N frames under several settings, each in its own
//! process (so that peak memory is measured per setting), and one report comparing them:
//! per-stage wall time, frames/s, UNet evaluations, peak host RSS, and the memory plan's
//! predicted peak against the device memory the run was measured to use.
//!
//! Comparisons (diffusion refinement): DPM++ 2M Karras 12 against DDIM 20 at equal strength
//! and at the same start noise level (`--start-sigma`), and batch 8 against batch 1.

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

/// Options a variant sets, removed from the user's arguments first (with their values).
const OVERRIDDEN: [&str; 10] = [
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
];
/// Flags (no value) a variant sets.
const OVERRIDDEN_FLAGS: [&str; 3] = ["--force", "--quiet", "-q"];

/// The start noise level of DPM++ 2M Karras with `steps` steps at `strength` (SD 1.5 schedule).
pub fn dpm_start_sigma(steps: usize, strength: f64) -> f64 {
    let scheduler = SchedulerConfig::default().build(SchedulerKind::DpmPp2mKarras, steps);
    scheduler.sigma(start_step(steps, strength).min(steps.saturating_sub(1)))
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_string()).collect()
}

/// The settings compared: with diffusion refinement the scheduler and batch comparisons, else
/// the pipeline once.
pub fn variants(diffusion: bool) -> Vec<BenchVariant> {
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

/// The user's run arguments without the options the variants set.
pub fn base_args(user: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut skip_value = false;
    for arg in user {
        if skip_value {
            skip_value = false;
            continue;
        }
        let name = arg.split('=').next().unwrap_or(arg);
        if OVERRIDDEN.contains(&name) || bench_only(name) {
            skip_value = !arg.contains('=');
        } else if !OVERRIDDEN_FLAGS.contains(&arg.as_str()) {
            out.push(arg.clone());
        }
    }
    out
}

/// `bench`'s own options (taken out before the main job sees the arguments).
fn bench_only(name: &str) -> bool {
    name == "--bench-frames" || name == "--bench-dir"
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
    /// Diffusion frames per batch used.
    pub batch_size: u64,
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
    let base = base_args(user_args);
    let mut results = Vec::new();
    for variant in variants(diffusion) {
        results.push(run_variant(exe, &base, &variant, frames, dir)?);
    }
    let ratios = ratios(&results);
    let report = BenchReport {
        frames,
        device: DeviceProfile::current(),
        results,
        ratios,
    };
    let json = serde_json::to_string_pretty(&report).unwrap_or_default();
    crate::core::atomic::write(&dir.join("bench.json"), json.as_bytes())?;
    crate::core::atomic::write(&dir.join("bench.txt"), report.table().as_bytes())?;
    Ok(report)
}

fn run_variant(
    exe: &Path,
    base: &[String],
    variant: &BenchVariant,
    frames: u64,
    dir: &Path,
) -> Result<BenchResult> {
    let out_dir = dir.join(&variant.name);
    let output: PathBuf = out_dir.join("%06d.png");
    let started = std::time::Instant::now();
    let status = Command::new(exe)
        .args(base)
        .args(&variant.args)
        .args(["--frames", &format!("0..{frames}"), "--force", "--quiet"])
        .arg("--output")
        .arg(&output)
        .arg("--workdir")
        .arg(dir.join(format!("{}.workdir", variant.name)))
        .output()
        .map_err(|e| Error::Unavailable {
            what: "bench",
            hint: format!("could not start {} ({e})", exe.display()),
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
    let report_path = out_dir.join("report.json");
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
    let refine = report["stages"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["name"] == "refine"))
        .map(|s| s["diffusion"].clone())
        .unwrap_or_default();
    Ok(BenchResult {
        variant: variant.clone(),
        wall_secs,
        stages,
        unet_evaluations: refine["unet_evaluations"].as_u64().unwrap_or(0),
        batch_size: refine["batch_size"].as_u64().unwrap_or(0),
        peak_rss_bytes: report["peak_rss_bytes"].as_u64().unwrap_or(0),
        predicted_peak_bytes: report["memory_plan"]["predicted_peak_bytes"].as_u64(),
        measured_peak_bytes: report["measured_memory"]["peak_above_baseline_bytes"].as_u64(),
    })
}

fn stage_secs(r: &BenchResult, name: &str) -> f64 {
    r.stages.iter().find(|s| s.0 == name).map_or(0.0, |s| s.1)
}

fn ratios(results: &[BenchResult]) -> Vec<(String, f64)> {
    let by = |name: &str| results.iter().find(|r| r.variant.name == name);
    let mut out = Vec::new();
    let mut ratio = |label: &str, a: Option<&BenchResult>, b: Option<&BenchResult>| {
        if let (Some(a), Some(b)) = (a, b) {
            let (ta, tb) = (stage_secs(a, "refine"), stage_secs(b, "refine"));
            if tb > 0.0 {
                out.push((label.to_string(), ta / tb));
            }
        }
    };
    ratio(
        "refine time DDIM 20 / DPM++ 12, strength 0.3",
        by("ddim20_s0.3_b8"),
        by("dpmpp12_s0.3_b8"),
    );
    ratio(
        "refine time DDIM 20 / DPM++ 12, same start sigma",
        by("ddim20_same_sigma_b8"),
        by("dpmpp12_s0.3_b8"),
    );
    ratio(
        "refine throughput batch 8 / batch 1",
        by("dpmpp12_s0.3_b1"),
        by("dpmpp12_s0.3_b8"),
    );
    out
}

impl BenchReport {
    /// The report as a table.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{} frames on {} ({}, {} total)\n{:<24} {:>8} {:>9} {:>9} {:>7} {:>6} {:>12} {:>12} {:>12} {:>6}\n",
            self.frames,
            self.device.kind,
            self.device.name,
            gib(self.device.total_bytes),
            "setting",
            "wall s",
            "refine s",
            "refine/s",
            "UNet",
            "batch",
            "peak RSS",
            "predicted",
            "measured",
            "p/m"
        );
        for r in &self.results {
            let refine_fps = r
                .stages
                .iter()
                .find(|s| s.0 == "refine")
                .map_or(0.0, |s| s.2);
            out.push_str(&format!(
                "{:<24} {:>8.2} {:>9.2} {:>9.2} {:>7} {:>6} {:>12} {:>12} {:>12} {:>6}\n",
                r.variant.name,
                r.wall_secs,
                stage_secs(r, "refine"),
                refine_fps,
                r.unet_evaluations,
                r.batch_size,
                gib(r.peak_rss_bytes),
                r.predicted_peak_bytes
                    .map(gib)
                    .unwrap_or_else(|| "-".into()),
                r.measured_peak_bytes.map(gib).unwrap_or_else(|| "-".into()),
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
            base_args(&user),
            strings(&["--input", "a.mp4", "--refine", "diffusion"])
        );
        // the README's figure
        assert!((dpm_start_sigma(12, 0.3) - 0.147).abs() < 1e-3);
        assert_eq!(variants(true).len(), 4);
    }
}

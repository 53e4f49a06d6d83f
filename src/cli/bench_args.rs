//! Options of `vanelia bench`, and the command line of each variant's child run: the user's
//! options that apply, with the variant's typed overrides written as the options they are.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use clap::{Args, ValueEnum};
use vanelia::diffusion::schedulers::SchedulerKind;
use vanelia::run::bench::{BenchStage, BenchVariant, Overrides, VariantRun};

use super::args::RunArgs;
use super::pose_args::TrackArgs;

/// What a bench runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchStageArg {
    /// The main job (with `--refine diffusion`: the scheduler and batch comparisons).
    Pipeline,
    /// The pose stage alone (`vanelia track --max-frames N`).
    Track,
}

impl BenchStageArg {
    /// The library's stage.
    pub fn stage(self) -> BenchStage {
        match self {
            Self::Pipeline => BenchStage::Pipeline,
            Self::Track => BenchStage::Track,
        }
    }
}

/// Options of `vanelia bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Frames per run (from frame 0).
    #[arg(long, default_value_t = 8)]
    pub bench_frames: u64,
    /// Folder for the runs' outputs and the report (bench.json, bench.txt).
    #[arg(long, default_value = "vanelia-bench")]
    pub bench_dir: std::path::PathBuf,
    /// What to run: the main job, or the pose stage alone (`vanelia track` on the first
    /// --bench-frames frames, with the tracker options given here).
    #[arg(long, value_enum, default_value_t = BenchStageArg::Pipeline)]
    pub bench_stage: BenchStageArg,
    /// The main job's options (`--output` is ignored: each run writes into the bench folder).
    #[command(flatten)]
    pub run: RunArgs,
}

/// Options the bench sets for each run of `stage`, removed from the user's arguments first.
fn overridden(stage: BenchStage) -> &'static [&'static str] {
    match stage {
        BenchStage::Pipeline => &[
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
        BenchStage::Track => &[
            "--output",
            "-o",
            "--max-frames",
            "--pose-batch",
            "--quiet",
            "-q",
        ],
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

/// The user's arguments that go to every run of `stage`: without the bench's own options and
/// those the bench sets, and for the pose stage only those `vanelia track` takes (values
/// travel with their options).
pub fn base_args(user: &[String], stage: BenchStage) -> Vec<String> {
    let bench = option_table(&BenchArgs::augment_args(clap::Command::new("bench")));
    let track = (stage == BenchStage::Track)
        .then(|| option_table(&TrackArgs::augment_args(clap::Command::new("track"))));
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
            && !overridden(stage).contains(&name)
            && track.as_ref().is_none_or(|t| t.contains_key(name));
        if keep {
            out.push(arg.clone());
            out.extend(value.cloned());
        }
    }
    out
}

/// The overrides as the options that set them.
fn override_args(o: &Overrides) -> Vec<String> {
    let mut args = Vec::new();
    let mut push = |name: &str, value: Option<String>| {
        if let Some(v) = value {
            args.extend([name.to_string(), v]);
        }
    };
    push(
        "--scheduler",
        o.scheduler.map(|s| {
            match s {
                SchedulerKind::DpmPp2mKarras => "dpmpp-2m-karras",
                SchedulerKind::Ddim => "ddim",
            }
            .to_string()
        }),
    );
    push("--steps", o.steps.map(|v| v.to_string()));
    push("--strength", o.strength.map(|v| v.to_string()));
    push("--start-sigma", o.start_sigma.map(|v| v.to_string()));
    push("--batch-size", o.batch_size.map(|v| v.to_string()));
    push("--pose-batch", o.pose_batch.map(|v| v.to_string()));
    args
}

/// The child process of one variant: this binary with the user's base options and the
/// variant's overrides, writing where the bench says.
pub fn child_command(
    exe: &Path,
    base: &[String],
    variant: &BenchVariant,
    run: &VariantRun,
) -> Command {
    let mut command = Command::new(exe);
    match run.stage {
        BenchStage::Pipeline => {
            command
                .args(["--frames", &format!("0..{}", run.frames), "--force"])
                .arg("--workdir")
                .arg(&run.workdir);
        }
        BenchStage::Track => {
            command
                .arg("track")
                .args(["--max-frames", &run.frames.to_string()]);
        }
    }
    command
        .args(base)
        .args(override_args(&variant.overrides))
        .arg("--quiet")
        .arg("--output")
        .arg(&run.output);
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| (*s).to_string()).collect()
    }

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
        let o = Overrides {
            scheduler: Some(SchedulerKind::Ddim),
            steps: Some(20),
            start_sigma: Some(0.147),
            ..Overrides::default()
        };
        assert_eq!(
            override_args(&o),
            strings(&[
                "--scheduler",
                "ddim",
                "--steps",
                "20",
                "--start-sigma",
                "0.147"
            ])
        );
    }
}

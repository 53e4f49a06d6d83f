//! The command line, owned by the binary: clap argument structs per subcommand and their
//! validation into the library's typed configurations ([`args`], [`diffusion_args`],
//! [`pose_args`], [`plan_args`], [`bench_args`], shared parsers in [`parse`]), and terminal
//! progress ([`progress`]). The library never sees a command-line string.

pub mod args;
pub mod bench_args;
pub mod diffusion_args;
pub mod parse;
pub mod plan_args;
pub mod pose_args;
pub mod progress;
pub mod score_args;

use clap::{Parser, Subcommand};

use args::{RenderArgs, RunArgs};
use bench_args::BenchArgs;
use plan_args::PlanArgs;
use pose_args::TrackArgs;
use score_args::ScoreArgs;

/// vanelia: insert a 3D product into a video so that it looks filmed.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// A stage to run alone; without one, the whole pipeline runs.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of the main job.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Stage subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render the product layers only (RGBA, shadow) as PNG files for inspection.
    Render(Box<RenderArgs>),
    /// Track the camera only and write a poses file (and optionally a COLMAP model).
    Track(TrackArgs),
    /// Print the memory plan for a device budget (per stage: weights, activations, batch,
    /// dtype, peak) without loading anything.
    Plan(PlanArgs),
    /// Run the main job (or the pose stage alone) on a few frames under several settings
    /// (schedulers, batch sizes) and report time, work done and memory of each.
    Bench(Box<BenchArgs>),
    /// Run the main job on path-traced ground-truth scenes (tools/groundtruth) and score how
    /// close each output is to the filmed truth, per scene and refine mode.
    Score(ScoreArgs),
}

//! The `vanelia` command: parse, validate, run, and report errors with their whole chain.

use std::process::ExitCode;

use clap::Parser as _;
use vanelia::cli::args::{Cli, Command};
use vanelia::cli::plan_args::PlanArgs;
use vanelia::cli::pose_args::TrackArgs;
use vanelia::cli::progress::Bars;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let args = match &cli.command {
        Some(Command::Render(r)) => &r.run,
        Some(Command::Track(t)) => return track(t),
        Some(Command::Plan(p)) => return plan(p),
        None => &cli.run,
    };
    let config = args.validate()?;
    let bars = Bars::new(!args.quiet);
    let report = match cli.command {
        Some(Command::Render(_)) => vanelia::run::render_layers(&config, &bars)?,
        Some(Command::Track(_) | Command::Plan(_)) | None => vanelia::run::run(&config, &bars)?,
    };
    if !args.quiet {
        for w in &report.warnings {
            eprintln!("warning: [{}] {}", w.stage, w.message);
        }
        eprintln!("wrote {}", report.output.display());
    }
    Ok(())
}

/// `vanelia track`: the pose stage alone.
fn track(args: &TrackArgs) -> anyhow::Result<()> {
    let job = args.validate()?;
    let bars = Bars::new(!args.quiet);
    let (stage, warnings) = vanelia::run::track_only(&job, &bars)?;
    if !args.quiet {
        for w in &warnings {
            eprintln!("warning: [track] {w}");
        }
        if let Some(t) = &stage.tracking {
            eprintln!(
                "tracked {} frames ({} keyframes, {} pairs) in {:.1} s; alignment loss {:.4} -> {:.4}",
                t.frames,
                t.keyframes,
                t.keyframe_pairs + t.registration_pairs,
                stage.wall_secs,
                t.align_loss[0],
                t.align_loss[1]
            );
        }
        eprintln!("wrote {}", job.output.display());
    }
    Ok(())
}

/// `vanelia plan`: the memory plan for a budget.
fn plan(args: &PlanArgs) -> anyhow::Result<()> {
    let plan = vanelia::memory::plan::plan(&args.validate()?)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&plan)?);
    } else {
        print!("{}", plan.table());
    }
    Ok(())
}

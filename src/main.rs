//! The `vanelia` command: parse, validate, run, and report errors with their whole chain.
//! The command line ([`cli`]) belongs to this binary; the library takes typed configurations.

mod cli;

use std::process::ExitCode;

use clap::Parser as _;
use cli::bench_args::{base_args, child_command, BenchArgs};
use cli::plan_args::PlanArgs;
use cli::pose_args::TrackArgs;
use cli::progress::Bars;
use cli::score_args::ScoreArgs;
use cli::{Cli, Command};

fn main() -> ExitCode {
    ensure_runtime_dir();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Mesa's drivers print "XDG_RUNTIME_DIR is invalid or not set" on every device they open when
/// the session has none (containers, `sudo`, cron): a private one (mode 0700 under the
/// temporary folder) keeps successful runs quiet. An existing valid one is left alone.
fn ensure_runtime_dir() {
    let valid = std::env::var_os("XDG_RUNTIME_DIR")
        .map(std::path::PathBuf::from)
        .is_some_and(|d| d.is_dir());
    if valid {
        return;
    }
    let user = std::env::var("USER").unwrap_or_else(|_| "user".into());
    let dir = std::env::temp_dir().join(format!("vanelia-runtime-{user}"));
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    if builder.create(&dir).is_ok() || dir.is_dir() {
        // still single-threaded: nothing else reads the environment yet
        std::env::set_var("XDG_RUNTIME_DIR", dir);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let args = match &cli.command {
        Some(Command::Render(r)) => &r.run,
        Some(Command::Track(t)) => return track(t),
        Some(Command::Plan(p)) => return plan(p),
        Some(Command::Bench(b)) => return bench(b),
        Some(Command::Score(s)) => return score(s),
        None => &cli.run,
    };
    let config = args.validate()?;
    let bars = Bars::new(!args.quiet);
    let report = match cli.command {
        Some(Command::Render(_)) => vanelia::run::render_layers(&config, &bars)?,
        Some(Command::Track(_) | Command::Plan(_) | Command::Bench(_) | Command::Score(_))
        | None => vanelia::run::run(&config, &bars)?,
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
    let report = vanelia::run::track_only(&job, &bars)?;
    if !args.quiet {
        for w in &report.warnings {
            eprintln!("warning: [track] {w}");
        }
        let Some(stage) = report.stages.first() else {
            return Ok(());
        };
        if let Some(t) = &stage.tracking {
            let t = &t.stats;
            eprintln!(
                "tracked {} frames ({} keyframes, {} pairs) in {:.1} s; alignment loss {:.4} -> {:.4}",
                t.frames,
                t.keyframes,
                t.keyframe_pairs + t.registration_pairs,
                stage.timing.wall_secs,
                t.align_loss[0],
                t.align_loss[1]
            );
        }
        eprintln!(
            "wrote {} and {}",
            job.output.display(),
            vanelia::run::track_report_path(&job.output).display()
        );
    }
    Ok(())
}

/// `vanelia plan`: the memory plan for a budget.
fn plan(args: &PlanArgs) -> anyhow::Result<()> {
    let job = args.validate()?;
    let plan = vanelia::memory::plan(&job.refine, job.pose.as_ref())?;
    let device = vanelia::memory::profile::DeviceProfile::current();
    if args.json {
        let mut json = serde_json::to_value(&plan)?;
        json["device"] = serde_json::to_value(&device)?;
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        println!(
            "this machine: {} ({}), {} total, {} free",
            device.kind,
            device.name,
            vanelia::memory::profile::gib(device.total_bytes),
            vanelia::memory::profile::gib(device.free_bytes)
        );
        print!("{}", plan.table());
    }
    Ok(())
}

/// `vanelia score`: the ground-truth scenes, run and scored.
fn score(args: &ScoreArgs) -> anyhow::Result<()> {
    let scores = cli::score_args::run_score(args)?;
    print!("{}", vanelia::eval::table(&scores));
    if !args.quiet {
        eprintln!("wrote {}", args.score_dir.join("score.json").display());
    }
    Ok(())
}

/// `vanelia bench`: the main job under several settings, one process each.
fn bench(args: &BenchArgs) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let user: Vec<String> = std::env::args()
        .skip_while(|a| a != "bench")
        .skip(1)
        .collect();
    let stage = args.bench_stage.stage();
    let base = base_args(&user, stage);
    let diffusion = args
        .run
        .diffusion
        .validate(args.run.seed, args.run.feather)?;
    let refines = matches!(
        args.run.refine_mode(&diffusion).0,
        vanelia::run::RefineMode::Diffusion
    );
    let report = vanelia::run::bench::run_bench(
        &|variant, run| child_command(&exe, &base, variant, run),
        stage,
        refines,
        args.bench_frames,
        &args.bench_dir,
    )?;
    print!("{}", report.table());
    eprintln!("wrote {}", args.bench_dir.join("bench.json").display());
    Ok(())
}

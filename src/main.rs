//! The `vanelia` command: parse, validate, run, and report errors with their whole chain.

use std::process::ExitCode;

use clap::Parser as _;
use vanelia::cli::args::{Cli, Command};
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
        None => &cli.run,
    };
    let config = args.validate()?;
    let bars = Bars::new(!args.quiet);
    let report = match cli.command {
        Some(Command::Render(_)) => vanelia::run::render_layers(&config, &bars)?,
        None => vanelia::run::run(&config, &bars)?,
    };
    if !args.quiet {
        for w in &report.warnings {
            eprintln!("warning: [{}] {}", w.stage, w.message);
        }
        eprintln!("wrote {}", report.output.display());
    }
    Ok(())
}

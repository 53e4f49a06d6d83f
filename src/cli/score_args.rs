//! `vanelia score`: the main job on every ground-truth scene, under each refine mode, scored
//! against the path-traced truth (`vanelia::eval`): silhouette IoU, error removal (whole
//! region, product, shadow) and PSNR per scene and mode, as a table and `score.json`.

use std::path::{Path, PathBuf};

use clap::{Args, Parser as _, ValueEnum as _};
use vanelia::core::{NoProgress, Result};
use vanelia::eval::{angle_deg, score_scene, table, GroundTruthScene, SceneScore};
use vanelia::run::json::{read_json, write_json};
use vanelia::run::report::report_path;
use vanelia::run::{KeyLight, RunConfig, RunReport};
use vanelia::video::MediaPath;

use super::args::RefineArg;
use super::Cli;

/// Options of `vanelia score`.
#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// Folder of ground-truth scenes (sub-folders with scene.json, made by
    /// tools/groundtruth/render.sh).
    #[arg(long, default_value = "tests/fixtures/groundtruth", value_name = "DIR")]
    pub scenes: PathBuf,
    /// Score only these scenes (names, comma-separated) [default: all].
    #[arg(long, value_delimiter = ',', value_name = "NAME,...")]
    pub only: Vec<String>,
    /// Refine modes to score, comma-separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "none,classic"
    )]
    pub modes: Vec<RefineArg>,
    /// Folder for the runs' outputs and the report (score.json, score.txt).
    #[arg(long, default_value = "vanelia-score", value_name = "DIR")]
    pub score_dir: PathBuf,
    /// Give every run the scene's true key-light direction (`--light-dir`), to measure what
    /// the light costs; the variant is then named `<mode>+light`.
    #[arg(long)]
    pub true_light: bool,
    /// Print only the table.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// More main-job options for every run, after `--` (e.g. `-- --light-dir 0,0,1`).
    #[arg(last = true, value_name = "OPTIONS")]
    pub run_options: Vec<String>,
}

/// A mode's name as the command line writes it.
fn mode_name(mode: RefineArg) -> String {
    mode.to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default()
}

/// The variant's name in the table: the mode, `+light` with the true light.
fn variant_name(mode: RefineArg, args: &ScoreArgs) -> String {
    let light = if args.true_light { "+light" } else { "" };
    format!("{}{light}", mode_name(mode))
}

/// The run configuration of `scene` under `mode`, writing under `dir`, through the main job's
/// own argument parser (so every default is the command line's).
fn config_of(
    scene: &GroundTruthScene,
    mode: RefineArg,
    (light, extra): (Option<[f64; 3]>, &[String]),
    dir: &Path,
) -> anyhow::Result<RunConfig> {
    let path = |p: &Path| p.display().to_string();
    let mut argv: Vec<String> = vec![
        "vanelia".into(),
        "--input".into(),
        path(&scene.plate()),
        "--model".into(),
        path(&scene.model()),
        "--poses".into(),
        path(&scene.poses()),
        "--output".into(),
        path(&dir.join("%06d.png")),
        "--workdir".into(),
        path(&dir.join("work")),
        "--refine".into(),
        mode_name(mode),
        "--quiet".into(),
    ];
    argv.extend(scene.truth.vanelia_args.iter().cloned());
    if let Some([x, y, z]) = light {
        argv.push(format!("--light-dir={x},{y},{z}"));
    }
    argv.extend(extra.iter().cloned());
    let cli = Cli::try_parse_from(&argv)?;
    Ok(cli.run.validate()?)
}

/// Runs and scores `scene` under `mode` (with the true light when `args.true_light`).
fn score_one(
    scene: &GroundTruthScene,
    mode: RefineArg,
    args: &ScoreArgs,
    dir: &Path,
) -> anyhow::Result<SceneScore> {
    let light = args
        .true_light
        .then(|| {
            scene
                .truth
                .lights
                .first()
                .and_then(|l| l.direction_to_light)
        })
        .flatten();
    let config = config_of(scene, mode, (light, &args.run_options), dir)?;
    let layers_dir = dir.join("layers");
    let layers = RunConfig {
        output: MediaPath::new(&layers_dir),
        ..config.clone()
    };
    vanelia::run::render_layers(&layers, &NoProgress)?;
    vanelia::run::run(&config, &NoProgress)?;
    let frames = score_scene(scene, &config.output, &layers_dir)?;
    let mut score = SceneScore::of(&scene.truth.scene, &variant_name(mode, args), frames);
    let report: RunReport = read_json(&report_path(&config.output))?;
    if let Some(light) = &report.key_light {
        score.light_source = Some(
            match light {
                KeyLight::Given { .. } => "given",
                KeyLight::Estimated(_) => "estimated",
                KeyLight::Default { .. } => "default",
            }
            .into(),
        );
        let truth = scene
            .truth
            .lights
            .first()
            .and_then(|l| l.direction_to_light);
        score.light_error_deg = truth.map(|t| angle_deg(light.dir_in_world(), t));
    }
    Ok(score)
}

/// Runs every selected scene under every mode; writes `score.json` and `score.txt` into the
/// score folder and returns the scores.
pub fn run_score(args: &ScoreArgs) -> anyhow::Result<Vec<SceneScore>> {
    let scenes: Vec<GroundTruthScene> = GroundTruthScene::discover(&args.scenes)?
        .into_iter()
        .filter(|s| args.only.is_empty() || args.only.contains(&s.truth.scene))
        .collect();
    if scenes.is_empty() {
        anyhow::bail!(
            "no scene named {} in {}",
            args.only.join(", "),
            args.scenes.display()
        );
    }
    let mut scores = Vec::new();
    for scene in &scenes {
        for &mode in &args.modes {
            let dir = args
                .score_dir
                .join(&scene.truth.scene)
                .join(variant_name(mode, args));
            scores.push(score_one(scene, mode, args, &dir)?);
        }
    }
    write_reports(&args.score_dir, &scores)?;
    Ok(scores)
}

fn write_reports(dir: &Path, scores: &[SceneScore]) -> Result<()> {
    write_json(&dir.join("score.json"), &scores)?;
    vanelia::core::atomic::write(&dir.join("score.txt"), table(scores).as_bytes())
}

//! Command-line arguments (clap) and their validation into a typed [`RunConfig`]. Every check
//! that does not need the input's content happens here, once; inner code trusts its inputs.

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};

use super::diffusion_args::{check, DiffusionArgs};
use super::plan_args::PlanArgs;
use super::pose_args::{PoseArgs, TrackArgs};
use crate::composite::classic::ClassicSettings;
use crate::composite::{CompositeSettings, Harmonise};
use crate::core::{Error, FrameRate, Result};
use crate::render::placement::PlacementOptions;
use crate::render::RenderOptions;
use crate::run::{FrameSelection, RefineMode, RunConfig};

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
    #[arg(long, value_enum, default_value_t = crate::run::bench::BenchStage::Pipeline)]
    pub bench_stage: crate::run::bench::BenchStage,
    /// The main job's options (`--output` is ignored: each run writes into the bench folder).
    #[command(flatten)]
    pub run: RunArgs,
}

/// Options of `vanelia render`.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Same inputs and placement options as the main job; `--output` is a directory.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Refinement of the composited product region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RefineArg {
    /// Stable Diffusion 1.5 + ControlNet-inpaint img2img (needs weights, see --weights).
    Diffusion,
    /// Weights-free harmonisation: colour transfer from the surroundings, light wrap, grain.
    Classic,
    /// Plain alpha-over composite.
    None,
}

/// Options of the main job.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Input video (anything FFmpeg reads) or image sequence such as frames/%06d.png.
    #[arg(long, short = 'i', value_name = "IN")]
    pub input: Option<PathBuf>,
    /// Product model, glTF binary (.glb) or .gltf.
    #[arg(long, short = 'm', value_name = "PRODUCT.glb")]
    pub model: Option<PathBuf>,
    /// Output video (.mp4, .mov, .mkv) or image sequence such as out/%06d.png.
    #[arg(long, short = 'o', value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Only (re)compute frames A..B (end exclusive; "A.." and "..B" allowed); other frames are
    /// taken from the work directory and spliced in.
    #[arg(long, value_name = "A..B")]
    pub frames: Option<String>,
    /// Work directory for cached per-frame results [default: <OUT>.vanelia].
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
    /// Recompute the selected frames even when cached results are valid.
    #[arg(long)]
    pub force: bool,
    /// Camera track in vanelia's poses JSON format (see README) instead of tracking the
    /// camera with the built-in DUSt3R tracker.
    #[arg(long, value_name = "FILE")]
    pub poses: Option<PathBuf>,
    /// How the product region is refined after compositing.
    #[arg(long, value_enum, default_value_t = RefineArg::Classic)]
    pub refine: RefineArg,
    /// Seed for all randomness; each frame's noise derives from (seed, frame number).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// x264 constant rate factor of the output (0-51, lower is better).
    #[arg(long, default_value_t = 18)]
    pub crf: u8,
    /// Frame rate of image-sequence input (video input keeps its own).
    #[arg(long, default_value_t = 25.0)]
    pub fps: f64,
    /// Inward feather of the product edge in pixels.
    #[arg(long, default_value_t = 1.0)]
    pub feather: f32,
    /// Product anchor in world coordinates "X,Y,Z" instead of where frame 0 looks at the floor.
    #[arg(long, value_name = "X,Y,Z")]
    pub place: Option<String>,
    /// Product scale (world units per model metre) instead of --product-height.
    #[arg(long)]
    pub scale: Option<f64>,
    /// Product rotation about the up axis, degrees.
    #[arg(long, default_value_t = 0.0)]
    pub yaw: f64,
    /// World up direction "X,Y,Z" instead of the fitted ground-plane normal.
    #[arg(long, value_name = "X,Y,Z")]
    pub up: Option<String>,
    /// Direction towards the key light in world coordinates "X,Y,Z" [default: above the
    /// product, leaning towards the first camera].
    #[arg(long, value_name = "X,Y,Z")]
    pub light_dir: Option<String>,
    /// Fraction of frame 0's height the product spans when --scale is not given.
    #[arg(long, default_value_t = 0.3)]
    pub product_height: f64,
    /// Device memory the run may use, e.g. 8G (sizes the diffusion batch and attention
    /// chunk; see `vanelia plan`) [default: the memory free when the run starts].
    #[arg(long, value_name = "SIZE")]
    pub vram_budget: Option<String>,
    /// No progress bars.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Options of the diffusion refinement.
    #[command(flatten)]
    pub diffusion: DiffusionArgs,
    /// Options of the camera tracker.
    #[command(flatten)]
    pub pose: PoseArgs,
}

impl RunArgs {
    /// Validates the arguments into a run configuration.
    pub fn validate(&self) -> Result<RunConfig> {
        let budget = vram_budget(self.vram_budget.as_deref())?;
        let input = required(&self.input, "--input")?;
        let model = required(&self.model, "--model")?;
        let output = required(&self.output, "--output")?;
        if !model.is_file() {
            return Err(Error::bad_input(
                "product model not found",
                "check the --model path",
                model,
            ));
        }
        if let Some(p) = &self.poses {
            if !p.is_file() {
                return Err(Error::bad_input(
                    "poses file not found",
                    "check the --poses path",
                    p,
                ));
            }
        }
        check("--crf", self.crf <= 51, "must be in 0..=51")?;
        check(
            "--fps",
            self.fps.is_finite() && self.fps > 0.0 && self.fps <= 1000.0,
            "must be in (0, 1000]",
        )?;
        check(
            "--feather",
            self.feather.is_finite() && (0.0..=64.0).contains(&self.feather),
            "must be in 0..=64 px",
        )?;
        check(
            "--product-height",
            self.product_height > 0.0 && self.product_height <= 1.0,
            "must be in (0, 1]",
        )?;
        check(
            "--scale",
            self.scale.is_none_or(|s| s.is_finite() && s > 0.0),
            "must be positive",
        )?;
        let refine = match self.refine {
            RefineArg::None => RefineMode::Composite(Harmonise::None),
            RefineArg::Classic => {
                RefineMode::Composite(Harmonise::Classic(ClassicSettings::default()))
            }
            RefineArg::Diffusion => RefineMode::Diffusion,
        };
        Ok(RunConfig {
            workdir: self
                .workdir
                .clone()
                .unwrap_or_else(|| default_workdir(&output)),
            input,
            model,
            output,
            poses: self.poses.clone(),
            frames: FrameSelection::parse(self.frames.as_deref())?,
            force: self.force,
            refine,
            composite: CompositeSettings {
                feather_px: self.feather,
                harmonise: harmonise_of(refine),
                seed: self.seed,
            },
            placement: PlacementOptions {
                place_in_world: self
                    .place
                    .as_deref()
                    .map(|s| parse_vec3("--place", s))
                    .transpose()?,
                scale: self.scale,
                yaw_deg: self.yaw,
                up_in_world: self
                    .up
                    .as_deref()
                    .map(|s| parse_vec3("--up", s))
                    .transpose()?,
                height_fraction: self.product_height,
            },
            render: RenderOptions {
                light_dir_in_world: self
                    .light_dir
                    .as_deref()
                    .map(|s| parse_vec3("--light-dir", s))
                    .transpose()?,
            },
            crf: self.crf,
            seq_rate: rate_of(self.fps),
            diffusion: self.diffusion.validate(self.seed, self.feather)?,
            pose: self.pose.validate(self.diffusion.offline, budget)?,
            vram_budget: budget,
        })
    }
}

/// The compositing harmonisation a refinement mode implies (diffusion refines a plain composite).
fn harmonise_of(refine: RefineMode) -> Harmonise {
    match refine {
        RefineMode::Composite(h) => h,
        RefineMode::Diffusion => Harmonise::None,
    }
}

fn required(v: &Option<PathBuf>, name: &'static str) -> Result<PathBuf> {
    v.clone().ok_or(Error::InvalidArgument {
        name,
        detail: "is required (see --help)".into(),
    })
}

/// `<output>.vanelia` next to the output (for a sequence, next to its directory).
fn default_workdir(output: &Path) -> PathBuf {
    let base = if crate::video::image_seq::SeqPattern::parse(output).is_some() {
        output
            .parent()
            .map_or_else(|| PathBuf::from("frames"), Path::to_path_buf)
    } else {
        output.to_path_buf()
    };
    let mut name = base
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "output".into());
    name.push(".vanelia");
    base.with_file_name(name)
}

fn parse_vec3(name: &'static str, s: &str) -> Result<[f64; 3]> {
    let bad = || Error::InvalidArgument {
        name,
        detail: format!("expected three numbers \"X,Y,Z\", got \"{s}\""),
    };
    let v: Vec<f64> = s
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| bad())?;
    match v.as_slice() {
        [x, y, z] if v.iter().all(|c| c.is_finite()) => Ok([*x, *y, *z]),
        _ => Err(bad()),
    }
}

/// A decimal fps as an exact rational (29.97 -> 30000/1001).
pub(crate) fn rate_of(fps: f64) -> FrameRate {
    for (num, den) in [(24000, 1001), (30000, 1001), (60000, 1001)] {
        if (fps - f64::from(num) / f64::from(den)).abs() < 0.005 {
            return FrameRate { num, den };
        }
    }
    FrameRate {
        num: (fps * 1000.0).round() as u32,
        den: 1000,
    }
}

/// Parses `--vram-budget`.
pub(super) fn vram_budget(text: Option<&str>) -> Result<Option<u64>> {
    text.map(|v| {
        crate::memory::profile::parse_bytes(v).ok_or_else(|| Error::InvalidArgument {
            name: "--vram-budget",
            detail: format!("expected a size such as 8G or 512M, got \"{v}\""),
        })
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_parse_and_reject() {
        assert_eq!(
            parse_vec3("--place", "1, -2.5,3").unwrap(),
            [1.0, -2.5, 3.0]
        );
        assert!(parse_vec3("--place", "1,2").is_err());
        assert_eq!(
            rate_of(29.97),
            FrameRate {
                num: 30000,
                den: 1001
            }
        );
        assert_eq!(
            rate_of(25.0),
            FrameRate {
                num: 25000,
                den: 1000
            }
        );
        assert_eq!(
            default_workdir(Path::new("out/final.mp4")),
            PathBuf::from("out/final.mp4.vanelia")
        );
        assert_eq!(
            default_workdir(Path::new("out/seq/%06d.png")),
            PathBuf::from("out/seq.vanelia")
        );
    }
}

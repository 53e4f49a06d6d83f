//! Command-line arguments (clap) and their validation into a typed [`RunConfig`]. Every check
//! that does not need the input's content happens here, once; inner code trusts its inputs.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::diffusion_args::DiffusionArgs;
use super::parse::{check, frame_rate, parse_vec3, runs_on_gpu, vram_budget};
use super::pose_args::PoseArgs;
use vanelia::composite::classic::ClassicSettings;
use vanelia::composite::{CompositeSettings, Harmonise};
use vanelia::core::{Error, Result};
use vanelia::diffusion::locate::{locate, WeightsArgs};
use vanelia::diffusion::options::RefineOptions;
use vanelia::render::defocus::FocusRequest;
use vanelia::render::placement::PlacementOptions;
use vanelia::render::RenderOptions;
use vanelia::run::{FrameSelection, RefineMode, RunConfig};
use vanelia::video::MediaPath;

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
    /// Diffusion on a CUDA GPU when its weights are found locally, else classic.
    Auto,
    /// Stable Diffusion 1.5 + ControlNet-inpaint img2img (needs weights, see --weights).
    Diffusion,
    /// Weights-free: the plate's grain on the product.
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
    /// Camera track in vanelia's poses JSON format, or a COLMAP model's folder (see README),
    /// instead of tracking the camera with the built-in DUSt3R tracker.
    #[arg(long, value_name = "FILE|DIR")]
    pub poses: Option<PathBuf>,
    /// How the product region is refined after compositing.
    #[arg(long, value_enum, default_value_t = RefineArg::Auto)]
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
    /// Direction towards the key light in world coordinates "X,Y,Z" [default: read from the
    /// shot's cast shadows, else above the product].
    #[arg(long, value_name = "X,Y,Z")]
    pub light_dir: Option<String>,
    /// Shutter angle in degrees for the product's motion blur (360 = open the whole frame
    /// interval, 0 = sharp) [default: 180].
    #[arg(long, value_name = "DEG")]
    pub shutter: Option<f64>,
    /// Distance in focus along the optical axis, metres: with --aperture, the lens's depth of
    /// field; alone, it fixes the focus of the depth of field read from the shot.
    #[arg(long, value_name = "M")]
    pub focus_distance: Option<f64>,
    /// The lens's f-number (needs --focus-distance; 0 = everything sharp) [default: the depth
    /// of field is read from the shot's edges].
    #[arg(long, value_name = "F")]
    pub aperture: Option<f64>,
    /// Sensor width in millimetres, for --aperture (the focal length in metres).
    #[arg(long, value_name = "MM", default_value_t = 36.0)]
    pub sensor_width: f64,
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
            if p.is_dir() && !vanelia::core::colmap::is_model(p) {
                return Err(Error::bad_input(
                    "the --poses folder is not a COLMAP model",
                    "pass a folder with cameras, images and points3D (.bin or .txt), or a \
                     poses JSON file",
                    p,
                ));
            }
            if !p.exists() {
                return Err(Error::bad_input(
                    "poses file not found",
                    "check the --poses path",
                    p,
                ));
            }
        }
        check("--crf", self.crf <= 51, "must be in 0..=51")?;
        check(
            "--shutter",
            self.shutter.is_none_or(|d| (0.0..=360.0).contains(&d)),
            "must be in 0..=360 degrees",
        )?;
        let seq_rate = frame_rate(self.fps)?;
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
        let diffusion = self.diffusion.validate(self.seed, self.feather)?;
        let (refine, notes) = self.refine_mode(&diffusion);
        let output = MediaPath::new(&output);
        Ok(RunConfig {
            workdir: self
                .workdir
                .clone()
                .unwrap_or_else(|| default_workdir(&output)),
            input: MediaPath::new(&input),
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
                shadow_tint_rgb: [1.0; 3],
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
                light: None,
                shutter_deg: self.shutter,
                defocus: None,
            },
            focus: self.focus()?,
            crf: self.crf,
            seq_rate,
            diffusion,
            notes,
            pose: self.pose.validate(self.diffusion.offline)?,
            vram_budget: budget,
        })
    }
}

/// The compositing harmonisation a refinement mode implies (diffusion refines a plain composite).
impl RunArgs {
    /// The refinement `--refine` asks for, `auto` resolved, and what the user should be told
    /// about the choice.
    pub fn refine_mode(&self, diffusion: &RefineOptions) -> (RefineMode, Vec<String>) {
        let classic = RefineMode::Composite(Harmonise::Classic(ClassicSettings::default()));
        match self.refine {
            RefineArg::None => (RefineMode::Composite(Harmonise::None), Vec::new()),
            RefineArg::Classic => (classic, Vec::new()),
            RefineArg::Diffusion => (RefineMode::Diffusion, Vec::new()),
            // on the CPU diffusion takes minutes per frame: classic, as documented
            RefineArg::Auto if !runs_on_gpu() => (classic, Vec::new()),
            RefineArg::Auto => {
                let local = WeightsArgs {
                    offline: true,
                    ..diffusion.weights.clone()
                };
                match locate(&local, diffusion.precision.dtype()) {
                    Ok(_) => (RefineMode::Diffusion, Vec::new()),
                    Err(e) => (
                        classic,
                        vec![format!(
                            "--refine auto: no Stable Diffusion weights were found locally \
                             ({e}), so the product is refined with the weights-free classic \
                             path; --refine diffusion downloads them, --weights points at them"
                        )],
                    ),
                }
            }
        }
    }
}

impl RunArgs {
    /// The lens's focus from `--focus-distance`, `--aperture` and `--sensor-width`.
    fn focus(&self) -> Result<FocusRequest> {
        let positive = |v: Option<f64>| v.is_none_or(|v| v.is_finite() && v > 0.0);
        check(
            "--focus-distance",
            positive(self.focus_distance),
            "must be > 0 metres",
        )?;
        check(
            "--aperture",
            self.aperture.is_none_or(|f| f.is_finite() && f >= 0.0),
            "must be an f-number >= 0 (0 = everything sharp)",
        )?;
        check(
            "--sensor-width",
            positive(Some(self.sensor_width)),
            "must be > 0 mm",
        )?;
        Ok(match (self.aperture, self.focus_distance) {
            (Some(0.0), _) => FocusRequest::Off,
            (Some(f_number), Some(focus_distance_m)) => FocusRequest::Lens {
                focus_distance_m,
                f_number,
                sensor_width_mm: self.sensor_width,
            },
            (Some(_), None) => {
                return Err(Error::InvalidArgument {
                    name: "--aperture",
                    detail: "needs --focus-distance (where the lens is focused)".into(),
                })
            }
            (None, focus_distance_m) => FocusRequest::Plate { focus_distance_m },
        })
    }
}

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
fn default_workdir(output: &MediaPath) -> PathBuf {
    let base = output.anchor();
    let mut name = base
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "output".into());
    name.push(".vanelia");
    base.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn the_work_directory_sits_beside_the_output() {
        let workdir = |p: &str| default_workdir(&MediaPath::new(Path::new(p)));
        assert_eq!(
            workdir("out/final.mp4"),
            PathBuf::from("out/final.mp4.vanelia")
        );
        assert_eq!(
            workdir("out/seq/%06d.png"),
            PathBuf::from("out/seq.vanelia")
        );
    }

    #[test]
    fn focus_options_give_a_lens_the_plate_or_nothing() {
        use clap::Parser as _;
        let focus = |extra: &[&str]| {
            let mut argv = vec!["vanelia", "-i", "in.mp4", "-m", "m.glb", "-o", "o.mp4"];
            argv.extend_from_slice(extra);
            let cli = super::super::Cli::try_parse_from(argv).expect("parses");
            cli.run.focus()
        };
        assert_eq!(
            focus(&[]).ok(),
            Some(FocusRequest::Plate {
                focus_distance_m: None
            })
        );
        assert_eq!(
            focus(&["--focus-distance", "2"]).ok(),
            Some(FocusRequest::Plate {
                focus_distance_m: Some(2.0)
            })
        );
        assert_eq!(
            focus(&[
                "--aperture",
                "2.8",
                "--focus-distance",
                "1.5",
                "--sensor-width",
                "24"
            ])
            .ok(),
            Some(FocusRequest::Lens {
                focus_distance_m: 1.5,
                f_number: 2.8,
                sensor_width_mm: 24.0
            })
        );
        assert_eq!(focus(&["--aperture", "0"]).ok(), Some(FocusRequest::Off));
        assert!(focus(&["--aperture", "2"]).is_err(), "no focus distance");
        assert!(focus(&["--focus-distance=-1"]).is_err());
    }
}

//! Options of the pose stage (the built-in DUSt3R tracker) and of `vanelia track`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::parse::{check, frame_rate, runs_on_gpu, vram_budget, PrecisionArg};
use vanelia::core::Result;
use vanelia::pose::stage::PoseOptions;
use vanelia::pose::tracking::align::AlignOptions;
use vanelia::pose::tracking::tracker::TrackOptions;
use vanelia::run::TrackJob;
use vanelia::video::MediaPath;

/// How many focal lengths the clip has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FocalArg {
    /// One for the whole clip (a fixed-zoom shot; the most stable).
    Shared,
    /// One per frame (zooming shots).
    PerFrame,
}

/// Options of the camera tracker, used when no --poses track is given.
#[derive(Debug, Args)]
#[command(next_help_heading = "Camera tracking (without --poses)")]
pub struct PoseArgs {
    /// DUSt3R checkpoint: model.safetensors (with its config.json) or the original .pth, or
    /// their folder [default: weights/DUSt3R_ViTLarge_BaseDecoder_512_dpt, the Hugging Face
    /// cache, else downloaded].
    #[arg(long, value_name = "PATH")]
    pub pose_weights: Option<PathBuf>,
    /// Network input long side in pixels (a multiple of 16; the released model: 512).
    #[arg(long, default_value_t = 512)]
    pub pose_size: u32,
    /// Every N-th frame is a keyframe (aligned globally); the others are registered to them.
    #[arg(long, default_value_t = 10)]
    pub keyframe_every: usize,
    /// Keyframes are paired with this many following keyframes.
    #[arg(long, default_value_t = 3)]
    pub pose_window: usize,
    /// Global alignment iterations.
    #[arg(long, default_value_t = 300)]
    pub pose_iters: usize,
    /// One focal length for the clip, or one per frame.
    #[arg(long, value_enum, default_value_t = FocalArg::Shared)]
    pub focal: FocalArg,
    /// Most frame pairs per network batch; fewer when the memory plan says they do not fit
    /// (see `vanelia plan --pose-batch`).
    #[arg(long, default_value_t = 8)]
    pub pose_batch: usize,
    /// Network precision of the tracker: auto is f16 on a CUDA GPU, f32 on the CPU.
    #[arg(long, value_enum, default_value_t = PrecisionArg::Auto)]
    pub pose_precision: PrecisionArg,
}

impl PoseArgs {
    /// Validates into the stage's options.
    pub fn validate(&self, offline: bool) -> Result<PoseOptions> {
        check_tracker_shape(
            self.pose_size,
            self.keyframe_every,
            self.pose_window,
            self.pose_batch,
        )?;
        check(
            "--pose-iters",
            self.pose_iters <= 100_000,
            "must be at most 100000",
        )?;
        let defaults = TrackOptions::default();
        Ok(PoseOptions {
            weights: self.pose_weights.clone(),
            offline,
            size_px: self.pose_size,
            batch: self.pose_batch,
            inject_alloc_limit_bytes: vanelia::memory::profile::injected_alloc_limit(),
            precision: self.pose_precision.precision(runs_on_gpu()),
            track: TrackOptions {
                keyframe_every: self.keyframe_every,
                window: self.pose_window,
                align: AlignOptions {
                    niter: self.pose_iters,
                    shared_focal: self.focal == FocalArg::Shared,
                    ..defaults.align
                },
                ..defaults
            },
        })
    }
}

/// Checks the tracker options that shape its work and memory (`vanelia plan` takes them too):
/// `--pose-size`, `--keyframe-every`, `--pose-window`, `--pose-batch`.
pub fn check_tracker_shape(
    size_px: u32,
    keyframe_every: usize,
    window: usize,
    batch: usize,
) -> Result<()> {
    check(
        "--pose-size",
        (16..=4096).contains(&size_px) && size_px.is_multiple_of(16),
        "must be a multiple of 16 in 16..=4096",
    )?;
    check(
        "--keyframe-every",
        (1..=1000).contains(&keyframe_every),
        "must be in 1..=1000",
    )?;
    check(
        "--pose-window",
        (1..=32).contains(&window),
        "must be in 1..=32",
    )?;
    check(
        "--pose-batch",
        (1..=256).contains(&batch),
        "must be in 1..=256",
    )
}

/// Options of `vanelia track`: the pose stage alone.
#[derive(Debug, Args)]
pub struct TrackArgs {
    /// Input video or image sequence such as frames/%06d.png.
    #[arg(long, short = 'i', value_name = "VIDEO")]
    pub input: PathBuf,
    /// Poses file to write (vanelia's poses JSON, see README).
    #[arg(long, short = 'o', value_name = "POSES.json")]
    pub output: PathBuf,
    /// Also write the track as a COLMAP text model (cameras.txt, images.txt, points3D.txt).
    #[arg(long, value_name = "DIR")]
    pub colmap: Option<PathBuf>,
    /// Frame rate of image-sequence input.
    #[arg(long, default_value_t = 25.0)]
    pub fps: f64,
    /// Track only the first N frames (a quick look at a long clip, or a benchmark); the poses
    /// file then covers frames 0..N.
    #[arg(long, value_name = "N")]
    pub max_frames: Option<u64>,
    /// Never download weights (also HF_HUB_OFFLINE=1).
    #[arg(long)]
    pub offline: bool,
    /// Device memory the tracker may use, e.g. 8G (sizes the pair batch; see `vanelia plan`)
    /// [default: the memory free when it starts].
    #[arg(long, value_name = "SIZE")]
    pub vram_budget: Option<String>,
    /// No progress bars.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Tracker options.
    #[command(flatten)]
    pub pose: PoseArgs,
}

impl TrackArgs {
    /// Validates into the job of `vanelia track`.
    pub fn validate(&self) -> Result<TrackJob> {
        let seq_rate = frame_rate(self.fps)?;
        check(
            "--max-frames",
            self.max_frames.is_none_or(|n| n >= 2),
            "must be at least 2 (tracking needs two views)",
        )?;
        Ok(TrackJob {
            input: MediaPath::new(&self.input),
            seq_rate,
            output: self.output.clone(),
            colmap: self.colmap.clone(),
            max_frames: self.max_frames,
            options: self.pose.validate(self.offline)?,
            vram_budget: vram_budget(self.vram_budget.as_deref())?,
        })
    }
}

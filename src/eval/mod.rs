//! Realism as a number: vanelia's output scored against a path-traced ground truth.
//!
//! A ground-truth scene (`tools/groundtruth/`, committed under `tests/fixtures/groundtruth/`)
//! is one camera move rendered without the product (`plate.mp4`), with it (`truth.mp4`) and as
//! the product's visible coverage (`matte/NNNNNN.png`), with the product (`product.glb`), the
//! camera track (`poses.json`) and what is true of the scene (`scene.json`: placement, lights).
//! [`score_scene`] compares a run's output and coverage masks with them frame by frame
//! ([`metrics`]); `vanelia score` runs vanelia on every scene and prints the table.

pub mod metrics;

use std::path::{Path, PathBuf};

use image::GrayImage;
use serde::{Deserialize, Serialize};

use crate::core::{Error, Frame, FrameNr, FrameRate, Result};
use crate::video::{MediaPath, Source};
use metrics::{score_frame, FrameImages, FrameScore};

/// A light of the scene as rendered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LightTruth {
    /// `SUN`, `AREA`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// Unit vector from the scene towards the light (world).
    #[serde(default)]
    pub direction_to_light: Option<[f64; 3]>,
    /// Elevation above the floor, degrees.
    #[serde(default)]
    pub elevation_deg: Option<f64>,
}

/// What `scene.json` says that the score uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SceneTruth {
    /// The scene's name.
    pub scene: String,
    /// The true placement as `vanelia` options (`--place=…`, `--scale=…`, …).
    pub vanelia_args: Vec<String>,
    /// The lights (empty for a sky alone).
    #[serde(default)]
    pub lights: Vec<LightTruth>,
    /// Frames rendered.
    pub frames: u64,
}

/// A ground-truth scene on disk.
#[derive(Debug, Clone)]
pub struct GroundTruthScene {
    /// Its folder.
    pub dir: PathBuf,
    /// Its `scene.json`.
    pub truth: SceneTruth,
}

impl GroundTruthScene {
    /// Opens the scene in `dir`, checking that every file the score needs is there.
    pub fn open(dir: &Path) -> Result<Self> {
        let json = dir.join("scene.json");
        let text = std::fs::read_to_string(&json).map_err(|e| {
            Error::bad_input(
                format!("not a ground-truth scene ({e})"),
                "pass a folder made by tools/groundtruth/render.sh",
                &json,
            )
        })?;
        let truth: SceneTruth = serde_json::from_str(&text).map_err(|e| {
            Error::bad_input(
                format!("unreadable scene description ({e})"),
                "regenerate the scene with tools/groundtruth/render.sh",
                &json,
            )
        })?;
        let scene = Self {
            dir: dir.to_path_buf(),
            truth,
        };
        for file in [scene.plate(), scene.truth(), scene.poses(), scene.model()] {
            if !file.is_file() {
                return Err(Error::bad_input(
                    "a file of the ground-truth scene is missing",
                    "regenerate the scene with tools/groundtruth/render.sh",
                    file,
                ));
            }
        }
        Ok(scene)
    }

    /// Every scene in `root` (its sub-folders with a `scene.json`), by name.
    pub fn discover(root: &Path) -> Result<Vec<Self>> {
        let entries = std::fs::read_dir(root).map_err(|e| {
            Error::bad_input(
                format!("cannot list the scenes ({e})"),
                "pass the folder that holds the scene folders, e.g. tests/fixtures/groundtruth",
                root,
            )
        })?;
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("scene.json").is_file())
            .collect();
        dirs.sort();
        if dirs.is_empty() {
            return Err(Error::bad_input(
                "no ground-truth scene (a folder with scene.json) there",
                "pass the folder that holds the scene folders, e.g. tests/fixtures/groundtruth",
                root,
            ));
        }
        dirs.iter().map(|d| Self::open(d)).collect()
    }

    /// The shot without the product.
    pub fn plate(&self) -> PathBuf {
        self.dir.join("plate.mp4")
    }

    /// The shot with the product.
    pub fn truth(&self) -> PathBuf {
        self.dir.join("truth.mp4")
    }

    /// The camera track.
    pub fn poses(&self) -> PathBuf {
        self.dir.join("poses.json")
    }

    /// The product.
    pub fn model(&self) -> PathBuf {
        self.dir.join("product.glb")
    }

    /// The matte of frame `nr`.
    pub fn matte(&self, nr: FrameNr) -> PathBuf {
        self.dir.join("matte").join(format!("{}.png", nr.stem()))
    }
}

/// A run's figures on one scene.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SceneScore {
    /// The scene.
    pub scene: String,
    /// What ran (e.g. the refine mode).
    pub variant: String,
    /// Frames scored.
    pub frames: usize,
    /// Mean silhouette IoU.
    pub iou_mean: f64,
    /// Worst frame's IoU.
    pub iou_min: f64,
    /// Mean error removal over the changed region.
    pub removal: f64,
    /// Mean error removal over the product.
    pub removal_product: f64,
    /// Mean error removal over the shadow and light.
    pub removal_shadow: f64,
    /// Mean PSNR over the region, dB.
    pub psnr_db: f64,
    /// Angle between the run's key light and the scene's, degrees (scenes with a key light).
    #[serde(default)]
    pub light_error_deg: Option<f64>,
    /// Where the run's key light came from (`given`, `estimated`, `default`).
    #[serde(default)]
    pub light_source: Option<String>,
    /// Per frame.
    pub per_frame: Vec<FrameScore>,
}

impl SceneScore {
    /// The summary of `per_frame`.
    pub fn of(scene: &str, variant: &str, per_frame: Vec<FrameScore>) -> Self {
        let n = per_frame.len().max(1) as f64;
        let mean = |f: fn(&FrameScore) -> f64| per_frame.iter().map(f).sum::<f64>() / n;
        Self {
            scene: scene.into(),
            variant: variant.into(),
            frames: per_frame.len(),
            iou_mean: mean(|s| s.iou),
            iou_min: per_frame.iter().map(|s| s.iou).fold(1.0, f64::min),
            removal: mean(|s| s.removal),
            removal_product: mean(|s| s.removal_product),
            removal_shadow: mean(|s| s.removal_shadow),
            psnr_db: mean(|s| s.psnr_db),
            light_error_deg: None,
            light_source: None,
            per_frame,
        }
    }
}

/// Decodes every frame of a clip (any rate: only the pictures are compared).
fn decode(media: &MediaPath) -> Result<Vec<Frame>> {
    let source = Source::open(media, FrameRate { num: 24, den: 1 })?;
    source.spawn_decoder(4).into_iter().collect()
}

fn read_gray(path: &Path) -> Result<GrayImage> {
    image::open(path)
        .map(|img| img.to_luma8())
        .map_err(|source| Error::Image {
            op: "read",
            path: path.into(),
            source,
        })
}

/// Scores a run on `scene`: its `output` clip and the coverage masks in `layers` (the folder
/// `vanelia render` writes, `<nr>.mask.png`).
pub fn score_scene(
    scene: &GroundTruthScene,
    output: &MediaPath,
    layers: &Path,
) -> Result<Vec<FrameScore>> {
    let plate = decode(&MediaPath::new(&scene.plate()))?;
    let truth = decode(&MediaPath::new(&scene.truth()))?;
    let out = decode(output)?;
    if plate.len() != truth.len() || out.len() != truth.len() {
        return Err(Error::bad_input(
            format!(
                "the plate, truth and output have {}, {} and {} frames",
                plate.len(),
                truth.len(),
                out.len()
            ),
            "score a complete run of the scene",
            output.path(),
        ));
    }
    let mut scores = Vec::with_capacity(truth.len());
    for ((p, t), o) in plate.iter().zip(&truth).zip(&out) {
        let matte = read_gray(&scene.matte(t.nr))?;
        let mask = read_gray(&layers.join(format!("{}.mask.png", t.nr.stem())))?;
        let images = FrameImages {
            plate: &p.rgb,
            truth: &t.rgb,
            output: &o.rgb,
            matte: &matte,
            mask: &mask,
        };
        scores.extend(score_frame(&images));
    }
    Ok(scores)
}

/// The key light's source and its error against the truth, e.g. `estimated 4.2°`.
fn light_cell(s: &SceneScore) -> String {
    let source = s.light_source.as_deref().unwrap_or("-");
    match s.light_error_deg {
        Some(e) => format!("{source} {e:.1}°"),
        None => source.to_string(),
    }
}

/// The angle between two directions, degrees.
pub fn angle_deg(a: [f64; 3], b: [f64; 3]) -> f64 {
    let (a, b) = (glam::DVec3::from_array(a), glam::DVec3::from_array(b));
    a.angle_between(b).to_degrees()
}

/// The scores as a table, one row per scene and variant.
pub fn table(scores: &[SceneScore]) -> String {
    let mut out = format!(
        "{:<16} {:<14} {:>6} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>16}\n",
        "scene",
        "variant",
        "frames",
        "IoU mean",
        "IoU min",
        "removal",
        "product",
        "shadow",
        "PSNR dB",
        "light (error)"
    );
    for s in scores {
        out.push_str(&format!(
            "{:<16} {:<14} {:>6} {:>9.3} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8.1} {:>16}\n",
            s.scene,
            s.variant,
            s.frames,
            s.iou_mean,
            s.iou_min,
            s.removal,
            s.removal_product,
            s.removal_shadow,
            s.psnr_db,
            light_cell(s)
        ));
    }
    out
}

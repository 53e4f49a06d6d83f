//! The camera's optics on the ground-truth scenes filmed with them (`tools/groundtruth`): a
//! long shutter, a shallow depth of field, a distorted lens. Each optic switched off scores
//! worse than the default, which proves it matters; the distorted scene's COLMAP export gives
//! the output of its poses file.

use std::path::{Path, PathBuf};

use vanelia::eval::SceneScore;

use crate::util::{assert_ok, vanelia, vanelia_sub};

/// How much each optic must gain, in error removal and in mean silhouette IoU, over the same
/// run without it (BENCHMARKS.md, "Camera optics"). Each optic shows where it acts: a long
/// shutter's smear mostly in the error (0.021 measured), defocus mostly in the silhouette
/// (IoU +0.004, error +0.005: the light dominates the error), distortion in both.
const SHUTTER_GAIN: Gain = Gain {
    removal: 0.01,
    iou: 0.0,
};
const DEFOCUS_GAIN: Gain = Gain {
    removal: 0.001,
    iou: 0.002,
};
const LENS_GAIN: Gain = Gain {
    removal: 0.005,
    iou: 0.002,
};

struct Gain {
    removal: f64,
    iou: f64,
}

fn scenes() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/groundtruth")
}

/// `vanelia score --modes none` of one scene in `root`, with more run options.
fn score(root: &Path, scene: &str, run_options: &[&str]) -> SceneScore {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("score");
    let out = vanelia_sub(dir.path(), "score")
        .arg("--scenes")
        .arg(root)
        .args(["--only", scene, "--modes", "none", "--score-dir"])
        .arg(&out_dir)
        .arg("--")
        .args(run_options)
        .output()
        .unwrap();
    assert_ok(&out);
    let text = std::fs::read_to_string(out_dir.join("score.json")).unwrap();
    let mut scores: Vec<SceneScore> = serde_json::from_str(&text).unwrap();
    scores.remove(0)
}

fn assert_better(scene: &str, with: &SceneScore, without: &SceneScore, gain: Gain) {
    assert!(
        with.removal >= without.removal + gain.removal
            && with.iou_mean >= without.iou_mean + gain.iou,
        "{scene}: with the optic {with:?}, without {without:?}"
    );
}

#[test]
fn a_long_shutter_scene_scores_better_blurred_than_sharp() {
    let blurred = score(&scenes(), "long_shutter", &[]);
    let sharp = score(&scenes(), "long_shutter", &["--shutter", "0"]);
    assert_better("long_shutter", &blurred, &sharp, SHUTTER_GAIN);
}

#[test]
fn a_shallow_focus_scene_scores_better_defocused_than_sharp() {
    let read = score(&scenes(), "shallow_dof", &[]);
    let sharp = score(&scenes(), "shallow_dof", &["--aperture", "0"]);
    assert_better("shallow_dof", &read, &sharp, DEFOCUS_GAIN);
}

/// The scene copied into a fresh root with `edit` applied to its poses file.
fn scene_copy(root: &Path, scene: &str, edit: impl Fn(&mut serde_json::Value)) -> PathBuf {
    let from = scenes().join(scene);
    let to = root.join(scene);
    std::fs::create_dir_all(to.join("matte")).unwrap();
    for entry in walk(&from) {
        let rel = entry.strip_prefix(&from).unwrap();
        std::fs::create_dir_all(to.join(rel).parent().unwrap()).unwrap();
        std::fs::copy(&entry, to.join(rel)).unwrap();
    }
    let poses = to.join("poses.json");
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&poses).unwrap()).unwrap();
    edit(&mut doc);
    std::fs::write(&poses, serde_json::to_string(&doc).unwrap()).unwrap();
    root.to_path_buf()
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_distorted_lens_scene_scores_better_through_its_lens() {
    let through = score(&scenes(), "distorted_lens", &[]);
    let root = tempfile::tempdir().unwrap();
    let pinhole = scene_copy(root.path(), "distorted_lens", |doc| {
        for frame in doc["frames"].as_array_mut().unwrap() {
            frame.as_object_mut().unwrap().remove("lens");
        }
    });
    let straight = score(&pinhole, "distorted_lens", &[]);
    assert_better("distorted_lens", &through, &straight, LENS_GAIN);
}

/// Pixels per frame that may differ by more than one level between a run on a poses file and
/// one on the same track as a COLMAP model: the model stores rotations as quaternions, so the
/// cameras agree to about 1e-9 and a few silhouette and shadow-edge samples fall the other way
/// (measured: 4-9 pixels of 230 400, at most 7 levels).
const COLMAP_EDGE_PIXELS: usize = 20;

#[test]
fn a_scene_tracks_colmap_export_gives_the_output_of_its_poses_file() {
    let scene = scenes().join("distorted_lens");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(scene.join("scene.json")).unwrap()).unwrap();
    let placement: Vec<String> = doc["vanelia_args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    // image sequences: each computed frame compared on its own (an encoder would carry a
    // difference in one frame into the next ones)
    let run = |poses: &Path, name: &str| {
        let folder = dir.path().join(name);
        std::fs::create_dir_all(&folder).unwrap();
        let out = vanelia(dir.path())
            .arg("--input")
            .arg(scene.join("plate.mp4"))
            .arg("--model")
            .arg(scene.join("product.glb"))
            .arg("--poses")
            .arg(poses)
            .arg("--output")
            .arg(folder.join("%06d.png"))
            .args(["--frames", "0..3", "--refine", "none"])
            .args(&placement)
            .output()
            .unwrap();
        assert_ok(&out);
        (0..3)
            .map(|n| {
                image::open(folder.join(format!("{n:06}.png")))
                    .unwrap()
                    .to_rgb8()
            })
            .collect::<Vec<_>>()
    };
    let from_json = run(&scene.join("poses.json"), "json");
    let from_colmap = run(&scene.join("colmap"), "colmap");
    for (n, (a, b)) in from_json.iter().zip(&from_colmap).enumerate() {
        let differing = a
            .pixels()
            .zip(b.pixels())
            .filter(|(p, q)| p.0.iter().zip(q.0).any(|(x, y)| x.abs_diff(y) > 1))
            .count();
        assert!(
            differing <= COLMAP_EDGE_PIXELS,
            "frame {n}: {differing} pixels differ by more than one level"
        );
    }
}

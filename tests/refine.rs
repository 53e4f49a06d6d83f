use std::path::{Path, PathBuf};

use crate::util::{assert_fails, assert_ok, demo_run, report, s, vanelia};

/// The tiny random-weight SD folder: the golden fixtures' components and the tiny tokenizer,
/// linked into the diffusers layout (ControlNet inside, as `<weights>/controlnet`).
pub fn tiny_weights(dir: &Path) -> PathBuf {
    let root = dir.join("sd");
    std::fs::create_dir_all(&root).unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let models = fixtures.join("golden/sd15/small/models");
    for c in ["unet", "vae", "text_encoder", "scheduler", "controlnet"] {
        copy_dir(&models.join(c), &root.join(c));
    }
    copy_dir(&fixtures.join("tokenizer_tiny"), &root.join("tokenizer"));
    root
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
    }
}

/// Frames 0..4 of the demo, refined with the tiny weights at 128 px minimum, as PNGs.
pub fn refine_run(
    dir: &Path,
    weights: &Path,
    out: &str,
    extra: &[&str],
) -> (PathBuf, std::process::Output) {
    refine_run_env(dir, weights, out, extra, &[])
}

/// [`refine_run`] with environment variables for the child.
pub fn refine_run_env(
    dir: &Path,
    weights: &Path,
    out: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (PathBuf, std::process::Output) {
    let output = dir.join(out).join("%06d.png");
    let mut args = vec![
        "--refine",
        "diffusion",
        "--weights",
        s(weights),
        "--refine-px",
        "128",
        "--frames",
        "0..4",
    ];
    args.extend(extra);
    let result = crate::util::run_on_env(
        dir,
        &crate::util::asset("demo.mp4"),
        &crate::util::asset("demo.poses.json"),
        &output,
        &args,
        env,
    );
    (output, result)
}

fn frame(pattern: &Path, nr: u32) -> image::RgbImage {
    let path = pattern.with_file_name(format!("{nr:06}.png"));
    image::open(path).unwrap().to_rgb8()
}

/// The product's render mask of a frame from the work directory, as (origin, mask).
fn render_mask(workdir: &Path, nr: u32) -> ([u32; 2], image::GrayImage) {
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(workdir.join(format!("frames/render/{nr:06}.json"))).unwrap(),
    )
    .unwrap();
    let origin = [
        meta["origin_px"][0].as_u64().unwrap() as u32,
        meta["origin_px"][1].as_u64().unwrap() as u32,
    ];
    let mask = image::open(workdir.join(format!("frames/render/{nr:06}.mask.png")))
        .unwrap()
        .to_luma8();
    (origin, mask)
}

/// `--refine diffusion` on the demo without `--weights`, run in `dir` with the Hugging Face
/// cache at `dir/hf`.
fn hub_run(dir: &Path, output: &str) -> std::process::Command {
    let mut cmd = vanelia(dir);
    cmd.current_dir(dir)
        .env("HF_HOME", dir.join("hf"))
        .args(["--input", s(&crate::util::asset("demo.mp4"))])
        .args(["--model", s(&crate::util::asset("product.glb"))])
        .args(["--poses", s(&crate::util::asset("demo.poses.json"))])
        .args(["--output", s(&dir.join(output)), "--refine", "diffusion"]);
    cmd
}

#[test]
fn diffusion_refines_only_the_product_region_and_batches_do_not_matter() {
    let dir = tempfile::tempdir().unwrap();
    let weights = tiny_weights(dir.path());
    let (plain, out) = {
        let output = dir.path().join("plain/%06d.png");
        let out = demo_run(
            dir.path(),
            &output,
            &["--refine", "none", "--frames", "0..4"],
        );
        (output, out)
    };
    assert_ok(&out);
    let (batch4, out) = refine_run(dir.path(), &weights, "b4", &["--batch-size", "4"]);
    assert_ok(&out);
    let r = report(&batch4);
    let stage = r["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "refine")
        .unwrap();
    assert_eq!(stage["frames_processed"], 4);
    let stats = &stage["diffusion"];
    assert_eq!(stats["batch_size"], 4);
    // 12 steps at strength 0.3 run 3 UNet evaluations per batch
    assert_eq!(
        stats["unet_evaluations"].as_u64().unwrap(),
        3 * stats["batches"].as_u64().unwrap()
    );
    let workdir = batch4.parent().unwrap().with_file_name("b4.vanelia");
    for nr in 0..4 {
        let (a, b) = (frame(&plain, nr), frame(&batch4, nr));
        let (origin, mask) = render_mask(&workdir, nr);
        let grow = 4 + 1;
        let mut changed = 0;
        for (x, y, pa) in a.enumerate_pixels() {
            if pa != b.get_pixel(x, y) {
                changed += 1;
                let (mx, my) = (
                    x as i64 - i64::from(origin[0]),
                    y as i64 - i64::from(origin[1]),
                );
                let near = (-grow..=grow).any(|dy| {
                    (-grow..=grow).any(|dx| {
                        let (u, v) = (mx + dx, my + dy);
                        u >= 0
                            && v >= 0
                            && (u as u32) < mask.width()
                            && (v as u32) < mask.height()
                            && mask.get_pixel(u as u32, v as u32)[0] > 0
                    })
                });
                assert!(
                    near,
                    "frame {nr}: pixel ({x}, {y}) changed outside the repaint mask"
                );
            }
        }
        assert!(changed > 100, "frame {nr}: only {changed} pixels refined");
    }
    let (batch1, out) = refine_run(dir.path(), &weights, "b1", &["--batch-size", "1"]);
    assert_ok(&out);
    for nr in 0..4 {
        assert!(
            frame(&batch1, nr) == frame(&batch4, nr),
            "frame {nr} differs between batch 1 and 4"
        );
    }
}

#[test]
fn missing_or_wrong_weights_fail_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let weights = tiny_weights(dir.path());
    // bf16 has no CPU kernels: refused before any frame, with the alternatives
    let (_, out) = refine_run(dir.path(), &weights, "o0", &["--precision", "bf16"]);
    let err = assert_fails(&out);
    assert!(err.contains("--precision") && err.contains("f16"), "{err}");
    // a truncated UNet file
    let unet = weights.join("unet/diffusion_pytorch_model.safetensors");
    let bytes = std::fs::read(&unet).unwrap();
    std::fs::write(&unet, &bytes[..bytes.len() / 2]).unwrap();
    let (_, out) = refine_run(dir.path(), &weights, "o1", &[]);
    let err = assert_fails(&out);
    assert!(err.contains("diffusion_pytorch_model.safetensors"), "{err}");
    // a VAE config that does not match its weights: the tensor and both shapes are named
    std::fs::write(&unet, &bytes).unwrap();
    let vae_cfg = weights.join("vae/config.json");
    let text = std::fs::read_to_string(&vae_cfg).unwrap();
    let mut cfg: serde_json::Value = serde_json::from_str(&text).unwrap();
    cfg["latent_channels"] = 8.into();
    std::fs::write(&vae_cfg, cfg.to_string()).unwrap();
    let (_, out) = refine_run(dir.path(), &weights, "o2", &[]);
    let err = assert_fails(&out);
    assert!(err.contains("vae") && err.contains("shape"), "{err}");
    // no weights anywhere, offline
    std::fs::write(&vae_cfg, text).unwrap();
    std::fs::remove_dir_all(weights.join("text_encoder")).unwrap();
    let (_, out) = refine_run(dir.path(), &weights, "o3", &[]);
    let err = assert_fails(&out);
    assert!(err.contains("text_encoder"), "{err}");
    let mut cmd = hub_run(dir.path(), "o4.mp4");
    cmd.env("HF_ENDPOINT", "http://127.0.0.1:9");
    let err = assert_fails(&cmd.output().unwrap());
    assert!(
        err.contains("stable-diffusion-v1-5/stable-diffusion-v1-5")
            && err.contains("--refine classic"),
        "{err}"
    );
}

#[test]
fn weights_are_found_in_the_hugging_face_cache() {
    let dir = tempfile::tempdir().unwrap();
    let weights = tiny_weights(dir.path());
    // the hub cache layout: models--org--name/refs/main and snapshots/<commit>/...
    let hub = dir.path().join("hf/hub");
    for (repo, from) in [
        (
            "models--stable-diffusion-v1-5--stable-diffusion-v1-5",
            weights.clone(),
        ),
        (
            "models--lllyasviel--control_v11p_sd15_inpaint",
            weights.join("controlnet"),
        ),
    ] {
        let snapshot = hub.join(repo).join("snapshots/0123abcd");
        std::fs::create_dir_all(hub.join(repo).join("refs")).unwrap();
        std::fs::write(hub.join(repo).join("refs/main"), "0123abcd").unwrap();
        for sub in ["", "unet", "vae", "text_encoder", "tokenizer", "scheduler"] {
            if from.join(sub).is_dir() && (sub.is_empty() || from == weights) {
                for entry in std::fs::read_dir(from.join(sub)).unwrap() {
                    let p = entry.unwrap().path();
                    if p.is_file() {
                        std::fs::create_dir_all(snapshot.join(sub)).unwrap();
                        std::fs::copy(&p, snapshot.join(sub).join(p.file_name().unwrap())).unwrap();
                    }
                }
            }
        }
    }
    let mut cmd = hub_run(dir.path(), "cache.mp4");
    cmd.env("HF_HUB_OFFLINE", "1")
        .args(["--refine-px", "128", "--frames", "0..1"]);
    assert_ok(&cmd.output().unwrap());
}

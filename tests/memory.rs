//! The memory plan from the command line: `vanelia plan`, and `--vram-budget` sizing the
//! diffusion batch of a run (tiny fixture weights).

use crate::util::{assert_fails, assert_ok, vanelia_command};

/// `vanelia plan` (it prints no progress, so it has no --quiet).
fn plan_cmd(dir: &std::path::Path) -> std::process::Command {
    let mut cmd = vanelia_command(dir);
    cmd.arg("plan");
    cmd
}

fn plan_json(dir: &std::path::Path, vram: &str) -> serde_json::Value {
    let out = plan_cmd(dir)
        .args(["--vram", vram, "--json"])
        .output()
        .unwrap();
    assert_ok(&out);
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn plan_prints_every_stage_and_fits_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let mut last_batch = 0;
    for (vram, bytes) in [
        ("6G", 6u64 << 30),
        ("8G", 8 << 30),
        ("24G", 24 << 30),
        ("80G", 80 << 30),
    ] {
        let plan = plan_json(dir.path(), vram);
        let stages = plan["stages"].as_array().unwrap();
        let names: Vec<&str> = stages.iter().map(|s| s["name"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "pose",
                "render",
                "text_encoder",
                "vae_encode",
                "unet_controlnet",
                "vae_decode"
            ]
        );
        for stage in stages {
            let (w, a, p) = (
                stage["weights_bytes"].as_u64().unwrap(),
                stage["activation_bytes"].as_u64().unwrap(),
                stage["peak_bytes"].as_u64().unwrap(),
            );
            assert_eq!(w + a, p, "{stage}");
            assert!(stage["batch"].as_u64().unwrap() >= 1 && stage["dtype"].is_string());
        }
        let peak = plan["predicted_peak_bytes"].as_u64().unwrap();
        assert!(peak <= bytes, "{vram}: {peak}");
        assert!(plan["residency"].is_string());
        let batch = plan["diffusion_batch"].as_u64().unwrap();
        assert!(batch >= last_batch, "{vram}");
        last_batch = batch;
    }
    // SD 1.5 UNet in f16: 859,520,964 parameters, 2 bytes each, resident with ControlNet + VAE
    let plan = plan_json(dir.path(), "80G");
    assert!(plan["stages"][4]["weights_bytes"].as_u64().unwrap() > 2 * 859_520_964);
    // the table form
    let out = plan_cmd(dir.path())
        .args(["--vram", "12G"])
        .output()
        .unwrap();
    assert_ok(&out);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("unet_controlnet") && table.contains("predicted peak"),
        "{table}"
    );
}

#[test]
fn impossible_or_unreadable_budgets_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = plan_cmd(dir.path())
        .args(["--vram", "2G"])
        .output()
        .unwrap();
    let err = assert_fails(&out);
    assert!(
        err.contains("--vram") && err.contains("missing") && err.contains("stage"),
        "{err}"
    );
    let out = plan_cmd(dir.path())
        .args(["--vram", "lots"])
        .output()
        .unwrap();
    let err = assert_fails(&out);
    assert!(err.contains("--vram") && err.contains("8G"), "{err}");
}

#[test]
fn the_run_sizes_its_batch_from_the_budget_and_refuses_a_batch_that_does_not_fit() {
    let dir = tempfile::tempdir().unwrap();
    let weights = crate::refine::tiny_weights(dir.path());
    // the tiny networks at 128 px beside the 640x360 renderer: batch 8 needs more than 120M
    let (_, out) = crate::refine::refine_run(
        dir.path(),
        &weights,
        "small",
        &["--vram-budget", "120M", "--batch-size", "8"],
    );
    let err = assert_fails(&out);
    assert!(
        err.contains("--batch-size") && err.contains("at most"),
        "{err}"
    );
    let (output, out) =
        crate::refine::refine_run(dir.path(), &weights, "auto", &["--vram-budget", "120M"]);
    assert_ok(&out);
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(output.parent().unwrap().join("report.json")).unwrap(),
    )
    .unwrap();
    let planned = report["memory_plan"]["diffusion_batch"].as_u64().unwrap();
    assert!((1..8).contains(&planned), "{planned}");
    let refine = report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "refine")
        .unwrap();
    assert_eq!(refine["diffusion"]["batch_size"].as_u64().unwrap(), planned);
}

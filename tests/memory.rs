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
    // the tiny networks at 128 px beside the 640x360 renderer: batch 8 needs more than 140M
    let (_, out) = crate::refine::refine_run(
        dir.path(),
        &weights,
        "small",
        &["--vram-budget", "140M", "--batch-size", "8"],
    );
    let err = assert_fails(&out);
    assert!(
        err.contains("--batch-size") && err.contains("at most"),
        "{err}"
    );
    let (output, out) =
        crate::refine::refine_run(dir.path(), &weights, "auto", &["--vram-budget", "140M"]);
    assert_ok(&out);
    let report = crate::util::report(&output);
    let planned = report["memory_plan"]["diffusion_batch"].as_u64().unwrap();
    assert!((1..8).contains(&planned), "{planned}");
    assert_eq!(
        refine_stats(&report)["batch_size"].as_u64().unwrap(),
        planned
    );
}

/// The memory model's estimate of one UNet step of the tiny fixture UNet for `frames` frames
/// of `model_px` (f32, default attention chunk): what the injected limit is compared with.
fn tiny_step_bytes(weights: &std::path::Path, model_px: [u64; 2], frames: u64) -> u64 {
    let cfg: vanelia::diffusion::unet::UNet2DConditionConfig =
        vanelia::diffusion::weights::read_config(&weights.join("unet/config.json")).unwrap();
    let cpu_f32 =
        vanelia::nn::cost::Ops::of(vanelia::nn::cost::ConvKernel::Cpu, candle_core::DType::F32);
    vanelia::diffusion::footprint::denoise_step_bytes(
        &cfg,
        cpu_f32,
        (model_px[1] / 8, model_px[0] / 8),
        2 * frames,
        vanelia::nn::attention::QUERY_CHUNK as u64,
    )
}

/// The diffusion figures of a run's refine stage.
fn refine_stats(report: &serde_json::Value) -> serde_json::Value {
    crate::util::stage(report, "refine")["diffusion"].clone()
}

#[test]
fn out_of_memory_halves_the_batch_and_gives_the_smaller_batch_s_output() {
    let dir = tempfile::tempdir().unwrap();
    let weights = crate::refine::tiny_weights(dir.path());
    let (at2, out) = crate::refine::refine_run(dir.path(), &weights, "b2", &["--batch-size", "2"]);
    assert_ok(&out);
    let stats = refine_stats(&crate::util::report(&at2));
    let model_px = [
        stats["model_px"][0].as_u64().unwrap(),
        stats["model_px"][1].as_u64().unwrap(),
    ];
    // a device that holds a batch of 2 but not of 4
    let limit =
        (tiny_step_bytes(&weights, model_px, 2) + tiny_step_bytes(&weights, model_px, 4)) / 2;
    let mut cmd_args = vec!["--batch-size", "4"];
    let limit_text = limit.to_string();
    let env = [("VANELIA_INJECT_ALLOC_LIMIT", limit_text.as_str())];
    let (at4, out) = crate::refine::refine_run_env(dir.path(), &weights, "b4", &cmd_args, &env);
    assert_ok(&out);
    let report = crate::util::report(&at4);
    let stats = refine_stats(&report);
    assert_eq!(stats["oom_retries"], 1, "{stats}");
    assert_eq!(stats["batch_size"], 2, "{stats}");
    assert!(
        report["warnings"].to_string().contains("out of memory"),
        "{report}"
    );
    for nr in 0..4 {
        let name = format!("{nr:06}.png");
        let a = std::fs::read(at2.parent().unwrap().join(&name)).unwrap();
        let b = std::fs::read(at4.parent().unwrap().join(&name)).unwrap();
        assert!(a == b, "frame {nr} differs from the batch-2 run");
    }
    // a device that cannot hold even one frame: a clear error, nothing written
    cmd_args.push("--force");
    let env = [("VANELIA_INJECT_ALLOC_LIMIT", "1000")];
    let (_, out) = crate::refine::refine_run_env(dir.path(), &weights, "b1", &cmd_args, &env);
    let err = assert_fails(&out);
    assert!(err.contains("out of memory"), "{err}");
}

#[test]
fn bench_compares_schedulers_and_batch_sizes_in_one_report() {
    let dir = tempfile::tempdir().unwrap();
    let weights = crate::refine::tiny_weights(dir.path());
    let bench_dir = dir.path().join("bench");
    let mut cmd = vanelia_command(dir.path());
    cmd.arg("bench");
    crate::util::demo_inputs(&mut cmd)
        .args(["--refine", "diffusion", "--refine-px", "128"])
        .args(["--weights", crate::util::s(&weights)])
        .args(["--bench-frames", "2", "--batch-size", "4"])
        .args(["--bench-dir", crate::util::s(&bench_dir)]);
    assert_ok(&cmd.output().unwrap());
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bench_dir.join("bench.json")).unwrap())
            .unwrap();
    let results = report["results"].as_array().unwrap();
    let evals = |name: &str| {
        results
            .iter()
            .find(|r| r["variant"]["name"] == name)
            .unwrap()["unet_evaluations"]
            .as_u64()
            .unwrap()
    };
    // 2 frames: DPM++ 12 @ 0.3 runs 3 steps, DDIM 20 @ 0.3 runs 6, DDIM at DPM++'s start σ 1
    assert_eq!(evals("dpmpp12_s0.3_b8"), 3);
    assert_eq!(evals("ddim20_s0.3_b8"), 6);
    assert_eq!(evals("ddim20_same_sigma_b8"), 1);
    assert_eq!(evals("dpmpp12_s0.3_b1"), 6);
    assert_eq!(report["ratios"].as_array().unwrap().len(), 3);
    assert!(results.iter().all(|r| {
        r["peak_rss_bytes"].as_u64().unwrap() > 0
            && r["predicted_peak_bytes"].as_u64().unwrap() > 0
            && r["measured_peak_bytes"].as_u64().unwrap() > 0
    }));
    let table = std::fs::read_to_string(bench_dir.join("bench.txt")).unwrap();
    assert!(table.contains("batch 8 / batch 1") && table.contains("measured"));
}

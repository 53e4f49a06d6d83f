//! The refinement loop (VAE encode, ControlNet + UNet steps with guidance, VAE decode) on CPU:
//! `cargo bench -- denoise`. DPM++ 2M Karras 12 against DDIM 20, at equal strength (0.3) and at
//! equal start noise (DDIM from DPM++'s start σ), batches of 1, 4 and 8, on the tiny fixture
//! config and on a mid-size config (random weights, same architecture). Names are
//! `denoise_{config}_{run}_b{batch}`; throughput is in frames. Before each config the ratio
//! DDIM / DPM++ of one timed run per batch is printed.

use std::path::Path;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use criterion::{criterion_group, Criterion, Throughput};
use vanelia::diffusion::denoise::{refine, Models, RefineInputs, RefineSettings};
use vanelia::diffusion::schedulers::{start_step, SchedulerConfig, SchedulerKind};
use vanelia::diffusion::unet::controlnet::{ControlNetConfig, ControlNetModel};
use vanelia::diffusion::unet::model::UNet2DConditionModel;
use vanelia::diffusion::unet::UNet2DConditionConfig;
use vanelia::diffusion::vae::{AutoencoderKL, AutoencoderKLConfig, VaeMode};

/// Image side in pixels for every run.
const SIDE_PX: usize = 128;

struct Net {
    unet: UNet2DConditionModel,
    controlnet: ControlNetModel,
    vae: AutoencoderKL,
    context_dim: usize,
}

fn config<T: serde::de::DeserializeOwned>(name: &str, edit: &dyn Fn(&mut serde_json::Value)) -> T {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden/sd15/small/models");
    let text = std::fs::read_to_string(dir.join(name).join("config.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    edit(&mut v);
    serde_json::from_value(v).unwrap()
}

/// Random-weight networks; `widths` = (UNet/ControlNet channels, VAE channels, context dim),
/// `None` for the fixture's own.
fn net(widths: Option<(&[usize], &[usize], usize)>) -> Net {
    let edit_unet = |v: &mut serde_json::Value| {
        if let Some((unet, _, ctx)) = widths {
            v["block_out_channels"] = serde_json::json!(unet);
            v["cross_attention_dim"] = ctx.into();
            v["attention_head_dim"] = 8.into();
            v["norm_num_groups"] = 32.into();
        }
    };
    let edit_vae = |v: &mut serde_json::Value| {
        if let Some((_, vae, _)) = widths {
            v["block_out_channels"] = serde_json::json!(vae);
            v["norm_num_groups"] = 32.into();
        }
    };
    let unet_cfg: UNet2DConditionConfig = config("unet", &edit_unet);
    let cn_cfg: ControlNetConfig = config("controlnet", &edit_unet);
    let vae_cfg: AutoencoderKLConfig = config("vae", &edit_vae);
    let context_dim = unet_cfg.cross_attention_dim;
    let build = || {
        let map = VarMap::new();
        (VarBuilder::from_varmap(&map, DType::F32, &Device::Cpu), map)
    };
    let (vb, _m1) = build();
    let unet = UNet2DConditionModel::new(vb, unet_cfg).unwrap();
    let (vb, _m2) = build();
    let controlnet = ControlNetModel::new(vb, cn_cfg).unwrap();
    let (vb, _m3) = build();
    let vae = AutoencoderKL::new(vb, vae_cfg).unwrap();
    Net {
        unet,
        controlnet,
        vae,
        context_dim,
    }
}

/// One refinement run's inputs for `b` frames.
struct Inputs {
    image: Tensor,
    mask: Tensor,
    control: Tensor,
    prompt: Tensor,
    noise: Tensor,
}

fn inputs(b: usize, context_dim: usize) -> Inputs {
    let dev = Device::Cpu;
    let image = Tensor::rand(0f32, 1.0, (b, 3, SIDE_PX, SIDE_PX), &dev).unwrap();
    let mask = Tensor::zeros((b, 1, SIDE_PX, SIDE_PX), DType::F32, &dev).unwrap();
    let side = SIDE_PX / 8;
    Inputs {
        control: image.clone(),
        mask: (mask + 1.0).unwrap(),
        image,
        prompt: Tensor::randn(0f32, 1.0, (b, 77, context_dim), &dev).unwrap(),
        noise: Tensor::randn(0f32, 1.0, (b, 4, side, side), &dev).unwrap(),
    }
}

fn settings(scheduler: SchedulerKind, steps: usize, start_sigma: Option<f64>) -> RefineSettings {
    RefineSettings {
        scheduler,
        scheduler_config: SchedulerConfig::default(),
        steps,
        strength: 0.3,
        start_sigma,
        guidance: 7.5,
        controlnet_scale: 0.5,
        guess_mode: false,
        control_start: 0.0,
        control_end: 1.0,
        vae: VaeMode {
            slicing: true,
            tiling: None,
        },
    }
}

fn run(n: &Net, x: &Inputs, s: &RefineSettings) -> usize {
    let models = Models {
        unet: &n.unet,
        controlnet: &n.controlnet,
        vae: &n.vae,
    };
    let input = RefineInputs {
        image: &x.image,
        mask: &x.mask,
        control_image: &x.control,
        prompt_embeds: &x.prompt,
        negative_prompt_embeds: &x.prompt,
        eps_image: &x.noise,
        noise: &x.noise,
        eps_masked_image: &x.noise,
    };
    refine(&models, &input, s).unwrap().unet_evaluations
}

fn bench(c: &mut Criterion) {
    let dpm_start_sigma = {
        let sched = SchedulerConfig::default().build(SchedulerKind::DpmPp2mKarras, 12);
        sched.sigma(start_step(12, 0.3))
    };
    let runs = [
        (
            "dpmpp12_s030",
            settings(SchedulerKind::DpmPp2mKarras, 12, None),
        ),
        ("ddim20_s030", settings(SchedulerKind::Ddim, 20, None)),
        (
            "ddim20_equal_sigma",
            settings(SchedulerKind::Ddim, 20, Some(dpm_start_sigma)),
        ),
    ];
    let mid: (&[usize], &[usize], usize) = (&[64, 128, 256, 256], &[32, 64, 128, 128], 256);
    let mut group = c.benchmark_group("denoise");
    group.sample_size(10);
    for (name, widths) in [("tiny", None), ("mid", Some(mid))] {
        let n = net(widths);
        for b in [1_usize, 4, 8] {
            let x = inputs(b, n.context_dim);
            let timed = |s: &RefineSettings| {
                let t = Instant::now();
                let evals = run(&n, &x, s);
                (t.elapsed().as_secs_f64(), evals)
            };
            let (dpm, dpm_evals) = timed(&runs[0].1);
            for (label, s) in &runs[1..] {
                let (ddim, evals) = timed(s);
                eprintln!(
                    "denoise {name} b{b}: {label} / dpmpp12_s030 = {:.2}x time ({evals} vs {dpm_evals} UNet evaluations)",
                    ddim / dpm
                );
            }
            group.throughput(Throughput::Elements(b as u64));
            for (label, s) in &runs {
                group.bench_function(format!("denoise_{name}_{label}_b{b}"), |bench| {
                    bench.iter(|| run(&n, &x, s))
                });
            }
        }
    }
    group.finish();
}

criterion_group!(benches, bench);

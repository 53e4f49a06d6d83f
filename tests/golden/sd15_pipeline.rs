use candle_core::{DType, Tensor};
use vanelia::diffusion::denoise::{
    refine, to_u8, Models, RefineInputs, RefineOutput, RefineSettings,
};
use vanelia::diffusion::schedulers::{SchedulerConfig, SchedulerKind};
use vanelia::diffusion::unet::controlnet::ControlNetModel;
use vanelia::diffusion::unet::model::UNet2DConditionModel;
use vanelia::diffusion::vae::{AutoencoderKL, TileConfig, VaeMode};

use crate::harness::{assert_close, cases, device, Case, ATOL_F16_LOOP, ATOL_LATENTS_F32};
use vanelia::nn::attention::QUERY_CHUNK;

const ENV: &str = "VANELIA_GOLDEN_SD15";

fn unet(case: &Case, name: &str) -> UNet2DConditionModel {
    UNet2DConditionModel::load(&case.model_dir(name), DType::F32, &device(), QUERY_CHUNK).unwrap()
}

fn settings(case: &Case, run: &serde_json::Value) -> RefineSettings {
    let scheduler_dir = case.model_dir("scheduler");
    let tiling = run["vae_tiling"].as_bool().unwrap().then(|| TileConfig {
        sample_px: run["vae_tile_sample_min_size"].as_u64().unwrap() as usize,
        latent: run["vae_tile_latent_min_size"].as_u64().unwrap() as usize,
        overlap: run["vae_tile_overlap_factor"].as_f64().unwrap(),
    });
    RefineSettings {
        scheduler: match run["scheduler"].as_str().unwrap() {
            "ddim" => SchedulerKind::Ddim,
            _ => SchedulerKind::DpmPp2mKarras,
        },
        scheduler_config: SchedulerConfig::from_json(
            &std::fs::read_to_string(scheduler_dir.join("scheduler_config.json")).unwrap(),
        )
        .unwrap(),
        steps: run["num_inference_steps"].as_u64().unwrap() as usize,
        strength: run["strength"].as_f64().unwrap(),
        start_sigma: None,
        guidance: run["guidance_scale"].as_f64().unwrap(),
        controlnet_scale: run["controlnet_conditioning_scale"].as_f64().unwrap(),
        guess_mode: run["guess_mode"].as_bool().unwrap(),
        control_start: run["control_guidance_start"].as_f64().unwrap(),
        control_end: run["control_guidance_end"].as_f64().unwrap(),
        vae: VaeMode {
            slicing: run["vae_slicing"].as_bool().unwrap(),
            tiling,
        },
    }
}

type Tensors = std::collections::HashMap<String, Tensor>;

/// The eight inputs of a reference run in `RefineInputs` order (frames from `inputs`, draws
/// from the run's file), each passed through `map` (a frame slice, a dtype cast).
fn run_inputs(inputs: &Tensors, t: &Tensors, map: impl Fn(&Tensor) -> Tensor) -> [Tensor; 8] {
    let [image, mask, control, pos, neg] = [
        "image",
        "mask",
        "control_image",
        "prompt_embeds",
        "negative_prompt_embeds",
    ]
    .map(|n| map(&inputs[n]));
    let [e1, noise, e3] =
        ["eps_vae_init_image", "noise", "eps_vae_masked_image"].map(|n| map(&t[n]));
    [image, mask, control, pos, neg, e1, noise, e3]
}

/// Runs the loop on inputs from [`run_inputs`].
fn refine_on(models: &Models<'_>, x: &[Tensor; 8], s: &RefineSettings) -> RefineOutput {
    let [image, mask, control_image, prompt_embeds, negative_prompt_embeds, eps_image, noise, eps_masked_image] =
        x;
    let input = RefineInputs {
        image,
        mask,
        control_image,
        prompt_embeds,
        negative_prompt_embeds,
        eps_image,
        noise,
        eps_masked_image,
    };
    refine(models, &input, s).unwrap()
}

fn max_u8_diff(a: &Tensor, b: &Tensor) -> u8 {
    let (a, b) = (
        a.flatten_all().unwrap().to_vec1::<u8>().unwrap(),
        b.flatten_all().unwrap().to_vec1::<u8>().unwrap(),
    );
    a.iter()
        .zip(&b)
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap_or(0)
}

#[test]
fn pipeline_runs_match_step_by_step() {
    for case in cases("sd15", ENV) {
        let controlnet = ControlNetModel::load(
            &case.model_dir("controlnet"),
            DType::F32,
            &device(),
            QUERY_CHUNK,
        )
        .unwrap();
        let vae = AutoencoderKL::load(&case.model_dir("vae"), DType::F32, &device()).unwrap();
        let inputs = case.tensors("inputs.safetensors");
        for run in case.manifest["pipelines"].as_array().unwrap() {
            let name = format!("{} {}", case.name(), run["name"].as_str().unwrap());
            let unet = unet(&case, run["unet"].as_str().unwrap());
            let t = case.tensors(run["file"].as_str().unwrap());
            let models = Models {
                unet: &unet,
                controlnet: &controlnet,
                vae: &vae,
            };
            let x = run_inputs(&inputs, &t, Tensor::clone);
            let out = refine_on(&models, &x, &settings(&case, run));
            assert_close(
                &format!("{name}: image_latents"),
                &out.image_latents,
                &t["image_latents"],
                ATOL_LATENTS_F32,
            );
            assert_close(
                &format!("{name}: latents_init"),
                &out.latents_init,
                &t["latents_init"],
                ATOL_LATENTS_F32,
            );
            let steps = run["num_steps_run"].as_u64().unwrap() as usize;
            assert_eq!(out.latents.len(), steps, "{name}");
            for i in 0..steps {
                assert_close(
                    &format!("{name}: unet_out_{i}"),
                    &out.unet_out[i],
                    &t[&format!("unet_out_{i}")],
                    ATOL_LATENTS_F32,
                );
                assert_close(
                    &format!("{name}: latents_{i}"),
                    &out.latents[i],
                    &t[&format!("latents_{i}")],
                    ATOL_LATENTS_F32,
                );
            }
            assert_close(
                &format!("{name}: decoded"),
                &out.decoded,
                &t["image_decoded_raw"],
                ATOL_LATENTS_F32,
            );
            let d = max_u8_diff(&to_u8(&out.decoded).unwrap(), &t["image_out_u8"]);
            assert!(d <= 1, "{name}: u8 image differs by {d}");
        }
    }
}

/// A batch gives the same frames as the frames one at a time (noise is per frame).
#[test]
fn batch_equals_frames_one_at_a_time() {
    let case = cases("sd15", "VANELIA_GOLDEN_SD15_UNUSED")
        .into_iter()
        .next()
        .unwrap();
    let controlnet = ControlNetModel::load(
        &case.model_dir("controlnet"),
        DType::F32,
        &device(),
        QUERY_CHUNK,
    )
    .unwrap();
    let vae = AutoencoderKL::load(&case.model_dir("vae"), DType::F32, &device()).unwrap();
    let unet = unet(&case, "unet");
    let models = Models {
        unet: &unet,
        controlnet: &controlnet,
        vae: &vae,
    };
    let inputs = case.tensors("inputs.safetensors");
    let run = &case.manifest["pipelines"][0];
    let t = case.tensors(run["file"].as_str().unwrap());
    let s = settings(&case, run);
    let run_on = |i: Option<usize>| {
        let x = run_inputs(&inputs, &t, |x| match i {
            Some(i) => x.narrow(0, i, 1).unwrap(),
            None => x.clone(),
        });
        refine_on(&models, &x, &s).decoded
    };
    let batch = run_on(None);
    for i in 0..batch.dim(0).unwrap() {
        assert_close(
            &format!("frame {i}"),
            &run_on(Some(i)),
            &batch.narrow(0, i, 1).unwrap(),
            1e-5,
        );
    }
}

/// Half precision: the first reference run with f16 weights and activations stays close to the
/// f32 reference (f16 keeps ~3 decimal digits; the loop compounds it over the steps).
#[test]
fn pipeline_in_f16_stays_close_to_the_f32_reference() {
    let case = cases("sd15", "VANELIA_GOLDEN_SD15_UNUSED")
        .into_iter()
        .next()
        .unwrap();
    let f16 = DType::F16;
    let controlnet =
        ControlNetModel::load(&case.model_dir("controlnet"), f16, &device(), QUERY_CHUNK).unwrap();
    let vae = AutoencoderKL::load(&case.model_dir("vae"), f16, &device()).unwrap();
    let run = &case.manifest["pipelines"][0];
    let unet = UNet2DConditionModel::load(
        &case.model_dir(run["unet"].as_str().unwrap()),
        f16,
        &device(),
        QUERY_CHUNK,
    )
    .unwrap();
    let inputs = case.tensors("inputs.safetensors");
    let t = case.tensors(run["file"].as_str().unwrap());
    let models = Models {
        unet: &unet,
        controlnet: &controlnet,
        vae: &vae,
    };
    let x = run_inputs(&inputs, &t, |x| x.to_dtype(f16).unwrap());
    let out = refine_on(&models, &x, &settings(&case, run));
    let decoded = out.decoded.to_dtype(DType::F32).unwrap();
    assert_close(
        "f16 decoded",
        &decoded,
        &t["image_decoded_raw"],
        ATOL_F16_LOOP,
    );
}

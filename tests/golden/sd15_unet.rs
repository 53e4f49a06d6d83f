use candle_core::DType;
use vanelia::diffusion::unet::time::{timestep_features, TimestepEmbedding};
use vanelia::diffusion::unet::UNet2DConditionConfig;
use vanelia::diffusion::weights;

use crate::harness::{assert_close, cases, device, ATOL_LATENTS_F32};
use vanelia::nn::attention::QUERY_CHUNK;

const ENV: &str = "VANELIA_GOLDEN_SD15";

#[test]
fn timestep_projection_and_embedding() {
    for case in cases("sd15", ENV) {
        let dir = case.model_dir("unet");
        let cfg: UNet2DConditionConfig = weights::read_config(&dir.join("config.json")).unwrap();
        let vb = weights::var_builder(
            &dir.join("diffusion_pytorch_model.safetensors"),
            DType::F32,
            &device(),
        )
        .unwrap();
        let io = case.tensors("unet_controlnet_io.safetensors");
        let ts: Vec<f64> = io["time_proj_timesteps"]
            .to_vec1::<i64>()
            .unwrap()
            .iter()
            .map(|&t| t as f64)
            .collect();
        let c0 = cfg.block_out_channels[0];
        let features =
            timestep_features(&ts, c0, cfg.flip_sin_to_cos, cfg.freq_shift, &device()).unwrap();
        assert_close(
            &format!("{}: time_proj", case.name()),
            &features,
            &io["time_proj_out"],
            ATOL_LATENTS_F32,
        );
        let embedding = TimestepEmbedding::new(vb.pp("time_embedding"), c0, 4 * c0).unwrap();
        assert_close(
            "time_embedding",
            &embedding.forward(&features).unwrap(),
            &io["time_embedding_out"],
            ATOL_LATENTS_F32,
        );
    }
}

#[test]
fn unet_plain_and_with_control_residuals() {
    use vanelia::diffusion::unet::model::{ControlResiduals, UNet2DConditionModel};
    for case in cases("sd15", ENV) {
        let unet =
            UNet2DConditionModel::load(&case.model_dir("unet"), DType::F32, &device(), QUERY_CHUNK)
                .unwrap();
        let io = case.tensors("unet_controlnet_io.safetensors");
        let t = io["timestep"].to_vec1::<i64>().unwrap()[0] as f64;
        let ctx = &io["encoder_hidden_states"];
        let plain = unet.forward(&io["sample"], t, ctx, None).unwrap();
        assert_close(
            &format!("{}: unet_out_plain", case.name()),
            &plain,
            &io["unet_out_plain"],
            ATOL_LATENTS_F32,
        );
        let k = case.manifest["files"]["unet_controlnet_io.safetensors"]["meta"]
            ["num_down_residuals"]
            .as_u64()
            .unwrap() as usize;
        let control = ControlResiduals {
            down: (0..k)
                .map(|j| io[&format!("cn_down_{j}")].clone())
                .collect(),
            mid: io["cn_mid"].clone(),
        };
        let with = unet.forward(&io["sample"], t, ctx, Some(&control)).unwrap();
        assert_close(
            "unet_out_with_control",
            &with,
            &io["unet_out_with_control"],
            ATOL_LATENTS_F32,
        );
    }
}

#[test]
fn inpainting_unet_with_nine_input_channels() {
    use vanelia::diffusion::unet::model::UNet2DConditionModel;
    for case in cases("sd15", ENV) {
        let dir = case.model_dir("unet_inpaint9");
        let cfg: UNet2DConditionConfig = weights::read_config(&dir.join("config.json")).unwrap();
        assert_eq!(cfg.in_channels, 9);
        let unet = UNet2DConditionModel::load(&dir, DType::F32, &device(), QUERY_CHUNK).unwrap();
        let io = case.tensors("unet_controlnet_io.safetensors");
        let t = io["unet9_timestep"].to_vec1::<i64>().unwrap()[0] as f64;
        let out = unet
            .forward(&io["unet9_sample"], t, &io["encoder_hidden_states"], None)
            .unwrap();
        assert_close(
            &format!("{}: unet9_out", case.name()),
            &out,
            &io["unet9_out"],
            ATOL_LATENTS_F32,
        );
    }
}

#[test]
fn controlnet_residuals() {
    use vanelia::diffusion::unet::controlnet::ControlNetModel;
    for case in cases("sd15", ENV) {
        let dir = case.model_dir("controlnet");
        let cn = ControlNetModel::load(&dir, DType::F32, &device(), QUERY_CHUNK).unwrap();
        let io = case.tensors("unet_controlnet_io.safetensors");
        let inputs = case.tensors("inputs.safetensors");
        let meta = &case.manifest["files"]["unet_controlnet_io.safetensors"]["meta"];
        let scale = meta["conditioning_scale"].as_f64().unwrap();
        let control =
            candle_core::Tensor::cat(&[&inputs["control_image"], &inputs["control_image"]], 0)
                .unwrap();
        let t = io["timestep"].to_vec1::<i64>().unwrap()[0] as f64;
        let out = cn
            .forward(
                &io["sample"],
                t,
                &io["encoder_hidden_states"],
                &control,
                scale,
            )
            .unwrap();
        let k = meta["num_down_residuals"].as_u64().unwrap() as usize;
        assert_eq!(out.down.len(), k);
        for (j, r) in out.down.iter().enumerate() {
            assert_close(
                &format!("{}: cn_down_{j}", case.name()),
                r,
                &io[&format!("cn_down_{j}")],
                ATOL_LATENTS_F32,
            );
        }
        assert_close("cn_mid", &out.mid, &io["cn_mid"], ATOL_LATENTS_F32);
    }
}

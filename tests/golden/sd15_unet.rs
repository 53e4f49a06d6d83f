use candle_core::{DType, Device};
use vanelia::diffusion::unet::time::{timestep_features, TimestepEmbedding};
use vanelia::diffusion::unet::UNet2DConditionConfig;
use vanelia::diffusion::weights;

use crate::harness::{assert_close, cases, ATOL_LATENTS_F32};

const ENV: &str = "VANELIA_GOLDEN_SD15";

#[test]
fn timestep_projection_and_embedding() {
    for case in cases("sd15", ENV) {
        let dir = case
            .dir
            .join(case.manifest["config"]["models"]["unet"].as_str().unwrap());
        let cfg: UNet2DConditionConfig = weights::read_config(&dir.join("config.json")).unwrap();
        let vb = weights::var_builder(
            &dir.join("diffusion_pytorch_model.safetensors"),
            DType::F32,
            &Device::Cpu,
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
            timestep_features(&ts, c0, cfg.flip_sin_to_cos, cfg.freq_shift, &Device::Cpu).unwrap();
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

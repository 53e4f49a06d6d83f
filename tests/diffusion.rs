use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use vanelia::diffusion::text::clip::{ClipTextConfig, ClipTextModel};
use vanelia::diffusion::unet::controlnet::{ControlNetConfig, ControlNetModel};
use vanelia::diffusion::unet::model::UNet2DConditionModel;
use vanelia::diffusion::unet::UNet2DConditionConfig;
use vanelia::diffusion::vae::{AutoencoderKL, AutoencoderKLConfig, VaeMode};

/// The published SD 1.5 configurations build (every real key name and shape) and run one
/// forward at a small size; weights are zeros, built in the test.
#[test]
fn full_size_sd15_components_build_and_run() {
    let (dev, vb) = (Device::Cpu, VarBuilder::zeros(DType::F32, &Device::Cpu));
    let context = Tensor::zeros((2, 77, 768), DType::F32, &dev).unwrap();
    let latents = Tensor::zeros((2, 4, 8, 8), DType::F32, &dev).unwrap();
    {
        let cfg = ControlNetConfig {
            unet: UNet2DConditionConfig::default(),
            conditioning_embedding_out_channels: vec![16, 32, 96, 256],
            conditioning_channels: 3,
        };
        let cn = ControlNetModel::new(vb.clone(), cfg).unwrap();
        let control = Tensor::zeros((2, 3, 64, 64), DType::F32, &dev).unwrap();
        let r = cn
            .forward(&latents, 999.0, &context, &control, 0.5)
            .unwrap();
        assert_eq!(r.down.len(), 12);
        assert_eq!(r.mid.dims(), &[2, 1280, 1, 1]);
        let unet = UNet2DConditionModel::new(vb.clone(), UNet2DConditionConfig::default()).unwrap();
        let out = unet.forward(&latents, 999.0, &context, Some(&r)).unwrap();
        assert_eq!(out.dims(), &[2, 4, 8, 8]);
    }
    let vae = AutoencoderKL::new(vb.clone(), AutoencoderKLConfig::default()).unwrap();
    let image = vae.decode(&latents, &VaeMode::default()).unwrap();
    assert_eq!(image.dims(), &[2, 3, 64, 64]);
    assert_eq!(
        vae.moments(&image, &VaeMode::default()).unwrap().dims(),
        &[2, 8, 8, 8]
    );
    let clip = ClipTextModel::new(vb.pp("text_model"), &ClipTextConfig::default()).unwrap();
    let ids = Tensor::zeros((1, 77), DType::U32, &dev).unwrap();
    assert_eq!(clip.forward(&ids).unwrap().dims(), &[1, 77, 768]);
}

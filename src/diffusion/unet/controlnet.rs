//! `ControlNetModel` (control_v11p_sd15_inpaint): the UNet's down and mid path on
//! `conv_in(x) + hint_encoder(control image)`, each skip connection and the mid output through
//! a 1x1 "zero" convolution, scaled by the conditioning scale.
//!
//! Reference: diffusers 0.42.1 `models/controlnets/controlnet.py` (`ControlNetModel.forward`,
//! `ControlNetConditioningEmbedding`); diffusion spec §9. Structural template: diffusers-rs
//! `src/models/controlnet.rs`.

use std::path::Path;

use candle_core::{DType, Device, Module as _, Result, Tensor};
use candle_nn::{Conv2d, VarBuilder};

use super::model::{
    block_down, down_block, time_embedding, ControlResiduals, Dims, DownBlock, MidBlock,
};
use super::resnet::conv;
use super::time::TimestepEmbedding;
use super::{load_chunked, QueryChunked, UNet2DConditionConfig};

/// `controlnet/config.json`: the UNet fields plus the hint encoder's widths.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct ControlNetConfig {
    /// The UNet-shaped part.
    #[serde(flatten)]
    pub unet: UNet2DConditionConfig,
    /// `conditioning_embedding_out_channels` (SD 1.5: 16, 32, 96, 256).
    pub conditioning_embedding_out_channels: Vec<usize>,
    /// `conditioning_channels` (3).
    #[serde(default = "three")]
    pub conditioning_channels: usize,
}

fn three() -> usize {
    3
}

impl QueryChunked for ControlNetConfig {
    fn set_query_chunk(&mut self, rows: usize) {
        self.unet.query_chunk = rows;
    }
}

impl ControlNetConfig {
    /// The SD 1.5 inpainting ControlNet v1.1 configuration
    /// (<https://huggingface.co/lllyasviel/control_v11p_sd15_inpaint/blob/main/config.json>).
    pub fn sd15_inpaint() -> Self {
        Self {
            unet: UNet2DConditionConfig::default(),
            conditioning_embedding_out_channels: vec![16, 32, 96, 256],
            conditioning_channels: 3,
        }
    }
}

/// The hint encoder: conv + SiLU, then (conv, stride-2 conv) pairs with SiLU, then `conv_out`.
#[derive(Debug, Clone)]
struct ConditioningEmbedding {
    conv_in: Conv2d,
    blocks: Vec<Conv2d>,
    conv_out: Conv2d,
}

impl ConditioningEmbedding {
    fn new(vb: VarBuilder, channels: &[usize], c_in: usize, c_out: usize) -> Result<Self> {
        let mut blocks = Vec::with_capacity(2 * channels.len());
        for i in 0..channels.len().saturating_sub(1) {
            blocks.push(conv(
                vb.pp(format!("blocks.{}", 2 * i)),
                channels[i],
                channels[i],
                3,
                1,
                1,
            )?);
            blocks.push(conv(
                vb.pp(format!("blocks.{}", 2 * i + 1)),
                channels[i],
                channels[i + 1],
                3,
                2,
                1,
            )?);
        }
        Ok(Self {
            conv_in: conv(vb.pp("conv_in"), c_in, channels[0], 3, 1, 1)?,
            blocks,
            conv_out: conv(
                vb.pp("conv_out"),
                channels[channels.len() - 1],
                c_out,
                3,
                1,
                1,
            )?,
        })
    }

    /// (b, 3, H, W) → (b, c0, H/8, W/8)
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = candle_nn::ops::silu(&self.conv_in.forward(x)?)?;
        for block in &self.blocks {
            h = candle_nn::ops::silu(&block.forward(&h)?)?;
        }
        self.conv_out.forward(&h)
    }
}

/// The ControlNet.
#[derive(Debug, Clone)]
pub struct ControlNetModel {
    conv_in: Conv2d,
    time_embedding: TimestepEmbedding,
    cond_embedding: ConditioningEmbedding,
    down_blocks: Vec<DownBlock>,
    mid_block: MidBlock,
    zero_convs: Vec<Conv2d>,
    mid_zero_conv: Conv2d,
    /// Its configuration.
    pub config: ControlNetConfig,
}

impl ControlNetModel {
    /// Builds the ControlNet from weights under `vb` (diffusers keys).
    pub fn new(vb: VarBuilder, config: ControlNetConfig) -> Result<Self> {
        let cfg = &config.unet;
        let ch = &cfg.block_out_channels;
        let d = Dims::of(cfg);
        let down_blocks = (0..ch.len())
            .map(|i| down_block(vb.pp(format!("down_blocks.{i}")), cfg, i, &d))
            .collect::<Result<Vec<_>>>()?;
        // Skip widths: conv_in, then per level one per layer and one after each downsampler.
        let mut widths = vec![ch[0]];
        for (i, &c) in ch.iter().enumerate() {
            widths.extend(std::iter::repeat_n(
                c,
                cfg.layers_per_block + usize::from(i + 1 < ch.len()),
            ));
        }
        let zero_convs = widths
            .iter()
            .enumerate()
            .map(|(j, &c)| conv(vb.pp(format!("controlnet_down_blocks.{j}")), c, c, 1, 1, 0))
            .collect::<Result<Vec<_>>>()?;
        let top = ch[ch.len() - 1];
        Ok(Self {
            conv_in: conv(vb.pp("conv_in"), cfg.in_channels, ch[0], 3, 1, 1)?,
            time_embedding: TimestepEmbedding::new(vb.pp("time_embedding"), ch[0], 4 * ch[0])?,
            cond_embedding: ConditioningEmbedding::new(
                vb.pp("controlnet_cond_embedding"),
                &config.conditioning_embedding_out_channels,
                config.conditioning_channels,
                ch[0],
            )?,
            down_blocks,
            mid_block: MidBlock::new(vb.pp("mid_block"), top, &d)?,
            zero_convs,
            mid_zero_conv: conv(vb.pp("controlnet_mid_block"), top, top, 1, 1, 0)?,
            config,
        })
    }

    /// Loads a diffusers ControlNet folder (`config.json`, `diffusion_pytorch_model.safetensors`)
    /// with attention in chunks of `query_chunk` query rows.
    pub fn load(
        dir: &Path,
        dtype: DType,
        device: &Device,
        query_chunk: usize,
    ) -> crate::Result<Self> {
        load_chunked(dir, (dtype, device), query_chunk, Self::new)
    }

    /// Residuals for the UNet, each multiplied by `scale` (0 to switch the control off).
    pub fn forward(
        &self,
        sample: &Tensor,
        timestep: f64,
        context: &Tensor,
        control_image: &Tensor,
        scale: f64,
    ) -> Result<ControlResiduals> {
        let b = sample.dim(0)?;
        // 1. time
        let temb = time_embedding(&self.time_embedding, &self.config.unet, timestep, b, sample)?;
        // 2. conv_in plus the hint
        let mut h =
            (self.conv_in.forward(sample)? + self.cond_embedding.forward(control_image)?)?;
        // 3. down, collecting skip connections
        let mut skips = vec![h.clone()];
        for block in &self.down_blocks {
            h = block_down(block, &h, &temb, context, &mut skips)?;
        }
        // 4. mid
        let mid = self.mid_block.forward(&h, &temb, context)?;
        // 5. zero convolutions and scale
        let down = skips
            .iter()
            .zip(&self.zero_convs)
            .map(|(s, c)| c.forward(s)? * scale)
            .collect::<Result<Vec<_>>>()?;
        let mid = (self.mid_zero_conv.forward(&mid)? * scale)?;
        Ok(ControlResiduals { down, mid })
    }
}

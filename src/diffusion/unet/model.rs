//! `UNet2DConditionModel`: time embedding, down path collecting skip connections, mid block,
//! up path consuming them, with optional ControlNet residuals added to the skips and to the
//! mid-block output.
//!
//! Reference: diffusers 0.42.1 `models/unets/unet_2d_condition.py` (`forward`),
//! `models/unets/unet_2d_blocks.py` (`CrossAttnDownBlock2D`, `DownBlock2D`,
//! `UNetMidBlock2DCrossAttn`, `UpBlock2D`, `CrossAttnUpBlock2D`).

use candle_core::{DType, Device, Module as _, Result, Tensor};
use candle_nn::{Conv2d, GroupNorm, VarBuilder};

use super::resnet::{conv, ResnetBlock2D, UNetDownsample2D, UNetUpsample2D};
use super::time::{timestep_features, TimestepEmbedding};
use super::transformer::{Transformer2D, TransformerDims};
use super::{load_chunked, UNet2DConditionConfig};

/// One down level: (resnet, optional attention) × layers, then an optional downsampler.
#[derive(Debug, Clone)]
pub(crate) struct DownBlock {
    resnets: Vec<ResnetBlock2D>,
    attentions: Vec<Transformer2D>,
    downsampler: Option<UNetDownsample2D>,
}

/// One up level: (resnet on [h, skip], optional attention) × (layers + 1), then an optional
/// upsampler.
#[derive(Debug, Clone)]
struct UpBlock {
    resnets: Vec<ResnetBlock2D>,
    attentions: Vec<Transformer2D>,
    upsampler: Option<UNetUpsample2D>,
}

/// Resnet, attention, resnet.
#[derive(Debug, Clone)]
pub(crate) struct MidBlock {
    resnets: [ResnetBlock2D; 2],
    attention: Transformer2D,
}

/// ControlNet residuals: one per skip connection and one for the mid block, already scaled.
#[derive(Debug, Clone)]
pub struct ControlResiduals {
    /// Added to the skip connections, in order.
    pub down: Vec<Tensor>,
    /// Added to the mid-block output.
    pub mid: Tensor,
}

/// The UNet.
#[derive(Debug, Clone)]
pub struct UNet2DConditionModel {
    conv_in: Conv2d,
    time_embedding: TimestepEmbedding,
    down_blocks: Vec<DownBlock>,
    mid_block: MidBlock,
    up_blocks: Vec<UpBlock>,
    conv_norm_out: GroupNorm,
    conv_out: Conv2d,
    /// Its configuration.
    pub config: UNet2DConditionConfig,
}

/// What every block needs to build its layers.
pub(crate) struct Dims {
    temb: usize,
    groups: usize,
    eps: f64,
    transformer: TransformerDims,
}

impl UNet2DConditionModel {
    /// Loads a diffusers `unet/` folder (`config.json`, `diffusion_pytorch_model.safetensors`)
    /// with attention in chunks of `query_chunk` query rows.
    pub fn load(
        dir: &std::path::Path,
        dtype: DType,
        device: &Device,
        query_chunk: usize,
    ) -> crate::Result<Self> {
        load_chunked(dir, (dtype, device), query_chunk, Self::new)
    }

    /// Builds the UNet from weights under `vb` (diffusers keys).
    pub fn new(vb: VarBuilder, config: UNet2DConditionConfig) -> Result<Self> {
        let ch = &config.block_out_channels;
        let c0 = ch[0];
        let d = Dims::of(&config);
        let down_blocks = (0..ch.len())
            .map(|i| down_block(vb.pp(format!("down_blocks.{i}")), &config, i, &d))
            .collect::<Result<Vec<_>>>()?;
        let up_blocks = (0..ch.len())
            .map(|i| up_block(vb.pp(format!("up_blocks.{i}")), &config, i, &d))
            .collect::<Result<Vec<_>>>()?;
        let mid_block = MidBlock::new(vb.pp("mid_block"), ch[ch.len() - 1], &d)?;
        Ok(Self {
            conv_in: conv(vb.pp("conv_in"), config.in_channels, c0, 3, 1, 1)?,
            time_embedding: TimestepEmbedding::new(vb.pp("time_embedding"), c0, d.temb)?,
            down_blocks,
            mid_block,
            up_blocks,
            conv_norm_out: candle_nn::group_norm(d.groups, c0, d.eps, vb.pp("conv_norm_out"))?,
            conv_out: conv(vb.pp("conv_out"), c0, config.out_channels, 3, 1, 1)?,
            config,
        })
    }

    /// Noise prediction for `sample` (b, in, h, w) at `timestep` (one for the whole batch) with
    /// text embeddings `context` (b, 77, d), plus optional ControlNet residuals.
    pub fn forward(
        &self,
        sample: &Tensor,
        timestep: f64,
        context: &Tensor,
        control: Option<&ControlResiduals>,
    ) -> Result<Tensor> {
        let b = sample.dim(0)?;
        // 1. time
        let temb = time_embedding(&self.time_embedding, &self.config, timestep, b, sample)?;
        // 2. pre-process
        let mut h = self.conv_in.forward(sample)?;
        // 3. down, collecting skip connections
        let mut skips = vec![h.clone()];
        for block in &self.down_blocks {
            h = block_down(block, &h, &temb, context, &mut skips)?;
        }
        if let Some(c) = control {
            skips = skips
                .iter()
                .zip(&c.down)
                .map(|(s, r)| s + r)
                .collect::<Result<Vec<_>>>()?;
        }
        // 4. mid
        h = self.mid_block.forward(&h, &temb, context)?;
        if let Some(c) = control {
            h = (h + &c.mid)?;
        }
        // 5. up, consuming skip connections
        for block in &self.up_blocks {
            h = block_up(block, &h, &temb, context, &mut skips)?;
        }
        // 6. post-process
        self.conv_out
            .forward(&candle_nn::ops::silu(&self.conv_norm_out.forward(&h)?)?)
    }
}

impl Dims {
    /// The widths of a UNet-shaped network from its config.
    pub(crate) fn of(config: &UNet2DConditionConfig) -> Self {
        Self {
            temb: 4 * config.block_out_channels[0],
            groups: config.norm_num_groups,
            eps: config.norm_eps,
            transformer: TransformerDims {
                context: config.cross_attention_dim,
                heads: config.attention_head_dim,
                groups: config.norm_num_groups,
                query_chunk: config.query_chunk,
            },
        }
    }
}

impl MidBlock {
    pub(crate) fn new(vb: VarBuilder, c: usize, d: &Dims) -> Result<Self> {
        Ok(Self {
            resnets: [
                ResnetBlock2D::new(vb.pp("resnets.0"), c, c, Some(d.temb), d.groups, d.eps)?,
                ResnetBlock2D::new(vb.pp("resnets.1"), c, c, Some(d.temb), d.groups, d.eps)?,
            ],
            attention: Transformer2D::new(vb.pp("attentions.0"), c, &d.transformer)?,
        })
    }

    pub(crate) fn forward(&self, h: &Tensor, temb: &Tensor, context: &Tensor) -> Result<Tensor> {
        let h = self.resnets[0].forward(h, Some(temb))?;
        let h = self.attention.forward(&h, context)?;
        self.resnets[1].forward(&h, Some(temb))
    }
}

/// Time embedding for one timestep, repeated over the batch.
pub(crate) fn time_embedding(
    embedding: &TimestepEmbedding,
    config: &UNet2DConditionConfig,
    timestep: f64,
    batch: usize,
    like: &Tensor,
) -> Result<Tensor> {
    let features = timestep_features(
        &[timestep],
        config.block_out_channels[0],
        config.flip_sin_to_cos,
        config.freq_shift,
        like.device(),
    )?;
    embedding
        .forward(&features)?
        .to_dtype(like.dtype())?
        .repeat((batch, 1))
}

fn has_attention(kind: Option<&String>) -> bool {
    kind.is_some_and(|k| k.starts_with("CrossAttn"))
}

pub(crate) fn down_block(
    vb: VarBuilder,
    cfg: &UNet2DConditionConfig,
    i: usize,
    d: &Dims,
) -> Result<DownBlock> {
    let ch = &cfg.block_out_channels;
    let (c_in, c_out) = (if i == 0 { ch[0] } else { ch[i - 1] }, ch[i]);
    let attention = has_attention(cfg.down_block_types.get(i));
    let resnets = (0..cfg.layers_per_block)
        .map(|j| {
            ResnetBlock2D::new(
                vb.pp(format!("resnets.{j}")),
                if j == 0 { c_in } else { c_out },
                c_out,
                Some(d.temb),
                d.groups,
                d.eps,
            )
        })
        .collect::<Result<Vec<_>>>()?;
    let attentions = if attention {
        (0..cfg.layers_per_block)
            .map(|j| Transformer2D::new(vb.pp(format!("attentions.{j}")), c_out, &d.transformer))
            .collect::<Result<Vec<_>>>()?
    } else {
        Vec::new()
    };
    let last = i + 1 == ch.len();
    let downsampler = (!last)
        .then(|| UNetDownsample2D::new(vb.pp("downsamplers.0"), c_out))
        .transpose()?;
    Ok(DownBlock {
        resnets,
        attentions,
        downsampler,
    })
}

fn up_block(vb: VarBuilder, cfg: &UNet2DConditionConfig, i: usize, d: &Dims) -> Result<UpBlock> {
    let rev: Vec<usize> = cfg.block_out_channels.iter().rev().copied().collect();
    let n = rev.len();
    let (prev, c_out, c_skip_in) = (
        if i == 0 { rev[0] } else { rev[i - 1] },
        rev[i],
        rev[(i + 1).min(n - 1)],
    );
    let attention = has_attention(cfg.up_block_types.get(i));
    let layers = cfg.layers_per_block + 1;
    let resnets = (0..layers)
        .map(|j| {
            let skip = if j + 1 == layers { c_skip_in } else { c_out };
            let c_in = if j == 0 { prev } else { c_out };
            ResnetBlock2D::new(
                vb.pp(format!("resnets.{j}")),
                c_in + skip,
                c_out,
                Some(d.temb),
                d.groups,
                d.eps,
            )
        })
        .collect::<Result<Vec<_>>>()?;
    let attentions = if attention {
        (0..layers)
            .map(|j| Transformer2D::new(vb.pp(format!("attentions.{j}")), c_out, &d.transformer))
            .collect::<Result<Vec<_>>>()?
    } else {
        Vec::new()
    };
    let last = i + 1 == n;
    let upsampler = (!last)
        .then(|| UNetUpsample2D::new(vb.pp("upsamplers.0"), c_out))
        .transpose()?;
    Ok(UpBlock {
        resnets,
        attentions,
        upsampler,
    })
}

pub(crate) fn block_down(
    block: &DownBlock,
    h: &Tensor,
    temb: &Tensor,
    context: &Tensor,
    skips: &mut Vec<Tensor>,
) -> Result<Tensor> {
    let mut h = h.clone();
    for (j, resnet) in block.resnets.iter().enumerate() {
        h = resnet.forward(&h, Some(temb))?;
        if let Some(attn) = block.attentions.get(j) {
            h = attn.forward(&h, context)?;
        }
        skips.push(h.clone());
    }
    if let Some(down) = &block.downsampler {
        h = down.forward(&h)?;
        skips.push(h.clone());
    }
    Ok(h)
}

fn block_up(
    block: &UpBlock,
    h: &Tensor,
    temb: &Tensor,
    context: &Tensor,
    skips: &mut Vec<Tensor>,
) -> Result<Tensor> {
    let mut h = h.clone();
    for (j, resnet) in block.resnets.iter().enumerate() {
        let skip = skips
            .pop()
            .ok_or_else(|| candle_core::Error::Msg("UNet ran out of skip connections".into()))?;
        h = resnet.forward(&Tensor::cat(&[&h, &skip], 1)?, Some(temb))?;
        if let Some(attn) = block.attentions.get(j) {
            h = attn.forward(&h, context)?;
        }
    }
    if let Some(up) = &block.upsampler {
        // Upsample to the next skip connection's size (odd latent sizes round up on the way down).
        let target = skips
            .last()
            .map(|s| s.dims4())
            .transpose()?
            .map(|(_, _, hh, ww)| (hh, ww));
        let (_, _, hh, ww) = h.dims4()?;
        h = up.forward(&h, target.unwrap_or((hh * 2, ww * 2)))?;
    }
    Ok(h)
}

//! The VAE encoder and decoder stacks.
//!
//! Reference: diffusers 0.42.1 `models/autoencoders/vae.py` (`Encoder`, `Decoder`).

use candle_core::{Module as _, Result, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, GroupNorm, VarBuilder};

use super::blocks::{MidBlock, ResnetBlock2D, VaeDownsample2D, VaeUpsample2D, VAE_NORM_EPS};
use super::AutoencoderKLConfig;

fn conv3(vb: VarBuilder, c_in: usize, c_out: usize) -> Result<Conv2d> {
    candle_nn::conv2d(
        c_in,
        c_out,
        3,
        Conv2dConfig {
            padding: 1,
            ..Default::default()
        },
        vb,
    )
}

/// One level of the encoder or decoder: resnets then an optional resampler.
#[derive(Debug, Clone)]
struct Level<S> {
    resnets: Vec<ResnetBlock2D>,
    sampler: Option<S>,
}

/// Levels `0..channels.len()` under `vb` (`{i}.resnets.{j}`), each `resnets` deep, with a
/// resampler (built by `sampler`) after every level but the last.
fn levels<S>(
    vb: &VarBuilder,
    channels: &[usize],
    resnets: usize,
    groups: usize,
    sampler: impl Fn(VarBuilder, usize) -> Result<S>,
) -> Result<Vec<Level<S>>> {
    let mut out = Vec::with_capacity(channels.len());
    let mut c_in = channels[0];
    for (i, &c_out) in channels.iter().enumerate() {
        let vb_level = vb.pp(i.to_string());
        let blocks = (0..resnets)
            .map(|j| {
                ResnetBlock2D::new(
                    vb_level.pp(format!("resnets.{j}")),
                    if j == 0 { c_in } else { c_out },
                    c_out,
                    None,
                    groups,
                    VAE_NORM_EPS,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let last = i + 1 == channels.len();
        let resampler = (!last)
            .then(|| sampler(vb_level.clone(), c_out))
            .transpose()?;
        out.push(Level {
            resnets: blocks,
            sampler: resampler,
        });
        c_in = c_out;
    }
    Ok(out)
}

/// `x → moments before quant_conv` (channels 2 × latent).
#[derive(Debug, Clone)]
pub struct Encoder {
    conv_in: Conv2d,
    down_blocks: Vec<Level<VaeDownsample2D>>,
    mid_block: MidBlock,
    conv_norm_out: GroupNorm,
    conv_out: Conv2d,
}

impl Encoder {
    /// Loads `vb` (the `encoder` prefix).
    pub fn new(vb: VarBuilder, cfg: &AutoencoderKLConfig) -> Result<Self> {
        let ch = &cfg.block_out_channels;
        let groups = cfg.norm_num_groups;
        let down_blocks = levels(
            &vb.pp("down_blocks"),
            ch,
            cfg.layers_per_block,
            groups,
            |vb, c| VaeDownsample2D::new(vb.pp("downsamplers.0"), c),
        )?;
        let top = ch[ch.len() - 1];
        Ok(Self {
            conv_in: conv3(vb.pp("conv_in"), cfg.in_channels, ch[0])?,
            down_blocks,
            mid_block: MidBlock::new(vb.pp("mid_block"), top, groups)?,
            conv_norm_out: candle_nn::group_norm(
                groups,
                top,
                VAE_NORM_EPS,
                vb.pp("conv_norm_out"),
            )?,
            conv_out: conv3(vb.pp("conv_out"), top, 2 * cfg.latent_channels)?,
        })
    }

    /// (b, 3, H, W) → (b, 2·latent, H/8, W/8)
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        // 1. conv_in
        let mut h = self.conv_in.forward(x)?;
        // 2. down
        for level in &self.down_blocks {
            for r in &level.resnets {
                h = r.forward(&h, None)?;
            }
            if let Some(s) = &level.sampler {
                h = s.forward(&h)?;
            }
        }
        // 3. mid
        let h = self.mid_block.forward(&h)?;
        // 4. out
        self.conv_out
            .forward(&candle_nn::ops::silu(&self.conv_norm_out.forward(&h)?)?)
    }
}

/// `latent (after post_quant_conv) → image in [-1, 1]`.
#[derive(Debug, Clone)]
pub struct Decoder {
    conv_in: Conv2d,
    mid_block: MidBlock,
    up_blocks: Vec<Level<VaeUpsample2D>>,
    conv_norm_out: GroupNorm,
    conv_out: Conv2d,
}

impl Decoder {
    /// Loads `vb` (the `decoder` prefix).
    pub fn new(vb: VarBuilder, cfg: &AutoencoderKLConfig) -> Result<Self> {
        let rev: Vec<usize> = cfg.block_out_channels.iter().rev().copied().collect();
        let groups = cfg.norm_num_groups;
        // Decoder levels have one more resnet than the encoder's (diffusers `Decoder`).
        let up_blocks = levels(
            &vb.pp("up_blocks"),
            &rev,
            cfg.layers_per_block + 1,
            groups,
            |vb, c| VaeUpsample2D::new(vb.pp("upsamplers.0"), c),
        )?;
        let bottom = rev[rev.len() - 1];
        Ok(Self {
            conv_in: conv3(vb.pp("conv_in"), cfg.latent_channels, rev[0])?,
            mid_block: MidBlock::new(vb.pp("mid_block"), rev[0], groups)?,
            up_blocks,
            conv_norm_out: candle_nn::group_norm(
                groups,
                bottom,
                VAE_NORM_EPS,
                vb.pp("conv_norm_out"),
            )?,
            conv_out: conv3(vb.pp("conv_out"), bottom, cfg.out_channels)?,
        })
    }

    /// (b, latent, h, w) → (b, 3, 8h, 8w)
    pub fn forward(&self, z: &Tensor) -> Result<Tensor> {
        // 1. conv_in and mid
        let mut h = self.mid_block.forward(&self.conv_in.forward(z)?)?;
        // 2. up
        for level in &self.up_blocks {
            for r in &level.resnets {
                h = r.forward(&h, None)?;
            }
            if let Some(s) = &level.sampler {
                h = s.forward(&h)?;
            }
        }
        // 3. out
        self.conv_out
            .forward(&candle_nn::ops::silu(&self.conv_norm_out.forward(&h)?)?)
    }
}

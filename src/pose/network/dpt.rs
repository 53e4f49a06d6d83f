//! The DPT head: four hooked token maps brought to four resolutions, projected to one width and
//! fused coarse to fine, then upsampled to pixels.
//!
//! References: croco `models/dpt_block.py` (`DPTOutputAdapter`, `FeatureFusionBlock_custom`,
//! `ResidualConvUnit_custom`, `make_scratch`), dust3r `heads/dpt_head.py`
//! (`DPTOutputAdapter_fix.forward`), naver/dust3r 4c24a6e + croco d7de070. Key names are the
//! checkpoint's: `dpt.act_postprocess.{i}.{0,1}`, `dpt.scratch.layer{k}_rn`,
//! `dpt.scratch.refinenet{k}.{resConfUnit1,resConfUnit2,out_conv}`, `dpt.head.{0,2,4}`.

use candle_core::{Module as _, Result, Tensor};
use candle_nn::{Conv2d, ConvTranspose2d, ConvTranspose2dConfig, VarBuilder};

use super::config::DptConfig;
use super::trace::{note, Trace};
use crate::nn::conv::{conv, conv_no_bias};

/// Bilinear ×2 with `align_corners=True`, as every upsampling of this head.
fn up2(x: &Tensor) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    x.upsample_bilinear2d(2 * h, 2 * w, true)
}

/// `act_postprocess[i]`: a 1x1 conv, then what brings the grid to its level's resolution.
#[derive(Debug, Clone)]
struct ActPostprocess {
    project: Conv2d,
    resample: Resample,
}

#[derive(Debug, Clone)]
enum Resample {
    /// ConvTranspose2d with kernel = stride (×4 or ×2).
    Up(ConvTranspose2d),
    /// Level 2 stays at the token grid.
    Keep,
    /// 3x3 stride-2 conv (level 3: ⌈g/2⌉).
    Down(Conv2d),
}

impl ActPostprocess {
    fn new(vb: VarBuilder, level: usize, c_in: usize, c_out: usize) -> Result<Self> {
        let up = |k: usize| -> Result<Resample> {
            let cfg = ConvTranspose2dConfig {
                stride: k,
                ..Default::default()
            };
            Ok(Resample::Up(candle_nn::conv_transpose2d(
                c_out,
                c_out,
                k,
                cfg,
                vb.pp("1"),
            )?))
        };
        let resample = match level {
            0 => up(4)?,
            1 => up(2)?,
            2 => Resample::Keep,
            _ => Resample::Down(conv(vb.pp("1"), c_out, c_out, 3, 2, 1)?),
        };
        Ok(Self {
            project: conv(vb.pp("0"), c_in, c_out, 1, 1, 0)?,
            resample,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = self.project.forward(x)?;
        match &self.resample {
            Resample::Up(t) => t.forward(&x),
            Resample::Keep => Ok(x),
            Resample::Down(c) => c.forward(&x),
        }
    }
}

/// `RCU(x) = conv2(relu(conv1(relu(x)))) + x`.
#[derive(Debug, Clone)]
struct ResidualConvUnit {
    conv1: Conv2d,
    conv2: Conv2d,
}

impl ResidualConvUnit {
    fn new(vb: VarBuilder, features: usize) -> Result<Self> {
        Ok(Self {
            conv1: conv(vb.pp("conv1"), features, features, 3, 1, 1)?,
            conv2: conv(vb.pp("conv2"), features, features, 3, 1, 1)?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.conv1.forward(&x.relu()?)?;
        self.conv2.forward(&h.relu()?)? + x
    }
}

/// `fuse(a, b) = out_conv(up2(RCU2(a + RCU1(b))))`; without `b` RCU1 is not used.
#[derive(Debug, Clone)]
struct FusionBlock {
    res_conf_unit1: ResidualConvUnit,
    res_conf_unit2: ResidualConvUnit,
    out_conv: Conv2d,
}

impl FusionBlock {
    fn new(vb: VarBuilder, features: usize) -> Result<Self> {
        Ok(Self {
            res_conf_unit1: ResidualConvUnit::new(vb.pp("resConfUnit1"), features)?,
            res_conf_unit2: ResidualConvUnit::new(vb.pp("resConfUnit2"), features)?,
            out_conv: conv(vb.pp("out_conv"), features, features, 1, 1, 0)?,
        })
    }

    fn forward(&self, a: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
        let x = match b {
            Some(b) => (a + self.res_conf_unit1.forward(b)?)?,
            None => a.clone(),
        };
        self.out_conv
            .forward(&up2(&self.res_conf_unit2.forward(&x)?)?)
    }
}

/// The whole DPT head (`downstream_head{1,2}.dpt`).
#[derive(Debug, Clone)]
pub struct DptHead {
    hooks_idx: [usize; 4],
    act_postprocess: Vec<ActPostprocess>,
    layer_rn: Vec<Conv2d>,
    /// refinenet1 … refinenet4
    refinenet: Vec<FusionBlock>,
    head0: Conv2d,
    head2: Conv2d,
    head4: Conv2d,
}

impl DptHead {
    /// Loads `vb` (`downstream_head{1,2}.dpt`). The `scratch.layer_rn.{k}` aliases of `.pth`
    /// files are ignored: `scratch.layer{k+1}_rn` is in both checkpoint layouts.
    pub fn new(vb: VarBuilder, cfg: &DptConfig) -> Result<Self> {
        let f = cfg.feature_dim;
        let act = vb.pp("act_postprocess");
        let scratch = vb.pp("scratch");
        let head = vb.pp("head");
        Ok(Self {
            hooks_idx: cfg.hooks_idx,
            act_postprocess: (0..4)
                .map(|i| ActPostprocess::new(act.pp(i), i, cfg.dim_tokens[i], cfg.layer_dims[i]))
                .collect::<Result<_>>()?,
            layer_rn: (0..4)
                .map(|i| {
                    conv_no_bias(
                        scratch.pp(format!("layer{}_rn", i + 1)),
                        cfg.layer_dims[i],
                        f,
                        3,
                        1,
                        1,
                    )
                })
                .collect::<Result<_>>()?,
            refinenet: (1..=4)
                .map(|k| FusionBlock::new(scratch.pp(format!("refinenet{k}")), f))
                .collect::<Result<_>>()?,
            head0: conv(head.pp("0"), f, f / 2, 3, 1, 1)?,
            head2: conv(head.pp("2"), f / 2, cfg.last_dim, 3, 1, 1)?,
            head4: conv(head.pp("4"), cfg.last_dim, cfg.num_channels, 1, 1, 0)?,
        })
    }

    /// Head input list `[enc_out, dec_1 … dec_D]` of a (gh × gw)-token grid → raw (b, 4,
    /// 16·gh, 16·gw).
    pub fn forward(
        &self,
        layers: &[Tensor],
        grid: (usize, usize),
        trace: &mut Option<&mut Trace>,
    ) -> Result<Tensor> {
        let (gh, gw) = grid;
        let mut levels = Vec::with_capacity(4);
        for (i, &hook) in self.hooks_idx.iter().enumerate() {
            let tokens = layers.get(hook).ok_or_else(|| {
                candle_core::Error::Msg(format!("DPT hook {hook} beyond {} layers", layers.len()))
            })?;
            // b (gh gw) c → b c gh gw
            let (b, _, c) = tokens.dims3()?;
            let map = tokens
                .transpose(1, 2)?
                .contiguous()?
                .reshape((b, c, gh, gw))?;
            let act = self.act_postprocess[i].forward(&map)?;
            note(trace, || format!("head.act_postprocess.{i}"), &act);
            let projected = self.layer_rn[i].forward(&act)?;
            note(trace, || format!("head.layer{}_rn", i + 1), &projected);
            levels.push(projected);
        }
        // refinenet4 works on ⌈g/2⌉ and is cropped back to the token grid (odd grids)
        let p4 = self.refinenet[3].forward(&levels[3], None)?;
        note(trace, || "head.refinenet4".into(), &p4);
        let (_, _, h2, w2) = levels[2].dims4()?;
        let mut path = p4.narrow(2, 0, h2)?.narrow(3, 0, w2)?;
        for k in (0..3).rev() {
            path = self.refinenet[k].forward(&path, Some(&levels[k]))?;
            note(trace, || format!("head.refinenet{}", k + 1), &path);
        }
        let h = up2(&self.head0.forward(&path)?)?;
        self.head4.forward(&self.head2.forward(&h)?.relu()?)
    }
}

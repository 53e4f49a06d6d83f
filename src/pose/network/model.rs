//! `AsymmetricCroCo3DStereo`: a ViT encoder applied to each image alone, two decoders that
//! cross-attend between the two views of a pair, and one head per view.
//!
//! Reference: dust3r `model.py` (`_encode_image`, `_decoder`, `_downstream_head`, `forward`),
//! croco `models/croco.py`, naver/dust3r 4c24a6e. The encoder output depends on the image
//! only, so [`Dust3r::encode`] is separate from [`Dust3r::decode`]: a video's frames are each
//! encoded once and the encodings reused by every pair they take part in.

use candle_core::{DType, Module as _, Result, Tensor};
use candle_nn::{Conv2d, LayerNorm, Linear, VarBuilder};

use super::blocks::{DecoderBlock, EncoderBlock, LAYER_NORM_EPS};
use super::config::Dust3rConfig;
use super::dpt::DptHead;
use super::heads::{postprocess, LinearHead, PointMap};
use super::rope::{grid_positions, Rope2d};
use super::trace::{note, Trace};
use crate::nn::conv::conv;

/// Encoder output of a batch of images of one size.
#[derive(Debug, Clone)]
pub struct EncodedView {
    /// `enc_norm` output (b, gh·gw, enc_embed_dim).
    pub tokens: Tensor,
    /// `[y, x]` patch coordinates (b, gh·gw, 2), int64.
    pub positions: Tensor,
    /// Token grid (rows, cols).
    pub grid: (usize, usize),
}

impl EncodedView {
    /// Stacks encodings of one grid size along the batch axis (pairs batched together).
    pub fn stack(views: &[&EncodedView]) -> Result<Self> {
        let first = views
            .first()
            .ok_or_else(|| candle_core::Error::Msg("no views to stack".into()))?;
        if views.iter().any(|v| v.grid != first.grid) {
            candle_core::bail!("cannot batch views of different sizes");
        }
        let cat = |f: fn(&EncodedView) -> &Tensor| {
            Tensor::cat(&views.iter().map(|v| f(v)).collect::<Vec<_>>(), 0)
        };
        Ok(Self {
            tokens: cat(|v| &v.tokens)?,
            positions: cat(|v| &v.positions)?,
            grid: first.grid,
        })
    }
}

/// The two views' predictions for a batch of pairs, both in view 1's camera frame.
#[derive(Debug, Clone)]
pub struct PairPrediction {
    /// View 1's points in camera 1 (`pred1.pts3d`).
    pub view1: PointMap,
    /// View 2's points in camera 1 (`pred2.pts3d_in_other_view`).
    pub view2: PointMap,
}

#[derive(Debug, Clone)]
enum Head {
    Linear(LinearHead),
    Dpt(Box<DptHead>),
}

impl Head {
    fn new(vb: VarBuilder, cfg: &Dust3rConfig) -> Result<Self> {
        Ok(if cfg.head_type == "linear" {
            Self::Linear(LinearHead::new(vb, cfg.dec_embed_dim, cfg.patch_size)?)
        } else {
            Self::Dpt(Box::new(DptHead::new(vb.pp("dpt"), &cfg.dpt())?))
        })
    }

    fn forward(
        &self,
        layers: &[Tensor],
        grid: (usize, usize),
        trace: &mut Option<&mut Trace>,
    ) -> Result<Tensor> {
        match self {
            Self::Linear(h) => {
                let last = layers
                    .last()
                    .ok_or_else(|| candle_core::Error::Msg("empty decoder output".into()))?;
                h.forward(last, grid, trace)
            }
            Self::Dpt(h) => h.forward(layers, grid, trace),
        }
    }
}

/// The DUSt3R network.
#[derive(Debug, Clone)]
pub struct Dust3r {
    /// The checkpoint's configuration.
    pub config: Dust3rConfig,
    patch_embed: Conv2d,
    enc_blocks: Vec<EncoderBlock>,
    enc_norm: LayerNorm,
    decoder_embed: Linear,
    dec_blocks: Vec<DecoderBlock>,
    dec_blocks2: Vec<DecoderBlock>,
    dec_norm: LayerNorm,
    head1: Head,
    head2: Head,
    rope_base: f64,
}

impl Dust3r {
    /// Builds the network from `vb` (checkpoint key names at the root).
    pub fn new(vb: VarBuilder, config: Dust3rConfig) -> Result<Self> {
        let (enc, dec) = (config.encoder(), config.decoder());
        let p = config.patch_size;
        let blocks = |prefix: &str, depth: usize| -> Result<Vec<DecoderBlock>> {
            (0..depth)
                .map(|i| DecoderBlock::new(vb.pp(prefix).pp(i), dec))
                .collect()
        };
        Ok(Self {
            patch_embed: conv(vb.pp("patch_embed.proj"), 3, enc.embed_dim, p, p, 0)?,
            enc_blocks: (0..config.enc_depth)
                .map(|i| EncoderBlock::new(vb.pp("enc_blocks").pp(i), enc))
                .collect::<Result<_>>()?,
            enc_norm: candle_nn::layer_norm(enc.embed_dim, LAYER_NORM_EPS, vb.pp("enc_norm"))?,
            decoder_embed: candle_nn::linear(enc.embed_dim, dec.embed_dim, vb.pp("decoder_embed"))?,
            dec_blocks: blocks("dec_blocks", config.dec_depth)?,
            dec_blocks2: blocks("dec_blocks2", config.dec_depth)?,
            dec_norm: candle_nn::layer_norm(dec.embed_dim, LAYER_NORM_EPS, vb.pp("dec_norm"))?,
            head1: Head::new(vb.pp("downstream_head1"), &config)?,
            head2: Head::new(vb.pp("downstream_head2"), &config)?,
            rope_base: config.rope_base().unwrap_or(100.0),
            config,
        })
    }

    /// The dtype the weights were loaded in.
    pub fn dtype(&self) -> DType {
        self.patch_embed.weight().dtype()
    }

    /// Encodes images (b, 3, h, w) in [−1, 1] (h, w multiples of the patch size).
    pub fn encode(&self, images: &Tensor, mut trace: Option<&mut Trace>) -> Result<EncodedView> {
        let (b, _, h, w) = images.dims4()?;
        let p = self.config.patch_size;
        if h % p != 0 || w % p != 0 {
            candle_core::bail!("image {w}x{h} is not a multiple of the {p}-pixel patch");
        }
        let grid = (h / p, w / p);
        let x = self.patch_embed.forward(&images.to_dtype(self.dtype())?)?;
        let mut x = x.flatten_from(2)?.transpose(1, 2)?.contiguous()?;
        let positions = grid_positions(b, grid.0, grid.1, images.device())?;
        note(&mut trace, || "pos".into(), &positions);
        note(&mut trace, || "patch_embed".into(), &x);
        let rope = self.rope(&positions, self.config.encoder().head_dim())?;
        for (i, block) in self.enc_blocks.iter().enumerate() {
            x = block.forward(&x, &rope)?;
            note(&mut trace, || format!("enc_block.{i}"), &x);
        }
        let tokens = self.enc_norm.forward(&x)?;
        note(&mut trace, || "enc_out".into(), &tokens);
        Ok(EncodedView {
            tokens,
            positions,
            grid,
        })
    }

    fn rope(&self, positions: &Tensor, head_dim: usize) -> Result<Rope2d> {
        Rope2d::new(positions, head_dim, self.rope_base, self.dtype())
    }

    /// Decodes a batch of pairs (view 1 batch, view 2 batch, same batch size) and runs both
    /// heads. Traced names are prefixed `view1.` / `view2.`.
    pub fn decode(
        &self,
        view1: &EncodedView,
        view2: &EncodedView,
        mut trace: Option<&mut Trace>,
    ) -> Result<PairPrediction> {
        let head_dim = self.config.decoder().head_dim();
        let (rope1, rope2) = (
            self.rope(&view1.positions, head_dim)?,
            self.rope(&view2.positions, head_dim)?,
        );
        // head input lists [enc_out, dec_1 … dec_D], the last one through dec_norm
        let mut out1 = vec![view1.tokens.clone()];
        let mut out2 = vec![view2.tokens.clone()];
        let mut f1 = self.decoder_embed.forward(&view1.tokens)?;
        let mut f2 = self.decoder_embed.forward(&view2.tokens)?;
        set_prefix(&mut trace, "view1.");
        note(&mut trace, || "decoder_embed".into(), &f1);
        set_prefix(&mut trace, "view2.");
        note(&mut trace, || "decoder_embed".into(), &f2);
        for (block1, block2) in self.dec_blocks.iter().zip(&self.dec_blocks2) {
            // both streams read the previous layer of both
            let next1 = block1.forward(&f1, &f2, &rope1, &rope2)?;
            let next2 = block2.forward(&f2, &f1, &rope2, &rope1)?;
            (f1, f2) = (next1, next2);
            out1.push(f1.clone());
            out2.push(f2.clone());
        }
        for out in [&mut out1, &mut out2] {
            if let Some(last) = out.last_mut() {
                *last = self.dec_norm.forward(last)?;
            }
        }
        let view1 = self.head(&self.head1, &out1, view1.grid, "view1.", &mut trace)?;
        let view2 = self.head(&self.head2, &out2, view2.grid, "view2.", &mut trace)?;
        Ok(PairPrediction { view1, view2 })
    }

    fn head(
        &self,
        head: &Head,
        layers: &[Tensor],
        grid: (usize, usize),
        prefix: &str,
        trace: &mut Option<&mut Trace>,
    ) -> Result<PointMap> {
        set_prefix(trace, prefix);
        for (l, t) in layers.iter().enumerate() {
            note(trace, || format!("dec.{l}"), t);
        }
        let raw = head.forward(layers, grid, trace)?;
        note(trace, || "head.raw".into(), &raw);
        postprocess(&raw, &self.config.conf_mode)
    }

    /// Encodes both views and decodes them: the reference's `forward(view1, view2)`.
    pub fn forward(&self, img1: &Tensor, img2: &Tensor) -> Result<PairPrediction> {
        let e1 = self.encode(img1, None)?;
        let e2 = self.encode(img2, None)?;
        self.decode(&e1, &e2, None)
    }
}

fn set_prefix(trace: &mut Option<&mut Trace>, prefix: &str) {
    if let Some(t) = trace.as_deref_mut() {
        t.set_prefix(prefix);
    }
}

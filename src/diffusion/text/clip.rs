//! The CLIP text encoder of SD 1.5 (`CLIPTextModel`): token and position embeddings, causal
//! pre-norm transformer layers with quick-GELU MLPs, final layer norm. Its output
//! (`last_hidden_state`) conditions the UNet and ControlNet.
//!
//! Reference: transformers 5.23.0 `models/clip/modeling_clip.py` (`CLIPTextTransformer`,
//! `CLIPEncoderLayer`, `CLIPAttention`); SD 1.5 checkpoints keep the `text_model.` prefix.

use std::path::Path;

use candle_core::{DType, Device, Module as _, Result, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder};

/// `text_encoder/config.json`; `Default` is SD 1.5's (CLIP ViT-L/14 text tower,
/// <https://huggingface.co/stable-diffusion-v1-5/stable-diffusion-v1-5/blob/main/text_encoder/config.json>).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct ClipTextConfig {
    /// `vocab_size`.
    pub vocab_size: usize,
    /// `hidden_size`.
    pub hidden_size: usize,
    /// `intermediate_size`.
    pub intermediate_size: usize,
    /// `num_hidden_layers`.
    pub num_hidden_layers: usize,
    /// `num_attention_heads`.
    pub num_attention_heads: usize,
    /// `max_position_embeddings`.
    pub max_position_embeddings: usize,
    /// `layer_norm_eps`.
    pub layer_norm_eps: f64,
    /// `hidden_act`; only `quick_gelu` (SD 1.5) is supported.
    pub hidden_act: String,
}

impl Default for ClipTextConfig {
    fn default() -> Self {
        Self {
            vocab_size: 49408,
            hidden_size: 768,
            intermediate_size: 3072,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            max_position_embeddings: 77,
            layer_norm_eps: 1e-5,
            hidden_act: "quick_gelu".into(),
        }
    }
}

#[derive(Debug, Clone)]
struct Attention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    out_proj: Linear,
    heads: usize,
}

impl Attention {
    fn new(vb: VarBuilder, cfg: &ClipTextConfig) -> Result<Self> {
        let d = cfg.hidden_size;
        Ok(Self {
            q_proj: candle_nn::linear(d, d, vb.pp("q_proj"))?,
            k_proj: candle_nn::linear(d, d, vb.pp("k_proj"))?,
            v_proj: candle_nn::linear(d, d, vb.pp("v_proj"))?,
            out_proj: candle_nn::linear(d, d, vb.pp("out_proj"))?,
            heads: cfg.num_attention_heads,
        })
    }

    /// (b, s, d) with a causal mask (b, 1, s, s) of 0 / −inf → (b, s, d)
    fn forward(&self, x: &Tensor, causal: &Tensor) -> Result<Tensor> {
        let (b, s, d) = x.dims3()?;
        let head_dim = d / self.heads;
        let split = |t: Tensor| {
            t.reshape((b, s, self.heads, head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = split((self.q_proj.forward(x)? * (head_dim as f64).powf(-0.5))?)?;
        let k = split(self.k_proj.forward(x)?)?;
        let v = split(self.v_proj.forward(x)?)?;
        let scores = q.matmul(&k.t()?.contiguous()?)?.broadcast_add(causal)?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let out = probs
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((b, s, d))?;
        self.out_proj.forward(&out)
    }
}

#[derive(Debug, Clone)]
struct EncoderLayer {
    layer_norm1: LayerNorm,
    self_attn: Attention,
    layer_norm2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
}

impl EncoderLayer {
    fn new(vb: VarBuilder, cfg: &ClipTextConfig) -> Result<Self> {
        let (d, eps) = (cfg.hidden_size, cfg.layer_norm_eps);
        Ok(Self {
            layer_norm1: candle_nn::layer_norm(d, eps, vb.pp("layer_norm1"))?,
            self_attn: Attention::new(vb.pp("self_attn"), cfg)?,
            layer_norm2: candle_nn::layer_norm(d, eps, vb.pp("layer_norm2"))?,
            fc1: candle_nn::linear(d, cfg.intermediate_size, vb.pp("mlp.fc1"))?,
            fc2: candle_nn::linear(cfg.intermediate_size, d, vb.pp("mlp.fc2"))?,
        })
    }

    fn forward(&self, x: &Tensor, causal: &Tensor) -> Result<Tensor> {
        // 1. pre-norm self attention, residual
        let h = (x + self
            .self_attn
            .forward(&self.layer_norm1.forward(x)?, causal)?)?;
        // 2. pre-norm MLP with quick GELU x·σ(1.702x), residual
        let m = self.fc1.forward(&self.layer_norm2.forward(&h)?)?;
        let m = (&m * candle_nn::ops::sigmoid(&(&m * 1.702)?)?)?;
        h + self.fc2.forward(&m)?
    }
}

/// The text encoder.
#[derive(Debug, Clone)]
pub struct ClipTextModel {
    token_embedding: Embedding,
    position_embedding: Embedding,
    layers: Vec<EncoderLayer>,
    final_layer_norm: LayerNorm,
    /// The config it was built from.
    pub config: ClipTextConfig,
}

impl ClipTextModel {
    /// Builds the model from weights under `vb` (the `text_model` prefix).
    pub fn new(vb: VarBuilder, cfg: &ClipTextConfig) -> Result<Self> {
        if cfg.hidden_act != "quick_gelu" {
            candle_core::bail!(
                "hidden_act {} is not supported (SD 1.5 uses quick_gelu)",
                cfg.hidden_act
            );
        }
        let emb = vb.pp("embeddings");
        Ok(Self {
            token_embedding: candle_nn::embedding(
                cfg.vocab_size,
                cfg.hidden_size,
                emb.pp("token_embedding"),
            )?,
            position_embedding: candle_nn::embedding(
                cfg.max_position_embeddings,
                cfg.hidden_size,
                emb.pp("position_embedding"),
            )?,
            layers: (0..cfg.num_hidden_layers)
                .map(|i| EncoderLayer::new(vb.pp(format!("encoder.layers.{i}")), cfg))
                .collect::<Result<Vec<_>>>()?,
            final_layer_norm: candle_nn::layer_norm(
                cfg.hidden_size,
                cfg.layer_norm_eps,
                vb.pp("final_layer_norm"),
            )?,
            config: cfg.clone(),
        })
    }

    /// Loads a diffusers `text_encoder/` folder (`config.json`, `model.safetensors`). SD 1.5
    /// checkpoints name the tensors `text_model.…`; transformers 5 saves a `CLIPTextModel`
    /// without that prefix; both load.
    pub fn load(dir: &Path, dtype: DType, device: &Device) -> crate::Result<Self> {
        crate::diffusion::weights::load_component(
            dir,
            crate::diffusion::weights::TRANSFORMERS_WEIGHTS,
            dtype,
            device,
            |vb, cfg: ClipTextConfig| {
                let vb = if vb.contains_tensor("embeddings.token_embedding.weight") {
                    vb
                } else {
                    vb.pp("text_model")
                };
                Self::new(vb, &cfg)
            },
        )
    }

    /// Token ids (b, s) → every hidden state: index 0 the embeddings, k the output of layer k,
    /// and last the `last_hidden_state` after the final layer norm.
    pub fn forward_all(&self, ids: &Tensor) -> Result<Vec<Tensor>> {
        let (_, s) = ids.dims2()?;
        // 1. embeddings (token + position)
        let positions = Tensor::arange(0u32, s as u32, ids.device())?;
        let x = self
            .token_embedding
            .forward(ids)?
            .broadcast_add(&self.position_embedding.forward(&positions)?)?;
        // 2. causal mask: position i sees positions <= i
        let mask: Vec<f32> = (0..s * s)
            .map(|k| {
                if k % s > k / s {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            })
            .collect();
        let causal = Tensor::from_vec(mask, (1, 1, s, s), ids.device())?.to_dtype(x.dtype())?;
        // 3. layers, keeping every hidden state
        let mut states = Vec::with_capacity(self.layers.len() + 2);
        let mut h = x;
        for layer in &self.layers {
            let next = layer.forward(&h, &causal)?;
            states.push(std::mem::replace(&mut h, next));
        }
        // 4. final layer norm
        let last = self.final_layer_norm.forward(&h)?;
        states.push(h);
        states.push(last);
        Ok(states)
    }

    /// `last_hidden_state` (b, s, hidden) for token ids (b, s).
    pub fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        let mut all = self.forward_all(ids)?;
        all.pop()
            .ok_or_else(|| candle_core::Error::Msg("no hidden states".into()))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn causal_mask_layout() {
        let s = 3;
        let mask: Vec<bool> = (0..s * s).map(|k| k % s > k / s).collect();
        assert_eq!(
            mask,
            [false, true, true, false, false, true, false, false, false]
        );
    }
}

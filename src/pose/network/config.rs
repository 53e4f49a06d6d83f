//! The DUSt3R network's configuration: `AsymmetricCroCo3DStereo`'s constructor arguments as the
//! released Hugging Face `config.json` holds them, plus the DPT head's sizes.
//!
//! The real DPT factory (`dust3r/heads/dpt_head.py::create_dpt_head`) hard-codes its widths
//! (feature 256, last 128, layer dims 96/192/384/768) and derives its hooks from the decoder
//! depth; models built with other widths (the golden fixtures) record them in an `arch.json`
//! beside `config.json`, which then takes precedence.

use std::path::Path;

use serde::Deserialize;

use super::blocks::BlockDims;
use crate::core::{Error, Result};

/// A regression mode `(name, vmin, vmax)`: `depth_mode` / `conf_mode` of the checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct RegressionMode {
    /// `"exp"` in every released checkpoint (the only mode this port implements).
    pub mode: String,
    /// Lower bound (−∞ when unbounded).
    pub vmin: f64,
    /// Upper bound (+∞ when unbounded).
    pub vmax: f64,
}

impl<'de> Deserialize<'de> for RegressionMode {
    /// Reads `["exp", vmin, vmax]` (config.json; ±∞ as written by [`lenient_json`]) or
    /// `{"mode": "exp", "vmin": x|null, "vmax": x|null}` (arch.json; null = unbounded).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let bound = |v: &serde_json::Value, unbounded: f64| match v {
            serde_json::Value::Number(n) => n.as_f64().unwrap_or(unbounded),
            serde_json::Value::String(s) if s == "inf" => f64::INFINITY,
            serde_json::Value::String(s) if s == "-inf" => f64::NEG_INFINITY,
            _ => unbounded,
        };
        let value = serde_json::Value::deserialize(d)?;
        let (mode, vmin, vmax) = match &value {
            serde_json::Value::Array(items) if items.len() == 3 => {
                (&items[0], &items[1], &items[2])
            }
            serde_json::Value::Object(map) => (&map["mode"], &map["vmin"], &map["vmax"]),
            _ => return Err(serde::de::Error::custom("expected [mode, vmin, vmax]")),
        };
        Ok(Self {
            mode: mode.as_str().unwrap_or_default().to_string(),
            vmin: bound(vmin, f64::NEG_INFINITY),
            vmax: bound(vmax, f64::INFINITY),
        })
    }
}

/// DPT head sizes (`PixelwiseTaskWithDPT` arguments).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DptConfig {
    /// Indices into the head input list `[enc_out, dec_1 … dec_D]`.
    pub hooks_idx: [usize; 4],
    /// Widths of the hooked tokens.
    pub dim_tokens: [usize; 4],
    /// `act_postprocess` output widths.
    pub layer_dims: [usize; 4],
    /// Fusion width.
    pub feature_dim: usize,
    /// Width before the last 1x1 conv.
    pub last_dim: usize,
    /// Output channels (3 point coordinates + confidence).
    pub num_channels: usize,
}

/// `AsymmetricCroCo3DStereo` constructor arguments (keys of the HF `config.json`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Dust3rConfig {
    /// Encoder token width.
    pub enc_embed_dim: usize,
    /// Encoder blocks.
    pub enc_depth: usize,
    /// Encoder heads.
    pub enc_num_heads: usize,
    /// Decoder token width.
    pub dec_embed_dim: usize,
    /// Decoder blocks per stream.
    pub dec_depth: usize,
    /// Decoder heads.
    pub dec_num_heads: usize,
    /// MLP hidden width / token width (4 in released checkpoints, which omit the key).
    #[serde(default = "default_mlp_ratio")]
    pub mlp_ratio: f64,
    /// `"dpt"` or `"linear"`.
    pub head_type: String,
    /// `"RoPE100"`: rotary embedding with that frequency base.
    pub pos_embed: String,
    /// How raw point channels map to points.
    pub depth_mode: RegressionMode,
    /// How the raw confidence channel maps to a confidence.
    pub conf_mode: RegressionMode,
    /// Patch size in pixels (16 in every released checkpoint).
    #[serde(default = "default_patch_size")]
    pub patch_size: usize,
    /// DPT sizes from `arch.json`; `None` = the released factory's.
    #[serde(skip)]
    pub dpt: Option<DptConfig>,
}

fn default_mlp_ratio() -> f64 {
    4.0
}

fn default_patch_size() -> usize {
    16
}

/// Output channels of both heads: 3 point coordinates and a confidence.
pub const OUTPUT_CHANNELS: usize = 4;

impl Dust3rConfig {
    /// The released `naver/DUSt3R_ViTLarge_BaseDecoder_512_dpt` `config.json`.
    pub fn released() -> Self {
        let text = r#"{"enc_embed_dim": 1024, "enc_depth": 24, "enc_num_heads": 16,
            "dec_embed_dim": 768, "dec_depth": 12, "dec_num_heads": 12, "head_type": "dpt",
            "pos_embed": "RoPE100", "depth_mode": ["exp", -Infinity, Infinity],
            "conf_mode": ["exp", 1, Infinity], "img_size": [512, 512],
            "patch_embed_cls": "PatchEmbedDust3R", "landscape_only": false}"#;
        // a literal known to parse: `footprint`'s tests hold it to that
        serde_json::from_str(&lenient_json(text)).unwrap_or_else(|_| unreachable!())
    }

    /// Reads `config.json` in `dir`, and `arch.json` when present.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join("config.json");
        let mut config: Self = parse(&path, &read(&path)?)?;
        let arch = dir.join("arch.json");
        if arch.is_file() {
            #[derive(Deserialize)]
            struct Arch {
                patch_size: usize,
                dpt: Option<DptConfig>,
            }
            let arch: Arch = parse(&arch, &read(&arch)?)?;
            config.patch_size = arch.patch_size;
            config.dpt = arch.dpt;
        }
        config.validate(&path)?;
        Ok(config)
    }

    fn validate(&self, path: &Path) -> Result<()> {
        let problem = if self.rope_base().is_none() {
            Some(format!(
                "unsupported pos_embed {:?} (expected RoPE<base>)",
                self.pos_embed
            ))
        } else if self.head_type != "dpt" && self.head_type != "linear" {
            Some(format!("unsupported head_type {:?}", self.head_type))
        } else if self.depth_mode.mode != "exp" || self.conf_mode.mode != "exp" {
            Some("only the 'exp' depth and confidence modes are implemented".to_string())
        } else if self.depth_mode.vmin.is_finite() || self.depth_mode.vmax.is_finite() {
            Some("a bounded depth_mode is not supported (the reference asserts none)".to_string())
        } else if !self.encoder().head_dim().is_multiple_of(4)
            || !self.decoder().head_dim().is_multiple_of(4)
        {
            Some("RoPE2D needs head sizes divisible by 4".to_string())
        } else {
            None
        };
        match problem {
            Some(what) => Err(Error::bad_input(
                what,
                "use a DUSt3R checkpoint's own config.json (e.g. DUSt3R_ViTLarge_BaseDecoder_512_dpt)",
                path,
            )),
            None => Ok(()),
        }
    }

    /// RoPE frequency base from `pos_embed` (`"RoPE100"` → 100).
    pub fn rope_base(&self) -> Option<f64> {
        self.pos_embed.strip_prefix("RoPE")?.parse().ok()
    }

    /// Encoder block sizes.
    pub fn encoder(&self) -> BlockDims {
        self.dims(self.enc_embed_dim, self.enc_num_heads)
    }

    /// Decoder block sizes.
    pub fn decoder(&self) -> BlockDims {
        self.dims(self.dec_embed_dim, self.dec_num_heads)
    }

    fn dims(&self, embed_dim: usize, num_heads: usize) -> BlockDims {
        BlockDims {
            embed_dim,
            num_heads,
            mlp_hidden: (embed_dim as f64 * self.mlp_ratio) as usize,
        }
    }

    /// The DPT head's sizes: `arch.json`'s, else those `create_dpt_head` builds.
    pub fn dpt(&self) -> DptConfig {
        self.dpt.clone().unwrap_or_else(|| {
            let depth = self.dec_depth;
            let dec = self.dec_embed_dim;
            DptConfig {
                hooks_idx: [0, depth * 2 / 4, depth * 3 / 4, depth],
                dim_tokens: [self.enc_embed_dim, dec, dec, dec],
                layer_dims: [96, 192, 384, 768],
                feature_dim: 256,
                last_dim: 128,
                num_channels: OUTPUT_CHANNELS,
            }
        })
    }
}

/// Head size of every released DUSt3R checkpoint (ViT-L encoder 16 x 64, ViT-B decoder
/// 12 x 64): what [`Dust3rConfig::from_shapes`] assumes, because head counts leave no trace in
/// the weights' shapes.
pub const RELEASED_HEAD_DIM: usize = 64;

impl Dust3rConfig {
    /// The configuration of a checkpoint that comes without `config.json` (the original
    /// `.pth`), read off its tensor shapes: widths, depths, MLP ratio, patch size, head type
    /// and the DPT sizes; head counts assume [`RELEASED_HEAD_DIM`]; the modes are the released
    /// ones (`exp` depth, `1 + exp` confidence, RoPE base 100).
    pub fn from_shapes(shape: impl Fn(&str) -> Option<Vec<usize>>) -> Option<Self> {
        let patch = shape("patch_embed.proj.weight")?;
        let (enc_dim, patch_size) = (patch[0], patch[2]);
        let depth = |prefix: &str| {
            (0..)
                .take_while(|i| shape(&format!("{prefix}.{i}.norm1.weight")).is_some())
                .count()
        };
        let dec_dim = shape("decoder_embed.weight")?[0];
        let mlp_hidden = shape("enc_blocks.0.mlp.fc1.weight")?[0];
        let dpt = shape("downstream_head1.dpt.head.4.weight").is_some();
        let dec_depth = depth("dec_blocks");
        let dpt_config = if dpt {
            let act = |i: usize| {
                shape(&format!(
                    "downstream_head1.dpt.act_postprocess.{i}.0.weight"
                ))
            };
            let (a0, a1, a2, a3) = (act(0)?, act(1)?, act(2)?, act(3)?);
            Some(DptConfig {
                hooks_idx: [0, dec_depth * 2 / 4, dec_depth * 3 / 4, dec_depth],
                dim_tokens: [a0[1], a1[1], a2[1], a3[1]],
                layer_dims: [a0[0], a1[0], a2[0], a3[0]],
                feature_dim: shape("downstream_head1.dpt.scratch.layer1_rn.weight")?[0],
                last_dim: shape("downstream_head1.dpt.head.2.weight")?[0],
                num_channels: shape("downstream_head1.dpt.head.4.weight")?[0],
            })
        } else {
            None
        };
        let released = |mode: &str, vmin: f64| RegressionMode {
            mode: mode.into(),
            vmin,
            vmax: f64::INFINITY,
        };
        Some(Self {
            enc_embed_dim: enc_dim,
            enc_depth: depth("enc_blocks"),
            enc_num_heads: (enc_dim / RELEASED_HEAD_DIM).max(1),
            dec_embed_dim: dec_dim,
            dec_depth,
            dec_num_heads: (dec_dim / RELEASED_HEAD_DIM).max(1),
            mlp_ratio: mlp_hidden as f64 / enc_dim as f64,
            head_type: if dpt { "dpt" } else { "linear" }.into(),
            pos_embed: "RoPE100".into(),
            depth_mode: released("exp", f64::NEG_INFINITY),
            conf_mode: released("exp", 1.0),
            patch_size,
            dpt: dpt_config,
        })
    }
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| {
        Error::bad_input(
            format!("cannot read the pose model's config ({e})"),
            "put the checkpoint's config.json next to its weights (see weights/README.md)",
            path,
        )
    })
}

fn parse<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T> {
    serde_json::from_str(&lenient_json(text)).map_err(|e| {
        Error::bad_input(
            format!("not a valid DUSt3R config ({e})"),
            "re-download the checkpoint's config.json",
            path,
        )
    })
}

/// The released `config.json` holds bare `Infinity` (Python's json), which strict JSON
/// rejects: outside strings, `-Infinity` / `Infinity` / `NaN` become the strings `"-inf"`,
/// `"inf"`, `"nan"`.
pub fn lenient_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            in_string = escaped || c != '"';
            escaped = !escaped && c == '\\';
        } else if c == '"' {
            in_string = true;
        } else if let Some((word, len)) = [
            ("-Infinity", "\"-inf\""),
            ("Infinity", "\"inf\""),
            ("NaN", "\"nan\""),
        ]
        .iter()
        .find(|(word, _)| rest.starts_with(word))
        .map(|(word, repl)| (*repl, word.len()))
        {
            out.push_str(word);
            rest = &rest[len..];
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_json_rewrites_bare_infinities_outside_strings_only() {
        let text = r#"{"a": [-Infinity, Infinity, NaN], "b": "Infinity \" NaN"}"#;
        let v: serde_json::Value = serde_json::from_str(&lenient_json(text)).unwrap();
        assert_eq!(v["a"], serde_json::json!(["-inf", "inf", "nan"]));
        assert_eq!(v["b"], "Infinity \" NaN");
    }

    #[test]
    fn released_dpt_factory_sizes() {
        let text = r#"{"enc_embed_dim": 1024, "enc_depth": 24, "enc_num_heads": 16,
            "dec_embed_dim": 768, "dec_depth": 12, "dec_num_heads": 12, "head_type": "dpt",
            "pos_embed": "RoPE100", "depth_mode": ["exp", -Infinity, Infinity],
            "conf_mode": ["exp", 1, Infinity]}"#;
        let c: Dust3rConfig = serde_json::from_str(&lenient_json(text)).unwrap();
        assert_eq!(c.dpt().hooks_idx, [0, 6, 9, 12]);
        assert_eq!(c.dpt().dim_tokens, [1024, 768, 768, 768]);
        assert_eq!(c.conf_mode.vmin, 1.0);
        assert_eq!(c.depth_mode.vmin, f64::NEG_INFINITY);
        assert_eq!(c.encoder().mlp_hidden, 4096);
        assert_eq!(c.rope_base(), Some(100.0));
    }
}

//! Reading diffusers-layout weights: `config.json` and safetensors files, with errors that
//! name the file and say what to do.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use candle_nn::VarBuilder;

use crate::core::{Error, Result};
pub use crate::nn::weights::{shape_error, var_builder};

/// Parses a component's `config.json` (unknown keys are ignored, as diffusers does).
pub fn read_config<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::bad_input(
            format!("cannot read the model config ({e})"),
            "pass a diffusers model folder (config.json + safetensors); see weights/README.md",
            path,
        )
    })?;
    serde_json::from_str(&text).map_err(|e| {
        Error::bad_input(
            format!("not a valid diffusers config ({e})"),
            "re-download the file",
            path,
        )
    })
}

/// Loads one diffusers component folder: `dir/config.json` parsed as `C`, the weights file
/// named `weights_stem` (see [`weights_file`]) built by `build`; every failure names the file or
/// folder.
pub fn load_component<C: serde::de::DeserializeOwned, M>(
    dir: &Path,
    weights_stem: &str,
    dtype: DType,
    device: &Device,
    build: impl FnOnce(VarBuilder<'static>, C) -> candle_core::Result<M>,
) -> Result<M> {
    let config: C = read_config(&dir.join("config.json"))?;
    let file = weights_file(dir, weights_stem, dtype)?;
    let vb = var_builder(&file, dtype, device)?;
    build(vb, config).map_err(|e| shape_error(e, &file))
}

/// The weights stem of diffusers' UNet, ControlNet and VAE folders.
pub const DIFFUSERS_WEIGHTS: &str = "diffusion_pytorch_model";

/// The weights stem of transformers' text encoder folders.
pub const TRANSFORMERS_WEIGHTS: &str = "model";

/// The safetensors file of a component: `{stem}.fp16.safetensors` first when computing in
/// half precision (half the bytes to read, nothing lost), `{stem}.safetensors` first in f32;
/// either one serves when it is the only one (converted on load).
pub fn weights_file(dir: &Path, stem: &str, dtype: DType) -> Result<PathBuf> {
    let full = dir.join(format!("{stem}.safetensors"));
    let half = dir.join(format!("{stem}.fp16.safetensors"));
    let order = if dtype == DType::F32 {
        [&full, &half]
    } else {
        [&half, &full]
    };
    if let Some(found) = order.into_iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    let pickle = [".bin", ".ckpt", ".pth"]
        .iter()
        .any(|ext| dir.join(format!("{stem}{ext}")).is_file());
    let hint = if pickle {
        "only a pickle checkpoint is there; download the .safetensors file of the same repo \
         (pickles are not loaded)"
    } else {
        "download the component (see weights/README.md) or point --weights at its folder"
    };
    Err(Error::bad_input("weights file not found", hint, full))
}

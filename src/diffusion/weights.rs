//! Reading diffusers-layout weights: `config.json` and safetensors files, with errors that
//! name the file and say what to do.

use std::path::Path;

use candle_core::{DType, Device};
use candle_nn::VarBuilder;

use crate::core::{Error, Result};

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

/// A `VarBuilder` over a safetensors file, read into memory and converted to `dtype`.
pub fn var_builder(path: &Path, dtype: DType, device: &Device) -> Result<VarBuilder<'static>> {
    let bytes = std::fs::read(path).map_err(|e| {
        Error::bad_input(
            format!("cannot read the weights ({e})"),
            "download the file or point --weights at the folder that holds it",
            path,
        )
    })?;
    VarBuilder::from_buffered_safetensors(bytes, dtype, device).map_err(|e| {
        Error::bad_input(
            format!("not a valid safetensors file ({e})"),
            "re-download the file",
            path,
        )
    })
}

/// Loads one diffusers component folder: `dir/config.json` parsed as `C`, `dir/weights_file`
/// built by `build`; every failure names the file or folder.
pub fn load_component<C: serde::de::DeserializeOwned, M>(
    dir: &Path,
    weights_file: &str,
    dtype: DType,
    device: &Device,
    build: impl FnOnce(VarBuilder<'static>, C) -> candle_core::Result<M>,
) -> Result<M> {
    let config: C = read_config(&dir.join("config.json"))?;
    let vb = var_builder(&dir.join(weights_file), dtype, device)?;
    build(vb, config).map_err(|e| shape_error(e, dir))
}

/// The weights file of diffusers' UNet, ControlNet and VAE folders.
pub const DIFFUSERS_WEIGHTS: &str = "diffusion_pytorch_model.safetensors";

/// Wraps a construction error (missing tensor, wrong shape) with the folder it came from.
pub fn shape_error(e: candle_core::Error, dir: &Path) -> Error {
    Error::bad_input(
        format!("the weights do not match the config ({e})"),
        "use the weights that belong to this config.json",
        dir,
    )
}

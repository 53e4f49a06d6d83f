//! Loading a DUSt3R checkpoint: the Hugging Face layout (`config.json` + `model.safetensors`,
//! layer_rn aliases deduplicated) or the original `.pth` (state dict under `"model"`), with the
//! `config.json` (and the fixtures' `arch.json`) read from the checkpoint's folder.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};

use super::config::Dust3rConfig;
use super::model::Dust3r;
use crate::core::{Error, Result};
use crate::nn::weights::{pth_var_builder, shape_error, var_builder};

/// The weights file of a checkpoint given as a file or as its folder.
pub fn checkpoint_file(path: &Path) -> Result<PathBuf> {
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    let file = path.join("model.safetensors");
    if file.is_file() {
        return Ok(file);
    }
    Err(Error::bad_input(
        "no DUSt3R checkpoint there",
        "pass the folder of naver/DUSt3R_ViTLarge_BaseDecoder_512_dpt (config.json + \
         model.safetensors) or its .pth file with --pose-weights",
        path,
    ))
}

fn is_pickle(file: &Path) -> bool {
    file.extension()
        .is_some_and(|ext| ext == "pth" || ext == "pt" || ext == "bin")
}

/// The configuration of the checkpoint at `path` (a file or its folder), without loading it:
/// its `config.json`, else an original `.pth`'s tensor shapes.
pub fn config(path: &Path) -> Result<Dust3rConfig> {
    let file = checkpoint_file(path)?;
    let dir = file.parent().unwrap_or(Path::new("."));
    if !dir.join("config.json").is_file() && is_pickle(&file) {
        pth_config(&file)
    } else {
        Dust3rConfig::load(dir)
    }
}

/// Loads the network from `path` (a checkpoint file or its folder) in `dtype` on `device`.
pub fn load(path: &Path, dtype: DType, device: &Device) -> Result<Dust3r> {
    let file = checkpoint_file(path)?;
    let config = config(path)?;
    let vb = if is_pickle(&file) {
        pth_var_builder(&file, "model", dtype, device)?
    } else {
        var_builder(&file, dtype, device)?
    };
    Dust3r::new(vb, config).map_err(|e| shape_error(e, &file))
}

/// The configuration of an original `.pth` without a `config.json` beside it, from its tensor
/// shapes (see [`Dust3rConfig::from_shapes`]).
pub fn pth_config(file: &Path) -> Result<Dust3rConfig> {
    let infos =
        candle_core::pickle::read_pth_tensor_info(file, false, Some("model")).map_err(|e| {
            Error::bad_input(
                format!("not a readable PyTorch checkpoint with a 'model' state dict ({e})"),
                "re-download the checkpoint, or use the Hugging Face model.safetensors",
                file,
            )
        })?;
    let shapes: std::collections::HashMap<String, Vec<usize>> = infos
        .into_iter()
        .map(|t| (t.name, t.layout.shape().dims().to_vec()))
        .collect();
    Dust3rConfig::from_shapes(|name| shapes.get(name).cloned()).ok_or_else(|| {
        Error::bad_input(
            "the checkpoint lacks DUSt3R's tensors (patch_embed, decoder_embed, heads)",
            "pass a DUSt3R checkpoint, or put its config.json next to it",
            file,
        )
    })
}

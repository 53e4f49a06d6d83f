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

/// Loads the network from `path` (a checkpoint file or its folder) in `dtype` on `device`.
pub fn load(path: &Path, dtype: DType, device: &Device) -> Result<Dust3r> {
    let file = checkpoint_file(path)?;
    let dir = file.parent().unwrap_or(Path::new("."));
    let config = Dust3rConfig::load(dir)?;
    let is_pickle = file
        .extension()
        .is_some_and(|ext| ext == "pth" || ext == "pt" || ext == "bin");
    let vb = if is_pickle {
        pth_var_builder(&file, "model", dtype, device)?
    } else {
        var_builder(&file, dtype, device)?
    };
    Dust3r::new(vb, config).map_err(|e| shape_error(e, &file))
}

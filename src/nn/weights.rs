//! Reading safetensors weights into a `VarBuilder`, with errors that name the file and say
//! what to do (shared by the diffusion and pose stages).

use std::path::Path;

use candle_core::{DType, Device};
use candle_nn::VarBuilder;

use crate::core::{Error, Result};

/// A `VarBuilder` over a safetensors file, memory-mapped and converted to `dtype`. Mapped, not
/// read: a read copy of the file sat in the heap beside the tensors built from it, so loading a
/// network held twice its weights (measured: the full-size DUSt3R load peaked at 4.26 GiB of
/// heap for 2.13 GiB of weights); mapped pages are page cache the kernel can drop.
#[allow(unsafe_code)]
pub fn var_builder(path: &Path, dtype: DType, device: &Device) -> Result<VarBuilder<'static>> {
    if let Err(e) = std::fs::File::open(path) {
        return Err(Error::bad_input(
            format!("cannot read the weights ({e})"),
            "download the file or point --weights at the folder that holds it",
            path,
        ));
    }
    // SAFETY: the mapping is only read, while the model is built; weight files are not written
    // during a run (a file truncated under us would fault, as with any mapped input).
    unsafe { VarBuilder::from_mmaped_safetensors(&[path], dtype, device) }.map_err(|e| {
        Error::bad_input(
            format!("not a valid safetensors file ({e})"),
            "re-download the file",
            path,
        )
    })
}

/// Wraps a construction error (missing tensor, wrong shape: candle names the tensor and both
/// shapes) with the file it came from.
pub fn shape_error(e: candle_core::Error, file: &Path) -> Error {
    Error::bad_input(
        format!("the weights do not match the config ({e})"),
        "use the weights that belong to the config.json next to it",
        file,
    )
}

/// A `VarBuilder` over the state dict stored under `key` in a PyTorch pickle (`.pth`), as
/// DUSt3R's original checkpoints keep it under `"model"`; other pickled objects (an argparse
/// `Namespace`) are skipped.
pub fn pth_var_builder(
    path: &Path,
    key: &str,
    dtype: DType,
    device: &Device,
) -> Result<VarBuilder<'static>> {
    VarBuilder::from_pth_with_state(path, dtype, key, device).map_err(|e| {
        Error::bad_input(
            format!("not a readable PyTorch checkpoint with a '{key}' state dict ({e})"),
            "re-download the checkpoint, or use the Hugging Face model.safetensors",
            path,
        )
    })
}

//! Finding the DUSt3R checkpoint: `--pose-weights` (a file or its folder), then
//! `./weights/DUSt3R_ViTLarge_BaseDecoder_512_dpt`, then the local Hugging Face cache, then
//! (unless offline) a download through hf-hub into that cache.

use std::path::{Path, PathBuf};

use crate::core::{Error, Result};
use crate::nn::hub;

/// The released 512-pixel DPT checkpoint (CC BY-NC-SA 4.0).
pub const DUST3R_REPO: &str = "naver/DUSt3R_ViTLarge_BaseDecoder_512_dpt";
/// Its folder under `./weights/`.
const LOCAL_DIR: &str = "weights/DUSt3R_ViTLarge_BaseDecoder_512_dpt";

/// The checkpoint file or folder to load (see [`super::network::weights::load`]).
pub fn locate(pose_weights: Option<&Path>, offline: bool) -> Result<PathBuf> {
    let offline = offline || std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| v == "1");
    if let Some(path) = pose_weights {
        return if path.exists() {
            Ok(path.to_path_buf())
        } else {
            Err(Error::bad_input(
                "pose model not found",
                "check the --pose-weights path (a .safetensors/.pth file or its folder)",
                path,
            ))
        };
    }
    let local = Path::new(LOCAL_DIR);
    if local.is_dir() {
        return Ok(local.to_path_buf());
    }
    let files = [["config.json"], ["model.safetensors"]];
    hub::snapshot(DUST3R_REPO, &files, offline).map_err(|why| Error::Unavailable {
        what: "camera tracking",
        hint: format!(
            "the DUSt3R weights ({DUST3R_REPO}) are not in {LOCAL_DIR} nor in the Hugging Face \
             cache, and {why}. Download them (`hf download {DUST3R_REPO} config.json \
             model.safetensors --local-dir {LOCAL_DIR}`), pass a checkpoint with \
             --pose-weights, or import a camera track with --poses FILE"
        ),
    })
}

//! Finding the diffusion weights. Explicit folders win (`--weights`, `--controlnet`,
//! `--tokenizer`), then `./weights/` laid out as weights/README.md says, then the local
//! Hugging Face cache, then (unless offline) a download through hf-hub into that cache.
//! Whatever the source, the result is one folder per component in the diffusers layout.

use std::path::{Path, PathBuf};

use candle_core::DType;

use crate::core::{Error, Result};
use crate::nn::hub;

/// Stable Diffusion 1.5 (UNet, VAE, text encoder, tokenizer, scheduler).
pub const SD15_REPO: &str = "stable-diffusion-v1-5/stable-diffusion-v1-5";
/// The inpainting ControlNet v1.1.
pub const CONTROLNET_REPO: &str = "lllyasviel/control_v11p_sd15_inpaint";

/// Where the user said the weights are.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WeightsArgs {
    /// SD 1.5 folder (unet/, vae/, text_encoder/, tokenizer/, scheduler/).
    pub weights: Option<PathBuf>,
    /// ControlNet folder (config.json + safetensors).
    pub controlnet: Option<PathBuf>,
    /// Tokenizer folder or tokenizer.json.
    pub tokenizer: Option<PathBuf>,
    /// Never download (also `HF_HUB_OFFLINE=1`).
    pub offline: bool,
}

/// One folder per component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentDirs {
    /// `unet/`.
    pub unet: PathBuf,
    /// `vae/`.
    pub vae: PathBuf,
    /// `text_encoder/`.
    pub text_encoder: PathBuf,
    /// `tokenizer/` or a `tokenizer.json`.
    pub tokenizer: PathBuf,
    /// `scheduler/` when present (SD 1.5's schedule is the default otherwise).
    pub scheduler: Option<PathBuf>,
    /// The ControlNet folder.
    pub controlnet: PathBuf,
}

/// The SD 1.5 components and the files each needs; weights as `stem` (variant chosen later).
const SD15_COMPONENTS: [(&str, &[&str]); 4] = [
    ("unet", &["config.json", "diffusion_pytorch_model"]),
    ("vae", &["config.json", "diffusion_pytorch_model"]),
    ("text_encoder", &["config.json", "model"]),
    ("tokenizer", &["vocab.json", "merges.txt"]),
];

/// Resolves every component folder for computing in `dtype`.
pub fn locate(args: &WeightsArgs, dtype: DType) -> Result<ComponentDirs> {
    let offline = args.offline || std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| v == "1");
    let root = match &args.weights {
        Some(dir) => existing_dir(dir, "--weights")?,
        None => local_or_hub(
            Path::new("weights/stable-diffusion-v1-5"),
            SD15_REPO,
            &sd15_files(dtype),
            offline,
        )?,
    };
    let controlnet = match &args.controlnet {
        Some(dir) => existing_dir(dir, "--controlnet")?,
        None if root.join("controlnet").is_dir() => root.join("controlnet"),
        None => local_or_hub(
            Path::new("weights/control_v11p_sd15_inpaint"),
            CONTROLNET_REPO,
            &[
                vec!["config.json".to_string()],
                weight_variants("diffusion_pytorch_model", dtype),
            ],
            offline,
        )?,
    };
    let component = |name: &str| -> Result<PathBuf> {
        let dir = root.join(name);
        if dir.is_dir() {
            Ok(dir)
        } else {
            Err(Error::bad_input(
                format!("the weights folder has no {name}/"),
                format!("use the diffusers layout of {SD15_REPO} (see weights/README.md)"),
                dir,
            ))
        }
    };
    Ok(ComponentDirs {
        unet: component("unet")?,
        vae: component("vae")?,
        text_encoder: component("text_encoder")?,
        tokenizer: match &args.tokenizer {
            Some(t) => t.clone(),
            None => component("tokenizer")?,
        },
        scheduler: Some(root.join("scheduler")).filter(|d| d.is_dir()),
        controlnet,
    })
}

fn existing_dir(dir: &Path, option: &str) -> Result<PathBuf> {
    if dir.is_dir() {
        Ok(dir.to_path_buf())
    } else {
        Err(Error::bad_input(
            "weights folder not found",
            format!("check the {option} path"),
            dir,
        ))
    }
}

/// `{stem}.safetensors` and its fp16 variant, preferred first for `dtype`.
fn weight_variants(stem: &str, dtype: DType) -> Vec<String> {
    let full = format!("{stem}.safetensors");
    let half = format!("{stem}.fp16.safetensors");
    if dtype == DType::F32 {
        vec![full, half]
    } else {
        vec![half, full]
    }
}

/// The repo files SD 1.5 needs, each as alternatives (first found wins).
fn sd15_files(dtype: DType) -> Vec<Vec<String>> {
    let mut files = vec![vec!["scheduler/scheduler_config.json".to_string()]];
    for (dir, names) in SD15_COMPONENTS {
        for name in names {
            let alternatives = if name.contains('.') {
                vec![(*name).to_string()]
            } else {
                weight_variants(name, dtype)
            };
            files.push(alternatives.iter().map(|f| format!("{dir}/{f}")).collect());
        }
    }
    files
}

/// `local` when it is a folder, else the repo's snapshot folder from the cache or the hub.
fn local_or_hub<S: AsRef<[T]>, T: AsRef<str>>(
    local: &Path,
    repo: &str,
    files: &[S],
    offline: bool,
) -> Result<PathBuf> {
    if local.is_dir() {
        return Ok(local.to_path_buf());
    }
    hub::snapshot(repo, files, offline).map_err(|why| Error::Unavailable {
        what: "diffusion refinement",
        hint: format!(
            "its weights ({repo}) are not in {} nor in the Hugging Face cache, and {why}. \
             Download them, e.g. \
             `hf download {repo} --local-dir {}` (only the files listed in weights/README.md \
             are needed), pass the folder with --weights / --controlnet, or use --refine classic",
            local.display(),
            local.display()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_precision_prefers_fp16_files() {
        assert_eq!(
            weight_variants("model", DType::F16),
            ["model.fp16.safetensors", "model.safetensors"]
        );
        let files = sd15_files(DType::F32);
        assert!(files.contains(&vec![
            "unet/diffusion_pytorch_model.safetensors".to_string(),
            "unet/diffusion_pytorch_model.fp16.safetensors".to_string()
        ]));
        assert!(files.contains(&vec!["tokenizer/merges.txt".to_string()]));
    }
}

use candle_core::{DType, Tensor};
use vanelia::diffusion::vae::{AutoencoderKL, Posterior, TileConfig, VaeMode};

use crate::harness::{assert_close, cases, device, Case, ATOL_LATENTS_F32};

const ENV: &str = "VANELIA_GOLDEN_SD15";

fn vae(case: &Case) -> AutoencoderKL {
    let dir = case.manifest["config"]["models"]["vae"].as_str().unwrap();
    AutoencoderKL::load(&case.dir.join(dir), DType::F32, &device()).unwrap()
}

fn tiles(meta: &serde_json::Value) -> TileConfig {
    TileConfig {
        sample_px: meta["tile_sample_min_size"].as_u64().unwrap() as usize,
        latent: meta["tile_latent_min_size"].as_u64().unwrap() as usize,
        overlap: meta["tile_overlap_factor"].as_f64().unwrap(),
    }
}

/// Encode (moments, mean, log-variance, std) and decode from the mean under `mode`.
fn check(
    case: &Case,
    vae: &AutoencoderKL,
    x: &Tensor,
    mode: VaeMode,
    moments: &Tensor,
    decoded: &Tensor,
    what: &str,
) {
    let name = format!("{}: {what}", case.name());
    let ours = vae.moments(x, &mode).unwrap();
    assert_close(&format!("{name} moments"), &ours, moments, ATOL_LATENTS_F32);
    let mean = Posterior::from_moments(&ours).unwrap().mean;
    assert_close(
        &format!("{name} decoded"),
        &vae.decode(&mean, &mode).unwrap(),
        decoded,
        ATOL_LATENTS_F32,
    );
}

#[test]
fn vae_plain_sliced_and_tiled() {
    for case in cases("sd15", ENV) {
        let vae = vae(&case);
        let io = case.tensors("vae_io.safetensors");
        let inputs = case.tensors("inputs.safetensors");
        let meta = &case.manifest["files"]["vae_io.safetensors"]["meta"];
        let x = inputs["image"].affine(2.0, -1.0).unwrap();
        // Posterior pieces from the reference moments.
        let post = Posterior::from_moments(&io["moments"]).unwrap();
        assert_close("mean", &post.mean, &io["mean"], 0.0);
        assert_close("std", &post.std().unwrap(), &io["std"], ATOL_LATENTS_F32);
        let plain = VaeMode::default();
        let sliced = VaeMode {
            slicing: true,
            tiling: None,
        };
        let tiled = VaeMode {
            slicing: false,
            tiling: Some(tiles(&meta["tiled"])),
        };
        assert_close(
            "plain moments",
            &vae.moments(&x, &plain).unwrap(),
            &io["moments"],
            ATOL_LATENTS_F32,
        );
        // Decodes are checked from the reference mean so encode and decode errors stay apart.
        assert_close(
            "decode",
            &vae.decode(&io["mean"], &plain).unwrap(),
            &io["decoded_from_mean"],
            ATOL_LATENTS_F32,
        );
        check(
            &case,
            &vae,
            &x,
            plain,
            &io["moments"],
            &io["decoded_from_mean"],
            "plain",
        );
        check(
            &case,
            &vae,
            &x,
            sliced,
            &io["sliced_moments"],
            &io["sliced_decoded_from_mean"],
            "sliced",
        );
        let tiled_mean = Posterior::from_moments(&io["moments"]).unwrap().mean;
        assert_close(
            "tiled moments",
            &vae.moments(&x, &tiled).unwrap(),
            &io["tiled_moments"],
            ATOL_LATENTS_F32,
        );
        assert_close(
            "tiled decode",
            &vae.decode(&tiled_mean, &tiled).unwrap(),
            &io["tiled_decoded_from_mean"],
            ATOL_LATENTS_F32,
        );
        // A frame whose size is not a multiple of the tile.
        let odd = &io["x_odd"];
        check(
            &case,
            &vae,
            odd,
            plain,
            &io["odd_moments"],
            &io["odd_decoded_from_mean"],
            "odd",
        );
        for (key, prefix) in [("tiled", "odd_tiled"), ("tiled2", "odd_tiled2")] {
            let mode = VaeMode {
                slicing: false,
                tiling: Some(tiles(&meta[key])),
            };
            check(
                &case,
                &vae,
                odd,
                mode,
                &io[&format!("{prefix}_moments")],
                &io[&format!("{prefix}_decoded_from_own_mean")],
                prefix,
            );
        }
    }
}

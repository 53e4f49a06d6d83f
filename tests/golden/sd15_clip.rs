use candle_core::DType;
use vanelia::diffusion::text::clip::ClipTextModel;

use crate::harness::{assert_close, cases, device, ATOL_LATENTS_F32};

const ENV: &str = "VANELIA_GOLDEN_SD15";

/// A copy of the text encoder folder `from` as transformers 5 saves it: the same tensors
/// without the `text_model.` prefix that SD 1.5 checkpoints have.
fn without_prefix(from: &std::path::Path, to: &std::path::Path) {
    std::fs::copy(from.join("config.json"), to.join("config.json")).unwrap();
    let tensors = candle_core::safetensors::load(from.join("model.safetensors"), &device())
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k.trim_start_matches("text_model.").to_string(), v))
        .collect::<std::collections::HashMap<_, _>>();
    candle_core::safetensors::save(&tensors, to.join("model.safetensors")).unwrap();
}

#[test]
fn clip_hidden_states_and_output() {
    for case in cases("sd15", ENV) {
        let dir = case.dir.join(
            case.manifest["config"]["models"]["text_encoder"]
                .as_str()
                .unwrap(),
        );
        let unprefixed = tempfile::tempdir().unwrap();
        without_prefix(&dir, unprefixed.path());
        for dir in [dir.as_path(), unprefixed.path()] {
            let model = ClipTextModel::load(dir, DType::F32, &device()).unwrap();
            check(&case, &model);
        }
    }
}

/// Every hidden state and both outputs of the case's text encoder.
fn check(case: &crate::harness::Case, model: &ClipTextModel) {
    let io = case.tensors("text_encoder_io.safetensors");
    let states = model.forward_all(&io["input_ids"]).unwrap();
    let layers = states.len() - 2;
    for k in 0..=layers {
        assert_close(
            &format!("{}: hidden_states_{k}", case.name()),
            &states[k],
            &io[&format!("hidden_states_{k}")],
            ATOL_LATENTS_F32,
        );
    }
    assert_close(
        "last_hidden_state",
        &states[layers + 1],
        &io["last_hidden_state"],
        ATOL_LATENTS_F32,
    );
    let negative = model.forward(&io["neg_input_ids"]).unwrap();
    assert_close(
        "neg_last_hidden_state",
        &negative,
        &io["neg_last_hidden_state"],
        ATOL_LATENTS_F32,
    );
}

use candle_core::{DType, Device};
use vanelia::diffusion::clip::ClipTextModel;

use crate::harness::{assert_close, cases, ATOL_LATENTS_F32};

const ENV: &str = "VANELIA_GOLDEN_SD15";

#[test]
fn clip_hidden_states_and_output() {
    for case in cases("sd15", ENV) {
        let dir = case.manifest["config"]["models"]["text_encoder"]
            .as_str()
            .unwrap();
        let model = ClipTextModel::load(&case.dir.join(dir), DType::F32, &Device::Cpu).unwrap();
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
}

use std::collections::BTreeSet;

use candle_core::{DType, Tensor};
use vanelia::pose::network::model::Dust3r;
use vanelia::pose::network::rope::Rope2d;
use vanelia::pose::network::trace::Trace;
use vanelia::pose::network::weights;

use crate::harness::{assert_close, assert_close_rel, cases, device, Case};

const ENV: &str = "VANELIA_GOLDEN_DUST3R";
/// Tokens and head intermediates (golden README §10).
const ATOL_NET: f32 = 1e-4;
/// `pts3d`, `conf`: |Δ| / (1 + |ref|).
const RTOL_POINTS: f32 = 1e-4;
/// RoPE2D output.
const ATOL_ROPE: f32 = 1e-6;
/// f16 network against the f32 reference, relative as for points (measured below 1e-2).
const RTOL_F16: f32 = 3e-2;

#[test]
fn rope2d_matches_the_reference() {
    for case in cases("dust3r", ENV) {
        let t = case.tensors("rope2d.safetensors");
        let tokens = &t["tokens"];
        let head_dim = tokens.dim(3).unwrap();
        let base = case.manifest["files"]["rope2d.safetensors"]["meta"]["freq"]
            .as_f64()
            .unwrap();
        let rope = Rope2d::new(&t["positions"], head_dim, base, DType::F32).unwrap();
        assert_close(
            &format!("{}: rope2d", case.name()),
            &rope.apply(tokens).unwrap(),
            &t["out"],
            ATOL_ROPE,
        );
    }
}

/// Every model of the case (`config.models`): name, directory, io file.
fn models(case: &Case) -> Vec<(String, std::path::PathBuf, String)> {
    case.manifest["config"]["models"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, m)| {
            (
                name.clone(),
                case.dir.join(m["dir"].as_str().unwrap()),
                m["io"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Runs the case's pairs through `model`, tracing every intermediate.
fn run_traced(case: &Case, model: &Dust3r) -> Trace {
    let inputs = case.tensors("net/inputs.safetensors");
    let mut trace = Trace::default();
    trace.set_prefix("view1.");
    let e1 = model.encode(&inputs["img1"], Some(&mut trace)).unwrap();
    trace.set_prefix("view2.");
    let e2 = model.encode(&inputs["img2"], Some(&mut trace)).unwrap();
    let pred = model.decode(&e1, &e2, Some(&mut trace)).unwrap();
    let out = &mut trace.tensors;
    out.insert("view1.pts3d".into(), pred.view1.pts3d);
    out.insert("view1.conf".into(), pred.view1.conf);
    out.insert("view2.pts3d_in_other_view".into(), pred.view2.pts3d);
    out.insert("view2.conf".into(), pred.view2.conf);
    trace
}

fn is_point_output(name: &str) -> bool {
    name.ends_with("pts3d") || name.ends_with("pts3d_in_other_view") || name.ends_with("conf")
}

#[test]
fn every_intermediate_and_output_of_both_heads_matches() {
    for case in cases("dust3r", ENV) {
        for (name, dir, io) in models(&case) {
            let model = weights::load(&dir, DType::F32, &device()).unwrap();
            let trace = run_traced(&case, &model);
            let want = case.tensors(&io);
            let expected: BTreeSet<&String> = want.keys().collect();
            let got: BTreeSet<&String> = trace.tensors.keys().collect();
            assert_eq!(got, expected, "{}: {name}: traced names", case.name());
            for (key, reference) in &want {
                let what = format!("{}: {name}: {key}", case.name());
                let ours = &trace.tensors[key];
                if key.ends_with(".pos") {
                    assert_eq!(
                        ours.to_dtype(DType::I64).unwrap().to_vec3::<i64>().unwrap(),
                        reference.to_vec3::<i64>().unwrap(),
                        "{what}"
                    );
                } else if is_point_output(key) {
                    assert_close_rel(&what, ours, reference, RTOL_POINTS);
                } else {
                    assert_close(&what, ours, reference, ATOL_NET);
                }
            }
        }
    }
}

/// The `.pth`-style state dict (every name, the `layer_rn.{k}` aliases as copies), as
/// safetensors and as an original-style pickle (`tools/golden/dust3r_pth.py`), builds the same
/// network as the deduplicated Hugging Face file.
#[test]
fn state_dict_with_aliases_gives_the_same_outputs() {
    for case in cases("dust3r", ENV) {
        for (name, dir, io) in models(&case) {
            for layout in ["state_dict_all_keys.safetensors", "model.pth"] {
                let file = dir.join(layout);
                if !file.is_file() {
                    continue;
                }
                let model = weights::load(&file, DType::F32, &device()).unwrap();
                let trace = run_traced(&case, &model);
                let want = case.tensors(&io);
                let what = format!("{}: {name} ({layout}): view2 points", case.name());
                assert_close_rel(
                    &what,
                    &trace.tensors["view2.pts3d_in_other_view"],
                    &want["view2.pts3d_in_other_view"],
                    RTOL_POINTS,
                );
            }
        }
    }
}

#[test]
fn half_precision_stays_close_to_the_f32_reference() {
    for case in cases("dust3r", ENV) {
        for (name, dir, io) in models(&case) {
            let model = weights::load(&dir, DType::F16, &device()).unwrap();
            let trace = run_traced(&case, &model);
            let want = case.tensors(&io);
            for key in ["view1.pts3d", "view2.pts3d_in_other_view", "view2.conf"] {
                let ours: &Tensor = &trace.tensors[key];
                assert_eq!(ours.dtype(), DType::F32, "points are post-processed in f32");
                assert_close_rel(
                    &format!("{}: {name} f16: {key}", case.name()),
                    ours,
                    &want[key],
                    RTOL_F16,
                );
            }
        }
    }
}

/// Without `config.json`, an original `.pth` is read with the configuration its shapes imply:
/// everything but the head counts (released checkpoints: 64-dim heads) equals the fixture's.
#[test]
fn pth_without_config_infers_the_architecture_from_shapes() {
    for case in cases("dust3r", ENV) {
        for (name, dir, _) in models(&case) {
            let pth = dir.join("model.pth");
            if !pth.is_file() {
                continue;
            }
            let inferred = weights::pth_config(&pth).unwrap();
            let mut want = vanelia::pose::network::config::Dust3rConfig::load(&dir).unwrap();
            want.enc_num_heads = inferred.enc_num_heads;
            want.dec_num_heads = inferred.dec_num_heads;
            assert_eq!(inferred.dpt(), want.dpt(), "{}: {name}", case.name());
            want.dpt = inferred.dpt.clone();
            assert_eq!(inferred, want, "{}: {name}", case.name());
        }
    }
}

use candle_core::{DType, Device, Tensor};
use vanelia::core::FrameSize;
use vanelia::pose::preprocess::{to_network_tensor, PreprocessGeometry};

use crate::harness::{assert_close, cases, Case};

const ENV: &str = "VANELIA_GOLDEN_DUST3R";
const FILE: &str = "load_images/load_images.safetensors";
/// Pixels against PIL (golden README §10): at most 3 levels anywhere …
const MAX_LEVELS: u8 = 3;
/// … and at most 1 level at the 99th percentile.
const P99_LEVELS: u8 = 1;

/// One `load_images` item of the manifest.
struct Item {
    png: String,
    source: FrameSize,
    size_px: u32,
    network: FrameSize,
}

fn items(case: &Case) -> Vec<Item> {
    let u32_of = |v: &serde_json::Value, key: &str| v[key].as_u64().unwrap() as u32;
    case.manifest["load_images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| Item {
            png: v["png"].as_str().unwrap().to_string(),
            source: FrameSize {
                width: u32_of(v, "src_width"),
                height: u32_of(v, "src_height"),
            },
            size_px: u32_of(v, "size"),
            network: FrameSize {
                width: u32_of(v, "out_width"),
                height: u32_of(v, "out_height"),
            },
        })
        .collect()
}

/// Our picture and the reference's, as (H, W, 3) bytes.
fn run_item(case: &Case, item: &Item, k: usize) -> (image::RgbImage, Vec<u8>, PreprocessGeometry) {
    let rgb = image::open(case.dir.join(&item.png)).unwrap().to_rgb8();
    let what = format!("{}: item{k} ({})", case.name(), item.png);
    assert_eq!(
        FrameSize {
            width: rgb.width(),
            height: rgb.height()
        },
        item.source,
        "{what}: source size"
    );
    let geometry = PreprocessGeometry::new(item.source, item.size_px).unwrap();
    assert_eq!(geometry.network, item.network, "{what}: output size");
    let ours = geometry.apply(&rgb).unwrap();
    let t = case.tensors(FILE);
    let want = &t[&format!("item{k}.img_u8")];
    let [h, w] = [item.network.height as usize, item.network.width as usize];
    assert_eq!(want.dims(), &[h, w, 3], "{what}: reference shape");
    let shape: Vec<i32> = t[&format!("item{k}.true_shape")]
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let [th, tw] = geometry.true_shape();
    assert_eq!(shape, vec![th as i32, tw as i32], "{what}: true_shape");
    let want = want.flatten_all().unwrap().to_vec1::<u8>().unwrap();
    (ours, want, geometry)
}

#[test]
fn load_images_pixels_match_pil() {
    for case in cases("dust3r", ENV) {
        for (k, item) in items(&case).iter().enumerate() {
            let (ours, want, geometry) = run_item(&case, item, k);
            let mut diffs: Vec<u8> = ours
                .as_raw()
                .iter()
                .zip(&want)
                .map(|(a, b)| a.abs_diff(*b))
                .collect();
            diffs.sort_unstable();
            let max = diffs.last().copied().unwrap_or(0);
            let p99 = diffs[(diffs.len() - 1) * 99 / 100];
            let exact = diffs.iter().filter(|&&d| d == 0).count();
            eprintln!(
                "{}: item{k} {}@{} → {} ({:?}): max |Δ| {max}, p99 {p99}, {exact}/{} bytes exact",
                case.name(),
                item.source,
                item.size_px,
                item.network,
                geometry.filter,
                diffs.len()
            );
            assert!(
                max <= MAX_LEVELS && p99 <= P99_LEVELS,
                "{}: item{k}: max |Δ| {max} (≤ {MAX_LEVELS}), p99 {p99} (≤ {P99_LEVELS})",
                case.name()
            );
        }
    }
}

#[test]
fn load_images_tensor_is_the_normalised_picture() {
    for case in cases("dust3r", ENV) {
        let item = &items(&case)[0];
        let (ours, want, _) = run_item(&case, item, 0);
        let (w, h) = ours.dimensions();
        let got = to_network_tensor(&[&ours], &Device::Cpu).unwrap();
        // the reference's ImgNorm: ToTensor (u8 / 255) then Normalize(0.5, 0.5), (1, 3, H, W)
        let reference = Tensor::from_vec(want, (h as usize, w as usize, 3), &Device::Cpu)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap()
            .permute((2, 0, 1))
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let reference = ((reference / 255.0).unwrap() - 0.5).unwrap() / 0.5;
        // equal up to the pixel tolerance (2 / 255 per level)
        let atol = f32::from(MAX_LEVELS) * 2.0 / 255.0 + 1e-6;
        assert_close(
            &format!("{}: item0 tensor", case.name()),
            &got,
            &reference.unwrap(),
            atol,
        );
    }
}

use std::path::Path;

use crate::util::{
    assert_fails, assert_ok, asset, demo_image_sequence, demo_run, edited_demo_poses, ffmpeg,
    run_on, s, sequence_run, vanelia,
};

/// Runs the main job with one argument replaced, expecting exit 2 with `file` named.
fn fails_naming(dir: &Path, args: &[(&str, &Path)], file: &Path, needle: &str) -> String {
    let mut cmd = vanelia(dir);
    let defaults = [
        ("--input", asset("demo.mp4")),
        ("--model", asset("product.glb")),
        ("--poses", asset("demo.poses.json")),
        ("--output", dir.join("out.mp4")),
    ];
    for (flag, default) in &defaults {
        let value = args
            .iter()
            .find(|(f, _)| f == flag)
            .map_or(default.as_path(), |(_, v)| v);
        cmd.arg(flag).arg(value);
    }
    let err = assert_fails(&cmd.output().unwrap());
    assert!(
        err.contains(&file.display().to_string()),
        "message does not name {}: {err}",
        file.display()
    );
    assert!(
        err.to_lowercase().contains(needle),
        "message lacks \"{needle}\": {err}"
    );
    err
}

#[test]
fn missing_input_video() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.mp4");
    fails_naming(dir.path(), &[("--input", &missing)], &missing, "not found");
}

#[test]
fn non_video_file() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.mp4");
    std::fs::write(&text, "this is not a video\n").unwrap();
    fails_naming(
        dir.path(),
        &[("--input", &text)],
        &text,
        "not a readable video",
    );
}

#[test]
fn truncated_video() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(asset("demo.mp4")).unwrap();
    let cut = dir.path().join("cut.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    fails_naming(dir.path(), &[("--input", &cut)], &cut, "truncated");
}

#[test]
fn corrupt_video_header() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(asset("demo.mp4")).unwrap();
    bytes[..64].fill(0xAB);
    let bad = dir.path().join("corrupt.mp4");
    std::fs::write(&bad, &bytes).unwrap();
    fails_naming(dir.path(), &[("--input", &bad)], &bad, "video");
}

#[test]
fn audio_only_file_has_no_video() {
    let dir = tempfile::tempdir().unwrap();
    let audio = dir.path().join("tone.m4a");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=duration=1",
        "-c:a",
        "aac",
        s(&audio),
    ]);
    fails_naming(
        dir.path(),
        &[("--input", &audio)],
        &audio,
        "no video stream",
    );
}

#[test]
fn zero_frame_image_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let pattern = dir.path().join("empty").join("%06d.png");
    std::fs::create_dir_all(dir.path().join("empty")).unwrap();
    fails_naming(
        dir.path(),
        &[("--input", &pattern)],
        &pattern,
        "no image found",
    );
}

#[test]
fn frame_range_outside_clip() {
    let dir = tempfile::tempdir().unwrap();
    let err = assert_fails(&demo_run(
        dir.path(),
        &dir.path().join("o.mp4"),
        &["--frames", "40..60"],
    ));
    assert!(err.contains("--frames") && err.contains("0..48"), "{err}");
}

#[test]
fn unwritable_output_path() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("no_such_dir").join("out.mp4");
    let err = assert_fails(&demo_run(dir.path(), &out, &[]));
    assert!(
        err.contains(&out.display().to_string()) && err.contains("writable"),
        "{err}"
    );
}

#[test]
fn poses_that_do_not_match_the_clip() {
    let dir = tempfile::tempdir().unwrap();
    let short = edited_demo_poses(dir.path(), "short.json", |j| {
        j["frames"].as_array_mut().unwrap().truncate(40);
    });
    fails_naming(
        dir.path(),
        &[("--poses", &short)],
        &short,
        "40 frames but the clip has 48",
    );
}

#[test]
fn missing_product_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.glb");
    fails_naming(dir.path(), &[("--model", &missing)], &missing, "not found");
}

#[test]
fn corrupt_product_file() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(asset("product.glb")).unwrap();
    let bad = dir.path().join("broken.glb");
    std::fs::write(&bad, &bytes[..bytes.len() / 3]).unwrap();
    fails_naming(dir.path(), &[("--model", &bad)], &bad, "glb");
}

#[test]
fn compressed_glb_says_how_to_convert() {
    let dir = tempfile::tempdir().unwrap();
    let gltf = dir.path().join("meshopt.gltf");
    std::fs::write(&gltf, r#"{"asset":{"version":"2.0"},"extensionsUsed":["EXT_meshopt_compression"],"extensionsRequired":["EXT_meshopt_compression"]}"#).unwrap();
    let err = fails_naming(
        dir.path(),
        &[("--model", &gltf)],
        &gltf,
        "ext_meshopt_compression",
    );
    assert!(err.contains("gltf-transform"), "{err}");
}

#[test]
fn failed_run_keeps_the_previous_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mp4");
    assert_ok(&demo_run(dir.path(), &out, &[]));
    let before = std::fs::read(&out).unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{ not json").unwrap();
    let err = assert_fails(&run_on(dir.path(), &asset("demo.mp4"), &bad, &out, &[]));
    assert!(
        err.contains("bad.json") && err.contains("not a valid poses JSON"),
        "{err}"
    );
    assert_eq!(std::fs::read(&out).unwrap(), before);
}

#[test]
fn invalid_option_values_are_rejected_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    for (flag, value, needle) in [
        ("--scale", "1e12", "--scale"),
        ("--strength", "1.5", "--strength"),
        ("--batch-size", "0", "--batch-size"),
        ("--crf", "60", "--crf"),
        ("--place", "1,2", "--place"),
        ("--shutter", "400", "--shutter"),
    ] {
        let err = assert_fails(&demo_run(
            dir.path(),
            &dir.path().join("o.mp4"),
            &[flag, value],
        ));
        assert!(err.contains(needle), "{err}");
    }
}

#[test]
fn odd_frame_size_cannot_be_encoded_as_yuv420p() {
    let dir = tempfile::tempdir().unwrap();
    let odd = dir.path().join("odd.mkv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=641x361:rate=24",
        "-frames:v",
        "48",
        "-c:v",
        "ffv1",
        s(&odd),
    ]);
    let poses = edited_demo_poses(dir.path(), "odd.json", |j| {
        j["width"] = 641.into();
        j["height"] = 361.into();
    });
    fails_naming(
        dir.path(),
        &[("--input", &odd), ("--poses", &poses)],
        &odd,
        "even width and height",
    );
    // The same clip works as an image sequence, which has no such constraint.
    let out = dir.path().join("seq/%06d.png");
    assert_ok(&run_on(
        dir.path(),
        &odd,
        &poses,
        &out,
        &["--frames", "0..2"],
    ));
}

#[test]
fn zero_frame_video() {
    let dir = tempfile::tempdir().unwrap();
    let zero = dir.path().join("zero.mp4");
    // FFmpeg writes a valid MP4 that holds no frames (and hence no video track).
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=64x64",
        "-frames:v",
        "0",
        "-c:v",
        "libx264",
        s(&zero),
    ]);
    let err = fails_naming(dir.path(), &[("--input", &zero)], &zero, "video");
    assert!(
        err.contains("no video stream") || err.contains("no frames"),
        "{err}"
    );
}

fn plain_material() -> serde_json::Value {
    serde_json::json!({"pbrMetallicRoughness": {"metallicFactor": 0.0}})
}

#[test]
fn model_without_meshes() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.gltf");
    std::fs::write(&empty, r#"{"asset":{"version":"2.0"},"scene":0,"scenes":[{"nodes":[0]}],"nodes":[{"name":"nothing"}]}"#).unwrap();
    fails_naming(
        dir.path(),
        &[("--model", &empty)],
        &empty,
        "no triangle meshes",
    );
}

/// A box whose base colour texture is the file `label.png` beside it.
fn box_with_texture_file(dir: &Path) -> std::path::PathBuf {
    let material = serde_json::json!({"pbrMetallicRoughness": {"baseColorTexture": {"index": 0}}});
    crate::util::write_gltf(
        dir,
        "tex.gltf",
        &crate::util::box_mesh([0.1; 3]),
        material,
        |doc| {
            doc["textures"] = serde_json::json!([{"source": 0}]);
            doc["images"] = serde_json::json!([{"uri": "label.png"}]);
        },
    )
}

#[test]
fn model_with_a_missing_texture() {
    let dir = tempfile::tempdir().unwrap();
    let model = box_with_texture_file(dir.path());
    fails_naming(
        dir.path(),
        &[("--model", &model)],
        &model,
        "not a valid gltf",
    );
}

#[test]
fn model_with_an_undecodable_texture() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("label.png"), b"not a png").unwrap();
    let model = box_with_texture_file(dir.path());
    fails_naming(
        dir.path(),
        &[("--model", &model)],
        &model,
        "cannot use product model",
    );
}

#[test]
fn model_with_nan_positions() {
    let dir = tempfile::tempdir().unwrap();
    let mut mesh = crate::util::box_mesh([0.1; 3]);
    mesh.positions[4] = f32::NAN;
    let model = crate::util::write_gltf(dir.path(), "nan.gltf", &mesh, plain_material(), |_| {});
    fails_naming(dir.path(), &[("--model", &model)], &model, "nan");
}

#[test]
fn model_of_absurd_size() {
    let dir = tempfile::tempdir().unwrap();
    let model = crate::util::write_gltf(
        dir.path(),
        "huge.gltf",
        &crate::util::box_mesh([5.0e4; 3]),
        plain_material(),
        |_| {},
    );
    fails_naming(dir.path(), &[("--model", &model)], &model, "absurd size");
}

/// Issue 3 (fuzzing): inputs on which the gltf crates panicked now give clean errors.
#[test]
fn r3_fuzz_crashes_are_clean_errors() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for (file, needle) in [
        ("fuzz_glb_crash_position_accessor.glb", "refers to accessor"),
        ("fuzz_glb_crash_image_mime.glb", "mimetype"),
        ("fuzz_glb_crash_header_length.glb", "glb header"),
        ("fuzz_glb_crash_view_range.glb", "buffer"),
        ("fuzz_glb_crash_accessor_type.glb", "accessor"),
        ("fuzz_glb_crash_invalid_utf8.glb", "utf-8"),
        ("fuzz_glb_crash_attribute_lengths.glb", "different lengths"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join(file);
        std::fs::copy(fixtures.join(file), &model).unwrap();
        fails_naming(dir.path(), &[("--model", &model)], &model, needle);
    }
}

/// A run that fails half way (a corrupt frame in an image sequence) keeps the previous output
/// and leaves no temporary file.
#[test]
fn failure_mid_stream_keeps_the_previous_output() {
    let dir = tempfile::tempdir().unwrap();
    let pattern = demo_image_sequence(dir.path());
    let out = dir.path().join("out.mp4");
    assert_ok(&sequence_run(dir.path(), &pattern, &out, &[]));
    let before = std::fs::read(&out).unwrap();
    let broken = dir.path().join("seq/000030.png");
    std::fs::write(&broken, b"not a png").unwrap();
    let err = assert_fails(&sequence_run(dir.path(), &pattern, &out, &["--force"]));
    assert!(err.contains("000030.png"), "{err}");
    assert_eq!(
        std::fs::read(&out).unwrap(),
        before,
        "the previous output was replaced"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn a_tiff_sequence_of_a_colour_type_the_decoder_lacks_names_the_frame() {
    // FFmpeg's TIFF writer keeps a YUV 4:2:0 source as YCbCr, which the TIFF decoder refuses
    let dir = tempfile::tempdir().unwrap();
    let pattern = crate::util::demo_image_sequence_as(dir.path(), "tif");
    let first = dir.path().join("seq/000000.tif");
    let err = fails_naming(
        dir.path(),
        &[("--input", &pattern)],
        &first,
        "not a decodable image",
    );
    assert!(err.contains("TIFF or EXR"), "{err}");
}

#[test]
fn a_meshopt_file_from_gltf_transform_is_refused_naming_the_extension() {
    let dir = tempfile::tempdir().unwrap();
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/compressed/meshopt.glb");
    fails_naming(
        dir.path(),
        &[("--model", &model)],
        &model,
        "ext_meshopt_compression",
    );
}

/// Malformed compressed data is an error, never a panic: every compressed fixture with bytes
/// of its binary chunk scrambled (deterministically, 2000 variants each) loads or fails cleanly.
#[test]
fn scrambled_compressed_models_fail_without_panicking() {
    let fixtures =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/compressed");
    let mut state = 0x9e37_79b9_u32;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state
    };
    for file in ["draco.glb", "quantized.glb", "webp.glb"] {
        let original = std::fs::read(fixtures.join(file)).unwrap();
        let json_len = u32::from_le_bytes(original[12..16].try_into().unwrap()) as usize;
        let bin_start = 20 + json_len + 8;
        let (mut loaded, mut refused) = (0, 0);
        for variant in 0..2000 {
            let mut bytes = original.clone();
            let flips = 1 + variant % 8;
            for _ in 0..flips {
                let at = bin_start + next() as usize % (bytes.len() - bin_start);
                bytes[at] ^= (next() % 255 + 1) as u8;
            }
            let result = std::panic::catch_unwind(|| {
                vanelia::render::scene::ProductModel::from_slice(&bytes).is_ok()
            });
            match result {
                Ok(true) => loaded += 1,
                Ok(false) => refused += 1,
                Err(_) => panic!("{file}, variant {variant}: loading panicked"),
            }
        }
        assert_eq!(loaded + refused, 2000, "{file}");
    }
}

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use vanelia::core::FrameRate;
use vanelia::video::{MediaPath, Source};

/// The repository's bundled assets.
pub fn asset(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets")
        .join(name)
}

/// A `vanelia` command with a private XDG_RUNTIME_DIR (Mesa wants one).
pub fn vanelia_command(runtime: &Path) -> Command {
    let xdg = runtime.join("xdg");
    std::fs::create_dir_all(&xdg).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&xdg, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vanelia"));
    cmd.env("XDG_RUNTIME_DIR", xdg);
    cmd
}

/// A quiet `vanelia` command (see [`vanelia_command`]).
pub fn vanelia(runtime: &Path) -> Command {
    let mut cmd = vanelia_command(runtime);
    cmd.arg("--quiet");
    cmd
}

/// A quiet `vanelia <subcommand>`.
pub fn vanelia_sub(runtime: &Path, subcommand: &str) -> Command {
    let mut cmd = vanelia_command(runtime);
    cmd.args([subcommand, "--quiet"]);
    cmd
}

/// The main job on `input` with the bundled product and the track `poses`.
pub fn run_on(dir: &Path, input: &Path, poses: &Path, output: &Path, extra: &[&str]) -> Output {
    run_on_env(dir, input, poses, output, extra, &[])
}

/// [`run_on`] with extra environment variables for the child only.
pub fn run_on_env(
    dir: &Path,
    input: &Path,
    poses: &Path,
    output: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Output {
    let mut cmd = vanelia(dir);
    cmd.envs(env.iter().copied());
    cmd.arg("--input").arg(input);
    cmd.arg("--model").arg(asset("product.glb"));
    cmd.arg("--poses").arg(poses);
    cmd.arg("--output").arg(output).args(extra);
    cmd.output().unwrap()
}

/// Adds the bundled demo clip, product and track (`--input`, `--model`, `--poses`) to `cmd`.
pub fn demo_inputs(cmd: &mut Command) -> &mut Command {
    cmd.arg("--input")
        .arg(asset("demo.mp4"))
        .arg("--model")
        .arg(asset("product.glb"))
        .arg("--poses")
        .arg(asset("demo.poses.json"))
}

/// The main job on the demo clip with the demo track, plus `extra` arguments.
pub fn demo_run(dir: &Path, output: &Path, extra: &[&str]) -> Output {
    run_on(
        dir,
        &asset("demo.mp4"),
        &asset("demo.poses.json"),
        output,
        extra,
    )
}

/// The demo clip extracted to `dir/seq/%06d.png` (numbered from 0); returns the pattern.
pub fn demo_image_sequence(dir: &Path) -> PathBuf {
    demo_image_sequence_as(dir, "png")
}

/// The demo as numbered images of type `ext` (as FFmpeg writes it) in `dir/seq`, from 0.
pub fn demo_image_sequence_as(dir: &Path, ext: &str) -> PathBuf {
    std::fs::create_dir_all(dir.join("seq")).unwrap();
    let pattern = dir.join(format!("seq/%06d.{ext}"));
    ffmpeg(&[
        "-i",
        s(&asset("demo.mp4")),
        "-start_number",
        "0",
        s(&pattern),
    ]);
    pattern
}

/// The main job on an image sequence of the demo at its 24 fps, plus `extra` arguments.
pub fn sequence_run(dir: &Path, pattern: &Path, output: &Path, extra: &[&str]) -> Output {
    let args: Vec<&str> = ["--fps", "24"].iter().chain(extra).copied().collect();
    run_on(dir, pattern, &asset("demo.poses.json"), output, &args)
}

/// A copy of the demo track changed by `edit`, written into `dir`.
pub fn edited_demo_poses(
    dir: &Path,
    name: &str,
    edit: impl FnOnce(&mut serde_json::Value),
) -> PathBuf {
    let text = std::fs::read_to_string(asset("demo.poses.json")).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
    edit(&mut json);
    let path = dir.join(name);
    std::fs::write(&path, json.to_string()).unwrap();
    path
}

/// Asserts success and returns stderr for diagnostics.
pub fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "vanelia failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Asserts exit code 2 and returns the error text.
pub fn assert_fails(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(2),
        "expected exit 2, got {:?}: {err}",
        out.status
    );
    err
}

/// The run report written next to `output`.
pub fn report(output: &Path) -> serde_json::Value {
    let path = vanelia::run::report_path(&MediaPath::new(output));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The entry of `stage` in a report's `stages`.
pub fn stage<'a>(report: &'a serde_json::Value, stage: &str) -> &'a serde_json::Value {
    report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == stage)
        .unwrap_or_else(|| panic!("no {stage} stage in {report}"))
}

/// `(processed, reused)` of a stage in a report.
pub fn stage_counts(report: &serde_json::Value, name: &str) -> (u64, u64) {
    let s = stage(report, name);
    (
        s["frames_processed"].as_u64().unwrap(),
        s["frames_reused"].as_u64().unwrap(),
    )
}

/// Decodes every frame of a video or image sequence.
pub fn decode_all(path: &Path) -> Vec<image::RgbImage> {
    let source = Source::open(&MediaPath::new(path), FrameRate { num: 24, den: 1 }).unwrap();
    source
        .spawn_decoder(2)
        .into_iter()
        .map(|f| f.unwrap().rgb)
        .collect()
}

/// Runs the `ffmpeg` tool quietly and asserts success.
pub fn ffmpeg(args: &[&str]) {
    let status = Command::new("ffmpeg")
        .args(["-y", "-loglevel", "error"])
        .args(args)
        .status()
        .unwrap();
    assert!(status.success(), "ffmpeg {args:?} failed");
}

/// Path as &str for argument lists.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Triangle mesh data for test glTF files.
pub struct MeshSpec {
    pub positions: Vec<f32>,
    pub normals: Vec<f32>,
    pub uvs: Vec<f32>,
    pub indices: Vec<u16>,
}

/// An axis-aligned box of `half` extents centred at the origin (24 vertices, per-face normals
/// and UVs with v down, as glTF).
pub fn box_mesh(half: [f32; 3]) -> MeshSpec {
    let faces: [([f32; 3], [f32; 3], [f32; 3]); 6] = [
        ([0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]),
        ([0.0, 0.0, -1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]),
        ([1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]),
        ([-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]),
        ([0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]),
        ([0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]),
    ];
    let mut m = MeshSpec {
        positions: vec![],
        normals: vec![],
        uvs: vec![],
        indices: vec![],
    };
    for (n, u, v) in faces {
        let base = (m.positions.len() / 3) as u16;
        for (su, sv) in [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)] {
            m.positions
                .extend((0..3).map(|k| (n[k] + su * u[k] + sv * v[k]) * half[k]));
            m.normals.extend(n);
            m.uvs.extend([(su + 1.0) / 2.0, 1.0 - (sv + 1.0) / 2.0]);
        }
        m.indices
            .extend([base, base + 1, base + 2, base, base + 2, base + 3]);
    }
    m
}

/// Writes `mesh` with `material` as a .gltf with an embedded buffer; `edit` may change the
/// document before it is written.
pub fn write_gltf(
    dir: &Path,
    name: &str,
    mesh: &MeshSpec,
    material: serde_json::Value,
    edit: impl FnOnce(&mut serde_json::Value),
) -> PathBuf {
    let mut bin: Vec<u8> = Vec::new();
    let mut views = Vec::new();
    let chunks: [&[u8]; 4] = [
        bytemuck::cast_slice(&mesh.positions),
        bytemuck::cast_slice(&mesh.normals),
        bytemuck::cast_slice(&mesh.uvs),
        bytemuck::cast_slice(&mesh.indices),
    ];
    for chunk in chunks {
        views.push(
            serde_json::json!({"buffer": 0, "byteOffset": bin.len(), "byteLength": chunk.len()}),
        );
        bin.extend_from_slice(chunk);
        while !bin.len().is_multiple_of(4) {
            bin.push(0);
        }
    }
    let n = mesh.positions.len() / 3;
    let finite = |k: usize| {
        mesh.positions
            .iter()
            .skip(k)
            .step_by(3)
            .copied()
            .filter(|v| v.is_finite())
    };
    let min: Vec<f32> = (0..3)
        .map(|k| finite(k).fold(f32::INFINITY, f32::min))
        .collect();
    let max: Vec<f32> = (0..3)
        .map(|k| finite(k).fold(f32::NEG_INFINITY, f32::max))
        .collect();
    let mut doc = serde_json::json!({
        "asset": {"version": "2.0"}, "scene": 0, "scenes": [{"nodes": [0]}], "nodes": [{"mesh": 0}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0, "NORMAL": 1, "TEXCOORD_0": 2}, "indices": 3, "material": 0}]}],
        "materials": [material],
        "accessors": [
            {"bufferView": 0, "componentType": 5126, "count": n, "type": "VEC3", "min": min, "max": max},
            {"bufferView": 1, "componentType": 5126, "count": n, "type": "VEC3"},
            {"bufferView": 2, "componentType": 5126, "count": n, "type": "VEC2"},
            {"bufferView": 3, "componentType": 5123, "count": mesh.indices.len(), "type": "SCALAR"}],
        "bufferViews": views,
        "buffers": [{"byteLength": bin.len(), "uri": format!("data:application/octet-stream;base64,{}", base64(&bin))}]
    });
    edit(&mut doc);
    let path = dir.join(name);
    std::fs::write(&path, doc.to_string()).unwrap();
    path
}

/// Base64 (standard alphabet, padded), for data URIs.
pub fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    bytes
        .chunks(3)
        .flat_map(|c| {
            let n = (u32::from(c[0]) << 16)
                | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
                | u32::from(*c.get(2).unwrap_or(&0));
            (0..4).map(move |i| {
                if i <= c.len() {
                    T[(n >> (18 - 6 * i) & 63) as usize] as char
                } else {
                    '='
                }
            })
        })
        .collect()
}

/// Coverage-weighted centroid of a mask, in OpenCV pixel coordinates.
pub fn mask_centroid(mask: &image::GrayImage) -> glam::DVec2 {
    let (mut sum, mut w) = (glam::DVec2::ZERO, 0.0);
    for (x, y, p) in mask.enumerate_pixels() {
        let a = f64::from(p[0]);
        sum += glam::DVec2::new(f64::from(x), f64::from(y)) * a;
        w += a;
    }
    assert!(w > 0.0, "nothing rendered");
    sum / w
}

/// The largest difference of any channel of any pixel between two decoded clips of the same
/// length.
pub fn max_pixel_diff(a: &[image::RgbImage], b: &[image::RgbImage]) -> u8 {
    assert_eq!(a.len(), b.len(), "frame counts");
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| {
            x.as_raw()
                .iter()
                .zip(y.as_raw())
                .map(|(p, q)| p.abs_diff(*q))
        })
        .max()
        .unwrap_or(0)
}

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use vanelia::core::FrameRate;
use vanelia::video::Source;

/// The repository's bundled assets.
pub fn asset(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets")
        .join(name)
}

/// A `vanelia` command with a private XDG_RUNTIME_DIR (Mesa wants one).
pub fn vanelia(runtime: &Path) -> Command {
    let xdg = runtime.join("xdg");
    std::fs::create_dir_all(&xdg).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&xdg, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vanelia"));
    cmd.env("XDG_RUNTIME_DIR", xdg).arg("--quiet");
    cmd
}

/// The main job on `input` with the bundled product and the track `poses`.
pub fn run_on(dir: &Path, input: &Path, poses: &Path, output: &Path, extra: &[&str]) -> Output {
    let mut cmd = vanelia(dir);
    cmd.arg("--input").arg(input);
    cmd.arg("--model").arg(asset("product.glb"));
    cmd.arg("--poses").arg(poses);
    cmd.arg("--output").arg(output).args(extra);
    cmd.output().unwrap()
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
    let path = vanelia::run::report_path(output);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// `(processed, reused)` of a stage in a report.
pub fn stage_counts(report: &serde_json::Value, stage: &str) -> (u64, u64) {
    let s = report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == stage)
        .unwrap();
    (
        s["frames_processed"].as_u64().unwrap(),
        s["frames_reused"].as_u64().unwrap(),
    )
}

/// Decodes every frame of a video or image sequence.
pub fn decode_all(path: &Path) -> Vec<image::RgbImage> {
    let source = Source::open(path, FrameRate { num: 24, den: 1 }).unwrap();
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

//! Generates the bundled sample assets (run from the repository root):
//!
//! ```text
//! cargo run --release --example make_assets -- assets
//! ```
//!
//! * `demo.mp4`: 48 frames, 640x360 at 24 fps, a ray-traced textured floor, a back wall and
//!   two spheres seen by a camera moving on an arc, with a 440 Hz AAC audio track;
//! * `demo.poses.json`: the exact camera track of that clip (OpenCV convention) with scene
//!   points sampled on the visible surfaces;
//! * `product.glb`: a 10 x 22 x 7 cm box with a label texture whose top-left corner carries a
//!   yellow marker, so that mirrored renders are visible at a glance.
//!
//! The frames are encoded by the `ffmpeg` command (installed with the project's system
//! packages), which also synthesises the audio.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod glb;
mod scene;

use std::path::{Path, PathBuf};
use std::process::Command;

use rayon::prelude::*;
use vanelia::core::noise::FrameRng;
use vanelia::core::{CameraTrack, FrameNr};

fn main() {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "assets".into()));
    std::fs::create_dir_all(&out).unwrap();
    let track = scene::camera_track();
    write_video(&out.join("demo.mp4"), &track);
    let points = scene::scene_points(&track);
    CameraTrack { points, ..track }
        .write(&out.join("demo.poses.json"))
        .unwrap();
    std::fs::write(out.join("product.glb"), glb::product_box()).unwrap();
    eprintln!(
        "wrote demo.mp4, demo.poses.json and product.glb to {}",
        out.display()
    );
}

fn write_video(path: &Path, track: &CameraTrack) {
    let frames_dir = tempfile::tempdir().unwrap();
    track.poses.par_iter().enumerate().for_each(|(i, pose)| {
        let mut grain = FrameRng::new(7, FrameNr(i as u64), 0);
        let img = scene::render(pose, &mut grain);
        img.save(frames_dir.path().join(format!("{i:06}.png")))
            .unwrap();
    });
    let secs = track.poses.len() as f64 / scene::FPS;
    let status = Command::new("ffmpeg")
        .args(["-y", "-loglevel", "error", "-framerate"])
        .arg(scene::FPS.to_string())
        .arg("-i")
        .arg(frames_dir.path().join("%06d.png"))
        .args(["-f", "lavfi", "-i"])
        .arg(format!(
            "sine=frequency=440:sample_rate=48000:duration={secs}"
        ))
        .args([
            "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "20", "-preset", "medium",
        ])
        .args([
            "-c:a",
            "aac",
            "-b:a",
            "48k",
            "-movflags",
            "+faststart",
            "-shortest",
        ])
        .arg(path)
        .status()
        .expect("run ffmpeg (apt-get install ffmpeg)");
    assert!(status.success(), "ffmpeg failed");
}

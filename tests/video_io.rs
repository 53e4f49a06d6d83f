use std::process::Command;

use vanelia::core::FrameRate;
use vanelia::video::{MediaPath, Source};

use crate::util::{
    assert_ok, asset, decode_all, demo_image_sequence, ffmpeg, run_on, s, sequence_run,
};

/// Frames as the FFmpeg tool decodes them (auto-rotated), RGB24.
fn ffmpeg_frames(path: &std::path::Path, w: u32, h: u32) -> Vec<image::RgbImage> {
    let out = Command::new("ffmpeg")
        .args([
            "-loglevel",
            "error",
            "-i",
            s(path),
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout
        .chunks_exact((w * h * 3) as usize)
        .map(|c| image::RgbImage::from_raw(w, h, c.to_vec()).unwrap())
        .collect()
}

fn mean_abs_diff(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    a.as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| f64::from(x.abs_diff(*y)))
        .sum::<f64>()
        / a.as_raw().len() as f64
}

#[test]
fn decoding_matches_ffmpeg_frame_for_frame() {
    let ours = decode_all(&asset("demo.mp4"));
    let theirs = ffmpeg_frames(&asset("demo.mp4"), 640, 360);
    assert_eq!(ours.len(), 48);
    assert_eq!(theirs.len(), 48);
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        let d = mean_abs_diff(a, b);
        assert!(d < 2.0, "frame {i} differs from ffmpeg's by {d}");
    }
}

#[test]
fn rotation_metadata_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let rotated = dir.path().join("rot.mp4");
    ffmpeg(&[
        "-i",
        s(&asset("demo.mp4")),
        "-c",
        "copy",
        "-metadata:s:v:0",
        "rotate=90",
        s(&rotated),
    ]);
    let clip = Source::open(&MediaPath::new(&rotated), FrameRate { num: 1, den: 1 })
        .unwrap()
        .summary();
    assert_eq!((clip.size.width, clip.size.height), (360, 640));
    let ours = decode_all(&rotated);
    let theirs = ffmpeg_frames(&rotated, 360, 640);
    let d = mean_abs_diff(&ours[0], &theirs[0]);
    assert!(
        d < 2.0,
        "rotated frame differs from ffmpeg's auto-rotated frame by {d}"
    );
}

#[test]
fn fractional_frame_rate_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let ntsc = dir.path().join("ntsc.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=640x360:rate=30000/1001",
        "-frames:v",
        "48",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        s(&ntsc),
    ]);
    let out = dir.path().join("out.mp4");
    assert_ok(&run_on(
        dir.path(),
        &ntsc,
        &asset("demo.poses.json"),
        &out,
        &[],
    ));
    let clip = Source::open(&MediaPath::new(&out), FrameRate { num: 1, den: 1 })
        .unwrap()
        .summary();
    assert_eq!(
        clip.rate,
        FrameRate {
            num: 30000,
            den: 1001
        }
    );
    assert_eq!(clip.frame_count, 48);
    assert_eq!(clip.audio_codec, None);
}

#[test]
fn image_sequence_in_video_out() {
    let dir = tempfile::tempdir().unwrap();
    let pattern = demo_image_sequence(dir.path());
    let out = dir.path().join("out.mp4");
    assert_ok(&sequence_run(dir.path(), &pattern, &out, &[]));
    let clip = Source::open(&MediaPath::new(&out), FrameRate { num: 1, den: 1 })
        .unwrap()
        .summary();
    assert_eq!(clip.frame_count, 48);
    assert!((clip.rate.fps() - 24.0).abs() < 1e-9, "{:?}", clip.rate);
}

/// Number of audio samples and codec of the first audio stream, from ffprobe.
fn audio_of(path: &std::path::Path) -> (String, f64) {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "a:0",
            "-show_entries",
            "stream=codec_name,duration",
            "-of",
            "csv=p=0",
            s(path),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let (codec, duration) = text.trim().split_once(',').unwrap();
    (codec.to_owned(), duration.parse().unwrap())
}

#[test]
fn audio_that_mp4_cannot_hold_is_reencoded_to_aac() {
    let dir = tempfile::tempdir().unwrap();
    let pcm = dir.path().join("pcm.mov");
    ffmpeg(&[
        "-i",
        s(&asset("demo.mp4")),
        "-c:v",
        "copy",
        "-c:a",
        "pcm_s16le",
        s(&pcm),
    ]);
    assert_eq!(audio_of(&pcm).0, "pcm_s16le");
    let out = dir.path().join("out.mp4");
    assert_ok(&run_on(
        dir.path(),
        &pcm,
        &asset("demo.poses.json"),
        &out,
        &[],
    ));
    let (codec, duration) = audio_of(&out);
    assert_eq!(codec, "aac");
    assert!((duration - 2.0).abs() < 0.1, "audio lasts {duration} s");
    let report = crate::util::report(&out);
    assert!(
        report["warnings"].to_string().contains("re-encoded to AAC"),
        "{report}"
    );
}

#[test]
fn copied_audio_keeps_its_length() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mp4");
    assert_ok(&crate::util::demo_run(dir.path(), &out, &[]));
    let (src_codec, src_duration) = audio_of(&asset("demo.mp4"));
    let (codec, duration) = audio_of(&out);
    assert_eq!(codec, src_codec);
    assert!(
        (duration - src_duration).abs() < 0.03,
        "{duration} vs {src_duration}"
    );
}

/// The demo re-encoded with a key frame every 12 frames, then its first packet scrambled (as
/// a broken first slice): FFmpeg decodes the 36 frames from the second key frame on.
fn demo_with_a_broken_first_slice(dir: &std::path::Path) -> std::path::PathBuf {
    let clean = dir.join("gop12.mp4");
    ffmpeg(&[
        "-i",
        s(&asset("demo.mp4")),
        "-an",
        "-c:v",
        "libx264",
        "-g",
        "12",
        "-bf",
        "0",
        "-pix_fmt",
        "yuv420p",
        s(&clean),
    ]);
    let broken = dir.join("broken.mp4");
    ffmpeg(&[
        "-i",
        s(&clean),
        "-c",
        "copy",
        "-bsf:v",
        "noise=amount=eq(n\\,0)*2",
        s(&broken),
    ]);
    broken
}

#[test]
fn a_clip_with_a_broken_first_slice_is_the_frames_that_decode() {
    let dir = tempfile::tempdir().unwrap();
    let broken = demo_with_a_broken_first_slice(dir.path());
    let theirs = ffmpeg_frames(&broken, 640, 360);
    assert!(theirs.len() < 48 && !theirs.is_empty(), "{}", theirs.len());
    let ours = decode_all(&broken);
    assert_eq!(ours.len(), theirs.len(), "the frames FFmpeg decodes");
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        let d = mean_abs_diff(a, b);
        assert!(d < 2.0, "frame {i} differs from ffmpeg's by {d}");
    }
    // A track made by another tool on the same frames lines up: the demo track from the
    // first frame that decodes on, numbered from 0.
    let mut poses: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(asset("demo.poses.json")).unwrap()).unwrap();
    let lost = 48 - theirs.len();
    let frames: Vec<serde_json::Value> = poses["frames"].as_array().unwrap()[lost..]
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut f = f.clone();
            f["frame"] = i.into();
            f
        })
        .collect();
    poses["frames"] = frames.into();
    let track = dir.path().join("poses.json");
    std::fs::write(&track, serde_json::to_string(&poses).unwrap()).unwrap();
    let output = dir.path().join("out.mp4");
    assert_ok(&run_on(
        dir.path(),
        &broken,
        &track,
        &output,
        &["--refine", "none"],
    ));
    assert_eq!(decode_all(&output).len(), theirs.len());
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out.report.json")).unwrap())
            .unwrap();
    let warned = report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w["stage"] == "decode" && w["message"].as_str().unwrap().contains("skipped"));
    assert!(warned, "{}", report["warnings"]);
}

/// The demo as an image sequence in another format: each PNG frame rewritten by `write`.
fn demo_sequence_as(
    dir: &std::path::Path,
    ext: &str,
    write: impl Fn(&image::RgbImage, &std::path::Path),
) -> std::path::PathBuf {
    let png = demo_image_sequence(&dir.join("png"));
    let out = dir.join(ext);
    std::fs::create_dir_all(&out).unwrap();
    for n in 0..48 {
        let frame = image::open(png.parent().unwrap().join(format!("{n:06}.png")))
            .unwrap()
            .to_rgb8();
        write(&frame, &out.join(format!("{n:06}.{ext}")));
    }
    out.join(format!("%06d.{ext}"))
}

#[test]
fn tiff_linear_exr_and_webp_sequences_give_the_png_sequence_s_output() {
    let dir = tempfile::tempdir().unwrap();
    let png = demo_image_sequence(&dir.path().join("ref"));
    let reference = dir.path().join("png.mp4");
    assert_ok(&sequence_run(
        dir.path(),
        &png,
        &reference,
        &["--refine", "none"],
    ));
    // 16-bit TIFF, as compositing packages write it
    let tiff = demo_sequence_as(dir.path(), "tif", |frame, path| {
        let wide = image::ImageBuffer::<image::Rgb<u16>, Vec<u16>>::from_fn(
            frame.width(),
            frame.height(),
            |x, y| image::Rgb(frame.get_pixel(x, y).0.map(|v| u16::from(v) * 257)),
        );
        wide.save(path).unwrap();
    });
    // EXR holds scene-linear light: the frame decoded from sRGB
    let exr = demo_sequence_as(dir.path(), "exr", |frame, path| {
        let linear = image::Rgb32FImage::from_fn(frame.width(), frame.height(), |x, y| {
            image::Rgb(frame.get_pixel(x, y).0.map(vanelia::core::color::to_linear))
        });
        linear.save(path).unwrap();
    });
    // lossless WebP
    let webp = demo_sequence_as(dir.path(), "webp", |frame, path| frame.save(path).unwrap());
    let want = decode_all(&reference);
    for (name, pattern) in [("tiff", tiff), ("exr", exr), ("webp", webp)] {
        let output = dir.path().join(format!("{name}.mp4"));
        assert_ok(&sequence_run(
            dir.path(),
            &pattern,
            &output,
            &["--refine", "none"],
        ));
        let got = decode_all(&output);
        assert_eq!(got.len(), want.len());
        for (i, (a, b)) in got.iter().zip(&want).enumerate() {
            let d = mean_abs_diff(a, b);
            assert!(
                d < 0.5,
                "{name} frame {i} differs from the PNG run's by {d}"
            );
        }
    }
}

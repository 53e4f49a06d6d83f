//! COLMAP sparse models in and out. COLMAP, GLOMAP, Meshroom and other trackers export them;
//! `--poses` takes the model's folder.
//!
//! Reading (`doc/format.rst` of COLMAP): the binary model (`*.bin`) when the folder has one,
//! else the text model (`*.txt`), as COLMAP itself prefers; with the rig and frame files of
//! COLMAP 3.12 or later, the images of rigs with several cameras are those of each rig's
//! reference camera. Camera models PINHOLE, SIMPLE_PINHOLE, SIMPLE_RADIAL, RADIAL, OPENCV,
//! OPENCV_FISHEYE and FULL_OPENCV (their distortion becomes the frames' lens); others are
//! refused with the file and line.
//!
//! Images become frames by the number in their names (the last group of digits: `frame_0042.jpg`
//! is frame 41 when the numbering starts at 1, as FFmpeg's `%d` does, or frame 42 when an
//! image is numbered 0), else, when names carry no distinct numbers, by name order (then
//! every frame must have its image). Frames COLMAP could not register are interpolated from
//! their registered neighbours (rotation on the sphere, centre linearly) with a warning. A
//! model computed on resized images is scaled to the clip (same aspect only). The points give
//! the ground plane; their confidence is the inverse of their reprojection error.
//!
//! Pixel centres: COLMAP's are at +0.5 (the top-left pixel's centre is (0.5, 0.5)), vanelia's
//! at integers, so the principal point moves by half a pixel on the way in and out.

mod binary;
mod model;
mod text;
mod write;

use std::path::Path;

use glam::DMat3;

pub use model::{Camera, CameraModel};
pub use write::write;

use super::camera::{rigid, rigid_inverse, CameraPose, Intrinsics};
use super::error::{Error, Result};
use super::frame::FrameSize;
use super::track::{CameraTrack, ScenePoint};
use model::{Image, Model};

/// Where COLMAP puts a pixel's centre, relative to vanelia's.
pub(crate) const PIXEL_CENTRE: f64 = 0.5;
/// Largest difference of aspect ratio between the model's camera and the clip.
const ASPECT_TOLERANCE: f64 = 0.01;

/// Whether `path` is a folder holding a COLMAP model (text or binary).
pub fn is_model(path: &Path) -> bool {
    let has = |a: &str, b: &str| path.join(a).is_file() && path.join(b).is_file();
    path.is_dir() && (has("cameras.bin", "images.bin") || has("cameras.txt", "images.txt"))
}

/// A model read as a track, and what the user should know about it.
#[derive(Debug)]
pub struct Imported {
    /// The track, one pose per frame of the clip.
    pub track: CameraTrack,
    /// Interpolated frames, resized cameras, distortion left out, cameras left out.
    pub warnings: Vec<String>,
}

/// Reads the model in `dir` as the track of a clip of `frame_count` frames of `size`.
pub fn import(dir: &Path, frame_count: u64, size: FrameSize) -> Result<Imported> {
    if !is_model(dir) {
        return Err(Error::bad_input(
            "not a COLMAP model",
            "pass a folder with cameras, images and points3D (.bin or .txt), or a poses JSON file",
            dir,
        ));
    }
    let binary = dir.join("cameras.bin").is_file() && dir.join("images.bin").is_file();
    let (model, images_file) = if binary {
        (binary::read(dir)?, dir.join("images.bin"))
    } else {
        (text::read(dir)?, dir.join("images.txt"))
    };
    let mut warnings = Vec::new();
    let images = filming_camera_images(&model, &mut warnings);
    if images.len() < 2 {
        return Err(Error::InvalidTrack {
            detail: format!(
                "{} registered image(s); a track needs at least two",
                images.len()
            ),
            path: images_file,
        });
    }
    let frames = frame_numbers(&images, frame_count).map_err(|detail| Error::InvalidTrack {
        detail,
        path: images_file.clone(),
    })?;
    let mut registered: Vec<Option<CameraPose>> = vec![None; frame_count as usize];
    let mut scaled = false;
    for (image, frame) in images.iter().zip(frames) {
        let camera = model
            .cameras
            .get(&image.camera_id)
            .ok_or_else(|| Error::InvalidTrack {
                detail: format!(
                    "image {} uses camera {}, which the model does not have",
                    image.name, image.camera_id
                ),
                path: images_file.clone(),
            })?;
        let (intrinsics, resized) =
            intrinsics_for(camera, size).map_err(|detail| Error::InvalidTrack {
                detail: format!("camera {}: {detail}", image.camera_id),
                path: dir.join(if binary { "cameras.bin" } else { "cameras.txt" }),
            })?;
        scaled |= resized;
        let cam_from_world = rigid(&DMat3::from_quat(image.rotation), image.translation);
        registered[frame] = Some(CameraPose {
            world_from_cam: rigid_inverse(&cam_from_world),
            intrinsics,
        });
    }
    if scaled {
        warnings.push(format!(
            "the COLMAP model's cameras were computed on images of another size; their \
             intrinsics were scaled to the clip's {size}"
        ));
    }
    let (poses, interpolated) = fill_gaps(registered).ok_or_else(|| Error::InvalidTrack {
        detail: "no registered image falls within the clip".into(),
        path: images_file.clone(),
    })?;
    if !interpolated.is_empty() {
        warnings.push(format!(
            "{} frame(s) COLMAP did not register were interpolated from their neighbours: {}",
            interpolated.len(),
            ranges(&interpolated)
        ));
    }
    let points = model
        .points
        .iter()
        .map(|&(p, error)| ScenePoint {
            point_in_world: p,
            confidence: 1.0 / error.max(1e-9),
        })
        .collect();
    Ok(Imported {
        track: CameraTrack {
            size,
            poses,
            points,
            scene_depth: Default::default(),
        },
        warnings,
    })
}

/// The images of the filming camera: all of them, or with multi-camera rigs those of each
/// rig's reference camera.
fn filming_camera_images(model: &Model, warnings: &mut Vec<String>) -> Vec<Image> {
    let Some(reference) = &model.rig_reference_cameras else {
        return model.images.clone();
    };
    let kept: Vec<Image> = model
        .images
        .iter()
        .filter(|i| reference.contains(&i.camera_id))
        .cloned()
        .collect();
    if kept.len() < model.images.len() {
        warnings.push(format!(
            "the COLMAP model is of a camera rig: {} image(s) of its other cameras were left out",
            model.images.len() - kept.len()
        ));
    }
    kept
}

/// The last group of digits in a file name's stem.
fn number_in(name: &str) -> Option<u64> {
    let stem = Path::new(name).file_stem()?.to_str()?;
    let end = stem.rfind(|c: char| c.is_ascii_digit())? + 1;
    let start = stem[..end]
        .rfind(|c: char| !c.is_ascii_digit())
        .map_or(0, |i| i + 1);
    stem[start..end].parse().ok()
}

/// Each image's frame: by the numbers in the names, else by name order.
fn frame_numbers(images: &[Image], frame_count: u64) -> std::result::Result<Vec<usize>, String> {
    let numbers: Option<Vec<u64>> = images.iter().map(|i| number_in(&i.name)).collect();
    let distinct = numbers.as_ref().is_some_and(|n| {
        let set: std::collections::HashSet<_> = n.iter().collect();
        set.len() == n.len()
    });
    if let (Some(numbers), true) = (numbers, distinct) {
        let base = u64::from(!numbers.contains(&0));
        return images
            .iter()
            .zip(numbers)
            .map(|(image, n)| {
                let frame = n - base;
                if frame < frame_count {
                    Ok(frame as usize)
                } else {
                    Err(format!(
                        "image {} is frame {frame} (numbered from {base}), but the clip has {frame_count} frames",
                        image.name
                    ))
                }
            })
            .collect();
    }
    if images.len() as u64 != frame_count {
        return Err(format!(
            "the image names carry no distinct frame numbers, so images are matched to frames \
             in name order, which needs one registered image per frame: {} images for {frame_count} \
             frames",
            images.len()
        ));
    }
    let mut order: Vec<usize> = (0..images.len()).collect();
    order.sort_by(|&a, &b| images[a].name.cmp(&images[b].name));
    let mut frames = vec![0; images.len()];
    for (frame, &i) in order.iter().enumerate() {
        frames[i] = frame;
    }
    Ok(frames)
}

/// The camera's pinhole in vanelia's convention for frames of `size`, and whether it had to
/// be scaled to them.
fn intrinsics_for(
    camera: &Camera,
    size: FrameSize,
) -> std::result::Result<(Intrinsics, bool), String> {
    let (w, h) = (camera.width as f64, camera.height as f64);
    if w < 1.0 || h < 1.0 {
        return Err(format!(
            "its size {}x{} is empty",
            camera.width, camera.height
        ));
    }
    let (sx, sy) = (f64::from(size.width) / w, f64::from(size.height) / h);
    if (sx / sy - 1.0).abs() > ASPECT_TOLERANCE {
        return Err(format!(
            "its images are {}x{}, the clip's frames {size}: not the same aspect ratio",
            camera.width, camera.height
        ));
    }
    let (focal, principal) = camera.pinhole();
    if focal.iter().any(|f| *f <= 0.0) {
        return Err(format!("focal length {focal:?} is not positive"));
    }
    let intrinsics = Intrinsics {
        focal_px: [focal[0] * sx, focal[1] * sy],
        principal_px: [
            principal[0] * sx - PIXEL_CENTRE,
            principal[1] * sy - PIXEL_CENTRE,
        ],
        size,
        lens: camera.lens(),
    };
    Ok((intrinsics, sx != 1.0 || sy != 1.0))
}

/// Every frame's pose: the registered ones, the others interpolated between their nearest
/// registered neighbours (or held from the nearest one at the ends); also the frames filled.
/// `None` when no frame is registered.
fn fill_gaps(registered: Vec<Option<CameraPose>>) -> Option<(Vec<CameraPose>, Vec<usize>)> {
    let known: Vec<usize> = (0..registered.len())
        .filter(|&i| registered[i].is_some())
        .collect();
    let mut filled = Vec::new();
    let poses = (0..registered.len())
        .map(|i| {
            if registered[i].is_some() {
                return registered[i];
            }
            filled.push(i);
            let after = known.partition_point(|&k| k < i);
            let next = known.get(after).map(|&k| (k, registered[k]));
            let prev = after
                .checked_sub(1)
                .map(|a| (known[a], registered[known[a]]));
            match (prev, next) {
                (Some((ka, Some(a))), Some((kb, Some(b)))) => {
                    Some(a.interpolate(&b, (i - ka) as f64 / (kb - ka) as f64))
                }
                (Some((_, p)), None) | (None, Some((_, p))) => p,
                _ => None,
            }
        })
        .collect::<Option<Vec<_>>>()?;
    Some((poses, filled))
}

/// `1, 3-5, 9` for `[1, 3, 4, 5, 9]`.
fn ranges(frames: &[usize]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < frames.len() {
        let mut j = i;
        while j + 1 < frames.len() && frames[j + 1] == frames[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            frames[i].to_string()
        } else {
            format!("{}-{}", frames[i], frames[j])
        });
        i = j + 1;
    }
    out.join(", ")
}

#[cfg(test)]
mod tests;

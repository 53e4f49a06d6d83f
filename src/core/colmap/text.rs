//! COLMAP's text model (`doc/format.rst`, "Text Format"): `cameras.txt`, `images.txt` (two
//! lines per image, the second its 2D points, possibly empty), `points3D.txt` and, from COLMAP
//! 3.12 on, `rigs.txt`. Errors name the file and the line.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use glam::{DQuat, DVec3};

use super::model::{supported_models, Camera, CameraModel, Image, Model};
use crate::core::error::{Error, Result};

/// A file's lines with their numbers (from 1), comments dropped.
struct Lines {
    path: PathBuf,
    lines: Vec<(usize, String)>,
}

impl Lines {
    fn read(path: PathBuf) -> Result<Self> {
        let text = std::fs::read_to_string(&path).map_err(|e| Error::Io {
            op: "read COLMAP model",
            path: path.clone(),
            source: e,
        })?;
        let lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim_start().starts_with('#'))
            .map(|(i, l)| (i + 1, l.trim().to_owned()))
            .collect();
        Ok(Self { path, lines })
    }

    fn bad(&self, line: usize, detail: impl std::fmt::Display) -> Error {
        Error::InvalidTrack {
            detail: format!("line {line}: {detail}"),
            path: self.path.clone(),
        }
    }

    /// The finite number `s` on `line`.
    fn num<T: std::str::FromStr>(&self, line: usize, what: &str, s: &str) -> Result<T> {
        s.parse::<T>()
            .map_err(|_| self.bad(line, format!("{what} is not a number: \"{s}\"")))
    }

    fn float(&self, line: usize, what: &str, s: &str) -> Result<f64> {
        let v: f64 = self.num(line, what, s)?;
        if v.is_finite() {
            Ok(v)
        } else {
            Err(self.bad(line, format!("{what} is not finite: {s}")))
        }
    }
}

/// Reads the text model in `dir`.
pub fn read(dir: &Path) -> Result<Model> {
    let mut model = Model::default();
    let cameras = Lines::read(dir.join("cameras.txt"))?;
    for (n, line) in cameras.lines.iter().filter(|(_, l)| !l.is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 4 {
            return Err(cameras.bad(*n, "expected CAMERA_ID MODEL WIDTH HEIGHT PARAMS[]"));
        }
        let model_kind = CameraModel::from_name(f[1]).ok_or_else(|| {
            cameras.bad(
                *n,
                format!(
                    "camera model {} is not supported (supported: {})",
                    f[1],
                    supported_models()
                ),
            )
        })?;
        let params = f[4..]
            .iter()
            .map(|s| cameras.float(*n, "a parameter", s))
            .collect::<Result<Vec<f64>>>()?;
        if params.len() != model_kind.param_count() {
            return Err(cameras.bad(
                *n,
                format!(
                    "{} takes {} parameters, the line has {}",
                    f[1],
                    model_kind.param_count(),
                    params.len()
                ),
            ));
        }
        let camera = Camera {
            model: model_kind,
            width: cameras.num(*n, "WIDTH", f[2])?,
            height: cameras.num(*n, "HEIGHT", f[3])?,
            params,
        };
        model
            .cameras
            .insert(cameras.num(*n, "CAMERA_ID", f[0])?, camera);
    }
    model.images = read_images(&Lines::read(dir.join("images.txt"))?)?;
    let points = Lines::read(dir.join("points3D.txt"))?;
    for (n, line) in points.lines.iter().filter(|(_, l)| !l.is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 8 {
            return Err(points.bad(*n, "expected POINT3D_ID X Y Z R G B ERROR TRACK[]"));
        }
        let x = points.float(*n, "X", f[1])?;
        let y = points.float(*n, "Y", f[2])?;
        let z = points.float(*n, "Z", f[3])?;
        let error = points.float(*n, "ERROR", f[7])?;
        model.points.push((DVec3::new(x, y, z), error));
    }
    let rigs = dir.join("rigs.txt");
    if rigs.is_file() {
        model.rig_reference_cameras = read_rigs(&Lines::read(rigs)?)?;
    }
    Ok(model)
}

/// `images.txt`: an image line, then its 2D points line (which may be empty).
fn read_images(file: &Lines) -> Result<Vec<Image>> {
    let mut images = Vec::new();
    let mut rows = file.lines.iter();
    while let Some((n, line)) = rows.next() {
        if line.is_empty() {
            continue; // blank lines between records (a points line follows an image line)
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 10 {
            return Err(file.bad(
                *n,
                "expected IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME (then a line of 2D points)",
            ));
        }
        let v = f[1..8]
            .iter()
            .map(|s| file.float(*n, "a pose value", s))
            .collect::<Result<Vec<f64>>>()?;
        let q = DQuat::from_xyzw(v[1], v[2], v[3], v[0]);
        if (q.length() - 1.0).abs() > 1e-3 {
            return Err(file.bad(
                *n,
                format!(
                    "the quaternion is not a rotation (length {:.4})",
                    q.length()
                ),
            ));
        }
        images.push(Image {
            id: file.num(*n, "IMAGE_ID", f[0])?,
            rotation: q.normalize(),
            translation: DVec3::new(v[4], v[5], v[6]),
            camera_id: file.num(*n, "CAMERA_ID", f[8])?,
            name: f[9..].join(" "),
        });
        rows.next(); // its 2D points
    }
    Ok(images)
}

/// `rigs.txt`: the reference cameras of rigs with more than one sensor, if any.
fn read_rigs(file: &Lines) -> Result<Option<HashSet<u32>>> {
    let mut reference = HashSet::new();
    for (n, line) in file.lines.iter().filter(|(_, l)| !l.is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 2 {
            return Err(file.bad(
                *n,
                "expected RIG_ID NUM_SENSORS REF_SENSOR_TYPE REF_SENSOR_ID ...",
            ));
        }
        let sensors: u32 = file.num(*n, "NUM_SENSORS", f[1])?;
        if sensors > 1 {
            if f.len() < 4 || f[2] != "CAMERA" {
                return Err(file.bad(*n, "a rig's reference sensor must be a CAMERA"));
            }
            reference.insert(file.num(*n, "REF_SENSOR_ID", f[3])?);
        }
    }
    Ok((!reference.is_empty()).then_some(reference))
}

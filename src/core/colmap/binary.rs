//! COLMAP's binary model (little endian; `src/colmap/scene/reconstruction_io_binary.cc`):
//! `cameras.bin`, `images.bin`, `points3D.bin` and, from COLMAP 3.12 on, `rigs.bin`. Errors
//! name the file and the byte offset where it stops making sense.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use glam::{DQuat, DVec3};

use super::model::{supported_models, Camera, CameraModel, Image, Model};
use crate::core::error::{Error, Result};

/// COLMAP's `SensorType::CAMERA`.
const SENSOR_CAMERA: i32 = 0;
/// More records than this in a file of that size is a corrupt count, not a model.
const MIN_RECORD_BYTES: u64 = 8;

/// A binary file being read.
struct Reader {
    path: PathBuf,
    bytes: Vec<u8>,
    at: usize,
}

impl Reader {
    fn open(path: PathBuf) -> Result<Self> {
        let bytes = std::fs::read(&path).map_err(|e| Error::Io {
            op: "read COLMAP model",
            path: path.clone(),
            source: e,
        })?;
        Ok(Self { path, bytes, at: 0 })
    }

    fn bad(&self, detail: impl std::fmt::Display) -> Error {
        Error::InvalidTrack {
            detail: format!("byte {}: {detail}", self.at),
            path: self.path.clone(),
        }
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N]> {
        let end = self.at + N;
        let slice = self
            .bytes
            .get(self.at..end)
            .ok_or_else(|| self.bad("the file ends in the middle of a record (truncated?)"))?;
        let mut out = [0; N];
        out.copy_from_slice(slice);
        self.at = end;
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take::<1>()?[0])
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take()?))
    }
    fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_le_bytes(self.take()?))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take()?))
    }
    fn f64(&mut self) -> Result<f64> {
        let v = f64::from_le_bytes(self.take()?);
        if v.is_finite() {
            Ok(v)
        } else {
            Err(self.bad("a value is not finite"))
        }
    }

    /// A record count, checked against what the file can hold.
    fn count(&mut self) -> Result<u64> {
        let n = self.u64()?;
        if n > self.bytes.len() as u64 / MIN_RECORD_BYTES {
            return Err(self.bad(format!("a count of {n} records cannot fit in the file")));
        }
        Ok(n)
    }

    /// A NUL-terminated name.
    fn name(&mut self) -> Result<String> {
        let rest = self.bytes.get(self.at..).unwrap_or(&[]);
        let len = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| self.bad("an image name is not terminated"))?;
        let name = String::from_utf8_lossy(&rest[..len]).into_owned();
        self.at += len + 1;
        Ok(name)
    }

    fn skip(&mut self, bytes: u64) -> Result<()> {
        let end = usize::try_from(bytes)
            .ok()
            .and_then(|b| self.at.checked_add(b))
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| self.bad("the file ends in the middle of a record (truncated?)"))?;
        self.at = end;
        Ok(())
    }
}

/// Reads the binary model in `dir`.
pub fn read(dir: &Path) -> Result<Model> {
    let mut model = Model::default();
    let mut r = Reader::open(dir.join("cameras.bin"))?;
    for _ in 0..r.count()? {
        let id = r.u32()?;
        let model_id = r.i32()?;
        let kind = CameraModel::from_id(model_id).ok_or_else(|| {
            r.bad(format!(
                "camera model id {model_id} is not supported (supported: {})",
                supported_models()
            ))
        })?;
        let (width, height) = (r.u64()?, r.u64()?);
        let params = (0..kind.param_count())
            .map(|_| r.f64())
            .collect::<Result<Vec<f64>>>()?;
        model.cameras.insert(
            id,
            Camera {
                model: kind,
                width,
                height,
                params,
            },
        );
    }
    let mut r = Reader::open(dir.join("images.bin"))?;
    for _ in 0..r.count()? {
        let id = r.u32()?;
        let q = [r.f64()?, r.f64()?, r.f64()?, r.f64()?];
        let t = DVec3::new(r.f64()?, r.f64()?, r.f64()?);
        let rotation = DQuat::from_xyzw(q[1], q[2], q[3], q[0]);
        if (rotation.length() - 1.0).abs() > 1e-3 {
            return Err(r.bad(format!("image {id}'s quaternion is not a rotation")));
        }
        let camera_id = r.u32()?;
        let name = r.name()?;
        let points2d = r.u64()?;
        r.skip(points2d.saturating_mul(24))?; // x, y: f64; POINT3D_ID: u64
        model.images.push(Image {
            id,
            rotation: rotation.normalize(),
            translation: t,
            camera_id,
            name,
        });
    }
    let mut r = Reader::open(dir.join("points3D.bin"))?;
    for _ in 0..r.count()? {
        let _id = r.u64()?;
        let p = DVec3::new(r.f64()?, r.f64()?, r.f64()?);
        r.skip(3)?; // colour
        let error = r.f64()?;
        let track = r.u64()?;
        r.skip(track.saturating_mul(8))?; // IMAGE_ID, POINT2D_IDX: u32 each
        model.points.push((p, error));
    }
    let rigs = dir.join("rigs.bin");
    if rigs.is_file() {
        model.rig_reference_cameras = read_rigs(Reader::open(rigs)?)?;
    }
    Ok(model)
}

/// `rigs.bin`: the reference cameras of rigs with more than one sensor, if any.
fn read_rigs(mut r: Reader) -> Result<Option<HashSet<u32>>> {
    let mut reference = HashSet::new();
    for _ in 0..r.count()? {
        let _rig = r.u32()?;
        let sensors = r.u32()?;
        if sensors == 0 {
            continue;
        }
        let (kind, id) = (r.i32()?, r.u32()?);
        if sensors > 1 {
            if kind != SENSOR_CAMERA {
                return Err(r.bad("a rig's reference sensor must be a camera"));
            }
            reference.insert(id);
        }
        for _ in 1..sensors {
            let _sensor = (r.i32()?, r.u32()?);
            if r.u8()? != 0 {
                r.skip(7 * 8)?; // sensor_from_rig: quaternion and translation
            }
        }
    }
    Ok((!reference.is_empty()).then_some(reference))
}

//! A COLMAP sparse model as read from disk, before it becomes a track: cameras with their
//! model's parameters, registered images with `cam_from_world`, points with their
//! reprojection error, and the reference sensors of multi-camera rigs.

use std::collections::{HashMap, HashSet};

use glam::{DQuat, DVec3};

use crate::core::lens::Lens;

/// The camera models vanelia reads (COLMAP `src/colmap/sensor/models.h`: ids and parameter
/// order). The first four parameters of every model but the single-focal ones are
/// `fx, fy, cx, cy`; the rest are distortion coefficients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CameraModel {
    /// `f, cx, cy`
    SimplePinhole,
    /// `fx, fy, cx, cy`
    Pinhole,
    /// `f, cx, cy, k`
    SimpleRadial,
    /// `f, cx, cy, k1, k2`
    Radial,
    /// `fx, fy, cx, cy, k1, k2, p1, p2`
    OpenCv,
    /// `fx, fy, cx, cy, k1, k2, k3, k4`
    OpenCvFisheye,
    /// `fx, fy, cx, cy, k1, k2, p1, p2, k3, k4, k5, k6`
    FullOpenCv,
}

/// Every model, in COLMAP's id order.
const MODELS: [(CameraModel, &str, usize); 7] = [
    (CameraModel::SimplePinhole, "SIMPLE_PINHOLE", 3),
    (CameraModel::Pinhole, "PINHOLE", 4),
    (CameraModel::SimpleRadial, "SIMPLE_RADIAL", 4),
    (CameraModel::Radial, "RADIAL", 5),
    (CameraModel::OpenCv, "OPENCV", 8),
    (CameraModel::OpenCvFisheye, "OPENCV_FISHEYE", 8),
    (CameraModel::FullOpenCv, "FULL_OPENCV", 12),
];

/// The models vanelia reads, for error messages.
pub fn supported_models() -> String {
    MODELS.map(|m| m.1).join(", ")
}

impl CameraModel {
    /// The model of a `cameras.txt` name.
    pub fn from_name(name: &str) -> Option<Self> {
        MODELS.iter().find(|m| m.1 == name).map(|m| m.0)
    }

    /// The model of a `cameras.bin` id.
    pub fn from_id(id: i32) -> Option<Self> {
        usize::try_from(id)
            .ok()
            .and_then(|i| MODELS.get(i))
            .map(|m| m.0)
    }

    /// COLMAP's name of the model.
    pub fn name(self) -> &'static str {
        MODELS.iter().find(|m| m.0 == self).map_or("?", |m| m.1)
    }

    /// How many parameters the model has.
    pub fn param_count(self) -> usize {
        MODELS.iter().find(|m| m.0 == self).map_or(0, |m| m.2)
    }

    /// Whether the first parameter is one focal length for both axes.
    fn single_focal(self) -> bool {
        matches!(
            self,
            Self::SimplePinhole | Self::SimpleRadial | Self::Radial
        )
    }
}

/// A camera as COLMAP stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct Camera {
    /// The camera model.
    pub model: CameraModel,
    /// Image width in pixels.
    pub width: u64,
    /// Image height in pixels.
    pub height: u64,
    /// The model's parameters in COLMAP's order.
    pub params: Vec<f64>,
}

impl Camera {
    /// Focal lengths and principal point in COLMAP's pixel convention.
    pub fn pinhole(&self) -> ([f64; 2], [f64; 2]) {
        let p = &self.params;
        if self.model.single_focal() {
            ([p[0], p[0]], [p[1], p[2]])
        } else {
            ([p[0], p[1]], [p[2], p[3]])
        }
    }

    /// The lens's distortion in vanelia's terms (COLMAP's models are OpenCV's).
    pub fn lens(&self) -> Lens {
        let first = if self.model.single_focal() { 3 } else { 4 };
        let k = |i: usize| self.params.get(first + i).copied().unwrap_or(0.0);
        // COLMAP's parameters after the pinhole's, in OpenCV's order; the rest zero
        let first_n =
            |n: usize| Lens::opencv(std::array::from_fn(|i| if i < n { k(i) } else { 0.0 }));
        let lens = match self.model {
            CameraModel::SimplePinhole | CameraModel::Pinhole => Lens::Pinhole,
            CameraModel::SimpleRadial => first_n(1),
            CameraModel::Radial => first_n(2),
            CameraModel::OpenCv => first_n(4),
            CameraModel::FullOpenCv => first_n(8),
            CameraModel::OpenCvFisheye => Lens::Fisheye {
                k1: k(0),
                k2: k(1),
                k3: k(2),
                k4: k(3),
            },
        };
        if lens.is_pinhole() {
            Lens::Pinhole
        } else {
            lens
        }
    }
}

/// A registered image.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// `IMAGE_ID`.
    pub id: u32,
    /// Rotation of `cam_from_world`.
    pub rotation: DQuat,
    /// Translation of `cam_from_world`.
    pub translation: DVec3,
    /// `CAMERA_ID`.
    pub camera_id: u32,
    /// The image's file name, relative to the image folder.
    pub name: String,
}

/// A model as read.
#[derive(Debug, Clone, Default)]
pub struct Model {
    /// Cameras by id.
    pub cameras: HashMap<u32, Camera>,
    /// Registered images.
    pub images: Vec<Image>,
    /// Points and their mean reprojection error in pixels.
    pub points: Vec<(DVec3, f64)>,
    /// Cameras that are the reference sensor of a rig with several sensors; `None` when no
    /// rig has more than one (then every image is of the one filming camera).
    pub rig_reference_cameras: Option<HashSet<u32>>,
}

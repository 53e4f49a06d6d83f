//! The clip's optics besides the track, decided once before any frame is rendered: the shutter
//! (`--shutter`, else 180°: reading it from the plate's edges was tried and read 129-173° on
//! scenes filmed at 0°, 180° and 360°, see BENCHMARKS.md) and the depth of field (the lens the
//! user gave, else the one the plate's edges show by `render::defocus::estimate`, else none).
//! Cached in the work directory like the light, under a key of the input, track, placement and
//! requests.

use glam::DVec3;
use serde::{Deserialize, Serialize};

use super::clip::ClipContext;
use crate::core::Result;
use crate::render::defocus::estimate::{self, DefocusEstimate, Setup};
use crate::render::defocus::{Defocus, FocusRequest};
use crate::render::edgeblur::View;
use crate::render::motion::DEFAULT_SHUTTER_DEG;
use crate::render::occlusion::Ground;

/// Where the shutter came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShutterSource {
    /// `--shutter`.
    Given,
    /// Not given: 180°.
    Default,
}

/// The run's shutter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shutter {
    /// Shutter angle, degrees.
    pub shutter_deg: f64,
    /// Where it came from.
    pub source: ShutterSource,
}

/// The run's depth of field and where it came from (for the report).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DepthOfField {
    /// What the user asked for.
    pub request: FocusRequest,
    /// What the product is rendered with; `None` = sharp at every depth.
    pub defocus: Option<Defocus>,
    /// The disk at the product's depth in the first frame, pixels.
    pub product_coc_px: f64,
    /// The plate's evidence, when it was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<DefocusEstimate>,
}

/// Shutter and depth of field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Optics {
    /// The shutter.
    pub shutter: Shutter,
    /// The depth of field.
    pub depth_of_field: DepthOfField,
}

/// What the user asked of the optics (the cache's request).
#[derive(Serialize)]
struct Request {
    focus: FocusRequest,
    shutter_deg: Option<f64>,
}

/// The run's optics, from `--shutter` and the focus options (`focus`) and what the plate
/// shows, from the work directory's cache when it holds them for this clip.
pub(super) fn resolve(
    clip: &ClipContext<'_>,
    focus: FocusRequest,
    shutter_deg: Option<f64>,
) -> Result<Optics> {
    let request = Request { focus, shutter_deg };
    clip.cached("optics.json", &request, || read(clip, &request))
}

fn read(clip: &ClipContext<'_>, request: &Request) -> Result<Optics> {
    let track = clip.track;
    let needs_plate = matches!(request.focus, FocusRequest::Plate { .. });
    let frames = if needs_plate { clip.frames()? } else { &[] };
    let views: Vec<View<'_>> = frames
        .iter()
        .filter_map(|f| {
            let nr = f.nr.0;
            Some(View {
                rgb: &f.rgb,
                camera: track.pose(f.nr)?,
                neighbours: [
                    nr.checked_sub(1).and_then(|p| track.poses.get(p as usize)),
                    track.poses.get(nr as usize + 1),
                ],
            })
        })
        .collect();
    let ground = Ground {
        point_in_world: DVec3::from_array(clip.placement.plane_point_in_world),
        normal_in_world: DVec3::from_array(clip.placement.plane_normal_in_world),
    };
    let shutter = match request.shutter_deg {
        Some(shutter_deg) => Shutter {
            shutter_deg,
            source: ShutterSource::Given,
        },
        None => Shutter {
            shutter_deg: DEFAULT_SHUTTER_DEG,
            source: ShutterSource::Default,
        },
    };
    let depth_of_field = depth_of_field(clip, request.focus, &views, ground, shutter.shutter_deg);
    Ok(Optics {
        shutter,
        depth_of_field,
    })
}

fn depth_of_field(
    clip: &ClipContext<'_>,
    focus: FocusRequest,
    views: &[View<'_>],
    ground: Ground,
    shutter_deg: f64,
) -> DepthOfField {
    let first = &clip.track.poses[0];
    let anchor = DVec3::from_array(clip.placement.anchor_in_world);
    let product_depth_m = first.cam_from_world().transform_point3(anchor).z;
    let lens = |defocus: Option<Defocus>| DepthOfField {
        request: focus,
        defocus,
        product_coc_px: defocus.map_or(0.0, |d| d.coc_px(product_depth_m)),
        estimate: None,
    };
    match focus {
        FocusRequest::Off => lens(None),
        FocusRequest::Lens {
            focus_distance_m,
            f_number,
            sensor_width_mm,
        } => lens(Defocus::from_lens(
            focus_distance_m,
            f_number,
            sensor_width_mm,
            &first.intrinsics,
        )),
        FocusRequest::Plate { focus_distance_m } => {
            let setup = Setup {
                ground,
                shutter_open: (shutter_deg / 360.0).clamp(0.0, 1.0),
                focus_distance_m,
                product_depth_m,
            };
            let read = estimate::estimate(views, &setup);
            DepthOfField {
                estimate: Some(read.clone()),
                ..lens(read.defocus)
            }
        }
    }
}

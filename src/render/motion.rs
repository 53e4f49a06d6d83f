//! Motion blur from the track. While the shutter is open the camera moves, so a filmed product
//! is smeared along its image motion like the plate around it. The product layers are rendered
//! at sub-frame cameras spread over the shutter (centred on the frame's time; towards the
//! previous frame's camera before it, the next one's after, each interpolated with rotation on
//! the sphere and centre linearly) and averaged: colour in linear light, coverage and shadow
//! as fractions, depth as the nearest. The sample count follows the product's image motion
//! over the shutter (one per pixel of travel), so a still camera costs one render.

use glam::DVec3;
use image::{GrayImage, Luma, Rgba, RgbaImage};

use super::raster::FrameImages;
use crate::core::{color, CameraPose};

/// The shutter when neither the user nor the shot says: half the frame interval.
pub const DEFAULT_SHUTTER_DEG: f64 = 180.0;
/// Image motion, pixels, between two samples of the shutter.
const PX_PER_SAMPLE: f64 = 1.0;
/// Most samples per frame.
pub const MAX_SAMPLES: usize = 16;

/// The cameras over the shutter of the frame filmed by `at`, with its neighbours `prev` and
/// `next` (absent at the clip's ends) and a shutter of `shutter_deg` (360 = the whole frame
/// interval), as many as the motion of `probe_in_world` (points on the product) needs.
pub fn shutter_cameras(
    [prev, at, next]: [Option<&CameraPose>; 3],
    shutter_deg: f64,
    probe_in_world: &[DVec3],
) -> Vec<CameraPose> {
    let Some(at) = at else {
        return Vec::new();
    };
    let open = (shutter_deg / 360.0).clamp(0.0, 1.0);
    let camera_at = |tau: f64| match (tau < 0.0, prev, next) {
        (true, Some(p), _) => at.interpolate(p, -tau),
        (false, _, Some(n)) => at.interpolate(n, tau),
        _ => *at,
    };
    let (start, end) = (camera_at(-open / 2.0), camera_at(open / 2.0));
    let travel = |a: &CameraPose, b: &CameraPose| {
        probe_in_world
            .iter()
            .filter_map(|&p| Some(a.project_world(p)?.distance(b.project_world(p)?)))
            .fold(0.0, f64::max)
    };
    let motion_px = travel(&start, at) + travel(at, &end);
    let samples = ((motion_px / PX_PER_SAMPLE).ceil() as usize).clamp(1, MAX_SAMPLES);
    if samples == 1 {
        return vec![*at];
    }
    (0..samples)
        .map(|i| camera_at(open * ((i as f64 + 0.5) / samples as f64 - 0.5)))
        .collect()
}

/// The average of renders of one frame at its shutter's cameras.
pub fn average(samples: &[FrameImages]) -> Option<FrameImages> {
    let first = samples.first()?;
    if samples.len() == 1 {
        return Some(first.clone());
    }
    let n = samples.len() as f32;
    let (w, h) = first.rgba.dimensions();
    let rgba = RgbaImage::from_fn(w, h, |x, y| {
        let mut sum = [0.0_f32; 4];
        for s in samples {
            let p = s.rgba.get_pixel(x, y);
            for c in 0..3 {
                sum[c] += color::to_linear(p[c]);
            }
            sum[3] += f32::from(p[3]);
        }
        Rgba([
            color::to_srgb(sum[0] / n),
            color::to_srgb(sum[1] / n),
            color::to_srgb(sum[2] / n),
            (sum[3] / n).round() as u8,
        ])
    });
    let mean = |get: &dyn Fn(&FrameImages) -> &GrayImage| {
        GrayImage::from_fn(w, h, |x, y| {
            let sum: f32 = samples
                .iter()
                .map(|s| f32::from(get(s).get_pixel(x, y)[0]))
                .sum();
            Luma([(sum / n).round() as u8])
        })
    };
    let depth_m = image::ImageBuffer::from_fn(w, h, |x, y| {
        Luma([samples
            .iter()
            .map(|s| s.depth_m.get_pixel(x, y)[0])
            .fold(f32::INFINITY, f32::min)])
    });
    Some(FrameImages {
        mask: mean(&|s| &s.mask),
        shadow: mean(&|s| &s.shadow),
        rgba,
        depth_m,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{FrameSize, Intrinsics};
    use glam::DMat4;

    fn camera_at(x: f64) -> CameraPose {
        CameraPose {
            world_from_cam: DMat4::from_translation(DVec3::new(x, 0.0, 0.0)),
            intrinsics: Intrinsics {
                focal_px: [100.0, 100.0],
                principal_px: [50.0, 50.0],
                size: FrameSize {
                    width: 100,
                    height: 100,
                },
                lens: Default::default(),
            },
        }
    }

    #[test]
    fn a_still_camera_renders_once_and_a_moving_one_spreads_over_the_shutter() {
        let probe = [DVec3::new(0.0, 0.0, 2.0)];
        let still = camera_at(0.0);
        let one = shutter_cameras([Some(&still), Some(&still), Some(&still)], 180.0, &probe);
        assert_eq!(one, vec![still]);
        // 0.1 world units per frame at 2 m and f = 100 px: 5 px per frame, 2.5 px per shutter
        let (prev, at, next) = (camera_at(-0.1), camera_at(0.0), camera_at(0.1));
        let cams = shutter_cameras([Some(&prev), Some(&at), Some(&next)], 180.0, &probe);
        assert_eq!(cams.len(), 3);
        let xs: Vec<f64> = cams.iter().map(|c| c.centre_in_world().x).collect();
        // centred on the frame, stratified over a quarter interval to each side
        assert!(
            (xs[1]).abs() < 1e-12 && (xs[0] + xs[2]).abs() < 1e-12,
            "{xs:?}"
        );
        assert!((xs[2] - 0.1 / 6.0).abs() < 1e-12, "{xs:?}");
        // a closed shutter is sharp
        assert_eq!(
            shutter_cameras([Some(&prev), Some(&at), Some(&next)], 0.0, &probe).len(),
            1
        );
    }

    #[test]
    fn averaging_mixes_colour_in_linear_light() {
        let frame = |v: u8, a: u8| FrameImages {
            rgba: RgbaImage::from_pixel(2, 1, Rgba([v, v, v, a])),
            mask: GrayImage::from_pixel(2, 1, Luma([a])),
            shadow: GrayImage::from_pixel(2, 1, Luma([255 - a])),
            depth_m: image::ImageBuffer::from_pixel(
                2,
                1,
                Luma([if a > 0 { 2.0 } else { f32::INFINITY }]),
            ),
        };
        let avg = average(&[frame(255, 255), frame(0, 0)]).unwrap();
        let p = avg.rgba.get_pixel(0, 0);
        assert_eq!(p[0], color::to_srgb(0.5)); // half of linear white, not sRGB 128
        assert_eq!(p[3], 128);
        assert_eq!(avg.mask.get_pixel(0, 0)[0], 128);
        assert_eq!(avg.shadow.get_pixel(0, 0)[0], 128);
        assert_eq!(avg.depth_m.get_pixel(0, 0)[0], 2.0);
    }
}

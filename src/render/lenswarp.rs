//! Lens distortion of the product layers. The GPU renders through a pinhole; a real lens bends
//! straight lines. So a distorted clip's product is rendered on an undistorted canvas that
//! covers the frame's whole distorted field of view (its border undistorted, plus a margin),
//! and each frame pixel takes the canvas where its ray lands: the pixel's normalised
//! coordinates undistorted (`Lens::undistort`, the exact inverse of the lens model) and
//! projected through the pinhole. That is the inverse of what undistorting the plate would do,
//! so the product bends like the plate.

use glam::DVec2;
use image::{GrayImage, Luma, Rgba, RgbaImage};

use super::raster::FrameImages;
use crate::core::lens::Lens;
use crate::core::{color, CameraPose, FrameSize, Intrinsics};

/// Pixels of canvas around the undistorted border.
const MARGIN_PX: f64 = 2.0;
/// Largest canvas side, in frame sides (a strong fisheye's far field is left out).
const MAX_CANVAS: f64 = 3.0;

/// The canvas of a distorted lens and where each frame pixel samples it.
pub struct LensWarp {
    canvas: FrameSize,
    /// Canvas pixel = pinhole pixel − offset.
    offset: DVec2,
    /// The intrinsics the map was made for.
    intrinsics: Intrinsics,
    /// Canvas position of each frame pixel (row-major).
    map: Vec<DVec2>,
}

impl LensWarp {
    /// The warp of `intrinsics`; `None` for a pinhole lens.
    pub fn new(intrinsics: &Intrinsics) -> Option<Self> {
        if intrinsics.lens.is_pinhole() {
            return None;
        }
        let size = intrinsics.size;
        let (w, h) = (f64::from(size.width), f64::from(size.height));
        let border = (0..size.width)
            .flat_map(|x| [(f64::from(x), 0.0), (f64::from(x), h - 1.0)])
            .chain((0..size.height).flat_map(|y| [(0.0, f64::from(y)), (w - 1.0, f64::from(y))]));
        let (mut lo, mut hi) = (DVec2::splat(f64::INFINITY), DVec2::splat(f64::NEG_INFINITY));
        for (x, y) in border {
            let p = pinhole_pixel(intrinsics, DVec2::new(x, y));
            lo = lo.min(p);
            hi = hi.max(p);
        }
        let limit = DVec2::new(w, h) * MAX_CANVAS;
        let centre = DVec2::new(w, h) / 2.0;
        lo = lo.max(centre - limit / 2.0) - MARGIN_PX;
        hi = hi.min(centre + limit / 2.0) + MARGIN_PX;
        let offset = lo.floor();
        let extent = (hi - offset).ceil();
        let canvas = FrameSize {
            width: extent.x.max(1.0) as u32,
            height: extent.y.max(1.0) as u32,
        };
        Some(Self {
            canvas,
            offset,
            intrinsics: *intrinsics,
            map: map_of(intrinsics, offset),
        })
    }

    /// The canvas's size (the renderer's target size).
    pub fn canvas(&self) -> FrameSize {
        self.canvas
    }

    /// The pinhole camera that renders the canvas of a frame filmed by `camera`.
    pub fn canvas_camera(&self, camera: &CameraPose) -> CameraPose {
        let i = &camera.intrinsics;
        CameraPose {
            world_from_cam: camera.world_from_cam,
            intrinsics: Intrinsics {
                focal_px: i.focal_px,
                principal_px: [
                    i.principal_px[0] - self.offset.x,
                    i.principal_px[1] - self.offset.y,
                ],
                size: self.canvas,
                lens: Lens::Pinhole,
            },
        }
    }

    /// The frame's images (through the lens of `intrinsics`) from the canvas's.
    pub fn warp(&self, canvas: &FrameImages, intrinsics: &Intrinsics) -> FrameImages {
        let owned;
        let map = if *intrinsics == self.intrinsics {
            &self.map
        } else {
            owned = map_of(intrinsics, self.offset);
            &owned
        };
        let size = intrinsics.size;
        let at = |x: u32, y: u32| map[(y * size.width + x) as usize];
        let sampler = Sampler { images: canvas };
        FrameImages {
            rgba: RgbaImage::from_fn(size.width, size.height, |x, y| sampler.rgba(at(x, y))),
            mask: GrayImage::from_fn(size.width, size.height, |x, y| {
                Luma([sampler.gray(&canvas.mask, at(x, y), 0.0)])
            }),
            shadow: GrayImage::from_fn(size.width, size.height, |x, y| {
                Luma([sampler.gray(&canvas.shadow, at(x, y), 255.0)])
            }),
            depth_m: image::ImageBuffer::from_fn(size.width, size.height, |x, y| {
                Luma([sampler.depth(at(x, y))])
            }),
        }
    }
}

/// Where a frame pixel's ray lands through the pinhole with the same focal length and
/// principal point (`pixel_of` takes normalised coordinates as they are).
fn pinhole_pixel(intrinsics: &Intrinsics, pixel: DVec2) -> DVec2 {
    intrinsics.pixel_of(intrinsics.unproject(pixel).truncate())
}

fn map_of(intrinsics: &Intrinsics, offset: DVec2) -> Vec<DVec2> {
    let size = intrinsics.size;
    (0..size.height)
        .flat_map(|y| (0..size.width).map(move |x| (x, y)))
        .map(|(x, y)| pinhole_pixel(intrinsics, DVec2::new(f64::from(x), f64::from(y))) - offset)
        .collect()
}

/// Bilinear samples of the canvas (pixel centres at integers).
struct Sampler<'a> {
    images: &'a FrameImages,
}

impl Sampler<'_> {
    /// The four neighbours and their weights; `None` outside the canvas.
    fn taps(&self, p: DVec2) -> Option<[((u32, u32), f32); 4]> {
        let (w, h) = self.images.rgba.dimensions();
        let (x0, y0) = (p.x.floor(), p.y.floor());
        if x0 < 0.0 || y0 < 0.0 || x0 + 1.0 > f64::from(w - 1) || y0 + 1.0 > f64::from(h - 1) {
            return None;
        }
        let (fx, fy) = ((p.x - x0) as f32, (p.y - y0) as f32);
        let (x, y) = (x0 as u32, y0 as u32);
        Some([
            ((x, y), (1.0 - fx) * (1.0 - fy)),
            ((x + 1, y), fx * (1.0 - fy)),
            ((x, y + 1), (1.0 - fx) * fy),
            ((x + 1, y + 1), fx * fy),
        ])
    }

    /// Premultiplied colour, interpolated in linear light.
    fn rgba(&self, p: DVec2) -> Rgba<u8> {
        let Some(taps) = self.taps(p) else {
            return Rgba([0; 4]);
        };
        let mut sum = [0.0_f32; 4];
        for ((x, y), wgt) in taps {
            let v = self.images.rgba.get_pixel(x, y);
            for c in 0..3 {
                sum[c] += wgt * color::to_linear(v[c]);
            }
            sum[3] += wgt * f32::from(v[3]);
        }
        Rgba([
            color::to_srgb(sum[0]),
            color::to_srgb(sum[1]),
            color::to_srgb(sum[2]),
            sum[3].round().clamp(0.0, 255.0) as u8,
        ])
    }

    fn gray(&self, plane: &GrayImage, p: DVec2, outside: f32) -> u8 {
        let v = self.taps(p).map_or(outside, |taps| {
            taps.iter()
                .map(|&((x, y), wgt)| wgt * f32::from(plane.get_pixel(x, y)[0]))
                .sum()
        });
        v.round().clamp(0.0, 255.0) as u8
    }

    /// The nearest sample's depth.
    fn depth(&self, p: DVec2) -> f32 {
        let (w, h) = self.images.depth_m.dimensions();
        let (x, y) = (p.x.round(), p.y.round());
        if x < 0.0 || y < 0.0 || x >= f64::from(w) || y >= f64::from(h) {
            return f32::INFINITY;
        }
        self.images.depth_m.get_pixel(x as u32, y as u32)[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glam::{DMat4, DVec3};

    fn intrinsics(lens: Lens) -> Intrinsics {
        Intrinsics {
            focal_px: [300.0, 310.0],
            principal_px: [161.3, 118.7],
            size: FrameSize {
                width: 320,
                height: 240,
            },
            lens,
        }
    }

    fn barrel() -> Lens {
        Lens::opencv([-0.3, 0.08, 0.002, -0.001, 0.0, 0.0, 0.0, 0.0])
    }

    /// A canvas with a disc of radius 3 px at `centre` (white, opaque, depth 2 m).
    fn disc(size: FrameSize, centre: DVec2) -> FrameImages {
        let inside =
            |x: u32, y: u32| DVec2::new(f64::from(x), f64::from(y)).distance(centre) <= 3.0;
        FrameImages {
            rgba: RgbaImage::from_fn(size.width, size.height, |x, y| {
                Rgba(if inside(x, y) { [255; 4] } else { [0; 4] })
            }),
            mask: GrayImage::from_fn(size.width, size.height, |x, y| {
                Luma([if inside(x, y) { 255 } else { 0 }])
            }),
            shadow: GrayImage::from_pixel(size.width, size.height, Luma([255])),
            depth_m: image::ImageBuffer::from_fn(size.width, size.height, |x, y| {
                Luma([if inside(x, y) { 2.0 } else { f32::INFINITY }])
            }),
        }
    }

    fn centroid(mask: &GrayImage) -> DVec2 {
        let (mut sum, mut total) = (DVec2::ZERO, 0.0);
        for (x, y, p) in mask.enumerate_pixels() {
            let w = f64::from(p[0]);
            sum += DVec2::new(f64::from(x), f64::from(y)) * w;
            total += w;
        }
        sum / total
    }

    #[test]
    fn a_point_lands_where_the_lens_projects_it() {
        let frame = intrinsics(barrel());
        let warp = LensWarp::new(&frame).unwrap();
        let camera = CameraPose {
            world_from_cam: DMat4::IDENTITY,
            intrinsics: frame,
        };
        let canvas_camera = warp.canvas_camera(&camera);
        // barrel distortion: the canvas reaches beyond the frame
        assert!(
            warp.canvas().width > 320 && warp.canvas().height > 240,
            "{:?}",
            warp.canvas()
        );
        for point in [
            DVec3::new(0.0, 0.0, 2.0),
            DVec3::new(0.9, 0.6, 2.0),
            DVec3::new(-0.95, -0.7, 2.0),
            DVec3::new(-0.4, 0.75, 2.0),
        ] {
            let on_canvas = canvas_camera.intrinsics.project(point).unwrap();
            let canvas = disc(warp.canvas(), on_canvas);
            // where the lens puts the ray through the drawn disc's centre (its pixels' centroid)
            let drawn = canvas_camera.intrinsics.unproject(centroid(&canvas.mask));
            let want = frame.project(drawn).unwrap();
            let images = warp.warp(&canvas, &frame);
            let got = centroid(&images.mask);
            // a disc's centroid moves by the lens's curvature over its radius: well under 0.1 px
            assert!(got.distance(want) < 0.1, "{point}: {got} against {want}");
            assert_eq!(
                images
                    .depth_m
                    .get_pixel(want.x.round() as u32, want.y.round() as u32)[0],
                2.0
            );
        }
    }

    #[test]
    fn a_pinhole_needs_no_warp() {
        assert!(LensWarp::new(&intrinsics(Lens::Pinhole)).is_none());
    }
}

//! Frames to network input, as DUSt3R's `load_images`: resize so the long side is the network
//! size (Lanczos when shrinking, bicubic otherwise), centre-crop to whole 16-pixel patches,
//! scale to [−1, 1].
//!
//! Reference: dust3r `utils/image.py::{load_images, _resize_pil_image}`, naver/dust3r 4c24a6e
//! (identical in mini-dust3r 0.1.2); Pillow 13.0.0 `libImaging/Resample.c` for the filters (the
//! goldens' version; see `pil` for where older Pillow differs).
//!
//! [`PreprocessGeometry`] is the size arithmetic alone, kept because the network's intrinsics
//! live on the cropped grid and must be mapped back to the decoded frame
//! ([`PreprocessGeometry::network_to_source`]). The resampler is a port of Pillow's 8-bit
//! separable convolution (same coefficients, same 22-bit fixed point, same rounding of the
//! intermediate rows), so pictures match the reference byte for byte rather than within the
//! few levels another Lanczos would give.

use candle_core::{Device, Tensor};
use glam::DVec2;
use image::RgbImage;

use crate::core::{Error, Frame, FrameNr, FrameSize, Intrinsics, Result};

mod pil;

use pil::Window;

/// Side of the network's square patches in pixels (every released DUSt3R checkpoint).
pub const PATCH_SIZE_PX: u32 = 16;

/// The size at which `load_images` switches to the square crop of the 224 models.
const SQUARE_MODEL_SIZE_PX: u32 = 224;

/// How a resize samples the source; chosen as the reference does (Lanczos when the long side
/// shrinks, bicubic when it grows or stays).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResampleFilter {
    /// Pillow `LANCZOS`: windowed sinc, support 3, widened by the scale when shrinking.
    Lanczos3,
    /// Pillow `BICUBIC`: Keys cubic with a = −0.5, support 2.
    Bicubic,
}

/// Where a frame's pixels go on the way to the network: a resize to `resized`, then a crop of
/// `network` pixels whose top-left corner is `crop_origin_px` in the resized picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreprocessGeometry {
    /// The decoded frame.
    pub source: FrameSize,
    /// The frame after resizing, before the crop.
    pub resized: FrameSize,
    /// Top-left corner `[x, y]` of the crop in resized pixels.
    pub crop_origin_px: [u32; 2],
    /// The network input (the crop): whole patches on both sides.
    pub network: FrameSize,
    /// The resize filter.
    pub filter: ResampleFilter,
}

impl PreprocessGeometry {
    /// The geometry `load_images(size = size_px, square_ok = False)` gives a `source` frame.
    ///
    /// `size_px` is the network's long side (512 for the released models) and must be a
    /// multiple of [`PATCH_SIZE_PX`]; 224 selects the reference's square crop (short side
    /// resized to 224). Errors when the crop would hold no whole patch.
    pub fn new(source: FrameSize, size_px: u32) -> Result<Self> {
        if size_px == 0 || !size_px.is_multiple_of(PATCH_SIZE_PX) {
            return Err(Error::InvalidArgument {
                name: "pose input size",
                detail: format!(
                    "{size_px} is not a positive multiple of the {PATCH_SIZE_PX}-pixel patch; \
                     use 512 (or 224 for the 224 models)"
                ),
            });
        }
        if source.width == 0 || source.height == 0 {
            return Err(too_small(source, size_px, "the frame is empty"));
        }
        let (w, h) = (f64::from(source.width), f64::from(source.height));
        let long_px = if size_px == SQUARE_MODEL_SIZE_PX {
            // `round(size * max(W1 / H1, H1 / W1))`: the short side lands on 224
            round_half_even(f64::from(size_px) * (w / h).max(h / w))
        } else {
            size_px
        };
        let source_long_px = source.width.max(source.height);
        let resized = FrameSize {
            width: round_half_even(w * f64::from(long_px) / f64::from(source_long_px)),
            height: round_half_even(h * f64::from(long_px) / f64::from(source_long_px)),
        };
        let filter = if source_long_px > long_px {
            ResampleFilter::Lanczos3
        } else {
            ResampleFilter::Bicubic
        };
        let (cx, cy) = (resized.width / 2, resized.height / 2);
        let (half_w, half_h) = if size_px == SQUARE_MODEL_SIZE_PX {
            let half = cx.min(cy);
            (half, half)
        } else {
            // `((2 * cx) // 16) * 8`: as many whole patches as fit, centred
            let half_w = (2 * cx / PATCH_SIZE_PX) * (PATCH_SIZE_PX / 2);
            let half_h = (2 * cy / PATCH_SIZE_PX) * (PATCH_SIZE_PX / 2);
            // Square frames become 4:3 (`square_ok=False`); half_w is a multiple of 8, so the
            // reference's float `3 * halfw / 4` is this integer exactly.
            let half_h = if resized.width == resized.height {
                3 * half_w / 4
            } else {
                half_h
            };
            (half_w, half_h)
        };
        let network = FrameSize {
            width: 2 * half_w,
            height: 2 * half_h,
        };
        if network.width < PATCH_SIZE_PX || network.height < PATCH_SIZE_PX {
            return Err(too_small(source, size_px, "the crop holds no whole patch"));
        }
        if !network.width.is_multiple_of(PATCH_SIZE_PX)
            || !network.height.is_multiple_of(PATCH_SIZE_PX)
        {
            // only square frames get here (their 4:3 crop is 3·S/4 high)
            return Err(Error::InvalidArgument {
                name: "pose input size",
                detail: format!(
                    "a {source} frame at size {size_px} gives a {network} crop, which is not \
                     whole {PATCH_SIZE_PX}-pixel patches; square frames need a multiple of 64"
                ),
            });
        }
        Ok(Self {
            source,
            resized,
            crop_origin_px: [cx - half_w, cy - half_h],
            network,
            filter,
        })
    }

    /// The reference's `true_shape`: `[height, width]` of the network input.
    pub fn true_shape(&self) -> [u32; 2] {
        [self.network.height, self.network.width]
    }

    /// Resized pixels per source pixel, per axis (they differ slightly: both sides are rounded).
    pub fn resize_factor(&self) -> [f64; 2] {
        [
            f64::from(self.resized.width) / f64::from(self.source.width),
            f64::from(self.resized.height) / f64::from(self.source.height),
        ]
    }

    /// A source pixel position to the network grid (pixel centres at integers on both).
    ///
    /// A resize by `s` maps the centre of source pixel `u` to `(u + 0.5)·s − 0.5` (Pillow
    /// samples output pixel `i` at source position `(i + 0.5)/s` in edge coordinates); the
    /// crop then subtracts its origin.
    pub fn source_px_to_network_px(&self, point_in_source_px: DVec2) -> DVec2 {
        let s = DVec2::from(self.resize_factor());
        let origin = DVec2::new(
            f64::from(self.crop_origin_px[0]),
            f64::from(self.crop_origin_px[1]),
        );
        (point_in_source_px + 0.5) * s - 0.5 - origin
    }

    /// Inverse of [`Self::source_px_to_network_px`].
    pub fn network_px_to_source_px(&self, point_in_network_px: DVec2) -> DVec2 {
        let s = DVec2::from(self.resize_factor());
        let origin = DVec2::new(
            f64::from(self.crop_origin_px[0]),
            f64::from(self.crop_origin_px[1]),
        );
        (point_in_network_px + origin + 0.5) / s - 0.5
    }

    /// Intrinsics on the network grid (what global alignment estimates) to intrinsics of the
    /// decoded frame: focal divided by the per-axis resize factor, principal point mapped as a
    /// point. Exact: a camera point projects to corresponding pixels on both grids.
    pub fn network_to_source(&self, network: &Intrinsics) -> Intrinsics {
        let [sx, sy] = self.resize_factor();
        let principal = self.network_px_to_source_px(DVec2::from(network.principal_px));
        Intrinsics {
            focal_px: [network.focal_px[0] / sx, network.focal_px[1] / sy],
            principal_px: principal.to_array(),
            size: self.source,
            lens: Default::default(),
        }
    }

    /// Intrinsics of the decoded frame to the network grid (e.g. a known focal to preset).
    pub fn source_to_network(&self, source: &Intrinsics) -> Intrinsics {
        let [sx, sy] = self.resize_factor();
        let principal = self.source_px_to_network_px(DVec2::from(source.principal_px));
        Intrinsics {
            focal_px: [source.focal_px[0] * sx, source.focal_px[1] * sy],
            principal_px: principal.to_array(),
            size: self.network,
            lens: Default::default(),
        }
    }

    /// The network's picture of `rgb`: resized with Pillow's filter, then cropped. Only the
    /// cropped pixels are computed (each output pixel depends on its own coefficients alone,
    /// so this equals resize-then-crop exactly).
    pub fn apply(&self, rgb: &RgbImage) -> Result<RgbImage> {
        let (w, h) = rgb.dimensions();
        if (w, h) != (self.source.width, self.source.height) {
            return Err(Error::InvalidArgument {
                name: "frame size",
                detail: format!(
                    "a {w}x{h} frame cannot use the preprocessing computed for {}",
                    self.source
                ),
            });
        }
        let window = Window {
            x0: self.crop_origin_px[0] as usize,
            y0: self.crop_origin_px[1] as usize,
            width: self.network.width as usize,
            height: self.network.height as usize,
        };
        let out_size = (self.resized.width as usize, self.resized.height as usize);
        let data = pil::resample_window(rgb, out_size, window, self.filter);
        RgbImage::from_raw(self.network.width, self.network.height, data).ok_or_else(|| {
            // the resampler writes exactly width·height·3 bytes
            Error::InvalidArgument {
                name: "frame size",
                detail: "internal resampler size mismatch".into(),
            }
        })
    }
}

fn too_small(source: FrameSize, size_px: u32, why: &str) -> Error {
    Error::InvalidArgument {
        name: "frame size",
        detail: format!(
            "a {source} frame resized for the {size_px}-pixel pose network is too small or too \
             elongated ({why}); crop the video closer to 4:3 or use a larger pose input size"
        ),
    }
}

/// Python's `int(round(x))` for non-negative x: ties go to the even integer.
fn round_half_even(x: f64) -> u32 {
    x.round_ties_even() as u32
}

/// One frame ready for the network.
#[derive(Debug, Clone)]
pub struct PoseInput {
    /// The frame it came from.
    pub nr: FrameNr,
    /// How it was resized and cropped.
    pub geometry: PreprocessGeometry,
    /// The cropped 8-bit picture (`network` size).
    pub rgb: RgbImage,
}

impl PoseInput {
    /// Preprocesses one frame for a network of long side `size_px` (see
    /// [`PreprocessGeometry::new`]).
    pub fn from_frame(frame: &Frame, size_px: u32) -> Result<Self> {
        let (width, height) = frame.rgb.dimensions();
        let geometry = PreprocessGeometry::new(FrameSize { width, height }, size_px)?;
        Ok(Self {
            nr: frame.nr,
            rgb: geometry.apply(&frame.rgb)?,
            geometry,
        })
    }

    /// The picture as the network's input, (1, 3, H, W) f32 in [−1, 1].
    pub fn to_tensor(&self, device: &Device) -> candle_core::Result<Tensor> {
        to_network_tensor(&[&self.rgb], device)
    }
}

/// Stacks pictures of one size into the network's input, (B, 3, H, W) f32:
/// `(u8 / 255 − 0.5) / 0.5`, computed in f32 in the reference's order (torchvision `ToTensor`
/// then `Normalize`), so values equal the reference's bit for bit.
pub fn to_network_tensor(pictures: &[&RgbImage], device: &Device) -> candle_core::Result<Tensor> {
    let Some(first) = pictures.first() else {
        candle_core::bail!("no pictures to stack");
    };
    let (w, h) = first.dimensions();
    if let Some(other) = pictures.iter().find(|p| p.dimensions() != (w, h)) {
        let (ow, oh) = other.dimensions();
        candle_core::bail!("cannot batch a {ow}x{oh} picture with {w}x{h} ones");
    }
    let plane = (w * h) as usize;
    let mut data = vec![0.0_f32; pictures.len() * 3 * plane];
    for (picture, chw) in pictures.iter().zip(data.chunks_exact_mut(3 * plane)) {
        for (i, px) in picture.pixels().enumerate() {
            for (c, &v) in px.0.iter().enumerate() {
                chw[c * plane + i] = (f32::from(v) / 255.0 - 0.5) / 0.5;
            }
        }
    }
    Tensor::from_vec(data, (pictures.len(), 3, h as usize, w as usize), device)
}

#[cfg(test)]
mod tests {
    use glam::DVec3;

    use super::*;

    fn size(width: u32, height: u32) -> FrameSize {
        FrameSize { width, height }
    }

    #[test]
    fn geometry_matches_the_reference_examples() {
        // (source, S, resized, network): spec §2 and golden README §8.6
        let cases = [
            ((1920, 1080), 512, (512, 288), (512, 288)),
            ((640, 480), 512, (512, 384), (512, 384)),
            ((100, 70), 64, (64, 45), (64, 32)),
            ((200, 200), 64, (64, 64), (64, 48)),
            ((600, 400), 512, (512, 341), (512, 336)),
            ((300, 500), 512, (307, 512), (304, 512)),
            ((90, 60), 224, (336, 224), (224, 224)),
            ((250, 180), 224, (311, 224), (224, 224)),
        ];
        for ((w, h), s, (rw, rh), (nw, nh)) in cases {
            let g = PreprocessGeometry::new(size(w, h), s).unwrap();
            assert_eq!(g.resized, size(rw, rh), "{w}x{h}@{s}");
            assert_eq!(g.network, size(nw, nh), "{w}x{h}@{s}");
            assert_eq!(g.true_shape(), [nh, nw]);
            // centred as the reference: origin = (W'//2 − half, H'//2 − half)
            assert_eq!(g.crop_origin_px, [rw / 2 - nw / 2, rh / 2 - nh / 2]);
        }
    }

    #[test]
    fn filter_is_lanczos_only_when_the_long_side_shrinks() {
        let f = |w, h, s| PreprocessGeometry::new(size(w, h), s).unwrap().filter;
        assert_eq!(f(1920, 1080, 512), ResampleFilter::Lanczos3);
        assert_eq!(f(512, 384, 512), ResampleFilter::Bicubic);
        assert_eq!(f(300, 500, 512), ResampleFilter::Bicubic);
        // 224: the target is the long side after resizing (336, 448, 448 here), not 224
        assert_eq!(f(300, 200, 224), ResampleFilter::Bicubic);
        assert_eq!(f(400, 200, 224), ResampleFilter::Bicubic);
        assert_eq!(f(1000, 500, 224), ResampleFilter::Lanczos3);
    }

    #[test]
    fn rounding_is_half_even_as_python() {
        assert_eq!(round_half_even(44.5), 44);
        assert_eq!(round_half_even(45.5), 46);
        // 90x60 at 60: 90·60/90 exact, 60·60/90 = 40; 70x50 at 64: 50·64/70 = 45.71 → 46
        let g = PreprocessGeometry::new(size(70, 50), 64).unwrap();
        assert_eq!(g.resized, size(64, 46));
    }

    #[test]
    fn bad_sizes_are_errors() {
        assert!(PreprocessGeometry::new(size(640, 480), 500).is_err());
        assert!(PreprocessGeometry::new(size(640, 480), 0).is_err());
        assert!(PreprocessGeometry::new(size(0, 480), 512).is_err());
        // square at 80: 80x60 crop, not whole patches (the reference would fail in the network)
        let err = PreprocessGeometry::new(size(200, 200), 80).unwrap_err();
        assert!(err.to_string().contains("multiple of 64"), "{err}");
        // 2000x20 at 512 → 512x5: no whole patch vertically
        let err = PreprocessGeometry::new(size(2000, 20), 512).unwrap_err();
        assert!(err.to_string().contains("too small"), "{err}");
        let g = PreprocessGeometry::new(size(64, 48), 64).unwrap();
        assert!(g.apply(&RgbImage::new(48, 64)).is_err());
    }

    #[test]
    fn intrinsics_map_back_exactly() {
        for ((w, h), s) in [((1920, 1080), 512), ((300, 500), 512), ((250, 180), 224)] {
            let g = PreprocessGeometry::new(size(w, h), s).unwrap();
            let net = Intrinsics {
                focal_px: [410.0, 405.5],
                principal_px: [f64::from(g.network.width) / 2.0 - 3.25, 100.75],
                size: g.network,
                lens: Default::default(),
            };
            let src = g.network_to_source(&net);
            assert_eq!(src.size, g.source);
            for p in [DVec3::new(0.3, -0.2, 2.0), DVec3::new(-1.0, 0.7, 5.5)] {
                let on_net = net.project(p).unwrap();
                let on_src = src.project(p).unwrap();
                let mapped = g.network_px_to_source_px(on_net);
                assert!(
                    (mapped - on_src).length() < 1e-9,
                    "{w}x{h}: {mapped} vs {on_src}"
                );
                let back = g.source_px_to_network_px(on_src);
                assert!((back - on_net).length() < 1e-9);
            }
            let round_trip = g.source_to_network(&src);
            assert!((DVec2::from(round_trip.focal_px) - DVec2::from(net.focal_px)).length() < 1e-9);
            assert!(
                (DVec2::from(round_trip.principal_px) - DVec2::from(net.principal_px)).length()
                    < 1e-9
            );
        }
    }

    #[test]
    fn resize_maps_pixel_centres_as_pillow() {
        // halving: network pixel 0 covers source pixels 0 and 1, centre 0.5
        let g = PreprocessGeometry::new(size(128, 96), 64).unwrap();
        assert_eq!(g.crop_origin_px, [0, 0]);
        let p = g.network_px_to_source_px(DVec2::ZERO);
        assert!((p - DVec2::splat(0.5)).length() < 1e-12);
    }

    #[test]
    fn tensor_is_normalised_chw() {
        let mut a = RgbImage::new(2, 1);
        a.put_pixel(0, 0, image::Rgb([0, 255, 51]));
        a.put_pixel(1, 0, image::Rgb([102, 153, 204]));
        let b = RgbImage::from_pixel(2, 1, image::Rgb([255, 0, 0]));
        let t = to_network_tensor(&[&a, &b], &Device::Cpu).unwrap();
        assert_eq!(t.dims(), &[2, 3, 1, 2]);
        let v: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
        let n = |u: u8| (f32::from(u) / 255.0 - 0.5) / 0.5;
        assert_eq!(&v[..6], &[n(0), n(102), n(255), n(153), n(51), n(204)]);
        assert_eq!(&v[6..], &[1.0, 1.0, -1.0, -1.0, -1.0, -1.0]);
        assert!(to_network_tensor(&[&a, &RgbImage::new(1, 1)], &Device::Cpu).is_err());
        assert!(to_network_tensor(&[], &Device::Cpu).is_err());
    }

    #[test]
    fn frames_become_pose_inputs() {
        let frame = Frame {
            nr: FrameNr(3),
            rgb: RgbImage::from_pixel(1920, 1080, image::Rgb([10, 20, 30])),
        };
        let input = PoseInput::from_frame(&frame, 512).unwrap();
        assert_eq!(input.nr, FrameNr(3));
        assert_eq!(input.rgb.dimensions(), (512, 288));
        let t = input.to_tensor(&Device::Cpu).unwrap();
        assert_eq!(t.dims(), &[1, 3, 288, 512]);
    }
}

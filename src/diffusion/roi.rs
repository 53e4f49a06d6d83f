//! The region a frame is refined in. ROI mode (the default) crops a square around the product
//! with padding, so a small product gets the model's full resolution and the rest of the frame
//! costs nothing; full-frame mode refines the whole frame. Either way the result is pasted back
//! through the feathered repaint mask, so every pixel outside the repaint region keeps the
//! composite's exact bytes.

use image::imageops::{self, FilterType};
use image::RgbImage;

use crate::core::filter::Plane;
use crate::core::layers::bounding_box;
use crate::core::{FrameSize, Patch};

/// Which part of the frame is refined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RegionMode {
    /// A square around the product at model resolution (default).
    Product,
    /// The whole frame.
    FullFrame,
}

/// How regions are sized.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RoiSettings {
    /// Context around the product's bounding box on each side, in frame pixels.
    pub padding_px: u32,
    /// Smallest side at model resolution (SD 1.5 was trained at 512).
    pub min_model_px: u32,
    /// Model sides are multiples of this (the UNet halves the latent three times: 8 x 8).
    pub multiple_px: u32,
}

impl Default for RoiSettings {
    fn default() -> Self {
        Self {
            padding_px: 32,
            min_model_px: 512,
            multiple_px: 64,
        }
    }
}

impl RoiSettings {
    /// The refined region at model resolution (height, width) a plan assumes: the smallest
    /// square of a product region (a large product gives a larger one, which the OOM fallback
    /// absorbs), or the whole frame scaled to the model's short side.
    pub fn model_region_px(&self, frame: FrameSize, region: RegionMode) -> (u64, u64) {
        match region {
            RegionMode::Product => (u64::from(self.min_model_px), u64::from(self.min_model_px)),
            RegionMode::FullFrame => {
                let r = Roi::full_frame(frame, self);
                (u64::from(r.model_height_px), u64::from(r.model_width_px))
            }
        }
    }
}

/// A rectangle of the frame and the size it is refined at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roi {
    /// Left edge in frame pixels.
    pub x0_px: u32,
    /// Top edge in frame pixels.
    pub y0_px: u32,
    /// Width in frame pixels.
    pub width_px: u32,
    /// Height in frame pixels.
    pub height_px: u32,
    /// Width the crop is resized to for the networks.
    pub model_width_px: u32,
    /// Height the crop is resized to for the networks.
    pub model_height_px: u32,
}

fn round_up(v: u32, multiple: u32) -> u32 {
    v.div_ceil(multiple.max(1)) * multiple.max(1)
}

impl Roi {
    /// The square around `bbox_px = [x0, y0, x1, y1)` with padding, moved inside the frame;
    /// the whole frame when that square does not fit in it.
    pub fn square_around(frame: FrameSize, bbox_px: [u32; 4], s: &RoiSettings) -> Self {
        let [x0, y0, x1, y1] = bbox_px;
        let side = (x1 - x0).max(y1 - y0) + 2 * s.padding_px;
        if side > frame.width.min(frame.height) {
            return Self::full_frame(frame, s);
        }
        let place = |lo: u32, hi: u32, extent: u32| {
            let centred = ((lo + hi) / 2).saturating_sub(side / 2);
            centred.min(extent - side)
        };
        let model = s.min_model_px.max(round_up(side, s.multiple_px));
        Self {
            x0_px: place(x0, x1, frame.width),
            y0_px: place(y0, y1, frame.height),
            width_px: side,
            height_px: side,
            model_width_px: model,
            model_height_px: model,
        }
    }

    /// The whole frame, scaled so the short side reaches `min_model_px`, each side rounded up
    /// to `multiple_px` (the aspect ratio changes by less than one multiple).
    pub fn full_frame(frame: FrameSize, s: &RoiSettings) -> Self {
        let short = frame.width.min(frame.height).max(1);
        let scale = (f64::from(s.min_model_px) / f64::from(short)).max(1.0);
        let model = |v: u32| round_up((f64::from(v) * scale).round() as u32, s.multiple_px);
        Self {
            x0_px: 0,
            y0_px: 0,
            width_px: frame.width,
            height_px: frame.height,
            model_width_px: model(frame.width),
            model_height_px: model(frame.height),
        }
    }

    /// The region of `frame` at model resolution.
    pub fn crop(&self, frame: &RgbImage) -> RgbImage {
        let view = imageops::crop_imm(frame, self.x0_px, self.y0_px, self.width_px, self.height_px);
        imageops::resize(
            &view.to_image(),
            self.model_width_px,
            self.model_height_px,
            FilterType::CatmullRom,
        )
    }

    /// `plane` over the region at model resolution, nearest sample at each pixel centre (for
    /// masks, which must stay binary).
    pub fn crop_plane(&self, plane: &Plane) -> Vec<f32> {
        let (mw, mh) = (self.model_width_px as usize, self.model_height_px as usize);
        let sx = f64::from(self.width_px) / mw as f64;
        let sy = f64::from(self.height_px) / mh as f64;
        let source = |i: usize, scale: f64, origin: u32, extent: usize| {
            let v = origin as usize + ((i as f64 + 0.5) * scale) as usize;
            v.min(extent.saturating_sub(1))
        };
        (0..mw * mh)
            .map(|k| {
                let x = source(k % mw, sx, self.x0_px, plane.width);
                let y = source(k / mw, sy, self.y0_px, plane.height);
                plane.at(x, y)
            })
            .collect()
    }

    /// `refined` (model resolution) blended into `composite` by `weight` (frame-sized, in
    /// [0, 1]), as the patch of the region's pixels of positive weight (empty when none): the
    /// pixels of weight 0 keep the composite's bytes.
    pub fn paste(&self, composite: &RgbImage, refined: &RgbImage, weight: &Plane) -> Patch {
        let weight_at = |x: u32, y: u32| {
            weight
                .at((x + self.x0_px) as usize, (y + self.y0_px) as usize)
                .clamp(0.0, 1.0)
        };
        let Some([x0, y0, x1, y1]) =
            bounding_box(self.width_px, self.height_px, |x, y| weight_at(x, y) > 0.0)
        else {
            return Patch::empty();
        };
        let back = imageops::resize(
            refined,
            self.width_px,
            self.height_px,
            FilterType::CatmullRom,
        );
        let (fx0, fy0) = (x0 + self.x0_px, y0 + self.y0_px);
        let mut rgb = imageops::crop_imm(composite, fx0, fy0, x1 - x0, y1 - y0).to_image();
        for (x, y, dst) in rgb.enumerate_pixels_mut() {
            let w = weight_at(x + x0, y + y0);
            if w <= 0.0 {
                continue;
            }
            let src = back.get_pixel(x + x0, y + y0);
            for (d, &r) in dst.0.iter_mut().zip(&src.0) {
                *d = (f32::from(*d) * (1.0 - w) + f32::from(r) * w).round() as u8;
            }
        }
        Patch {
            origin_px: [fx0, fy0],
            rgb,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(width: u32, height: u32) -> FrameSize {
        FrameSize { width, height }
    }

    #[test]
    fn square_covers_the_padded_box_inside_the_frame() {
        let s = RoiSettings::default();
        for (frame, bbox) in [
            (size(640, 360), [300, 150, 340, 220]),
            (size(640, 360), [0, 0, 30, 40]),
            (size(640, 360), [600, 300, 640, 360]),
            (size(1920, 1080), [100, 200, 900, 700]),
            (size(360, 640), [10, 500, 290, 600]),
        ] {
            let r = Roi::square_around(frame, bbox, &s);
            assert_eq!(r.width_px, r.height_px, "{bbox:?}");
            assert!(r.x0_px + r.width_px <= frame.width && r.y0_px + r.height_px <= frame.height);
            assert!(r.x0_px <= bbox[0] && r.y0_px <= bbox[1], "{bbox:?} {r:?}");
            assert!(r.x0_px + r.width_px >= bbox[2] && r.y0_px + r.height_px >= bbox[3]);
            assert!(r.model_width_px >= 512 && r.model_width_px.is_multiple_of(64));
            assert!(r.model_width_px >= r.width_px);
        }
        let big = Roi::square_around(size(1920, 1080), [100, 200, 900, 700], &s);
        assert_eq!((big.width_px, big.model_width_px), (864, 896));
    }

    #[test]
    fn a_product_larger_than_the_short_side_refines_the_whole_frame() {
        let s = RoiSettings::default();
        let r = Roi::square_around(size(640, 360), [10, 10, 600, 350], &s);
        assert_eq!(r, Roi::full_frame(size(640, 360), &s));
        assert_eq!((r.model_width_px, r.model_height_px), (960, 512));
        let hd = Roi::full_frame(size(1920, 1080), &s);
        assert_eq!((hd.model_width_px, hd.model_height_px), (1920, 1088));
    }

    #[test]
    fn paste_keeps_every_byte_outside_the_weight() {
        let frame = size(200, 120);
        let composite = RgbImage::from_fn(200, 120, |x, y| image::Rgb([x as u8, y as u8, 77]));
        let mask = Plane::from_fn(200, 120, |x, y| {
            f32::from(u8::from((80..120).contains(&x) && (40..90).contains(&y)))
        });
        let weight = mask.feathered_inward(4.0);
        let roi = Roi::square_around(frame, [80, 40, 120, 90], &RoiSettings::default());
        let refined = RgbImage::from_pixel(512, 512, image::Rgb([250, 10, 130]));
        let mut out = composite.clone();
        roi.paste(&composite, &refined, &weight).apply(&mut out);
        for (x, y, px) in out.enumerate_pixels() {
            let w = weight.at(x as usize, y as usize);
            if w == 0.0 {
                assert_eq!(px, composite.get_pixel(x, y), "({x}, {y})");
            } else if w == 1.0 {
                assert_eq!(px.0, [250, 10, 130], "({x}, {y})");
            }
        }
        assert_eq!(out.get_pixel(100, 65).0, [250, 10, 130]);
    }

    #[test]
    fn crop_then_paste_of_the_unchanged_crop_is_close_to_the_frame() {
        let frame = size(320, 240);
        let composite = RgbImage::from_fn(320, 240, |x, y| {
            image::Rgb([(x / 2) as u8, (y / 2) as u8, ((x + y) / 4) as u8])
        });
        let roi = Roi::square_around(frame, [140, 100, 180, 150], &RoiSettings::default());
        let weight = Plane::from_fn(320, 240, |_, _| 1.0);
        let mut out = composite.clone();
        roi.paste(&composite, &roi.crop(&composite), &weight)
            .apply(&mut out);
        let worst = out
            .pixels()
            .zip(composite.pixels())
            .flat_map(|(a, b)| a.0.iter().zip(b.0).map(|(&p, q)| p.abs_diff(q)))
            .max();
        assert!(worst <= Some(2), "{worst:?}");
    }
}

//! The renderer's output for one frame, as consumed by compositing.
//!
//! Layers are stored as a crop (the bounding box of everything the product touches) with its
//! origin in frame pixels: the product usually covers a small part of the frame, and the crop
//! keeps memory, disk and compositing cost proportional to it.

use image::{GrayImage, ImageBuffer, Luma, RgbaImage};

/// A single-channel f32 image (depth in metres).
pub type DepthImage = ImageBuffer<Luma<f32>, Vec<f32>>;

/// Product layers of one frame.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderLayers {
    /// Top-left corner of the crop in frame pixels.
    pub origin_px: [u32; 2],
    /// Premultiplied RGBA of the product; colour channels sRGB-encoded, premultiplied in
    /// linear light.
    pub rgba: RgbaImage,
    /// Multiplicative shadow layer (255 = unshadowed), same size as `rgba`.
    pub shadow: GrayImage,
    /// Product coverage (255 = fully covered), same size as `rgba`.
    pub mask: GrayImage,
    /// Product depth along the camera axis in metres, `inf` where absent; same size.
    pub depth_m: DepthImage,
}

impl RenderLayers {
    /// Layers of a frame where the product is not visible.
    pub fn empty() -> Self {
        Self {
            origin_px: [0, 0],
            rgba: RgbaImage::new(0, 0),
            shadow: GrayImage::new(0, 0),
            mask: GrayImage::new(0, 0),
            depth_m: DepthImage::new(0, 0),
        }
    }

    /// Whether the product leaves no trace in the frame.
    pub fn is_empty(&self) -> bool {
        self.rgba.width() == 0 || self.rgba.height() == 0
    }

    /// Crops full-frame layers to the bounding box of covered or shadowed pixels.
    pub fn cropped(
        rgba: &RgbaImage,
        shadow: &GrayImage,
        mask: &GrayImage,
        depth_m: &DepthImage,
    ) -> Self {
        let touched = |x: u32, y: u32| {
            rgba.get_pixel(x, y)[3] > 0
                || shadow.get_pixel(x, y)[0] < 255
                || mask.get_pixel(x, y)[0] > 0
        };
        let Some([x0, y0, x1, y1]) = bounding_box(rgba.width(), rgba.height(), touched) else {
            return Self::empty();
        };
        let (w, h) = (x1 - x0, y1 - y0);
        Self {
            origin_px: [x0, y0],
            rgba: image::imageops::crop_imm(rgba, x0, y0, w, h).to_image(),
            shadow: image::imageops::crop_imm(shadow, x0, y0, w, h).to_image(),
            mask: image::imageops::crop_imm(mask, x0, y0, w, h).to_image(),
            depth_m: image::imageops::crop_imm(depth_m, x0, y0, w, h).to_image(),
        }
    }

    /// Layers from RGBA and shadow alone (coverage from alpha, no depth), e.g. for layers
    /// rendered elsewhere.
    pub fn from_rgba(rgba: &RgbaImage, shadow: &GrayImage) -> Self {
        let mask = GrayImage::from_fn(rgba.width(), rgba.height(), |x, y| {
            Luma([rgba.get_pixel(x, y)[3]])
        });
        let depth = DepthImage::from_pixel(rgba.width(), rgba.height(), Luma([f32::INFINITY]));
        Self::cropped(rgba, shadow, &mask, &depth)
    }
}

/// `[x0, y0, x1, y1)` of the pixels where `touched` holds, `None` when there are none.
pub fn bounding_box(
    width: u32,
    height: u32,
    touched: impl Fn(u32, u32) -> bool,
) -> Option<[u32; 4]> {
    let mut bbox: Option<[u32; 4]> = None;
    for y in 0..height {
        for x in 0..width {
            if touched(x, y) {
                let b = bbox.get_or_insert([x, y, x + 1, y + 1]);
                *b = [b[0].min(x), b[1].min(y), b[2].max(x + 1), b[3].max(y + 1)];
            }
        }
    }
    bbox
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crop_covers_alpha_and_shadow() {
        let mut rgba = RgbaImage::new(10, 8);
        let mut shadow = GrayImage::from_pixel(10, 8, Luma([255]));
        rgba.put_pixel(3, 2, image::Rgba([10, 10, 10, 20]));
        shadow.put_pixel(6, 5, Luma([100]));
        let l = RenderLayers::from_rgba(&rgba, &shadow);
        assert_eq!(l.origin_px, [3, 2]);
        assert_eq!(l.rgba.dimensions(), (4, 4));
        assert_eq!(l.mask.get_pixel(0, 0)[0], 20);
        let none = GrayImage::from_pixel(4, 4, Luma([255]));
        assert!(RenderLayers::from_rgba(&RgbaImage::new(4, 4), &none).is_empty());
    }
}

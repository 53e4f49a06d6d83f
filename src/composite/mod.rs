//! Compositing the rendered product into a frame: premultiplied alpha-over in linear light with
//! a feathered edge, under-product shadow multiplication, and the optional `classic`
//! harmonisation. The result is a [`Patch`]: only the pixels the product touches, so the rest of
//! the frame stays byte-identical to the source.

pub mod classic;

use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::core::color;
use crate::core::noise::FrameRng;
use crate::core::{FrameNr, Patch, RenderLayers};

use crate::core::filter::Plane;
use classic::ClassicSettings;

/// How the composite is refined before it is written.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Harmonise {
    /// Plain alpha-over.
    None,
    /// Weights-free colour transfer, light wrap and grain.
    Classic(ClassicSettings),
}

/// Compositing options.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CompositeSettings {
    /// Inward feather of the product edge in pixels.
    pub feather_px: f32,
    /// Refinement applied to the product's colour.
    pub harmonise: Harmonise,
    /// Seed for grain.
    pub seed: u64,
    /// How much more than the luminance each channel darkens in the product's cast shadow
    /// (the sky's colour against the key's); the run sets it from the shot's light.
    pub shadow_tint_rgb: [f32; 3],
}

/// A rectangle of the frame: `x0, y0` and size.
#[derive(Debug, Clone, Copy)]
struct Rect {
    x0: u32,
    y0: u32,
    w: usize,
    h: usize,
}

/// Composites `layers` over `frame` and returns the changed region.
pub fn composite(
    frame: &RgbImage,
    layers: &RenderLayers,
    nr: FrameNr,
    s: &CompositeSettings,
) -> Patch {
    if layers.is_empty() {
        return Patch::empty();
    }
    let crop = Rect {
        x0: layers.origin_px[0],
        y0: layers.origin_px[1],
        w: layers.rgba.width() as usize,
        h: layers.rgba.height() as usize,
    };
    // Filters need context outside the layer crop: the feather sees transparent pixels there.
    let feather_margin = s.feather_px.ceil() as usize + 1;
    let margin = match s.harmonise {
        Harmonise::Classic(_) => feather_margin.max(ring_radius(layers) + 2),
        Harmonise::None => feather_margin,
    };
    let roi = expand(crop, margin, frame);
    let bg = planes_of(frame, roi);
    let alpha = plane_of_layer(layers, roi, |p, _| f32::from(p[3]) / 255.0, 0.0);
    let shadow = plane_of_layer(layers, roi, |_, s| f32::from(s) / 255.0, 1.0);
    let mut product =
        [0, 1, 2].map(|c| plane_of_layer(layers, roi, |p, _| unpremultiply(p, c), 0.0));
    if let Harmonise::Classic(settings) = s.harmonise {
        let ring = ring_mask(&alpha, ring_radius(layers));
        let region = classic::Region {
            bg: &bg,
            alpha: &alpha,
            ring: &ring,
        };
        harmonise_classic(&mut product, &region, &settings, s.seed, nr);
    }
    let feathered = alpha.feathered_inward(s.feather_px);
    let layers = Blend {
        product: &product,
        alpha: &feathered,
        shadow: &shadow,
        shadow_tint_rgb: s.shadow_tint_rgb,
    };
    blend(&bg, &layers, roi, crop)
}

fn harmonise_classic(
    product: &mut [Plane; 3],
    region: &classic::Region<'_>,
    settings: &ClassicSettings,
    seed: u64,
    nr: FrameNr,
) {
    const GRAIN_STREAM: u64 = 1;
    let mut rng = FrameRng::new(seed, nr, GRAIN_STREAM);
    classic::harmonise(product, region, settings, &mut rng);
}

/// Ring width for statistics: grows with the product's size, within sane bounds.
fn ring_radius(layers: &RenderLayers) -> usize {
    let covered = layers.rgba.pixels().filter(|p| p[3] > 127).count() as f32;
    (0.15 * covered.sqrt()).clamp(6.0, 48.0) as usize
}

fn expand(r: Rect, margin: usize, frame: &RgbImage) -> Rect {
    let m = margin as u32;
    let x0 = r.x0.saturating_sub(m);
    let y0 = r.y0.saturating_sub(m);
    let x1 = (r.x0 + r.w as u32 + m).min(frame.width());
    let y1 = (r.y0 + r.h as u32 + m).min(frame.height());
    Rect {
        x0,
        y0,
        w: (x1 - x0) as usize,
        h: (y1 - y0) as usize,
    }
}

fn planes_of(frame: &RgbImage, roi: Rect) -> [Plane; 3] {
    [0, 1, 2].map(|c| {
        Plane::from_fn(roi.w, roi.h, |x, y| {
            color::to_linear(frame.get_pixel(roi.x0 + x as u32, roi.y0 + y as u32)[c])
        })
    })
}

/// Samples a layer quantity over the ROI; `outside` where the layer crop has no pixel.
fn plane_of_layer(
    layers: &RenderLayers,
    roi: Rect,
    f: impl Fn(&image::Rgba<u8>, u8) -> f32,
    outside: f32,
) -> Plane {
    Plane::from_fn(roi.w, roi.h, |x, y| {
        let fx = (roi.x0 + x as u32).checked_sub(layers.origin_px[0]);
        let fy = (roi.y0 + y as u32).checked_sub(layers.origin_px[1]);
        match (fx, fy) {
            (Some(lx), Some(ly)) if lx < layers.rgba.width() && ly < layers.rgba.height() => f(
                layers.rgba.get_pixel(lx, ly),
                layers.shadow.get_pixel(lx, ly)[0],
            ),
            _ => outside,
        }
    })
}

/// Straight linear colour of channel `c` from an sRGB-encoded, linearly premultiplied pixel.
fn unpremultiply(p: &image::Rgba<u8>, c: usize) -> f32 {
    let a = f32::from(p[3]) / 255.0;
    if a <= 0.0 {
        0.0
    } else {
        (color::to_linear(p[c]) / a).min(1.0)
    }
}

/// Pixels within `radius` of the product but outside it.
fn ring_mask(alpha: &Plane, radius: usize) -> Vec<bool> {
    let inside = Plane {
        data: alpha
            .data
            .iter()
            .map(|&a| f32::from(u8::from(a > 0.5)))
            .collect(),
        ..alpha.clone()
    };
    let near = inside.box_blur(radius, 1);
    near.data
        .iter()
        .zip(&inside.data)
        .map(|(&n, &i)| n > 1e-6 && i == 0.0)
        .collect()
}

/// What goes over the background.
struct Blend<'a> {
    product: &'a [Plane; 3],
    alpha: &'a Plane,
    /// Light reaching the floor (1 = unshadowed).
    shadow: &'a Plane,
    shadow_tint_rgb: [f32; 3],
}

fn blend(bg: &[Plane; 3], over: &Blend<'_>, roi: Rect, crop: Rect) -> Patch {
    let (ox, oy) = ((crop.x0 - roi.x0) as usize, (crop.y0 - roi.y0) as usize);
    let rgb = RgbImage::from_fn(crop.w as u32, crop.h as u32, |x, y| {
        let i = (oy + y as usize) * roi.w + ox + x as usize;
        let a = over.alpha.data[i];
        let darkening = 1.0 - over.shadow.data[i];
        image::Rgb([0, 1, 2].map(|c| {
            let light = (1.0 - over.shadow_tint_rgb[c] * darkening).max(0.0);
            color::to_srgb(over.product[c].data[i] * a + (1.0 - a) * bg[c].data[i] * light)
        }))
    });
    Patch {
        origin_px: [crop.x0, crop.y0],
        rgb,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layers_with_square() -> RenderLayers {
        let mut rgba = image::RgbaImage::new(20, 20);
        for y in 5..15 {
            for x in 5..15 {
                rgba.put_pixel(x, y, image::Rgba([255, 0, 0, 255]));
            }
        }
        let shadow = image::GrayImage::from_pixel(20, 20, image::Luma([255]));
        let mut l = RenderLayers::from_rgba(&rgba, &shadow);
        l.origin_px = [l.origin_px[0] + 10, l.origin_px[1] + 10];
        l
    }

    #[test]
    fn plain_over_touches_only_the_product() {
        let frame = RgbImage::from_pixel(64, 48, image::Rgb([10, 200, 30]));
        let s = CompositeSettings {
            feather_px: 0.0,
            harmonise: Harmonise::None,
            seed: 0,
            shadow_tint_rgb: [1.0; 3],
        };
        let patch = composite(&frame, &layers_with_square(), FrameNr(0), &s);
        assert_eq!(patch.origin_px, [15, 15]);
        let mut out = frame.clone();
        patch.apply(&mut out);
        assert_eq!(out.get_pixel(20, 20), &image::Rgb([255, 0, 0]));
        assert_eq!(out.get_pixel(14, 20), frame.get_pixel(14, 20));
    }

    #[test]
    fn feather_softens_edges_inwards_only() {
        let frame = RgbImage::from_pixel(64, 48, image::Rgb([0, 0, 0]));
        let s = CompositeSettings {
            feather_px: 2.0,
            harmonise: Harmonise::None,
            seed: 0,
            shadow_tint_rgb: [1.0; 3],
        };
        let patch = composite(&frame, &layers_with_square(), FrameNr(0), &s);
        let edge = patch.rgb.get_pixel(0, 5)[0];
        let centre = patch.rgb.get_pixel(5, 5)[0];
        assert!(edge < centre && edge > 0, "edge {edge} centre {centre}");
        assert_eq!(centre, 255);
    }

    #[test]
    fn classic_is_deterministic_per_frame() {
        let frame = RgbImage::from_fn(64, 48, |x, y| {
            image::Rgb([(x * 3) as u8, (y * 5) as u8, 90])
        });
        let s = CompositeSettings {
            feather_px: 1.0,
            harmonise: Harmonise::Classic(ClassicSettings::default()),
            seed: 3,
            shadow_tint_rgb: [1.0; 3],
        };
        let l = layers_with_square();
        let a = composite(&frame, &l, FrameNr(4), &s);
        assert_eq!(a, composite(&frame, &l, FrameNr(4), &s));
        assert_ne!(a, composite(&frame, &l, FrameNr(5), &s));
    }
}

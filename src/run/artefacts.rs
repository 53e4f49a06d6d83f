//! Conversions between stage results and work-directory artefacts (named PNG images at an
//! origin). Depth is stored as 16-bit PNG in millimetres (0 = no product).

use std::path::{Path, PathBuf};

use image::{DynamicImage, GrayImage, ImageBuffer, Luma};

use crate::core::Patch;
use crate::core::{DepthImage, Error, FrameNr, FrameSize, RenderLayers, Result};
use crate::workdir::{Artefact, ArtefactStore};

/// Largest depth a 16-bit millimetre PNG holds.
const MAX_DEPTH_MM: f32 = 65_535.0;

/// Layers as an artefact; a frame without the product stores no images.
pub fn of_layers(l: &RenderLayers) -> Artefact {
    let images = if l.is_empty() {
        Vec::new()
    } else {
        vec![
            ("rgba".into(), l.rgba.clone().into()),
            ("shadow".into(), l.shadow.clone().into()),
            ("mask".into(), l.mask.clone().into()),
            (
                "depth".into(),
                DynamicImage::ImageLuma16(depth_to_mm(&l.depth_m)),
            ),
        ]
    };
    Artefact {
        origin_px: l.origin_px,
        images,
    }
}

/// Layers back from an artefact; `None` if an image is missing (then it is recomputed).
pub fn layers_of(a: &Artefact) -> Option<RenderLayers> {
    if a.images.is_empty() {
        return Some(RenderLayers::empty());
    }
    let find = |name: &str| a.images.iter().find(|(n, _)| n == name).map(|(_, img)| img);
    Some(RenderLayers {
        origin_px: a.origin_px,
        rgba: find("rgba")?.to_rgba8(),
        shadow: find("shadow")?.to_luma8(),
        mask: find("mask")?.to_luma8(),
        depth_m: depth_from_mm(&find("depth")?.to_luma16()),
    })
}

/// A composite patch as an artefact.
pub fn of_patch(patch: &Patch) -> Artefact {
    let images = if patch.rgb.width() == 0 {
        Vec::new()
    } else {
        vec![("patch".into(), patch.rgb.clone().into())]
    };
    Artefact {
        origin_px: patch.origin_px,
        images,
    }
}

/// Loads the composite patch of `nr` stored under `key`.
pub fn load_patch(store: &ArtefactStore, nr: FrameNr, key: &str) -> Result<Patch> {
    let artefact = store.load(nr, key).ok_or_else(|| Error::WorkDir {
        detail: format!("cached result of frame {nr} vanished or is damaged; run again"),
        path: PathBuf::from(format!("frames/composite/{}", nr.stem())),
    })?;
    let rgb = artefact
        .images
        .first()
        .map(|(_, img)| img.to_rgb8())
        .unwrap_or_default();
    Ok(Patch {
        origin_px: artefact.origin_px,
        rgb,
    })
}

fn depth_to_mm(depth_m: &DepthImage) -> ImageBuffer<Luma<u16>, Vec<u16>> {
    ImageBuffer::from_fn(depth_m.width(), depth_m.height(), |x, y| {
        let z = depth_m.get_pixel(x, y)[0];
        Luma([if z.is_finite() {
            (z * 1000.0).round().clamp(1.0, MAX_DEPTH_MM) as u16
        } else {
            0
        }])
    })
}

fn depth_from_mm(mm: &ImageBuffer<Luma<u16>, Vec<u16>>) -> DepthImage {
    DepthImage::from_fn(mm.width(), mm.height(), |x, y| {
        let v = mm.get_pixel(x, y)[0];
        Luma([if v == 0 {
            f32::INFINITY
        } else {
            f32::from(v) / 1000.0
        }])
    })
}

/// Writes a frame's layers as full-frame images for inspection: `<nr>.rgba.png`
/// (premultiplied), `<nr>.shadow.png` (multiplicative), `<nr>.mask.png` and `<nr>.depth.png`
/// (16-bit, millimetres, 0 = no product).
pub fn write_full_layers(
    dir: &Path,
    nr: FrameNr,
    layers: &RenderLayers,
    size: FrameSize,
) -> Result<()> {
    let full = |img: &DynamicImage, background: DynamicImage| {
        let mut canvas = background;
        image::imageops::replace(
            &mut canvas,
            img,
            i64::from(layers.origin_px[0]),
            i64::from(layers.origin_px[1]),
        );
        canvas
    };
    let (w, h) = (size.width, size.height);
    let images = [
        (
            "rgba",
            full(
                &layers.rgba.clone().into(),
                image::RgbaImage::new(w, h).into(),
            ),
        ),
        (
            "shadow",
            full(
                &layers.shadow.clone().into(),
                GrayImage::from_pixel(w, h, Luma([255])).into(),
            ),
        ),
        (
            "mask",
            full(&layers.mask.clone().into(), GrayImage::new(w, h).into()),
        ),
        (
            "depth",
            full(
                &DynamicImage::ImageLuma16(depth_to_mm(&layers.depth_m)),
                DynamicImage::ImageLuma16(ImageBuffer::new(w, h)),
            ),
        ),
    ];
    for (name, img) in images {
        let path = dir.join(format!("{}.{name}.png", nr.stem()));
        let tmp = crate::core::atomic::temp_path(&path);
        img.save(&tmp).map_err(|source| Error::Image {
            op: "write",
            path: tmp.clone(),
            source,
        })?;
        crate::core::atomic::commit(&tmp, &path)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_round_trip_through_an_artefact() {
        let rgba = image::RgbaImage::from_fn(6, 4, |x, _| {
            image::Rgba([9, 8, 7, if x > 2 { 255 } else { 0 }])
        });
        let shadow = GrayImage::from_pixel(6, 4, Luma([200]));
        let mask = GrayImage::from_fn(6, 4, |x, _| Luma([if x > 2 { 255 } else { 0 }]));
        let depth = DepthImage::from_fn(6, 4, |x, _| {
            Luma([if x > 2 { 1.2345 } else { f32::INFINITY }])
        });
        let l = RenderLayers::cropped(&rgba, &shadow, &mask, &depth);
        let back = layers_of(&of_layers(&l)).unwrap();
        assert_eq!(back.rgba, l.rgba);
        assert_eq!(back.depth_m.get_pixel(5, 0)[0], 1.235);
        assert!(back.depth_m.get_pixel(0, 0)[0].is_infinite());
    }
}

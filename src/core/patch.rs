//! A changed region of a frame.

use image::RgbImage;

/// The pixels of a frame a stage changed, at their place: what compositing and refinement
/// return and the work directory caches, so the rest of the frame keeps the source's bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Patch {
    /// Top-left corner in frame pixels.
    pub origin_px: [u32; 2],
    /// The new pixels.
    pub rgb: RgbImage,
}

impl Patch {
    /// The bounding box of the pixels where `after` differs from `before` (same size); an
    /// empty patch when none do.
    pub fn from_diff(before: &RgbImage, after: &RgbImage) -> Self {
        let (w, h) = after.dimensions();
        let changed = |x, y| before.get_pixel(x, y) != after.get_pixel(x, y);
        match super::layers::bounding_box(w, h, changed) {
            Some([x0, y0, x1, y1]) => Self {
                origin_px: [x0, y0],
                rgb: image::imageops::crop_imm(after, x0, y0, x1 - x0, y1 - y0).to_image(),
            },
            None => Self {
                origin_px: [0, 0],
                rgb: RgbImage::new(0, 0),
            },
        }
    }

    /// Writes the patch into `frame`.
    pub fn apply(&self, frame: &mut RgbImage) {
        image::imageops::replace(
            frame,
            &self.rgb,
            i64::from(self.origin_px[0]),
            i64::from(self.origin_px[1]),
        );
    }
}

impl Patch {
    /// No change.
    pub fn empty() -> Self {
        Self {
            origin_px: [0, 0],
            rgb: RgbImage::new(0, 0),
        }
    }

    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.rgb.width() == 0 || self.rgb.height() == 0
    }

    /// This patch with `over` written on top: one patch covering both, its pixels taken from
    /// `frame` where neither covers them.
    pub fn overlaid(&self, over: &Patch, frame: &RgbImage) -> Patch {
        if over.is_empty() {
            return self.clone();
        }
        if self.is_empty() {
            return over.clone();
        }
        let [x0, y0] = [
            self.origin_px[0].min(over.origin_px[0]),
            self.origin_px[1].min(over.origin_px[1]),
        ];
        let end = |p: &Patch| {
            [
                p.origin_px[0] + p.rgb.width(),
                p.origin_px[1] + p.rgb.height(),
            ]
        };
        let (a, b) = (end(self), end(over));
        let [x1, y1] = [a[0].max(b[0]), a[1].max(b[1])];
        let mut rgb = image::imageops::crop_imm(frame, x0, y0, x1 - x0, y1 - y0).to_image();
        for p in [self, over] {
            image::imageops::replace(
                &mut rgb,
                &p.rgb,
                i64::from(p.origin_px[0] - x0),
                i64::from(p.origin_px[1] - y0),
            );
        }
        Patch {
            origin_px: [x0, y0],
            rgb,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overlay_applies_like_both_patches_in_turn() {
        let frame = RgbImage::from_fn(12, 9, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let a = Patch {
            origin_px: [2, 1],
            rgb: RgbImage::from_pixel(4, 3, image::Rgb([200, 0, 0])),
        };
        let b = Patch {
            origin_px: [4, 3],
            rgb: RgbImage::from_pixel(5, 4, image::Rgb([0, 200, 0])),
        };
        let mut twice = frame.clone();
        a.apply(&mut twice);
        b.apply(&mut twice);
        let mut once = frame.clone();
        a.overlaid(&b, &frame).apply(&mut once);
        assert_eq!(once, twice);
        assert_eq!(a.overlaid(&Patch::empty(), &frame), a);
        assert!(Patch::from_diff(&frame, &frame).is_empty());
    }
}

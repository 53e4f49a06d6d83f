//! A contact sheet next to the output: the first, middle and last frame, before and after,
//! so a person can judge the result at a glance without playing the video.

use std::path::{Path, PathBuf};

use image::{Rgb, RgbImage};

use crate::core::{Error, FrameNr, Result};
use crate::video::MediaPath;

/// Width of one cell in pixels (frames are scaled down to it, never up).
const CELL_WIDTH: u32 = 480;
/// Gap between cells.
const GAP: u32 = 6;

/// Collects the before/after pairs while frames stream past.
#[derive(Debug)]
pub struct ContactSheet {
    picks: [u64; 3],
    pairs: [Option<(RgbImage, RgbImage)>; 3],
}

impl ContactSheet {
    /// A sheet for a clip of `frame_count` frames.
    pub fn new(frame_count: u64) -> Self {
        let last = frame_count.saturating_sub(1);
        Self {
            picks: [0, last / 2, last],
            pairs: [None, None, None],
        }
    }

    /// Whether frame `nr` appears on the sheet.
    pub fn wants(&self, nr: FrameNr) -> bool {
        self.picks.contains(&nr.0)
    }

    /// Records frame `nr` before and after processing.
    pub fn record(&mut self, nr: FrameNr, before: &RgbImage, after: &RgbImage) {
        for (pick, slot) in self.picks.iter().zip(&mut self.pairs) {
            if *pick == nr.0 {
                *slot = Some((thumbnail(before), thumbnail(after)));
            }
        }
    }

    /// Writes the sheet (rows: first, middle, last; columns: before, after) atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        let rows: Vec<&(RgbImage, RgbImage)> = self.pairs.iter().flatten().collect();
        let Some(first) = rows.first() else {
            return Ok(());
        };
        let (w, h) = first.0.dimensions();
        let mut sheet = RgbImage::from_pixel(
            2 * w + 3 * GAP,
            rows.len() as u32 * (h + GAP) + GAP,
            Rgb([24, 24, 24]),
        );
        for (r, (before, after)) in rows.iter().enumerate() {
            let y = i64::from(GAP + r as u32 * (h + GAP));
            image::imageops::replace(&mut sheet, before, i64::from(GAP), y);
            image::imageops::replace(&mut sheet, after, i64::from(2 * GAP + w), y);
        }
        let tmp = crate::core::atomic::temp_path(path);
        sheet.save(&tmp).map_err(|source| Error::Image {
            op: "write",
            path: tmp.clone(),
            source,
        })?;
        crate::core::atomic::commit(&tmp, path)
    }
}

fn thumbnail(img: &RgbImage) -> RgbImage {
    let (w, h) = img.dimensions();
    if w <= CELL_WIDTH {
        return img.clone();
    }
    let th = (u64::from(h) * u64::from(CELL_WIDTH) / u64::from(w)).max(1) as u32;
    image::imageops::resize(img, CELL_WIDTH, th, image::imageops::FilterType::Triangle)
}

/// `<output stem>.contact.png` beside a video, `contact.png` in a sequence's directory.
pub fn sheet_path(output: &MediaPath) -> PathBuf {
    super::report::companion_path(output, "contact.png")
}

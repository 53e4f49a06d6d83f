//! Image sequences (`dir/%06d.png`) as input and output, for builds without FFmpeg and for
//! users who hand frames to other tools.

use std::path::{Path, PathBuf};

use crate::core::{Error, Frame, FrameNr, FrameRate, FrameSize, Result};

/// A printf-style file pattern with one `%d`/`%0Nd` placeholder for the frame number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeqPattern {
    prefix: String,
    width: usize,
    suffix: String,
}

impl SeqPattern {
    /// Parses `path` as a pattern; `None` if it has no frame-number placeholder.
    pub fn parse(path: &Path) -> Option<Self> {
        let s = path.to_str()?;
        let start = s.rfind('%')?;
        let rest = &s[start + 1..];
        let digits_end = rest.find('d')?;
        let spec = &rest[..digits_end];
        if !spec.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let width = spec.trim_start_matches('0').parse().unwrap_or(0);
        Some(Self {
            prefix: s[..start].to_owned(),
            width,
            suffix: rest[digits_end + 1..].to_owned(),
        })
    }

    /// The file of image number `n`.
    pub fn path_of(&self, n: u64) -> PathBuf {
        PathBuf::from(format!(
            "{}{:0w$}{}",
            self.prefix,
            n,
            self.suffix,
            w = self.width
        ))
    }

    /// The pattern as the user wrote it, for messages.
    pub fn display_path(&self) -> PathBuf {
        PathBuf::from(format!("{}%0{}d{}", self.prefix, self.width, self.suffix))
    }
}

/// An input image sequence, numbered consecutively from 0 or 1.
#[derive(Debug, Clone)]
pub struct ImageSeqInput {
    pattern: SeqPattern,
    first_number: u64,
    /// Number of images.
    pub frame_count: u64,
    /// Size of every image.
    pub size: FrameSize,
}

impl ImageSeqInput {
    /// Finds the images of `pattern` and checks the first one.
    pub fn open(pattern: SeqPattern) -> Result<Self> {
        let first_number = (0..=1)
            .find(|&n| pattern.path_of(n).is_file())
            .ok_or_else(|| {
                Error::bad_input(
                    "no image found for frame 0 or 1 of the sequence",
                    "check the pattern, e.g. frames/%06d.png",
                    pattern.display_path(),
                )
            })?;
        let frame_count = (first_number..)
            .take_while(|&n| pattern.path_of(n).is_file())
            .count() as u64;
        let first = read_rgb(&pattern.path_of(first_number))?;
        let size = FrameSize {
            width: first.width(),
            height: first.height(),
        };
        Ok(Self {
            pattern,
            first_number,
            frame_count,
            size,
        })
    }

    /// Paths of all images in order (for content hashing).
    pub fn paths(&self) -> impl Iterator<Item = PathBuf> + '_ {
        (0..self.frame_count).map(|i| self.pattern.path_of(self.first_number + i))
    }

    /// Reads frame `nr`, checking its size against the first image.
    pub fn read(&self, nr: FrameNr) -> Result<Frame> {
        let path = self.pattern.path_of(self.first_number + nr.0);
        let rgb = read_rgb(&path)?;
        if (rgb.width(), rgb.height()) != (self.size.width, self.size.height) {
            return Err(Error::bad_input(
                format!(
                    "image is {}x{} but the sequence starts at {}",
                    rgb.width(),
                    rgb.height(),
                    self.size
                ),
                "all images of a sequence must have the same size",
                path,
            ));
        }
        Ok(Frame { nr, rgb })
    }
}

fn read_rgb(path: &Path) -> Result<image::RgbImage> {
    let img = image::open(path).map_err(|source| match source {
        image::ImageError::IoError(e) => Error::Io {
            op: "read image",
            path: path.into(),
            source: e,
        },
        other => Error::bad_input(
            format!("not a decodable image ({other})"),
            "re-export the frame as PNG, JPEG, TIFF or EXR",
            path,
        ),
    })?;
    Ok(display_rgb(img))
}

/// 8-bit sRGB of a decoded image. Integer images (PNG, JPEG, 8/16-bit TIFF) are display
/// encoded already and only rescaled; float images (EXR, float TIFF) hold scene-linear light,
/// which is sRGB-encoded (values above 1 clip, as a display would show them).
fn display_rgb(img: image::DynamicImage) -> image::RgbImage {
    match img {
        image::DynamicImage::ImageRgb32F(_) | image::DynamicImage::ImageRgba32F(_) => {
            let linear = img.to_rgb32f();
            image::RgbImage::from_fn(linear.width(), linear.height(), |x, y| {
                image::Rgb(linear.get_pixel(x, y).0.map(crate::core::color::to_srgb))
            })
        }
        other => other.to_rgb8(),
    }
}

/// Writes frames as numbered images, each atomically (temp + rename).
#[derive(Debug)]
pub struct ImageSeqOutput {
    pattern: SeqPattern,
}

impl ImageSeqOutput {
    /// Prepares output to `pattern`, creating its directory.
    pub fn create(pattern: SeqPattern) -> Result<Self> {
        let probe = pattern.path_of(0);
        if let Some(dir) = probe.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::bad_input(
                    format!("cannot create the output directory ({e})"),
                    "choose a writable --output location",
                    dir,
                )
            })?;
        }
        Ok(Self { pattern })
    }

    /// Writes one frame.
    pub fn write(&mut self, frame: &Frame) -> Result<()> {
        let path = self.pattern.path_of(frame.nr.0);
        let format = image::ImageFormat::from_path(&path).unwrap_or(image::ImageFormat::Png);
        let tmp = crate::core::atomic::temp_path(&path);
        frame
            .rgb
            .save_with_format(&tmp, format)
            .map_err(|source| Error::Image {
                op: "write",
                path: tmp.clone(),
                source,
            })?;
        crate::core::atomic::commit(&tmp, &path)
    }
}

/// Default frame rate of image-sequence input, which carries none (override with `--fps`).
pub const DEFAULT_SEQ_RATE: FrameRate = FrameRate { num: 25, den: 1 };

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_parsing() {
        let p = SeqPattern::parse(Path::new("out/f_%06d.png")).unwrap();
        assert_eq!(p.path_of(42), PathBuf::from("out/f_000042.png"));
        let p = SeqPattern::parse(Path::new("a/%d.jpg")).unwrap();
        assert_eq!(p.path_of(7), PathBuf::from("a/7.jpg"));
        assert!(SeqPattern::parse(Path::new("video.mp4")).is_none());
        assert!(SeqPattern::parse(Path::new("100%.mp4")).is_none());
    }

    #[test]
    fn sequence_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let pattern = SeqPattern::parse(&dir.path().join("%04d.png")).unwrap();
        let mut out = ImageSeqOutput::create(pattern.clone()).unwrap();
        for n in 0..3 {
            let rgb = image::RgbImage::from_pixel(5, 4, image::Rgb([n as u8, 2, 3]));
            out.write(&Frame {
                nr: FrameNr(n),
                rgb,
            })
            .unwrap();
        }
        let input = ImageSeqInput::open(pattern).unwrap();
        assert_eq!(
            (input.frame_count, input.size),
            (
                3,
                FrameSize {
                    width: 5,
                    height: 4
                }
            )
        );
        assert_eq!(input.read(FrameNr(2)).unwrap().rgb.get_pixel(0, 0)[0], 2);
    }
}

//! Display rotation from the stream's display matrix (phones record portrait video as rotated
//! landscape frames plus a matrix); decoded frames are turned upright before any stage sees
//! them, as FFmpeg's command-line tool does by default.

use serde::Serialize;
use video_rs::ffmpeg::{self, codec::packet::side_data::Type as SideType};

use crate::core::FrameSize;

/// Clockwise rotation in quarter turns needed to show a decoded frame upright.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum Rotation {
    /// Already upright.
    #[default]
    None,
    /// Rotate 90 degrees clockwise.
    Cw90,
    /// Rotate 180 degrees.
    Cw180,
    /// Rotate 270 degrees clockwise (90 counter-clockwise).
    Cw270,
}

impl Rotation {
    /// Reads the display matrix side data of a stream.
    pub fn of_stream(stream: &ffmpeg::format::stream::Stream) -> Self {
        stream
            .side_data()
            .find(|sd| sd.kind() == SideType::DisplayMatrix)
            .and_then(|sd| Self::from_display_matrix(sd.data()))
            .unwrap_or_default()
    }

    /// Interprets a 3x3 16.16 fixed-point display matrix (libavutil/display.c
    /// `av_display_rotation_get`, counter-clockwise degrees) as a clockwise turn.
    pub fn from_display_matrix(bytes: &[u8]) -> Option<Self> {
        let m: Vec<f64> = bytes
            .chunks_exact(4)
            .take(9)
            .map(|c| f64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect();
        if m.len() < 9 {
            return None;
        }
        let (scale0, scale1) = (m[0].hypot(m[3]), m[1].hypot(m[4]));
        if scale0 == 0.0 || scale1 == 0.0 {
            return None;
        }
        let ccw_deg = -(m[1] / scale1).atan2(m[0] / scale0).to_degrees();
        // FFmpeg's CLI applies theta = -ccw_deg clockwise, normalised to [0, 360).
        let cw = (-ccw_deg).rem_euclid(360.0);
        Some(match ((cw / 90.0).round() as i64).rem_euclid(4) {
            1 => Self::Cw90,
            2 => Self::Cw180,
            3 => Self::Cw270,
            _ => Self::None,
        })
    }

    /// Frame size after rotation.
    pub fn apply_to_size(self, size: FrameSize) -> FrameSize {
        match self {
            Self::Cw90 | Self::Cw270 => FrameSize {
                width: size.height,
                height: size.width,
            },
            _ => size,
        }
    }

    /// Turns a decoded frame upright.
    pub fn apply(self, rgb: image::RgbImage) -> image::RgbImage {
        match self {
            Self::None => rgb,
            Self::Cw90 => image::imageops::rotate90(&rgb),
            Self::Cw180 => image::imageops::rotate180(&rgb),
            Self::Cw270 => image::imageops::rotate270(&rgb),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarter_turns_swap_size() {
        let s = FrameSize {
            width: 4,
            height: 2,
        };
        assert_eq!(
            Rotation::Cw90.apply_to_size(s),
            FrameSize {
                width: 2,
                height: 4
            }
        );
        assert_eq!(Rotation::Cw180.apply_to_size(s), s);
        let img = image::RgbImage::from_fn(4, 2, |x, y| image::Rgb([x as u8, y as u8, 0]));
        let r = Rotation::Cw90.apply(img);
        // The bottom-left source pixel (0, 1) lands top-left after a clockwise turn.
        assert_eq!(r.get_pixel(0, 0), &image::Rgb([0, 1, 0]));
    }
}

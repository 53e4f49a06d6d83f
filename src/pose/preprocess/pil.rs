//! Port of Pillow's 8-bit resampler (`ImagingResampleInner` with the horizontal and vertical
//! `_8bpc` passes, Pillow 13.0.0): coefficients in f64, normalised per output pixel, stored as
//! 22-bit fixed point; the first pass rounds to u8 before the second; an axis whose size does not
//! change is not filtered at all.

use std::ops::Range;

use image::RgbImage;

use super::ResampleFilter;

/// The computed part of the resized picture, in resized pixels.
#[derive(Debug, Clone, Copy)]
pub(super) struct Window {
    pub(super) x0: usize,
    pub(super) y0: usize,
    pub(super) width: usize,
    pub(super) height: usize,
}

/// `PRECISION_BITS = 32 − 8 − 2`: 8 bits of result, 2 of headroom for negative lobes.
const PRECISION_BITS: u32 = 22;

fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        return 1.0;
    }
    let x = x * std::f64::consts::PI;
    x.sin() / x
}

fn lanczos3(x: f64) -> f64 {
    if (-3.0..3.0).contains(&x) {
        sinc(x) * sinc(x / 3.0)
    } else {
        0.0
    }
}

/// Per output pixel: the first input pixel and the fixed-point weights from there.
pub(super) struct Coefficients {
    bounds: Vec<(usize, usize)>,
    ksize: usize,
    weights: Vec<i32>,
}

impl Coefficients {
    /// `precompute_coeffs` + `normalize_coeffs_8bpc` for the box `[0, in_size)`.
    pub(super) fn new(in_size: usize, out_size: usize, filter: ResampleFilter) -> Self {
        let (kernel, support): (fn(f64) -> f64, f64) = match filter {
            ResampleFilter::Lanczos3 => (lanczos3, 3.0),
            ResampleFilter::Bicubic => (bicubic, 2.0),
        };
        let scale = in_size as f64 / out_size as f64;
        let filter_scale = scale.max(1.0);
        let support = support * filter_scale;
        let ksize = support.ceil() as usize * 2 + 1;
        // multiplied, not divided, as the reference (the last bit can differ)
        let ss = 1.0 / filter_scale;
        let mut bounds = Vec::with_capacity(out_size);
        let mut weights = vec![0_i32; out_size * ksize];
        let mut k = vec![0.0_f64; ksize];
        for (xx, out) in weights.chunks_exact_mut(ksize).enumerate() {
            let center = (xx as f64 + 0.5) * scale;
            // C casts truncate toward zero; clamping to the image follows
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
            let count = xmax.saturating_sub(xmin).min(ksize);
            let mut ww = 0.0;
            for (x, kx) in k.iter_mut().enumerate().take(count) {
                *kx = kernel(((x + xmin) as f64 - center + 0.5) * ss);
                ww += *kx;
            }
            for (o, &kx) in out.iter_mut().zip(&k).take(count) {
                let kx = if ww != 0.0 { kx / ww } else { kx };
                let fixed = kx * f64::from(1_u32 << PRECISION_BITS);
                *o = if kx < 0.0 {
                    (-0.5 + fixed) as i32
                } else {
                    (0.5 + fixed) as i32
                };
            }
            bounds.push((xmin, count));
        }
        Self {
            bounds,
            ksize,
            weights,
        }
    }

    /// The input pixels read by the output pixels `out` (a non-empty range).
    fn span(&self, out: Range<usize>) -> Range<usize> {
        let (first, _) = self.bounds[out.start];
        let (last, count) = self.bounds[out.end - 1];
        first..last + count
    }

    /// First input index and weights of output pixel `i`.
    fn taps(&self, i: usize) -> (usize, &[i32]) {
        let (first, count) = self.bounds[i];
        (first, &self.weights[i * self.ksize..i * self.ksize + count])
    }
}

/// `clip8`: drop the fraction (arithmetic shift, i.e. floor) and saturate.
fn clip8(acc: i64) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Rounding offset the accumulators start from.
const HALF: i64 = 1 << (PRECISION_BITS - 1);

/// Part of a picture: RGB rows of `width` pixels whose first pixel sits at `(x0, y0)` of the
/// full picture.
struct Region<'a> {
    data: &'a [u8],
    width: usize,
    x0: usize,
    y0: usize,
}

impl Region<'_> {
    /// Byte offset of pixel `(x, y)` (full-picture coordinates).
    fn at(&self, x: usize, y: usize) -> usize {
        ((y - self.y0) * self.width + (x - self.x0)) * 3
    }
}

/// Output columns `cols` of rows `rows`, filtered horizontally (`ResampleHorizontal_8bpc`),
/// or copied when the width does not change.
fn horizontal_pass(
    src: &Region,
    cols: Range<usize>,
    rows: Range<usize>,
    c: Option<&Coefficients>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(cols.len() * rows.len() * 3);
    for y in rows {
        let Some(c) = c else {
            let start = src.at(cols.start, y);
            out.extend_from_slice(&src.data[start..start + cols.len() * 3]);
            continue;
        };
        for x in cols.clone() {
            let (first, k) = c.taps(x);
            let mut acc = [HALF; 3];
            for (t, &kt) in k.iter().enumerate() {
                let i = src.at(first + t, y);
                for (a, &v) in acc.iter_mut().zip(&src.data[i..i + 3]) {
                    *a += i64::from(v) * i64::from(kt);
                }
            }
            out.extend(acc.map(clip8));
        }
    }
    out
}

/// Output rows `rows` of columns `cols`, filtered vertically (`ResampleVertical_8bpc`), or
/// copied when the height does not change.
fn vertical_pass(
    src: &Region,
    cols: Range<usize>,
    rows: Range<usize>,
    c: Option<&Coefficients>,
) -> Vec<u8> {
    let bytes = cols.len() * 3;
    let mut out = Vec::with_capacity(bytes * rows.len());
    for y in rows {
        let Some(c) = c else {
            let start = src.at(cols.start, y);
            out.extend_from_slice(&src.data[start..start + bytes]);
            continue;
        };
        let (first, k) = c.taps(y);
        let starts: Vec<usize> = (0..k.len())
            .map(|t| src.at(cols.start, first + t))
            .collect();
        for i in 0..bytes {
            let acc = k.iter().zip(&starts).fold(HALF, |acc, (&kt, &start)| {
                acc + i64::from(src.data[start + i]) * i64::from(kt)
            });
            out.push(clip8(acc));
        }
    }
    out
}

/// Resizes `src` to `out_size` and returns the RGB bytes of `window` of the result.
///
/// Pass order as Pillow 13 (`ImagingResampleInner`): vertical first when the height loses
/// more than twice as many pixels as the width, horizontal first otherwise. The order
/// matters (the intermediate is rounded to u8); Pillow ≤ 12 always ran horizontal first, so
/// for such tall reductions the reference's own output depends on its Pillow version.
pub(super) fn resample_window(
    src: &RgbImage,
    out_size: (usize, usize),
    window: Window,
    filter: ResampleFilter,
) -> Vec<u8> {
    let (in_w, in_h) = (src.width() as usize, src.height() as usize);
    let horizontal = (out_size.0 != in_w).then(|| Coefficients::new(in_w, out_size.0, filter));
    let vertical = (out_size.1 != in_h).then(|| Coefficients::new(in_h, out_size.1, filter));
    let cols = window.x0..window.x0 + window.width;
    let rows = window.y0..window.y0 + window.height;
    let whole = Region {
        data: src.as_raw(),
        width: in_w,
        x0: 0,
        y0: 0,
    };
    let lost_w = in_w as i64 - out_size.0 as i64;
    let lost_h = in_h as i64 - out_size.1 as i64;
    if lost_h > 0 && lost_h > 2 * lost_w {
        // 1. vertical pass over the source columns the window's horizontal taps read
        let src_cols = horizontal
            .as_ref()
            .map_or(cols.clone(), |c| c.span(cols.clone()));
        let mid = vertical_pass(&whole, src_cols.clone(), rows.clone(), vertical.as_ref());
        let mid = Region {
            data: &mid,
            width: src_cols.len(),
            x0: src_cols.start,
            y0: rows.start,
        };
        // 2. horizontal pass
        horizontal_pass(&mid, cols, rows, horizontal.as_ref())
    } else {
        // 1. horizontal pass over the source rows the window's vertical taps read
        let src_rows = vertical
            .as_ref()
            .map_or(rows.clone(), |c| c.span(rows.clone()));
        let mid = horizontal_pass(&whole, cols.clone(), src_rows.clone(), horizontal.as_ref());
        let mid = Region {
            data: &mid,
            width: cols.len(),
            x0: cols.start,
            y0: src_rows.start,
        };
        // 2. vertical pass
        vertical_pass(&mid, cols, rows, vertical.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::FrameSize;
    use crate::pose::preprocess::PreprocessGeometry;

    fn size(width: u32, height: u32) -> FrameSize {
        FrameSize { width, height }
    }

    #[test]
    fn constant_pictures_stay_constant() {
        for ((w, h), s) in [((100, 70), 64), ((40, 30), 64), ((64, 48), 64)] {
            let g = PreprocessGeometry::new(size(w, h), s).unwrap();
            let src = RgbImage::from_pixel(w, h, image::Rgb([7, 128, 250]));
            let out = g.apply(&src).unwrap();
            assert_eq!(out.dimensions(), (g.network.width, g.network.height));
            assert!(out.pixels().all(|p| p.0 == [7, 128, 250]), "{w}x{h}");
        }
    }

    #[test]
    fn window_equals_resize_then_crop() {
        // the whole resized picture through the same resampler, then the crop; both pass
        // orders (100x70 → 64x45 horizontal first, 300x1200 → 128x512 vertical first)
        for (w, h, s) in [(100, 70, 64), (300, 1200, 512), (40, 30, 64)] {
            let src = RgbImage::from_fn(w, h, |x, y| {
                image::Rgb([
                    (x * 7 % 256) as u8,
                    (y * 13 % 256) as u8,
                    ((x * y) % 256) as u8,
                ])
            });
            let g = PreprocessGeometry::new(size(w, h), s).unwrap();
            let (rw, rh) = (g.resized.width, g.resized.height);
            let full = Window {
                x0: 0,
                y0: 0,
                width: rw as usize,
                height: rh as usize,
            };
            let whole = resample_window(&src, (rw as usize, rh as usize), full, g.filter);
            let whole = RgbImage::from_raw(rw, rh, whole).unwrap();
            let [x0, y0] = g.crop_origin_px;
            let (nw, nh) = (g.network.width, g.network.height);
            let cropped = image::imageops::crop_imm(&whole, x0, y0, nw, nh).to_image();
            assert_eq!(g.apply(&src).unwrap(), cropped, "{w}x{h}@{s}");
        }
    }

    /// Pillow 13.0.0's output for a tall and a wide reduction (`Image.resize(…, LANCZOS)` on
    /// the picture below): vertical pass first for the tall one, horizontal first otherwise.
    #[test]
    fn pass_order_matches_pillow() {
        let picture = |w, h| {
            RgbImage::from_fn(w, h, |x, y| {
                image::Rgb([
                    ((x * 97 + y * 31) % 256) as u8,
                    ((x * x * 13 + y * 7) % 256) as u8,
                    (((x ^ y) * 53) % 256) as u8,
                ])
            })
        };
        #[rustfmt::skip]
        let tall: [u8; 60] = [
            62, 8, 60, 131, 40, 81, 111, 162, 99, 124, 128, 112, 158, 28, 126, 112, 58, 82, 122,
            191, 45, 79, 158, 52, 160, 46, 117, 133, 91, 107, 144, 152, 96, 137, 116, 119, 98, 62,
            129, 159, 123, 107, 117, 112, 134, 169, 73, 142, 156, 82, 101, 122, 141, 151, 149, 141,
            152, 110, 102, 177,
        ];
        #[rustfmt::skip]
        let wide: [u8; 60] = [
            99, 22, 60, 131, 141, 126, 107, 144, 117, 119, 29, 129, 138, 88, 101, 99, 32, 81, 109,
            151, 82, 125, 154, 107, 119, 39, 107, 112, 98, 151, 118, 43, 99, 117, 162, 45, 105,
            165, 96, 124, 50, 134, 121, 109, 152, 175, 53, 112, 101, 172, 52, 129, 175, 119, 111,
            60, 142, 99, 119, 177,
        ];
        for ((w, h), (ow, oh), want) in [((6, 14), (4, 5), tall), ((14, 6), (5, 4), wide)] {
            let window = Window {
                x0: 0,
                y0: 0,
                width: ow,
                height: oh,
            };
            let got = resample_window(&picture(w, h), (ow, oh), window, ResampleFilter::Lanczos3);
            assert_eq!(got, want, "{w}x{h} → {ow}x{oh}");
        }
    }
}

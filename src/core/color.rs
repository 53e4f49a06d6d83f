//! Transfer-curve conversions. Compositing happens in linear light: blending sRGB-encoded
//! values darkens edges and shadows. The video's curve is treated as sRGB (BT.709's camera
//! curve is close; both decode to linear for blending).

use std::sync::LazyLock;

static DECODE: LazyLock<[f32; 256]> = LazyLock::new(|| {
    let mut lut = [0.0; 256];
    for (i, v) in lut.iter_mut().enumerate() {
        *v = srgb_to_linear_f(i as f32 / 255.0);
    }
    lut
});

static ENCODE: LazyLock<Vec<u8>> = LazyLock::new(|| {
    (0..=ENCODE_STEPS)
        .map(|i| (linear_to_srgb_f(i as f32 / ENCODE_STEPS as f32) * 255.0).round() as u8)
        .collect()
});

/// Resolution of the encode table; fine enough that encode(decode(v)) == v for all u8.
const ENCODE_STEPS: usize = 1 << 14;

/// sRGB-encoded 8-bit value to linear light in [0, 1].
pub fn to_linear(v: u8) -> f32 {
    DECODE[usize::from(v)]
}

/// Linear light to an sRGB-encoded 8-bit value (clamped).
pub fn to_srgb(v: f32) -> u8 {
    let i = (v.clamp(0.0, 1.0) * ENCODE_STEPS as f32).round() as usize;
    ENCODE[i.min(ENCODE_STEPS)]
}

/// Rec. 709 luminance of linear RGB.
pub fn luminance(rgb: [f64; 3]) -> f64 {
    0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]
}

fn srgb_to_linear_f(c: f32) -> f32 {
    if c <= 0.04045 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

fn linear_to_srgb_f(c: f32) -> f32 {
    if c <= 0.003_130_8 {
        c * 12.92
    } else {
        1.055 * c.powf(1.0 / 2.4) - 0.055
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip_is_exact_for_every_byte() {
        for v in 0..=255_u8 {
            assert_eq!(super::to_srgb(super::to_linear(v)), v);
        }
        assert!((super::to_linear(188) - 0.5).abs() < 0.01);
    }
}

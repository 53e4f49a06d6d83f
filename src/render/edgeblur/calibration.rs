//! What the re-blur measurement reads on a step edge blurred by a disk of each diameter
//! (defocus). The table comes from running the edge measurement on synthetic edges,
//! anti-aliased like a render (a step at a fractional position averaged over two pixels), so
//! inverting it turns a reading into a disk with the method's own response.

use std::sync::LazyLock;

use super::edges;
use crate::core::filter::Plane;

/// Table steps (pixels of disk diameter or smear length) and how many.
const STEP_PX: f64 = 0.5;
const STEPS: usize = 80;
/// Disk diameters below this read as sharp (the renderer's own anti-aliasing).
const MIN_DISK_PX: f64 = 1.0;

/// `(reading, disk diameter)`, increasing.
static DISK: LazyLock<Vec<(f64, f64)>> =
    LazyLock::new(|| table(|coc| super::super::defocus::disk(coc / 2.0)));

/// The disk diameter (pixels) that leaves an edge with the re-blur reading `sigma`; 0 for one
/// as sharp as a rendered edge.
pub fn disk_of_blur(sigma: f64) -> f64 {
    let coc = invert(&DISK, sigma);
    if coc < MIN_DISK_PX {
        0.0
    } else {
        coc
    }
}

/// The reading for each amount of blur `kernel(amount)`, made monotonic.
fn table(kernel: impl Fn(f64) -> Vec<(i32, i32, f32)>) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(STEPS + 1);
    for step in 0..=STEPS {
        let amount = step as f64 * STEP_PX;
        let reading = measure_synthetic_edge(&kernel(amount));
        let floor = out.last().map_or(0.0, |t| t.0);
        out.push((reading.max(floor), amount));
    }
    out
}

/// `x` of the table where the reading is `reading` (linear between rows; 0 below the first).
fn invert(table: &[(f64, f64)], reading: f64) -> f64 {
    let Some(i) = table.iter().position(|t| t.0 >= reading) else {
        return table.last().map_or(0.0, |t| t.1);
    };
    if i == 0 {
        return 0.0;
    }
    let (a, b) = (table[i - 1], table[i]);
    let t = if b.0 > a.0 {
        (reading - a.0) / (b.0 - a.0)
    } else {
        1.0
    };
    a.1 + t * (b.1 - a.1)
}

/// The median reading along a vertical step (0.2 to 0.7) blurred by `kernel`.
fn measure_synthetic_edge(kernel: &[(i32, i32, f32)]) -> f64 {
    let (w, h) = (128_usize, 32_usize);
    let edge_x = 64.3_f32;
    let step = |x: f32| if x > edge_x { 0.7 } else { 0.2 };
    let sharp = Plane::from_fn(w, h, |x, _| 0.5 * (step(x as f32) + step(x as f32 + 1.0)));
    let blurred = Plane::from_fn(w, h, |x, y| {
        kernel
            .iter()
            .map(|&(dx, dy, k)| {
                let sx = (x as i64 + i64::from(dx)).clamp(0, w as i64 - 1) as usize;
                let sy = (y as i64 + i64::from(dy)).clamp(0, h as i64 - 1) as usize;
                k * sharp.at(sx, sy)
            })
            .sum()
    });
    let mut readings: Vec<f32> = edges(&blurred)
        .into_iter()
        .filter(|e| (12..20).contains(&e.y))
        .map(|e| e.sigma)
        .collect();
    if readings.is_empty() {
        return f64::INFINITY;
    }
    readings.sort_by(f32::total_cmp);
    f64::from(readings[readings.len() / 2])
}
#[cfg(test)]
mod tests {
    use super::*;

    /// A step (0.4 to 0.7) blurred by a disk of `coc_px`, with deterministic noise of
    /// `noise` (uniform, that standard deviation): the median disk read back.
    fn read_back(coc_px: f64, noise: f32) -> f64 {
        let kernel = crate::render::defocus::disk(coc_px / 2.0);
        let (w, h) = (128_usize, 48_usize);
        let sharp = |x: f32| if x > 64.3 { 0.7 } else { 0.4 };
        let plane = Plane::from_fn(w, h, |x, y| {
            // the step is vertical: only a tap's column matters
            let v: f32 = kernel
                .iter()
                .map(|&(dx, _, k)| {
                    let sx = (x as i64 + i64::from(dx)) as f32;
                    k * 0.5 * (sharp(sx) + sharp(sx + 1.0))
                })
                .sum();
            let hash = ((x as u32).wrapping_mul(73_856_093) ^ (y as u32).wrapping_mul(19_349_663))
                .wrapping_mul(2_654_435_761);
            let u = (hash >> 8) as f32 / (1 << 24) as f32 - 0.5;
            v + u * noise * 12_f32.sqrt()
        });
        let mut disks: Vec<f64> = edges(&plane)
            .into_iter()
            .filter(|e| (40..90).contains(&e.x) && (8..40).contains(&e.y))
            .map(|e| disk_of_blur(f64::from(e.sigma)))
            .collect();
        disks.sort_by(f64::total_cmp);
        disks[disks.len() / 2]
    }

    #[test]
    fn a_disk_blurred_edge_reads_back_as_its_disk_under_noise() {
        assert_eq!(read_back(0.0, 0.0), 0.0, "a rendered edge is sharp");
        for coc in [3.0, 6.0, 10.0] {
            for noise in [0.0, 0.01] {
                let got = read_back(coc, noise);
                assert!(
                    (got - coc).abs() <= 0.15 * coc,
                    "disk {coc} noise {noise}: {got}"
                );
            }
        }
    }
}

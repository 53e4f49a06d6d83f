//! The depth of field read from the plate. An edge is as blurred as the lens left it at the
//! edge's depth (soft shadows, shading and texture only ever add softness), so the blur of the
//! floor's edges (`render::edgeblur`) over depth traces the circle of confusion, which
//! [`Defocus`] describes with two numbers. Edges the camera's image motion over the shutter
//! crosses are left out (motion blur widens them); a low quantile of each depth band's disks is
//! taken; the thin-lens curve `K |1 − s/d|` is fitted to the bands (`s` on a grid, `K` by least
//! squares, bands near the product's depth weighted most; `s` fixed when `--focus-distance`
//! gives it).

use serde::{Deserialize, Serialize};

use super::Defocus;
use crate::render::edgeblur::{calibration, floor_edges, View};
use crate::render::occlusion::Ground;

/// Largest image motion across an edge over the shutter, pixels, for it to count.
const MAX_MOTION_ACROSS_PX: f64 = 0.5;
/// Depth bands and the fewest edges in each.
const BANDS: usize = 6;
/// Which of a band's disks is taken: a low quantile, because the lens blurs every edge at a
/// depth by its disk while soft shadows, shading and smooth texture only add softness (the
/// median read a sharp, softly lit ground-truth plate as 2.5 px out of focus; the cost is a
/// disk read about a quarter low on the shallow-focus scene, see BENCHMARKS.md).
const BAND_QUANTILE: f64 = 0.3;
const MIN_PER_BAND: usize = 20;
/// Spread (natural log of the depth ratio) of the bands' weights around the product's depth.
const WEIGHT_LOG_DEPTH: f64 = 0.3;
/// Focus distances tried, relative to the nearest and farthest band.
const FOCUS_GRID: usize = 64;
/// The product's disk below which the plate counts as sharp at its depth: the measurement
/// reads a disk of 2 px only 0.12 px of σ above a sharp edge (`calibration`), within what
/// anti-aliasing and codecs vary by.
pub const SHARP_COC_PX: f64 = 2.0;

/// What the estimate knows besides the frames.
pub struct Setup {
    /// The floor.
    pub ground: Ground,
    /// Open fraction of the frame interval (shutter angle / 360).
    pub shutter_open: f64,
    /// `--focus-distance`, when given.
    pub focus_distance_m: Option<f64>,
    /// The product's depth in the first frame, metres.
    pub product_depth_m: f64,
}

/// The plate's depth of field as read, and the evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DefocusEstimate {
    /// The fitted depth of field; `None` when the plate is sharp at the product's depth or
    /// shows too few edges.
    pub defocus: Option<Defocus>,
    /// Edges measured on the floor.
    pub edges: usize,
    /// Per depth band: median depth (m) and median disk diameter (px).
    pub bands: Vec<[f64; 2]>,
    /// The fitted disk at the product's depth, pixels (0 without a fit).
    pub product_coc_px: f64,
}

/// Reads the depth of field from `views`.
pub fn estimate(views: &[View<'_>], setup: &Setup) -> DefocusEstimate {
    let mut samples: Vec<[f64; 2]> = Vec::new();
    for view in views {
        samples.extend(floor_disks(view, setup));
    }
    let edges = samples.len();
    let bands = bands_of(&mut samples);
    let fit = (bands.len() >= 2)
        .then(|| fit(&bands, setup.focus_distance_m, setup.product_depth_m))
        .flatten();
    let product_coc_px = fit.map_or(0.0, |d| d.coc_px(setup.product_depth_m));
    DefocusEstimate {
        defocus: fit.filter(|_| product_coc_px >= SHARP_COC_PX),
        edges,
        bands,
        product_coc_px,
    }
}

/// `[depth m, disk px]` of the floor's edges in one view that the camera's motion over the
/// shutter leaves alone.
fn floor_disks(view: &View<'_>, setup: &Setup) -> Vec<[f64; 2]> {
    floor_edges(view, &setup.ground)
        .into_iter()
        .filter(|e| e.motion_across_px * setup.shutter_open <= MAX_MOTION_ACROSS_PX)
        .map(|e| [e.depth_m, calibration::disk_of_blur(e.sigma)])
        .collect()
}

/// Equal-count depth bands of `samples` (`[depth, disk]`): median depth and the disk at
/// [`BAND_QUANTILE`].
fn bands_of(samples: &mut [[f64; 2]]) -> Vec<[f64; 2]> {
    if samples.len() < BANDS * MIN_PER_BAND {
        return Vec::new();
    }
    samples.sort_by(|a, b| a[0].total_cmp(&b[0]));
    let per = samples.len() / BANDS;
    samples
        .chunks(per)
        .filter(|c| c.len() >= MIN_PER_BAND)
        .map(|band| {
            let mut coc: Vec<f64> = band.iter().map(|s| s[1]).collect();
            coc.sort_by(f64::total_cmp);
            let at = ((coc.len() - 1) as f64 * BAND_QUANTILE).round() as usize;
            [band[band.len() / 2][0], coc[at]]
        })
        .collect()
}

/// The thin-lens curve `K |1 − s/d|` nearest the bands (least squares in the disk, bands
/// weighted by how near their depth is to the product's: the disk there is what matters, and
/// far bands, where the floor's texture is finest in the picture, read low).
fn fit(bands: &[[f64; 2]], focus_distance_m: Option<f64>, product_m: f64) -> Option<Defocus> {
    let weight: Vec<f64> = bands
        .iter()
        .map(|b| (-(b[0] / product_m).ln().powi(2) / (2.0 * WEIGHT_LOG_DEPTH.powi(2))).exp())
        .collect();
    let (near, far) = (bands[0][0], bands[bands.len() - 1][0]);
    let candidates: Vec<f64> = match focus_distance_m {
        Some(s) => vec![s],
        None => {
            let (lo, hi) = (near * 0.25, far * 8.0);
            (0..FOCUS_GRID)
                .map(|i| lo * (hi / lo).powf(i as f64 / (FOCUS_GRID - 1) as f64))
                .collect()
        }
    };
    candidates
        .into_iter()
        .filter_map(|s| {
            let u: Vec<f64> = bands.iter().map(|b| (1.0 - s / b[0]).abs()).collect();
            let uu: f64 = u.iter().zip(&weight).map(|(u, w)| w * u * u).sum();
            if uu <= 0.0 {
                return None;
            }
            let uc: f64 = (0..bands.len())
                .map(|i| weight[i] * u[i] * bands[i][1])
                .sum();
            let k = (uc / uu).max(0.0);
            let residual: f64 = (0..bands.len())
                .map(|i| weight[i] * (bands[i][1] - k * u[i]).powi(2))
                .sum();
            Some((residual, s, k))
        })
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, s, k)| Defocus {
            focus_distance_m: s,
            infinity_coc_px: k,
        })
}

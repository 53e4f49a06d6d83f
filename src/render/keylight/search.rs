//! The direction search over the upper hemisphere: each candidate's shadow feet, their
//! darkness, and the floor under no foot.

use glam::{DVec2, DVec3};

use super::basis::Basis;
use super::frames::{FloorSample, Prepared};
use super::{COARSE_STEP_DEG, ELEVATION_DEG, MIN_SAMPLES};

/// How one direction explains the shot.
#[derive(Debug, Clone, Copy)]
pub(super) struct Candidate {
    pub(super) dir: DVec3,
    /// The contrast (shrunk by its support) minus the darkness of the floor under no foot:
    /// shadows where the direction puts them, light elsewhere.
    pub(super) score: f64,
    /// Mean darkness at the shadow feet.
    pub(super) contrast: f64,
    /// Shadow-foot samples.
    pub(super) samples: usize,
}

/// The direction search over the upper hemisphere.
pub(super) struct Search<'a> {
    pub(super) frames: Vec<Prepared<'a>>,
    pub(super) objects: Vec<DVec3>,
    pub(super) heights: Vec<f64>,
    /// The floor points (world).
    pub(super) floor: Vec<DVec3>,
    /// Their darkness over the frames.
    pub(super) floor_points: Vec<FloorSample>,
    /// Radius within which a floor point counts as under a foot (the object points' spacing).
    pub(super) foot_radius: f64,
    /// The objects' footprints (their points dropped onto the plane): a foot there is under
    /// the object, not on the floor the camera sees, and near it the contact darkness is the
    /// same for every direction.
    pub(super) footprints: FootGrid,
    pub(super) basis: Basis,
}

impl Search<'_> {
    /// The best direction, and the median score of the coarse grid (what a direction without
    /// evidence scores).
    pub(super) fn run(&self) -> (Option<Candidate>, f64) {
        let (de, da) = COARSE_STEP_DEG;
        let mut coarse = Vec::new();
        let mut elev = ELEVATION_DEG.0;
        while elev <= ELEVATION_DEG.1 {
            let mut azim = 0.0;
            while azim < 360.0 {
                coarse.push(self.candidate(self.basis.direction(elev, azim)));
                azim += da;
            }
            elev += de;
        }
        let mut scores: Vec<f64> = coarse
            .iter()
            .map(|c| c.score)
            .filter(|s| s.is_finite())
            .collect();
        scores.sort_by(f64::total_cmp);
        let median = scores.get(scores.len() / 2).copied().unwrap_or(0.0);
        let Some(first) = best_of(coarse) else {
            return (None, median);
        };
        // refine: a finer grid around the coarse best
        let (e0, a0) = self.basis.angles(first.dir);
        let fine = (-4..=4).flat_map(|i| {
            (-4..=4).map(move |j| {
                let elev = (e0 + f64::from(i) * de / 4.0).clamp(ELEVATION_DEG.0, ELEVATION_DEG.1);
                (elev, a0 + f64::from(j) * da / 4.0)
            })
        });
        let refined = fine.map(|(e, a)| self.candidate(self.basis.direction(e, a)));
        (best_of(refined.chain([first])), median)
    }

    /// The light towards `dir`: darkness at the shadow feet (seen, not behind a nearer
    /// object) minus the darkness of the floor points under no foot.
    pub(super) fn candidate(&self, dir: DVec3) -> Candidate {
        let along = dir.dot(self.basis.n);
        let nothing = Candidate {
            dir,
            score: f64::NAN,
            contrast: f64::NAN,
            samples: 0,
        };
        if along <= 1e-3 {
            return nothing;
        }
        let feet = self.feet(dir, along);
        let (mut sum, mut count) = (0.0, 0);
        for frame in &self.frames {
            for &foot in &feet {
                if let Some(d) = frame.darkness_at(foot) {
                    sum += d;
                    count += 1;
                }
            }
        }
        if count == 0 {
            return nothing;
        }
        let contrast = sum / count as f64;
        let grid = FootGrid::new(
            feet.iter().map(|&f| self.basis.on_plane(f)),
            self.foot_radius,
        );
        let lit: Vec<f64> = self
            .floor_points
            .iter()
            .filter(|f| !grid.covers(f.on_plane))
            .map(|f| f.darkness)
            .collect();
        let lit_darkness = if lit.is_empty() {
            0.0
        } else {
            lit.iter().sum::<f64>() / lit.len() as f64
        };
        // shrunk towards "no evidence" by a pseudo-count: a direction whose feet are mostly
        // out of view or hidden rests on few samples and must not win on them
        let prior = 0.1 * (self.objects.len() * self.frames.len()) as f64;
        let supported = contrast * count as f64 / (count as f64 + prior);
        Candidate {
            dir,
            score: supported - lit_darkness,
            contrast,
            samples: count,
        }
    }
}

impl Search<'_> {
    /// The shadow feet of the object points for a light towards `dir` (`along` its component
    /// along the normal), those under an object's own footprint left out.
    pub(super) fn feet(&self, dir: DVec3, along: f64) -> Vec<DVec3> {
        self.objects
            .iter()
            .zip(&self.heights)
            .map(|(p, &h)| *p - dir * (h / along))
            .filter(|&f| !self.footprints.covers(self.basis.on_plane(f)))
            .collect()
    }
}

/// The highest-scoring candidate with enough samples.
pub(super) fn best_of(candidates: impl IntoIterator<Item = Candidate>) -> Option<Candidate> {
    candidates
        .into_iter()
        .filter(|c| c.samples >= MIN_SAMPLES && c.score.is_finite())
        .max_by(|a, b| a.score.total_cmp(&b.score))
}

/// Points on the plane, bucketed by `radius` for "is any point within `radius`" queries.
pub(super) struct FootGrid {
    pub(super) cells: std::collections::HashMap<(i64, i64), Vec<DVec2>>,
    pub(super) radius: f64,
}

impl FootGrid {
    pub(super) fn new(points: impl Iterator<Item = DVec2>, radius: f64) -> Self {
        let mut cells: std::collections::HashMap<(i64, i64), Vec<DVec2>> =
            std::collections::HashMap::new();
        for p in points {
            cells.entry(Self::cell(p, radius)).or_default().push(p);
        }
        Self { cells, radius }
    }

    pub(super) fn cell(p: DVec2, radius: f64) -> (i64, i64) {
        ((p.x / radius).floor() as i64, (p.y / radius).floor() as i64)
    }

    pub(super) fn covers(&self, p: DVec2) -> bool {
        let (cx, cy) = Self::cell(p, self.radius);
        (-1..=1).any(|dx| {
            (-1..=1).any(|dy| {
                self.cells
                    .get(&(cx + dx, cy + dy))
                    .is_some_and(|v| v.iter().any(|q| q.distance(p) <= self.radius))
            })
        })
    }
}

/// Median distance from each point to its nearest neighbour (the points' spacing).
pub(super) fn spacing(points: &[DVec3]) -> f64 {
    let mut nearest: Vec<f64> = points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            points
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, q)| p.distance(*q))
                .fold(f64::INFINITY, f64::min)
        })
        .filter(|d| d.is_finite())
        .collect();
    nearest.sort_by(f64::total_cmp);
    nearest.get(nearest.len() / 2).copied().unwrap_or(0.0)
}

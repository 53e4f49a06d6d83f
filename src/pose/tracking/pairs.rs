//! Scene graphs: which ordered pairs of frames go through the network.
//!
//! Reference: dust3r `image_pairs.py::make_pairs` (and `_filter_edges_seq`), naver/dust3r
//! 4c24a6e. A pair `(view1, view2)` is one network run whose points are both expressed in
//! view 1's camera; global alignment wants every edge in both directions, which is why
//! [`make_pairs`] appends the reversed pairs.
//!
//! Orders: `complete` and `oneref` come out in the reference's order exactly. The window
//! graphs (`swin`, `logwin`) collect their edges in a Python `set` and emit them in the set's
//! iteration order, which depends on tuple hashes; we sort them by `(view1, view2)` instead
//! (deviation, harmless: global alignment does not depend on the order of its edges beyond
//! round-off, and golden tests take their edge lists from the fixtures).

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use crate::core::{Error, Result};

/// The reference's default window when `swin` / `logwin` have no size.
const DEFAULT_WINDOW: usize = 3;

/// An ordered pair of images, as indices into the list of images being posed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImagePair {
    /// The image whose camera frame both pointmaps are expressed in.
    pub view1: usize,
    /// The other image.
    pub view2: usize,
}

impl ImagePair {
    /// The pair `(view1, view2)`.
    pub fn new(view1: usize, view2: usize) -> Self {
        Self { view1, view2 }
    }

    /// The same two images the other way round.
    pub fn reversed(self) -> Self {
        Self::new(self.view2, self.view1)
    }
}

/// A scene graph of the reference, by its `scene_graph` string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SceneGraph {
    /// `complete`: every unordered pair once, `(i, j)` for `j < i`, rows in order.
    Complete,
    /// `swin-K[-noncyclic]`: each image with the next `window` images; cyclic wraps around the
    /// end (the reference's default, closing the loop of a turntable shot).
    SlidingWindow {
        /// Neighbours on each side (K ≥ 1).
        window: usize,
        /// Whether offsets wrap modulo the number of images.
        cyclic: bool,
    },
    /// `logwin-K[-noncyclic]`: each image with those at offsets ±1, ±2, ±4, …, ±2^(K−1).
    LogWindow {
        /// Number of power-of-two offsets (K ≥ 1).
        offsets: usize,
        /// Whether offsets wrap modulo the number of images.
        cyclic: bool,
    },
    /// `oneref-R`: image R with every other image, `(R, j)`.
    OneRef {
        /// Index of the reference image.
        reference: usize,
    },
}

impl SceneGraph {
    /// The graph's edges, one direction only, in the order described in the module doc.
    /// Errors when there are fewer than two images or the reference image does not exist.
    pub fn forward_pairs(&self, n_images: usize) -> Result<Vec<ImagePair>> {
        if n_images < 2 {
            return Err(Error::InvalidArgument {
                name: "scene graph",
                detail: format!("pose estimation needs at least 2 images, got {n_images}"),
            });
        }
        Ok(match *self {
            Self::Complete => (0..n_images)
                .flat_map(|i| (0..i).map(move |j| ImagePair::new(i, j)))
                .collect(),
            Self::SlidingWindow { window, cyclic } => {
                let offsets: Vec<isize> = (1..=window).map(|d| d as isize).collect();
                window_pairs(n_images, &offsets, cyclic)
            }
            Self::LogWindow { offsets, cyclic } => {
                let offsets: Vec<isize> = (0..offsets)
                    .map(|k| 1_isize << k.min(62))
                    .flat_map(|d| [-d, d])
                    .collect();
                window_pairs(n_images, &offsets, cyclic)
            }
            Self::OneRef { reference } => {
                if reference >= n_images {
                    return Err(Error::InvalidArgument {
                        name: "scene graph",
                        detail: format!(
                            "oneref-{reference} names image {reference}, but there are only \
                             {n_images} images (0..{n_images})"
                        ),
                    });
                }
                (0..n_images)
                    .filter(|&j| j != reference)
                    .map(|j| ImagePair::new(reference, j))
                    .collect()
            }
        })
    }
}

/// Unordered pairs `{i, i + d}` for every image i and offset d, as `(min, max)` sorted.
///
/// Deviation: the reference's cyclic `swin` keeps the self-pair `(i, i)` that wrapping produces
/// when there are no more images than the window (`logwin` drops it); we drop it in both.
fn window_pairs(n_images: usize, offsets: &[isize], cyclic: bool) -> Vec<ImagePair> {
    let n = n_images as isize;
    let mut set = BTreeSet::new();
    for i in 0..n {
        for &d in offsets {
            let j = if cyclic { (i + d).rem_euclid(n) } else { i + d };
            if (0..n).contains(&j) && j != i {
                set.insert(ImagePair::new(i.min(j) as usize, i.max(j) as usize));
            }
        }
    }
    set.into_iter().collect()
}

impl FromStr for SceneGraph {
    type Err = Error;

    /// Parses the reference's strings: `complete`, `swin-K`, `swin-K-noncyclic`, `logwin-K`,
    /// `logwin-K-noncyclic`, `oneref-R`; `swin`, `logwin` (K = 3) and `oneref` (R = 0) as the
    /// reference defaults them. Unlike the reference, which falls back to K = 3 on any
    /// unparsable size and to no pairs at all on an unknown name, anything else is an error.
    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: &str| Error::InvalidArgument {
            name: "scene graph",
            detail: format!(
                "\"{s}\" {why}; expected complete, swin-K, swin-K-noncyclic, logwin-K, \
                 logwin-K-noncyclic or oneref-R (K ≥ 1, R an image index)"
            ),
        };
        let count = |v: &str| match v.parse::<usize>() {
            Ok(0) => Err(bad("has a window of 0")),
            Ok(k) => Ok(k),
            Err(_) => Err(bad("has a window that is not a number")),
        };
        let mut parts = s.split('-');
        let name = parts.next().unwrap_or_default();
        let rest: Vec<&str> = parts.collect();
        match (name, rest.as_slice()) {
            ("complete", []) => Ok(Self::Complete),
            ("oneref", []) => Ok(Self::OneRef { reference: 0 }),
            ("oneref", [r]) => r
                .parse()
                .map(|reference| Self::OneRef { reference })
                .map_err(|_| bad("has a reference that is not an image index")),
            ("swin" | "logwin", _) => {
                let (window, cyclic) = match rest.as_slice() {
                    [] => (DEFAULT_WINDOW, true),
                    ["noncyclic"] => (DEFAULT_WINDOW, false),
                    [k] => (count(k)?, true),
                    [k, "noncyclic"] => (count(k)?, false),
                    _ => return Err(bad("has an unknown suffix")),
                };
                Ok(if name == "swin" {
                    Self::SlidingWindow { window, cyclic }
                } else {
                    Self::LogWindow {
                        offsets: window,
                        cyclic,
                    }
                })
            }
            _ => Err(bad("is not a scene graph")),
        }
    }
}

impl fmt::Display for SceneGraph {
    /// The reference's string for the graph (what [`SceneGraph::from_str`] reads).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let suffix = |cyclic: bool| if cyclic { "" } else { "-noncyclic" };
        match *self {
            Self::Complete => write!(f, "complete"),
            Self::SlidingWindow { window, cyclic } => write!(f, "swin-{window}{}", suffix(cyclic)),
            Self::LogWindow { offsets, cyclic } => write!(f, "logwin-{offsets}{}", suffix(cyclic)),
            Self::OneRef { reference } => write!(f, "oneref-{reference}"),
        }
    }
}

/// The reference's `prefilter`: drop pairs more than `max_gap` images apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefilter {
    /// `seqD`: distance `|i − j|`.
    Sequential {
        /// Largest kept distance D.
        max_gap: usize,
    },
    /// `cycD`: distance around the loop, `min(|i − j|, n − |i − j|)`.
    Cyclic {
        /// Largest kept distance D.
        max_gap: usize,
    },
}

impl Prefilter {
    /// Keeps the pairs within the distance, in order. As in the reference, the loop length of
    /// `cycD` is one more than the largest index among the pairs (not the number of images).
    pub fn apply(&self, pairs: &[ImagePair]) -> Vec<ImagePair> {
        let n = pairs
            .iter()
            .map(|p| p.view1.max(p.view2) + 1)
            .max()
            .unwrap_or(0);
        let within = |p: &ImagePair| {
            let gap = p.view1.abs_diff(p.view2);
            match *self {
                Self::Sequential { max_gap } => gap <= max_gap,
                Self::Cyclic { max_gap } => gap.min(n.abs_diff(gap)) <= max_gap,
            }
        };
        pairs.iter().copied().filter(within).collect()
    }
}

impl FromStr for Prefilter {
    type Err = Error;

    /// Parses `seqD` or `cycD` (D a non-negative integer).
    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::InvalidArgument {
            name: "pair prefilter",
            detail: format!("\"{s}\" is not seqD or cycD with D a number of images"),
        };
        let max_gap = s
            .get(3..)
            .and_then(|d| d.parse::<usize>().ok())
            .ok_or_else(bad)?;
        match s.get(..3) {
            Some("seq") => Ok(Self::Sequential { max_gap }),
            Some("cyc") => Ok(Self::Cyclic { max_gap }),
            _ => Err(bad()),
        }
    }
}

/// The reversed pairs appended after the forward ones (`symmetrize=True`): not interleaved.
pub fn symmetrize(forward: &[ImagePair]) -> Vec<ImagePair> {
    forward
        .iter()
        .copied()
        .chain(forward.iter().map(|p| p.reversed()))
        .collect()
}

/// The reference's `make_pairs(imgs, scene_graph, prefilter, symmetrize=True)` for `n_images`
/// images: the graph's edges, then their reverses, then the optional prefilter.
pub fn make_pairs(
    graph: &SceneGraph,
    n_images: usize,
    prefilter: Option<Prefilter>,
) -> Result<Vec<ImagePair>> {
    let pairs = symmetrize(&graph.forward_pairs(n_images)?);
    Ok(match prefilter {
        Some(filter) => filter.apply(&pairs),
        None => pairs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(s: &str) -> SceneGraph {
        s.parse().unwrap()
    }

    fn tuples(pairs: &[ImagePair]) -> Vec<(usize, usize)> {
        pairs.iter().map(|p| (p.view1, p.view2)).collect()
    }

    fn with_reverses(forward: &[(usize, usize)]) -> Vec<(usize, usize)> {
        let reverses = forward.iter().map(|&(i, j)| (j, i));
        forward.iter().copied().chain(reverses).collect()
    }

    #[test]
    fn orders_for_four_images_match_the_spec() {
        let complete = [(1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2)];
        let pairs = make_pairs(&graph("complete"), 4, None).unwrap();
        assert_eq!(tuples(&pairs), with_reverses(&complete));
        let oneref = [(0, 1), (0, 2), (0, 3)];
        let pairs = make_pairs(&graph("oneref-0"), 4, None).unwrap();
        assert_eq!(tuples(&pairs), with_reverses(&oneref));
        let oneref2 = [(2, 0), (2, 1), (2, 3)];
        let pairs = make_pairs(&graph("oneref-2"), 4, None).unwrap();
        assert_eq!(tuples(&pairs), with_reverses(&oneref2));
        // the reference's set order is (0,1),(1,2),(2,3),(0,3); ours is sorted
        let swin = [(0, 1), (0, 3), (1, 2), (2, 3)];
        let pairs = make_pairs(&graph("swin-1"), 4, None).unwrap();
        assert_eq!(tuples(&pairs), with_reverses(&swin));
        let swin = [(0, 1), (1, 2), (2, 3)];
        let pairs = make_pairs(&graph("swin-1-noncyclic"), 4, None).unwrap();
        assert_eq!(tuples(&pairs), with_reverses(&swin));
    }

    #[test]
    fn edge_counts_match_the_spec_table() {
        // (graph, E for N = 30, E for N = 100)
        let table = [
            ("complete", 870, 9900),
            ("swin-3", 180, 600),
            ("swin", 180, 600),
            // the spec's table says 174 for N = 30, but its formula 2(KN − K(K+1)/2) gives 168
            // (and 588 for N = 100, as the table): offsets 1, 2, 3 leave 29 + 28 + 27 edges
            ("swin-3-noncyclic", 168, 588),
            ("logwin-3", 180, 600),
            // offsets 1, 2, 4 without wrapping: 2·((N−1) + (N−2) + (N−4))
            ("logwin-3-noncyclic", 166, 586),
            ("oneref-0", 58, 198),
            ("oneref-7", 58, 198),
        ];
        for (name, e30, e100) in table {
            for (n, e) in [(30, e30), (100, e100)] {
                let pairs = make_pairs(&graph(name), n, None).unwrap();
                assert_eq!(pairs.len(), e, "{name}, N = {n}");
                let distinct: BTreeSet<_> = pairs.iter().collect();
                assert_eq!(distinct.len(), e, "{name}: duplicates");
            }
        }
    }

    #[test]
    fn small_cyclic_windows_have_no_self_pairs() {
        let pairs = make_pairs(&graph("swin-3"), 2, None).unwrap();
        assert_eq!(tuples(&pairs), vec![(0, 1), (1, 0)]);
        let pairs = make_pairs(&graph("swin-5"), 4, None).unwrap();
        assert_eq!(pairs.len(), 12);
        assert!(pairs.iter().all(|p| p.view1 != p.view2));
        let pairs = make_pairs(&graph("logwin-4"), 5, None).unwrap();
        assert_eq!(pairs.len(), 20);
    }

    #[test]
    fn strings_round_trip_and_bad_ones_are_errors() {
        for s in [
            "complete",
            "swin-3",
            "swin-2-noncyclic",
            "logwin-4",
            "logwin-3-noncyclic",
            "oneref-5",
        ] {
            assert_eq!(graph(s).to_string(), s);
        }
        assert_eq!(
            graph("swin-noncyclic"),
            SceneGraph::SlidingWindow {
                window: 3,
                cyclic: false
            }
        );
        assert_eq!(graph("oneref"), SceneGraph::OneRef { reference: 0 });
        for bad in [
            "",
            "full",
            "swin-",
            "swin-x",
            "swin-0",
            "swin-3-cyclic",
            "swin-3-noncyclic-x",
            "swinx",
            "logwin-",
            "oneref-a",
            "oneref-1-2",
            "complete-3",
        ] {
            let err = bad.parse::<SceneGraph>().unwrap_err();
            assert!(
                err.to_string().contains("expected complete"),
                "{bad}: {err}"
            );
        }
        assert!(make_pairs(&graph("oneref-4"), 4, None).is_err());
        assert!(make_pairs(&graph("complete"), 1, None).is_err());
    }

    #[test]
    fn prefilters_drop_distant_pairs() {
        let seq: Prefilter = "seq1".parse().unwrap();
        let cyc: Prefilter = "cyc1".parse().unwrap();
        let pairs = make_pairs(&graph("complete"), 4, Some(seq)).unwrap();
        assert_eq!(tuples(&pairs), with_reverses(&[(1, 0), (2, 1), (3, 2)]));
        let pairs = make_pairs(&graph("complete"), 4, Some(cyc)).unwrap();
        assert_eq!(
            tuples(&pairs),
            with_reverses(&[(1, 0), (2, 1), (3, 0), (3, 2)])
        );
        for bad in ["seq", "cyc-1", "seqx", "sequence2", "s"] {
            assert!(bad.parse::<Prefilter>().is_err(), "{bad}");
        }
    }
}

//! The spanning-tree initialisation (`init='mst'`): chain the most confident pairs into one
//! point cloud, read off poses and focals, then the per-edge similarities and depth maps the
//! optimiser starts from.
//!
//! Reference: dust3r `cloud_opt/init_im_poses.py` (`minimum_spanning_tree`, `init_from_pts3d`),
//! naver/dust3r 4c24a6e.

use candle_core::Result;
use glam::{DMat4, DVec3};

use super::input::{PairwisePointMaps, Side};
use super::register::{umeyama, weiszfeld_focal};

/// The state after the spanning-tree stage (before scale normalisation).
#[derive(Debug, Clone)]
pub struct TreeInit {
    /// Edge scores (`mean conf_i · mean conf_j`).
    pub scores: Vec<f64>,
    /// Tree edges in the order they were placed.
    pub tree_edges: Vec<(usize, usize)>,
    /// Focal per image, pixels.
    pub focal_px: Vec<f64>,
    /// Camera-to-world per image.
    pub world_from_cam: Vec<DMat4>,
    /// World points per image (row-major h × w).
    pub points_in_world: Vec<Vec<DVec3>>,
    /// Images whose pose came from the reverse-edge registration (the reference's PnP step).
    pub registered_late: Vec<usize>,
}

/// Kruskal on the negated scores of the directed graph (scipy's `minimum_spanning_tree`: a
/// pair's two directions compete, the better one is kept; ties in stored (row, col) order),
/// then the reference's processing order: best first, re-queueing edges that touch nothing
/// placed yet. Returns every pop of that queue: the edge and whether it was placed then.
pub fn tree_pops(
    n_images: usize,
    edges: &[(usize, usize)],
    scores: &[f64],
) -> Vec<((usize, usize), bool)> {
    let mut by_weight: Vec<usize> = (0..edges.len()).collect();
    by_weight.sort_by(|&a, &b| {
        (-scores[a])
            .total_cmp(&-scores[b])
            .then(edges[a].cmp(&edges[b]))
    });
    let mut parent: Vec<usize> = (0..n_images).collect();
    fn root(parent: &mut [usize], mut k: usize) -> usize {
        while parent[k] != k {
            parent[k] = parent[parent[k]];
            k = parent[k];
        }
        k
    }
    let mut tree: Vec<(f64, usize, usize)> = Vec::new();
    for e in by_weight {
        let (i, j) = edges[e];
        let (ri, rj) = (root(&mut parent, i), root(&mut parent, j));
        if ri != rj {
            parent[ri] = rj;
            tree.push((scores[e], i, j));
        }
    }
    // todo = sorted((score, i, j)); pop from the end
    tree.sort_by(|a, b| a.0.total_cmp(&b.0).then((a.1, a.2).cmp(&(b.1, b.2))));
    let mut todo: std::collections::VecDeque<(f64, usize, usize)> = tree.into();
    let mut pops = Vec::new();
    let mut done = vec![false; n_images];
    while let Some((score, i, j)) = todo.pop_back() {
        let place = pops.is_empty() || done[i] || done[j];
        pops.push(((i, j), place));
        if place {
            done[i] = true;
            done[j] = true;
        } else {
            todo.push_front((score, i, j));
        }
    }
    pops
}

/// The tree edges in the order they are placed (see [`tree_pops`]).
pub fn tree_order(
    n_images: usize,
    edges: &[(usize, usize)],
    scores: &[f64],
) -> Vec<(usize, usize)> {
    tree_pops(n_images, edges, scores)
        .into_iter()
        .filter_map(|(edge, placed)| placed.then_some(edge))
        .collect()
}

/// A focal usable as a parameter: Weiszfeld can give 0 (points behind the camera, degenerate
/// maps) where the reference would take ln 0; fall back to a 53° field of view.
fn guarded_focal(f: f64, height: usize, width: usize) -> f64 {
    if f.is_finite() && f > 0.0 {
        f
    } else {
        height.max(width) as f64
    }
}

/// Runs the spanning-tree stage.
pub fn spanning_tree(maps: &PairwisePointMaps) -> Result<TreeInit> {
    let n = maps.n_images;
    let (h, w) = (maps.height, maps.width);
    let scores = maps.edge_scores()?;
    let pops = tree_pops(n, &maps.edges, &scores);
    let edge = |i: usize, j: usize| {
        maps.edge_index(i, j)
            .ok_or_else(|| candle_core::Error::Msg(format!("edge ({i}, {j}) missing")))
    };
    let mut points: Vec<Option<Vec<DVec3>>> = vec![None; n];
    let mut poses: Vec<Option<DMat4>> = vec![None; n];
    let mut focals: Vec<Option<f64>> = vec![None; n];
    let Some(&((i0, j0), _)) = pops.first() else {
        candle_core::bail!("global alignment needs at least one pair");
    };
    let mut last = edge(i0, j0)?;
    let root_pred = maps.points(last, Side::I)?;
    focals[i0] = Some(weiszfeld_focal(&root_pred, h, w));
    points[i0] = Some(root_pred);
    points[j0] = Some(maps.points(last, Side::J)?);
    poses[i0] = Some(DMat4::IDENTITY);
    let mut order = vec![(i0, j0)];
    for &((i, j), placed) in &pops[1..] {
        if focals[i].is_none() {
            // the reference's quirk: estimated from the last placed edge's view-1 points,
            // also when this edge is put back in the queue
            focals[i] = Some(weiszfeld_focal(&maps.points(last, Side::I)?, h, w));
        }
        if !placed {
            continue;
        }
        order.push((i, j));
        last = edge(i, j)?;
        let (placed, side_placed, new, side_new) = if points[i].is_some() {
            (i, Side::I, j, Side::J)
        } else {
            (j, Side::J, i, Side::I)
        };
        let target = points[placed].as_deref().unwrap_or_default();
        let sim = umeyama(
            &maps.points(last, side_placed)?,
            target,
            &maps.confidences(last, side_placed)?,
        );
        let moved = maps.points(last, side_new)?;
        points[new] = Some(moved.into_iter().map(|p| sim.apply(p)).collect());
        if poses[i].is_none() {
            poses[i] = Some(sim.rigid());
        }
    }
    // missing focals: Weiszfeld on the best-scored edge that has the image as view 1
    let mut best_first: Vec<usize> = (0..maps.edges.len()).collect();
    best_first.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    for &e in &best_first {
        let i = maps.edges[e].0;
        if focals[i].is_none() {
            focals[i] = Some(weiszfeld_focal(&maps.points(e, Side::I)?, h, w));
        }
    }
    // Deviation: the reference estimates the remaining poses by PnP-RANSAC (OpenCV SQPnP) of
    // the image's world points; we register the image's own view-1 points (best edge (k, m))
    // onto its world points, as MUSt3R does: exact on consistent maps, no RANSAC randomness.
    let mut registered_late = Vec::new();
    for k in 0..n {
        if poses[k].is_some() {
            continue;
        }
        let pose = match best_first.iter().find(|&&e| maps.edges[e].0 == k) {
            Some(&e) => {
                let target = points[k].as_deref().unwrap_or_default();
                umeyama(
                    &maps.points(e, Side::I)?,
                    target,
                    &maps.confidences(e, Side::I)?,
                )
                .rigid()
            }
            None => DMat4::IDENTITY,
        };
        poses[k] = Some(pose);
        registered_late.push(k);
    }
    Ok(TreeInit {
        scores,
        tree_edges: order,
        focal_px: focals
            .into_iter()
            .map(|f| guarded_focal(f.unwrap_or(0.0), h, w))
            .collect(),
        world_from_cam: poses
            .into_iter()
            .map(|p| p.unwrap_or(DMat4::IDENTITY))
            .collect(),
        points_in_world: points
            .into_iter()
            .map(|p| p.unwrap_or_else(|| vec![DVec3::ZERO; h * w]))
            .collect(),
        registered_late,
    })
}

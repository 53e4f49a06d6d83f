//! Video tracking: keyframes aligned globally on a sliding-window graph, every other frame
//! registered to its nearest keyframe from one pair forward each way, light temporal
//! smoothing, and the gauge fixed to frame 0 (spec dust3r.md §8).

use candle_core::{IndexOp as _, Result};
use glam::{DMat3, DMat4, DQuat, DVec3};

use super::align::input::{points_at, values_at};
use super::align::register::{umeyama, weiszfeld_focal};
use super::align::{align, AlignOptions, PairwisePointMaps};
use super::pairs::{make_pairs, SceneGraph};
use super::predictor::{PairBatch, PairPredictor};
use crate::core::ScenePoint;

/// Settings of the tracker.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrackOptions {
    /// Every K-th frame is a keyframe (the last frame always is).
    pub keyframe_every: usize,
    /// Keyframes are paired with this many following keyframes (swin-K, not cyclic).
    pub window: usize,
    /// Global alignment of the keyframes.
    pub align: AlignOptions,
    /// Smooth the registered frames' poses between their neighbours.
    pub smoothing: bool,
    /// Scene points need a confidence above this (the reference's `min_conf_thr`).
    pub min_confidence: f64,
    /// At most this many scene points are kept (evenly subsampled).
    pub max_points: usize,
    /// Registered frames handled per batch of pair forwards.
    pub register_batch: usize,
}

impl Default for TrackOptions {
    fn default() -> Self {
        Self {
            keyframe_every: 10,
            window: 3,
            align: AlignOptions {
                shared_focal: true,
                ..AlignOptions::default()
            },
            smoothing: true,
            min_confidence: 3.0,
            max_points: 20_000,
            register_batch: 8,
        }
    }
}

/// Figures of one tracking run, for the run report.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrackStats {
    /// Frames tracked.
    pub frames: usize,
    /// Keyframes aligned globally.
    pub keyframes: usize,
    /// Directed keyframe pairs.
    pub keyframe_pairs: usize,
    /// Directed pairs used to register the other frames.
    pub registration_pairs: usize,
    /// Pairs per network batch at the end (the plan's, or smaller after out-of-memory).
    pub pair_batch: usize,
    /// Pair batches that ran out of device memory and were retried at half the size.
    pub oom_retries: usize,
    /// Alignment loss at the start and at the end.
    pub align_loss: [f64; 2],
    /// Alignment iterations.
    pub align_iterations: usize,
    /// The iteration whose parameters were kept (the lowest loss; see `AlignOptions::keep_best`).
    pub align_kept_iteration: usize,
    /// Mean camera displacement removed by smoothing, in units of frame 0's median depth.
    pub smoothing_translation: f64,
    /// Mean rotation removed by smoothing, degrees.
    pub smoothing_rotation_deg: f64,
}

/// The tracked cameras in the network's pixel grid, world anchored at frame 0's camera with
/// frame 0's median scene depth as the unit of length.
#[derive(Debug, Clone)]
pub struct TrackOutcome {
    /// Camera-to-world per frame (OpenCV axes).
    pub world_from_cam: Vec<DMat4>,
    /// Focal per frame, pixels of the network input; principal point at its centre.
    pub focal_px: Vec<f64>,
    /// Keyframe indices.
    pub keyframes: Vec<usize>,
    /// Confident scene points of the keyframes, in world coordinates.
    pub points: Vec<ScenePoint>,
    /// Figures.
    pub stats: TrackStats,
    /// Things the user should know (degenerate geometry and what was done about it).
    pub warnings: Vec<String>,
}

/// Keyframe indices: 0, K, 2K, … and the last frame.
pub fn keyframes(n_frames: usize, every: usize) -> Vec<usize> {
    let mut keys: Vec<usize> = (0..n_frames).step_by(every.max(1)).collect();
    if n_frames > 0 && keys.last() != Some(&(n_frames - 1)) {
        keys.push(n_frames - 1);
    }
    keys
}

/// The keyframe pairs aligned globally (indices into the keyframes, both orders): every pair
/// while the window covers all keyframes, else a sliding window of `window` neighbours.
pub fn keyframe_edges(n_keys: usize, window: usize) -> Result<Vec<(usize, usize)>> {
    let graph = if n_keys <= window + 1 {
        SceneGraph::Complete
    } else {
        SceneGraph::SlidingWindow {
            window,
            cyclic: false,
        }
    };
    let pairs =
        make_pairs(&graph, n_keys, None).map_err(|e| candle_core::Error::Msg(e.to_string()))?;
    Ok(pairs.iter().map(|p| (p.view1, p.view2)).collect())
}

/// The keyframe nearest to `frame` (the earlier one on ties).
fn nearest_keyframe(keys: &[usize], frame: usize) -> usize {
    keys.iter()
        .copied()
        .min_by_key(|&k| (k.abs_diff(frame), k))
        .unwrap_or(0)
}

/// One pair's maps on the host.
struct HostPair {
    pred_i: Vec<DVec3>,
    conf_i: Vec<f64>,
    pred_j: Vec<DVec3>,
}

fn host_pair(batch: &PairBatch, p: usize) -> Result<HostPair> {
    Ok(HostPair {
        pred_i: points_at(&batch.pred_i, p)?,
        conf_i: values_at(&batch.conf_i, p)?,
        pred_j: points_at(&batch.pred_j, p)?,
    })
}

/// Tracks `n_frames` frames.
pub fn track(
    predictor: &mut dyn PairPredictor,
    n_frames: usize,
    options: &TrackOptions,
) -> Result<TrackOutcome> {
    if n_frames < 2 {
        candle_core::bail!("camera tracking needs at least 2 frames, the clip has {n_frames}");
    }
    let (h, w) = predictor.size_px();
    let keys = keyframes(n_frames, options.keyframe_every);
    let edges = keyframe_edges(keys.len(), options.window)?;
    let frame_pairs: Vec<(usize, usize)> = edges.iter().map(|&(i, j)| (keys[i], keys[j])).collect();
    let batch = predictor.predict(&frame_pairs)?;
    let maps = PairwisePointMaps {
        n_images: keys.len(),
        height: h,
        width: w,
        edges,
        pred_i: batch.pred_i,
        pred_j: batch.pred_j,
        conf_i: batch.conf_i,
        conf_j: batch.conf_j,
    };
    let mut warnings = Vec::new();
    let aligned = match align(&maps, &options.align) {
        Ok(aligned) => aligned,
        Err(e) => return Ok(static_camera(n_frames, (h, w), &keys, &e.to_string())),
    };
    if aligned.bad_initial_depths > 0 {
        warnings.push(format!(
            "{} keyframe pixels had no positive depth at the start of the alignment (set to \
             their image's median depth)",
            aligned.bad_initial_depths
        ));
    }
    let mut world_from_cam = vec![DMat4::IDENTITY; n_frames];
    let mut focal_px = vec![0.0; n_frames];
    let mut key_points: Vec<Vec<DVec3>> = Vec::with_capacity(keys.len());
    for (k, &frame) in keys.iter().enumerate() {
        world_from_cam[frame] = aligned.world_from_cam[k];
        focal_px[frame] = aligned.focal_px[k];
        let pts: Vec<f32> = aligned.points_in_world.i(k)?.flatten_all()?.to_vec1()?;
        key_points.push(
            pts.chunks_exact(3)
                .map(|p| DVec3::new(p[0].into(), p[1].into(), p[2].into()))
                .collect(),
        );
    }
    let others: Vec<usize> = (0..n_frames).filter(|f| !keys.contains(f)).collect();
    let mut registration_pairs = 0;
    for chunk in others.chunks(options.register_batch.max(1)) {
        let mut requests = Vec::with_capacity(2 * chunk.len());
        for &f in chunk {
            let kf = nearest_keyframe(&keys, f);
            requests.push((kf, f));
            requests.push((f, kf));
        }
        let batch = predictor.predict(&requests)?;
        registration_pairs += requests.len();
        for (n, &f) in chunk.iter().enumerate() {
            let kf = nearest_keyframe(&keys, f);
            let k = keys.iter().position(|&x| x == kf).unwrap_or(0);
            let forward = host_pair(&batch, 2 * n)?;
            let backward = host_pair(&batch, 2 * n + 1)?;
            // the pair's camera-kf frame → world, through the keyframe's aligned points
            let to_world = umeyama(&forward.pred_i, &key_points[k], &forward.conf_i);
            let frame_in_world: Vec<DVec3> =
                forward.pred_j.iter().map(|p| to_world.apply(*p)).collect();
            // the frame's own camera → world, through its points placed above
            let pose = umeyama(&backward.pred_i, &frame_in_world, &backward.conf_i);
            world_from_cam[f] = pose.rigid();
            focal_px[f] = if options.align.shared_focal {
                aligned.focal_px[0]
            } else {
                weiszfeld_focal(&backward.pred_i, h, w)
            };
        }
    }
    let mut stats = TrackStats {
        frames: n_frames,
        keyframes: keys.len(),
        keyframe_pairs: frame_pairs.len(),
        registration_pairs,
        align_loss: [
            aligned.loss_history.first().copied().unwrap_or(0.0),
            aligned.kept_loss(),
        ],
        align_iterations: options.align.niter,
        align_kept_iteration: aligned.kept_iteration,
        ..TrackStats::default()
    };
    // gauge: frame 0's camera is the world, frame 0's median depth the unit
    let depth0: Vec<f32> = aligned.depth.i(0)?.flatten_all()?.to_vec1()?;
    let unit = median(depth0.iter().map(|&d| f64::from(d)).collect()).max(1e-12);
    let world_from_world0 = world_from_cam[0].inverse();
    let regauge = |m: &DMat4| {
        let mut out = world_from_world0 * *m;
        out.w_axis = (out.w_axis.truncate() / unit).extend(1.0);
        out
    };
    let mut poses: Vec<DMat4> = world_from_cam.iter().map(regauge).collect();
    poses[0] = DMat4::IDENTITY; // exactly, not to round-off
    if options.smoothing {
        let (t, r) = smooth(&mut poses, &keys);
        stats.smoothing_translation = t;
        stats.smoothing_rotation_deg = r;
    }
    let baseline = poses
        .iter()
        .map(|p| p.w_axis.truncate().length())
        .fold(0.0, f64::max);
    if baseline < 1e-3 {
        warnings.push(format!(
            "the camera hardly moves (largest distance from frame 0: {baseline:.1e} of the \
             scene depth); poses are rotations about one point"
        ));
    }
    let finite =
        poses.iter().all(|p| p.is_finite()) && focal_px.iter().all(|f| f.is_finite() && *f > 0.0);
    if !finite {
        return Ok(static_camera(
            n_frames,
            (h, w),
            &keys,
            "non-finite poses after registration",
        ));
    }
    let conf = aligned.confidence.flatten_from(1)?.to_vec2::<f32>()?;
    let points = scene_points(&key_points, &conf, options, |p| {
        world_from_world0.transform_point3(p) / unit
    });
    Ok(TrackOutcome {
        world_from_cam: poses,
        focal_px,
        keyframes: keys,
        points,
        stats,
        warnings,
    })
}

/// The stated fallback when the geometry is degenerate (alignment diverged, maps without
/// usable depth): every frame at frame 0's pose with a 53° horizontal field of view (focal =
/// the input's long side), no scene points, and a warning that says so. Never NaN poses.
fn static_camera(
    n_frames: usize,
    size_px: (usize, usize),
    keys: &[usize],
    why: &str,
) -> TrackOutcome {
    let focal = size_px.0.max(size_px.1) as f64;
    TrackOutcome {
        world_from_cam: vec![DMat4::IDENTITY; n_frames],
        focal_px: vec![focal; n_frames],
        keyframes: keys.to_vec(),
        points: Vec::new(),
        stats: TrackStats {
            frames: n_frames,
            keyframes: keys.len(),
            ..TrackStats::default()
        },
        warnings: vec![format!(
            "camera tracking failed ({why}); falling back to a static camera at frame 0 with a \
             focal of {focal} network pixels; import a track with --poses for this clip"
        )],
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(1.0)
}

/// Confident keyframe points, evenly subsampled to at most `max_points`.
fn scene_points(
    key_points: &[Vec<DVec3>],
    conf: &[Vec<f32>],
    options: &TrackOptions,
    to_world: impl Fn(DVec3) -> DVec3,
) -> Vec<ScenePoint> {
    let confident: Vec<(DVec3, f64)> = key_points
        .iter()
        .zip(conf)
        .flat_map(|(pts, c)| pts.iter().zip(c))
        .filter(|(_, &c)| f64::from(c) > options.min_confidence)
        .map(|(p, &c)| (*p, f64::from(c)))
        .collect();
    let step = confident.len().div_ceil(options.max_points.max(1)).max(1);
    confident
        .into_iter()
        .step_by(step)
        .map(|(p, c)| ScenePoint {
            point_in_world: to_world(p),
            confidence: c,
        })
        .collect()
}

/// [1, 2, 1]/4 over time on the registered frames' positions and rotations (slerp); keyframes,
/// globally aligned, stay. Returns the mean translation and rotation (degrees) removed.
fn smooth(poses: &mut [DMat4], keys: &[usize]) -> (f64, f64) {
    let original = poses.to_vec();
    let (mut moved, mut turned, mut count) = (0.0, 0.0, 0usize);
    for f in 1..poses.len().saturating_sub(1) {
        if keys.contains(&f) {
            continue;
        }
        let (a, b, c) = (&original[f - 1], &original[f], &original[f + 1]);
        let t = (a.w_axis.truncate() + 2.0 * b.w_axis.truncate() + c.w_axis.truncate()) / 4.0;
        let q = |m: &DMat4| DQuat::from_mat3(&DMat3::from_mat4(*m)).normalize();
        let (qa, qb, qc) = (q(a), q(b), q(c));
        let mid = qa.slerp(qc, 0.5);
        let qs = qb.slerp(mid, 0.5);
        let r = DMat3::from_quat(qs);
        moved += (t - b.w_axis.truncate()).length();
        turned += qb.angle_between(qs).to_degrees();
        count += 1;
        poses[f] = crate::core::camera::rigid(&r, t);
    }
    let n = count.max(1) as f64;
    (moved / n, turned / n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r13_the_static_camera_warning_reads_as_one_sentence() {
        let outcome = static_camera(5, (288, 512), &[0, 4], "why");
        let w = &outcome.warnings[0];
        assert!(!w.contains("  "), "{w}");
        assert!(w.contains("with a focal of 512"), "{w}");
    }

    #[test]
    fn keyframes_include_the_last_frame() {
        assert_eq!(keyframes(25, 10), [0, 10, 20, 24]);
        assert_eq!(keyframes(21, 10), [0, 10, 20]);
        assert_eq!(nearest_keyframe(&[0, 10, 20], 15), 10);
        assert_eq!(nearest_keyframe(&[0, 10, 20], 16), 20);
    }
}

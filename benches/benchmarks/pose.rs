//! The pose stage (DUSt3R port) on CPU: `cargo bench -- pose`.
//!
//! `pose_pair`: the tiny golden DPT model (f32) at 48x64, 96x128 and 192x256 px: `encode` of one
//! image, `decode` of one pair from cached encodings, and `decode` of 4 pairs in one batch
//! (throughput in pairs). Before the group the encoder's share of an uncached pair forward
//! (2 encodes + 1 decode) is printed per size (fastest of 5 runs each).
//!
//! `pose_align`: global alignment on synthetic, consistent pair point maps (a plane at z = 4
//! seen by cameras translated along x) at 32x48 px, swin-3 noncyclic symmetrised graphs of
//! N = 4, 8, 16, 32 frames: `step` = one `optimise` call with one Adam iteration (parameter
//! copy, loss + backward + Adam step, closing loss), `tree` = the spanning-tree
//! initialisation. Throughput is in edges. Before the group the cost of one iteration alone
//! (fastest of 3 timed runs of 11 and of 1 iteration) is printed per edge.

use std::path::Path;
use std::time::{Duration, Instant};

use candle_core::{DType, Device, Tensor};
use criterion::{criterion_group, Criterion, SamplingMode, Throughput};
use vanelia::pose::network::model::Dust3r;
use vanelia::pose::tracking::align::init::spanning_tree;
use vanelia::pose::tracking::align::loss::{AlignmentLoss, ParamTensors};
use vanelia::pose::tracking::align::optimise::optimise;
use vanelia::pose::tracking::align::params::initial_params;
use vanelia::pose::tracking::align::{AlignOptions, PairwisePointMaps};
use vanelia::pose::tracking::pairs::{make_pairs, SceneGraph};

/// Image sizes (height, width) of the pair benches; multiples of the 16-pixel patch.
const PAIR_SIZES: [(usize, usize); 3] = [(48, 64), (96, 128), (192, 256)];
/// Pairs per batch in the batched decode.
const PAIR_BATCH: usize = 4;
/// Alignment image size (height, width).
const ALIGN_HW: (usize, usize) = (32, 48);
/// Frame counts of the alignment benches.
const FRAMES: [usize; 4] = [4, 8, 16, 32];
/// The reference's global-alignment cost (Python loop over edges, 512x288, 2 cores).
const REFERENCE_MS_PER_EDGE: f64 = 73.0;
/// Base scale of the alignment (the reference's default).
const BASE_SCALE: f64 = 0.5;

fn model() -> Dust3r {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden/dust3r/small/models/dpt");
    vanelia::pose::network::weights::load(&dir, DType::F32, &Device::Cpu).unwrap()
}

fn images(b: usize, h: usize, w: usize) -> Tensor {
    Tensor::rand(-1f32, 1.0, (b, 3, h, w), &Device::Cpu).unwrap()
}

/// The fastest of `runs` timed calls, in seconds (the other core may be busy).
fn seconds(f: impl Fn(), runs: u32) -> f64 {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn bench_pair(c: &mut Criterion) {
    let m = model();
    for (h, w) in PAIR_SIZES {
        let (one, one_b) = (images(1, h, w), images(1, h, w));
        let e1 = m.encode(&one, None).unwrap();
        let e2 = m.encode(&one_b, None).unwrap();
        let enc = seconds(|| drop(m.encode(&one, None).unwrap()), 5);
        let dec = seconds(|| drop(m.decode(&e1, &e2, None).unwrap()), 5);
        eprintln!(
            "pose_pair {h}x{w}: encode {:.2} ms, decode {:.2} ms, encoder share of an uncached \
             pair forward {:.0}%",
            enc * 1e3,
            dec * 1e3,
            100.0 * 2.0 * enc / (2.0 * enc + dec)
        );
    }
    let mut group = c.benchmark_group("pose_pair");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1500));
    for (h, w) in PAIR_SIZES {
        let one = images(1, h, w);
        let e1 = m.encode(&one, None).unwrap();
        let e2 = m.encode(&images(1, h, w), None).unwrap();
        let b1 = m.encode(&images(PAIR_BATCH, h, w), None).unwrap();
        let b2 = m.encode(&images(PAIR_BATCH, h, w), None).unwrap();
        group.throughput(Throughput::Elements(1));
        group.bench_function(format!("encode_{h}x{w}_b1"), |b| {
            b.iter(|| m.encode(&one, None).unwrap())
        });
        group.bench_function(format!("decode_{h}x{w}_b1"), |b| {
            b.iter(|| m.decode(&e1, &e2, None).unwrap())
        });
        group.throughput(Throughput::Elements(PAIR_BATCH as u64));
        group.bench_function(format!("decode_{h}x{w}_b{PAIR_BATCH}"), |b| {
            b.iter(|| m.decode(&b1, &b2, None).unwrap())
        });
    }
    group.finish();
}

/// Camera `k`'s centre: translated along x (and a little along y), looking down +z.
fn centre(k: usize) -> [f32; 3] {
    [0.25 * k as f32, 0.05 * (k % 3) as f32, 0.0]
}

/// Pair point maps of `n` translated cameras looking at the plane z = 4, focal 40 px.
fn synthetic_maps(n: usize) -> PairwisePointMaps {
    let (h, w) = ALIGN_HW;
    let focal = 40.0_f32;
    let depth = 4.0_f32;
    let edges: Vec<(usize, usize)> = make_pairs(
        &SceneGraph::SlidingWindow {
            window: 3,
            cyclic: false,
        },
        n,
        None,
    )
    .unwrap()
    .iter()
    .map(|p| (p.view1, p.view2))
    .collect();
    // image k's point at pixel (u, v) in camera i's frame: ray · depth + c_k − c_i
    let points = |k: usize, i: usize| -> Vec<f32> {
        let (ck, ci) = (centre(k), centre(i));
        let mut out = Vec::with_capacity(h * w * 3);
        for v in 0..h {
            for u in 0..w {
                out.push((u as f32 - w as f32 / 2.0) / focal * depth + ck[0] - ci[0]);
                out.push((v as f32 - h as f32 / 2.0) / focal * depth + ck[1] - ci[1]);
                out.push(depth + ck[2] - ci[2]);
            }
        }
        out
    };
    let (mut pi, mut pj) = (Vec::new(), Vec::new());
    for &(i, j) in &edges {
        pi.extend(points(i, i));
        pj.extend(points(j, i));
    }
    let e = edges.len();
    let dev = Device::Cpu;
    let stacked = |v: Vec<f32>| Tensor::from_vec(v, (e, h, w, 3), &dev).unwrap();
    let conf = || Tensor::rand(1.5f32, 5.0, (e, h, w), &dev).unwrap();
    PairwisePointMaps {
        n_images: n,
        height: h,
        width: w,
        edges,
        pred_i: stacked(pi),
        pred_j: stacked(pj),
        conf_i: conf(),
        conf_j: conf(),
    }
}

fn start_params(maps: &PairwisePointMaps) -> ParamTensors {
    let tree = spanning_tree(maps).unwrap();
    let init = initial_params(maps, &tree, BASE_SCALE).unwrap();
    let (n, e) = (maps.n_images, maps.edges.len());
    let t = |v: Vec<f32>, rows: usize| {
        let cols = v.len() / rows;
        Tensor::from_vec(v, (rows, cols), &Device::Cpu).unwrap()
    };
    ParamTensors {
        im_depthmaps: t(init.im_depthmaps, n),
        im_poses: t(init.im_poses, n),
        im_focals: t(init.im_focals, n),
        pw_poses: t(init.pw_poses, e),
    }
}

fn bench_align(c: &mut Criterion) {
    let options = AlignOptions::default();
    let (h, w) = ALIGN_HW;
    let scenes: Vec<_> = FRAMES
        .iter()
        .map(|&n| {
            let maps = synthetic_maps(n);
            let loss = AlignmentLoss::new(&maps, BASE_SCALE).unwrap();
            let params = start_params(&maps);
            (maps, loss, params)
        })
        .collect();
    for (maps, loss, params) in &scenes {
        let e = maps.edges.len();
        let run = |steps| seconds(|| drop(optimise(loss, params, &options, steps).unwrap()), 3);
        let per_iter = (run(11) - run(1)) / 10.0;
        eprintln!(
            "pose_align N={} E={e} {h}x{w}: {:.2} ms per iteration, {:.3} ms per edge per \
             iteration (reference: {REFERENCE_MS_PER_EDGE} ms per edge at 512x288)",
            maps.n_images,
            per_iter * 1e3,
            per_iter * 1e3 / e as f64
        );
    }
    let mut group = c.benchmark_group("pose_align");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1500))
        .sampling_mode(SamplingMode::Flat);
    for (maps, loss, params) in &scenes {
        let (n, e) = (maps.n_images, maps.edges.len());
        group.throughput(Throughput::Elements(e as u64));
        group.bench_function(format!("step_n{n}_e{e}_{h}x{w}"), |b| {
            b.iter(|| optimise(loss, params, &options, 1).unwrap())
        });
        group.bench_function(format!("tree_n{n}_e{e}_{h}x{w}"), |b| {
            b.iter(|| spanning_tree(maps).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, bench_pair, bench_align);

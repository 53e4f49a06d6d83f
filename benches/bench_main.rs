//! Criterion benchmarks: `cargo bench` (CPU). One file per subject under `benches/benchmarks/`.
#![allow(clippy::unwrap_used, missing_docs)]

mod benchmarks;

criterion::criterion_main!(
    benchmarks::attention::benches,
    benchmarks::composite::benches,
    benchmarks::denoise::benches,
    benchmarks::pose::benches,
    benchmarks::render::benches
);

//! The chunked attention every network uses (`src/nn/attention.rs`) at the UNet's top level
//! for a 512-px region (4096 tokens of 320 channels, 8 heads): the time cost of the query
//! chunks the memory plan picks on small devices: `cargo bench -- attention`. Names are
//! `attention_4096tok_chunk{rows}`; the score matrix per chunk is heads × rows × 4096 × 4 B.

use candle_core::{DType, Device, Tensor};
use criterion::{criterion_group, Criterion};
use vanelia::nn::attention::{attention, QUERY_CHUNK};

fn bench(c: &mut Criterion) {
    let (heads, tokens, head_dim) = (8, 4096, 40);
    let qkv = |seed: f64| {
        Tensor::arange(0f32, (heads * tokens * head_dim) as f32, &Device::Cpu)
            .and_then(|t| (t * (seed / (heads * tokens * head_dim) as f64))?.sin())
            .and_then(|t| t.reshape((1, heads, tokens, head_dim)))
            .and_then(|t| t.to_dtype(DType::F32))
            .unwrap()
    };
    let (q, k, v) = (qkv(3.0), qkv(5.0), qkv(7.0));
    let scale = 1.0 / (head_dim as f64).sqrt();
    let mut group = c.benchmark_group("attention");
    group.sample_size(10);
    for rows in [QUERY_CHUNK, 1024, 256] {
        group.bench_function(format!("attention_4096tok_chunk{rows}"), |b| {
            b.iter(|| attention(&q, &k, &v, scale, rows).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, bench);

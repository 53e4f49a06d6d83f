//! CPU compositing of a product layer into a frame: `cargo bench -- composite`.
//! Throughput is in frames; names are `cpu_composite_{mode}_{layer size}`.

use criterion::{criterion_group, Criterion, Throughput};
use vanelia::composite::classic::ClassicSettings;
use vanelia::composite::{composite, CompositeSettings, Harmonise};
use vanelia::core::{FrameNr, RenderLayers};

fn layers(size: u32) -> RenderLayers {
    let rgba = image::RgbaImage::from_fn(size, size, |x, y| {
        let inside =
            (x as f32 - size as f32 / 2.0).hypot(y as f32 - size as f32 / 2.0) < size as f32 * 0.4;
        if inside {
            image::Rgba([180, 40, 40, 255])
        } else {
            image::Rgba([0, 0, 0, 0])
        }
    });
    let shadow = image::GrayImage::from_pixel(size, size, image::Luma([200]));
    let mut l = RenderLayers::from_rgba(&rgba, &shadow);
    l.origin_px = [800, 400];
    l
}

fn bench(c: &mut Criterion) {
    let frame = image::RgbImage::from_fn(1920, 1080, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    });
    let mut group = c.benchmark_group("composite");
    group.throughput(Throughput::Elements(1));
    for size in [128_u32, 512] {
        let l = layers(size);
        for (name, harmonise) in [
            ("plain", Harmonise::None),
            ("classic", Harmonise::Classic(ClassicSettings::default())),
        ] {
            let s = CompositeSettings {
                feather_px: 1.0,
                harmonise,
                seed: 0,
                shadow_tint_rgb: [1.0; 3],
            };
            group.bench_function(format!("cpu_composite_{name}_{size}"), |b| {
                b.iter(|| composite(&frame, &l, FrameNr(0), &s))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);

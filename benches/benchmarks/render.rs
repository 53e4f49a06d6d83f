//! Rendering a 50k-triangle product at 1920x1080 (4x MSAA, shadow map, depth and shadow
//! catcher passes, readback of all layers): `cargo bench -- render`. On machines without a GPU
//! this measures Mesa lavapipe; set `WGPU_BACKEND` to choose a backend. Throughput in frames.

use criterion::{criterion_group, Criterion, Throughput};
use glam::{DMat4, DVec3, Vec3};
use vanelia::core::{CameraPose, FrameSize, Intrinsics};
use vanelia::render::raster::{GroundSetup, Lighting, Rasterizer};
use vanelia::render::scene::{Material, Mesh, ProductModel, Vertex};
use vanelia::render::shadow::Footprint;

/// A UV sphere of radius 0.1 m with `2 * n * n` triangles.
fn sphere(n: u32) -> ProductModel {
    let mut vertices = Vec::new();
    for i in 0..=n {
        for j in 0..=n {
            let (theta, phi) = (
                std::f32::consts::PI * i as f32 / n as f32,
                std::f32::consts::TAU * j as f32 / n as f32,
            );
            let normal = Vec3::new(
                theta.sin() * phi.cos(),
                theta.cos(),
                theta.sin() * phi.sin(),
            );
            vertices.push(Vertex {
                position: (normal * 0.1 + Vec3::Y * 0.1).into(),
                normal: normal.into(),
                tangent: [1.0, 0.0, 0.0, 1.0],
                uv0: [j as f32 / n as f32, i as f32 / n as f32],
                uv1: [0.0; 2],
                color: [0.8, 0.3, 0.2, 1.0],
            });
        }
    }
    let mut indices = Vec::new();
    for i in 0..n {
        for j in 0..n {
            let (a, b) = (i * (n + 1) + j, (i + 1) * (n + 1) + j);
            indices.extend([a, b, a + 1, a + 1, b, b + 1]);
        }
    }
    let material = Material {
        metallic: 0.0,
        roughness: 0.4,
        ..Material::default()
    };
    ProductModel {
        meshes: vec![Mesh {
            vertices,
            indices,
            material: 0,
        }],
        materials: vec![material],
        textures: Vec::new(),
        bbox_min: Vec3::new(-0.1, 0.0, -0.1),
        bbox_max: Vec3::new(0.1, 0.2, 0.1),
    }
}

fn bench(c: &mut Criterion) {
    let model = sphere(158);
    assert!(model.triangle_count() >= 49_000);
    let size = FrameSize {
        width: 1920,
        height: 1080,
    };
    let ground = GroundSetup {
        key_dir_in_world: DVec3::new(0.3, 1.0, 0.4).normalize(),
        key_angle_deg: 1.0,
        plane_point_in_world: DVec3::ZERO,
        plane_normal_in_world: DVec3::Y,
        footprint: Footprint::of_box(
            &DMat4::IDENTITY,
            (DVec3::new(-0.1, 0.0, -0.1), DVec3::new(0.1, 0.2, 0.1)),
            DVec3::Y,
        ),
        shadow_strength: 0.6,
        contact_strength: 0.45,
    };
    let mut raster = Rasterizer::new(&model, DMat4::IDENTITY, &ground, size).unwrap();
    let intrinsics = Intrinsics {
        focal_px: [1400.0, 1400.0],
        principal_px: [959.5, 539.5],
        size,
        lens: Default::default(),
    };
    // OpenCV camera 1 m in front of the product, looking at it (world y up).
    let world_from_cam = DMat4::from_cols(
        glam::DVec4::new(1.0, 0.0, 0.0, 0.0),
        glam::DVec4::new(0.0, -1.0, 0.0, 0.0),
        glam::DVec4::new(0.0, 0.0, -1.0, 0.0),
        glam::DVec4::new(0.0, 0.1, 1.0, 1.0),
    );
    let camera = CameraPose {
        world_from_cam,
        intrinsics,
    };
    let light = Lighting {
        key_color: [1.0; 3],
        sh: [[0.3; 3], [0.0; 3], [0.1; 3], [0.0; 3]],
    };
    let mut group = c.benchmark_group("render");
    group.sample_size(10);
    for batch in [1_usize, 8] {
        let jobs = vec![(camera, [0.05, 100.0], light); batch];
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(
            format!(
                "{}_render_50k_1920x1080_batch{batch}",
                backend_name(&raster)
            ),
            |b| b.iter(|| raster.render_batch(&jobs).unwrap()),
        );
    }
    group.finish();
}

fn backend_name(raster: &Rasterizer) -> String {
    raster
        .adapter
        .split_whitespace()
        .next()
        .unwrap_or("gpu")
        .to_lowercase()
}

criterion_group!(benches, bench);

use glam::{DMat4, DVec2, DVec3};
use vanelia::core::{CameraPose, FrameSize, Intrinsics};
use vanelia::render::raster::{Lighting, Rasterizer};
use vanelia::render::scene::ProductModel;

/// A cube of side `side` metres centred at the origin, as a .gltf with an embedded buffer.
fn cube_gltf(dir: &std::path::Path, side: f32) -> std::path::PathBuf {
    let h = side / 2.0;
    let mut pos = Vec::new();
    for z in [-h, h] {
        for y in [-h, h] {
            for x in [-h, h] {
                pos.extend([x, y, z]);
            }
        }
    }
    let idx: [u16; 36] = [
        0, 2, 1, 1, 2, 3, 4, 5, 6, 5, 7, 6, 0, 1, 4, 1, 5, 4, 2, 6, 3, 3, 6, 7, 0, 4, 2, 2, 4, 6,
        1, 3, 5, 3, 7, 5,
    ];
    let mut bin: Vec<u8> = pos.iter().flat_map(|v| v.to_le_bytes()).collect();
    bin.extend(idx.iter().flat_map(|v| v.to_le_bytes()));
    let uri = format!("data:application/octet-stream;base64,{}", base64(&bin));
    let doc = serde_json::json!({
        "asset": {"version": "2.0"}, "scene": 0, "scenes": [{"nodes": [0]}], "nodes": [{"mesh": 0}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}, "indices": 1}]}],
        "accessors": [
            {"bufferView": 0, "componentType": 5126, "count": 8, "type": "VEC3", "min": [-h, -h, -h], "max": [h, h, h]},
            {"bufferView": 1, "componentType": 5123, "count": 36, "type": "SCALAR"}],
        "bufferViews": [{"buffer": 0, "byteOffset": 0, "byteLength": 96}, {"buffer": 0, "byteOffset": 96, "byteLength": 72}],
        "buffers": [{"byteLength": bin.len(), "uri": uri}]
    });
    let path = dir.join("cube.gltf");
    std::fs::write(&path, doc.to_string()).unwrap();
    path
}

fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    bytes
        .chunks(3)
        .flat_map(|c| {
            let n = (u32::from(c[0]) << 16)
                | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
                | u32::from(*c.get(2).unwrap_or(&0));
            (0..4).map(move |i| {
                if i <= c.len() {
                    T[(n >> (18 - 6 * i) & 63) as usize] as char
                } else {
                    '='
                }
            })
        })
        .collect()
}

/// Alpha-weighted centroid of a render, in OpenCV pixel coordinates.
fn centroid(img: &image::RgbaImage) -> DVec2 {
    let (mut sum, mut w) = (DVec2::ZERO, 0.0);
    for (x, y, p) in img.enumerate_pixels() {
        let a = f64::from(p[3]);
        sum += DVec2::new(f64::from(x), f64::from(y)) * a;
        w += a;
    }
    assert!(w > 0.0, "nothing rendered {:?}", img.dimensions());
    sum / w
}

#[test]
fn rendered_points_land_on_the_analytic_pinhole_projection() {
    std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir());
    let dir = tempfile::tempdir().unwrap();
    let model = ProductModel::load(&cube_gltf(dir.path(), 0.02)).unwrap();
    for (size, focal, principal) in [
        (
            FrameSize {
                width: 180,
                height: 320,
            },
            [260.0, 250.0],
            [80.0, 170.75],
        ),
        (
            FrameSize {
                width: 320,
                height: 200,
            },
            [300.0, 340.0],
            [170.25, 90.5],
        ),
    ] {
        let intrinsics = Intrinsics {
            focal_px: focal,
            principal_px: principal,
            size,
        };
        let world_from_cam = DMat4::from_rotation_translation(
            glam::DQuat::from_rotation_y(0.2),
            DVec3::new(0.1, -0.05, -2.0),
        );
        let camera = CameraPose {
            world_from_cam,
            intrinsics,
        };
        let light = Lighting {
            key_dir_in_world: [0.0, -1.0, 0.0],
            key_color: [1.0; 3],
            ambient_color: [1.0; 3],
        };
        for point_in_cam in [
            DVec3::new(0.0, 0.0, 2.0),
            DVec3::new(0.15, -0.1, 2.5),
            DVec3::new(-0.1, 0.2, 1.8),
        ] {
            let point = world_from_cam.transform_point3(point_in_cam);
            let raster = Rasterizer::new(&model, DMat4::from_translation(point), size).unwrap();
            let img = raster.render(&camera, [0.1, 100.0], &light).unwrap();
            let expected = camera.project_world(point).unwrap();
            let got = centroid(&img);
            assert!(
                got.distance(expected) < 0.25,
                "{size}: expected {expected}, got {got}"
            );
        }
    }
}

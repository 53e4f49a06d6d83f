use glam::{DMat4, DVec2, DVec3};
use vanelia::core::{CameraPose, FrameSize, Intrinsics};
use vanelia::render::raster::{FrameImages, GroundSetup, Lighting, Rasterizer};
use vanelia::render::scene::ProductModel;
use vanelia::render::shadow::Footprint;

fn box_gltf(
    dir: &std::path::Path,
    half: [f32; 3],
    material: serde_json::Value,
) -> std::path::PathBuf {
    crate::util::write_gltf(
        dir,
        "box.gltf",
        &crate::util::box_mesh(half),
        material,
        |_| {},
    )
}

fn opaque() -> serde_json::Value {
    serde_json::json!({"pbrMetallicRoughness": {"baseColorFactor": [0.8, 0.8, 0.8, 1.0], "metallicFactor": 0.0}})
}

/// No shadows: the ground is far below and shadow strengths are zero.
fn no_ground() -> GroundSetup {
    GroundSetup {
        key_dir_in_world: DVec3::new(0.0, -1.0, -0.2).normalize(),
        key_angle_deg: 1.0,
        plane_point_in_world: DVec3::new(0.0, 100.0, 0.0),
        plane_normal_in_world: DVec3::new(0.0, -1.0, 0.0),
        footprint: Footprint::of_box(
            &DMat4::IDENTITY,
            (DVec3::splat(-0.01), DVec3::splat(0.01)),
            DVec3::NEG_Y,
        ),
        shadow_strength: 0.0,
        contact_strength: 0.0,
    }
}

fn light() -> Lighting {
    Lighting {
        key_color: [1.0; 3],
        sh: [[0.5; 3], [0.0; 3], [0.0; 3], [0.0; 3]],
    }
}

fn render(
    model_path: &std::path::Path,
    world_from_object: DMat4,
    camera: &CameraPose,
) -> FrameImages {
    std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir());
    let model = ProductModel::load(model_path).unwrap();
    let mut raster = Rasterizer::new(
        &model,
        world_from_object,
        &no_ground(),
        camera.intrinsics.size,
    )
    .unwrap();
    raster.render(camera, [0.05, 100.0], &light()).unwrap()
}

fn camera(size: FrameSize, focal: [f64; 2], principal: [f64; 2]) -> CameraPose {
    let intrinsics = Intrinsics {
        focal_px: focal,
        principal_px: principal,
        size,
        lens: Default::default(),
    };
    let world_from_cam = DMat4::from_rotation_translation(
        glam::DQuat::from_rotation_y(0.2),
        DVec3::new(0.1, -0.05, -2.0),
    );
    CameraPose {
        world_from_cam,
        intrinsics,
    }
}

#[test]
fn rendered_points_land_on_the_analytic_pinhole_projection() {
    let dir = tempfile::tempdir().unwrap();
    let cube = box_gltf(dir.path(), [0.01; 3], opaque());
    for (size, focal, principal) in [
        (
            FrameSize {
                width: 320,
                height: 200,
            },
            [300.0, 340.0],
            [170.25, 90.5],
        ),
        (
            FrameSize {
                width: 180,
                height: 320,
            },
            [260.0, 250.0],
            [80.0, 170.75],
        ),
    ] {
        let cam = camera(size, focal, principal);
        for point_in_cam in [
            DVec3::new(0.0, 0.0, 2.0),
            DVec3::new(0.15, -0.1, 2.5),
            DVec3::new(-0.1, 0.2, 1.8),
        ] {
            let point = cam.world_from_cam.transform_point3(point_in_cam);
            let img = render(&cube, DMat4::from_translation(point), &cam);
            let expected = cam.project_world(point).unwrap();
            let got = crate::util::mask_centroid(&img.mask);
            assert!(
                got.distance(expected) < 0.25,
                "{size}: expected {expected}, got {got}"
            );
        }
    }
}

/// Fraction of each pixel inside the convex polygon `poly` (counter-clockwise or clockwise),
/// by 8x8 supersampling.
fn analytic_coverage(poly: &[DVec2], size: FrameSize) -> Vec<f64> {
    let inside = |p: DVec2| {
        let signs: Vec<bool> = (0..poly.len())
            .map(|i| {
                let (a, b) = (poly[i], poly[(i + 1) % poly.len()]);
                (b - a).perp_dot(p - a) >= 0.0
            })
            .collect();
        signs.iter().all(|&s| s) || signs.iter().all(|&s| !s)
    };
    let mut out = Vec::with_capacity((size.width * size.height) as usize);
    for y in 0..size.height {
        for x in 0..size.width {
            let hits = (0..64)
                .filter(|k| {
                    let (sx, sy) = (f64::from(k % 8) + 0.5, f64::from(k / 8) + 0.5);
                    inside(DVec2::new(
                        f64::from(x) - 0.5 + sx / 8.0,
                        f64::from(y) - 0.5 + sy / 8.0,
                    ))
                })
                .count();
            out.push(hits as f64 / 64.0);
        }
    }
    out
}

fn convex_hull(mut pts: Vec<DVec2>) -> Vec<DVec2> {
    pts.sort_by(|a, b| a.x.total_cmp(&b.x).then(a.y.total_cmp(&b.y)));
    let mut hull: Vec<DVec2> = Vec::new();
    for pass in 0..2 {
        let start = hull.len();
        let iter: Box<dyn Iterator<Item = &DVec2>> = if pass == 0 {
            Box::new(pts.iter())
        } else {
            Box::new(pts.iter().rev())
        };
        for &p in iter {
            while hull.len() >= start + 2
                && (hull[hull.len() - 1] - hull[hull.len() - 2]).perp_dot(p - hull[hull.len() - 2])
                    <= 0.0
            {
                hull.pop();
            }
            hull.push(p);
        }
        hull.pop();
    }
    hull
}

#[test]
fn box_silhouette_matches_analytic_rasterisation() {
    let dir = tempfile::tempdir().unwrap();
    let half = [0.12, 0.08, 0.1];
    let model = box_gltf(dir.path(), half, opaque());
    let size = FrameSize {
        width: 240,
        height: 160,
    };
    let cam = camera(size, [210.0, 200.0], [118.3, 83.6]);
    let world_from_object = DMat4::from_rotation_translation(
        glam::DQuat::from_euler(glam::EulerRot::XYZ, 0.4, 0.7, 0.1),
        cam.world_from_cam
            .transform_point3(DVec3::new(0.05, 0.02, 1.5)),
    );
    let img = render(&model, world_from_object, &cam);
    let corners: Vec<DVec2> = (0..8)
        .map(|i| {
            let c = DVec3::new(
                if i & 1 == 0 { -1.0 } else { 1.0 } * f64::from(half[0]),
                if i & 2 == 0 { -1.0 } else { 1.0 } * f64::from(half[1]),
                if i & 4 == 0 { -1.0 } else { 1.0 } * f64::from(half[2]),
            );
            cam.project_world(world_from_object.transform_point3(c))
                .unwrap()
        })
        .collect();
    let expected = analytic_coverage(&convex_hull(corners), size);
    let (mut inter, mut union) = (0.0, 0.0);
    for (e, p) in expected.iter().zip(img.mask.pixels()) {
        let m = f64::from(p[0]) / 255.0;
        inter += e.min(m);
        union += e.max(m);
    }
    let iou = inter / union;
    assert!(iou >= 0.98, "silhouette IoU {iou}");
    // Depth of the nearest surface at the centre is in metres along the camera axis.
    let centre = cam
        .project_world(world_from_object.transform_point3(DVec3::ZERO))
        .unwrap();
    let z = img
        .depth_m
        .get_pixel(centre.x.round() as u32, centre.y.round() as u32)[0];
    assert!(z > 1.3 && z < 1.5, "depth {z}");
    assert!(img.depth_m.get_pixel(0, 0)[0].is_infinite());
}

#[test]
fn asymmetric_texture_renders_the_right_way_round() {
    // The bundled product's label has a yellow marker in its top-left corner (seen from the
    // front, +Z). Look at the front from 1 m with the product upright (+Y up = image up).
    let size = FrameSize {
        width: 200,
        height: 200,
    };
    let intrinsics = Intrinsics {
        focal_px: [400.0, 400.0],
        principal_px: [99.5, 99.5],
        size,
        lens: Default::default(),
    };
    // OpenCV camera at +Z looking towards -Z with image-down = world -Y.
    let world_from_cam = DMat4::from_cols(
        glam::DVec4::new(1.0, 0.0, 0.0, 0.0),
        glam::DVec4::new(0.0, -1.0, 0.0, 0.0),
        glam::DVec4::new(0.0, 0.0, -1.0, 0.0),
        glam::DVec4::new(0.0, 0.0, 1.0, 1.0),
    );
    let cam = CameraPose {
        world_from_cam,
        intrinsics,
    };
    let img = render(&crate::util::asset("product.glb"), DMat4::IDENTITY, &cam);
    let is_yellow = |p: &image::Rgba<u8>| p[3] > 200 && p[0] > 150 && p[1] > 110 && p[2] < 90;
    let yellow: Vec<(u32, u32)> = img
        .rgba
        .enumerate_pixels()
        .filter(|(_, _, p)| is_yellow(p))
        .map(|(x, y, _)| (x, y))
        .collect();
    assert!(!yellow.is_empty(), "no marker visible");
    let covered: Vec<(u32, u32)> = img
        .mask
        .enumerate_pixels()
        .filter(|(_, _, p)| p[0] > 128)
        .map(|(x, y, _)| (x, y))
        .collect();
    let (min_x, min_y) = (
        covered.iter().map(|c| c.0).min().unwrap(),
        covered.iter().map(|c| c.1).min().unwrap(),
    );
    let (max_x, max_y) = (
        covered.iter().map(|c| c.0).max().unwrap(),
        covered.iter().map(|c| c.1).max().unwrap(),
    );
    let (mx, my) = (
        yellow.iter().map(|c| c.0).sum::<u32>() / yellow.len() as u32,
        yellow.iter().map(|c| c.1).sum::<u32>() / yellow.len() as u32,
    );
    assert!(
        mx < (min_x + max_x) / 2 && my < (min_y + max_y) / 2,
        "marker at ({mx}, {my}) in box ({min_x},{min_y})-({max_x},{max_y})"
    );
}

#[test]
fn alpha_modes_mask_and_blend() {
    let dir = tempfile::tempdir().unwrap();
    let size = FrameSize {
        width: 64,
        height: 64,
    };
    let cam = camera(size, [80.0, 80.0], [31.5, 31.5]);
    let at = DMat4::from_translation(
        cam.world_from_cam
            .transform_point3(DVec3::new(0.0, 0.0, 2.0)),
    );
    let half_alpha = |extra: serde_json::Value| {
        let mut m = serde_json::json!({"pbrMetallicRoughness": {"baseColorFactor": [1.0, 1.0, 1.0, 0.5], "metallicFactor": 0.0}});
        m.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        m
    };
    let centre = |img: &FrameImages| img.rgba.get_pixel(31, 31)[3];
    let blend = render(
        &box_gltf(
            dir.path(),
            [0.3; 3],
            half_alpha(serde_json::json!({"alphaMode": "BLEND", "doubleSided": true})),
        ),
        at,
        &cam,
    );
    // Two blended layers (front and back face) of alpha 0.5: 1 - 0.5^2 = 0.75.
    assert!(
        (180..=200).contains(&centre(&blend)),
        "blend alpha {}",
        centre(&blend)
    );
    let masked = render(
        &box_gltf(
            dir.path(),
            [0.3; 3],
            half_alpha(serde_json::json!({"alphaMode": "MASK", "alphaCutoff": 0.6})),
        ),
        at,
        &cam,
    );
    assert_eq!(centre(&masked), 0, "below the cutoff nothing is drawn");
    let kept = render(
        &box_gltf(
            dir.path(),
            [0.3; 3],
            half_alpha(serde_json::json!({"alphaMode": "MASK", "alphaCutoff": 0.4})),
        ),
        at,
        &cam,
    );
    assert_eq!(centre(&kept), 255, "above the cutoff the surface is opaque");
    let opaque = render(
        &box_gltf(dir.path(), [0.3; 3], half_alpha(serde_json::json!({}))),
        at,
        &cam,
    );
    assert_eq!(centre(&opaque), 255, "OPAQUE ignores alpha");
}

/// A 200x200 camera 2 m from the origin, looking at it (a 0.2 m box spans ~30 px).
fn box_camera() -> CameraPose {
    let size = FrameSize {
        width: 200,
        height: 200,
    };
    camera(size, [300.0, 300.0], [99.5, 99.5])
}

/// Mean per-channel difference of two RGBA layers, levels.
fn mean_difference(a: &image::RgbaImage, b: &image::RgbaImage) -> f64 {
    let sum: f64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| f64::from(x.abs_diff(*y)))
        .sum();
    sum / a.as_raw().len() as f64
}

/// A box whose base colour is `texture` (an 8x8 pattern), stored in the file as `format` and,
/// for WebP, referenced through `EXT_texture_webp` as a required extension.
fn textured_box(dir: &std::path::Path, format: image::ImageFormat) -> std::path::PathBuf {
    let texture = image::RgbaImage::from_fn(8, 8, |x, y| {
        image::Rgba([(x * 32) as u8, (y * 32) as u8, ((x + y) * 16) as u8, 255])
    });
    let mut encoded = std::io::Cursor::new(Vec::new());
    texture.write_to(&mut encoded, format).unwrap();
    let uri = format!(
        "data:{};base64,{}",
        format.to_mime_type(),
        crate::util::base64(encoded.get_ref())
    );
    let webp = format == image::ImageFormat::WebP;
    let material = serde_json::json!({"pbrMetallicRoughness": {"baseColorTexture": {"index": 0}, "metallicFactor": 0.0}});
    crate::util::write_gltf(
        dir,
        &format!("box.{}.gltf", format.extensions_str()[0]),
        &crate::util::box_mesh([0.1; 3]),
        material,
        |doc| {
            doc["images"] = serde_json::json!([{ "uri": uri }]);
            if webp {
                doc["textures"] =
                    serde_json::json!([{"extensions": {"EXT_texture_webp": {"source": 0}}}]);
                doc["extensionsUsed"] = serde_json::json!(["EXT_texture_webp"]);
                doc["extensionsRequired"] = serde_json::json!(["EXT_texture_webp"]);
            } else {
                doc["textures"] = serde_json::json!([{"source": 0}]);
            }
        },
    )
}

#[test]
fn a_webp_texture_renders_as_the_same_png_texture() {
    let dir = tempfile::tempdir().unwrap();
    let cam = box_camera();
    let png = render(
        &textured_box(dir.path(), image::ImageFormat::Png),
        DMat4::IDENTITY,
        &cam,
    );
    let webp = render(
        &textured_box(dir.path(), image::ImageFormat::WebP),
        DMat4::IDENTITY,
        &cam,
    );
    assert!(
        png.mask.pixels().filter(|p| p[0] > 0).count() > 500,
        "the box is in view"
    );
    assert_eq!(
        png.rgba, webp.rgba,
        "lossless WebP decodes to the PNG's texels"
    );
}

/// The box of `box_gltf` with `KHR_mesh_quantization`: positions as normalized 16-bit
/// integers scaled back by the node, normals as normalized bytes, texture coordinates as
/// normalized unsigned 16-bit.
fn quantized_box(dir: &std::path::Path, half: f32) -> std::path::PathBuf {
    let mesh = crate::util::box_mesh([half; 3]);
    let mut bin: Vec<u8> = Vec::new();
    let mut views = Vec::new();
    let mut push = |bytes: Vec<u8>, stride: Option<usize>| {
        let mut view =
            serde_json::json!({"buffer": 0, "byteOffset": bin.len(), "byteLength": bytes.len()});
        if let Some(stride) = stride {
            view["byteStride"] = stride.into();
        }
        views.push(view);
        bin.extend(bytes);
        while !bin.len().is_multiple_of(4) {
            bin.push(0);
        }
    };
    // vertex attributes padded to 4-byte elements, as the extension requires
    let padded = |values: &[f32], n: usize, size: usize, q: &dyn Fn(f32) -> Vec<u8>| {
        let element = (n * size).next_multiple_of(4);
        let mut out = Vec::new();
        for v in values.chunks(n) {
            let mut e: Vec<u8> = v.iter().flat_map(|&c| q(c)).collect();
            e.resize(element, 0);
            out.extend(e);
        }
        (out, element)
    };
    let (pos, pos_stride) = padded(&mesh.positions, 3, 2, &|c| {
        ((c / half * 32767.0).round() as i16).to_le_bytes().to_vec()
    });
    let (nor, nor_stride) = padded(&mesh.normals, 3, 1, &|c| {
        vec![(c * 127.0).round() as i8 as u8]
    });
    let (uv, _) = padded(&mesh.uvs, 2, 2, &|c| {
        ((c * 65535.0).round() as u16).to_le_bytes().to_vec()
    });
    push(pos, Some(pos_stride));
    push(nor, Some(nor_stride));
    push(uv, None);
    push(bytemuck::cast_slice(&mesh.indices).to_vec(), None);
    let n = mesh.positions.len() / 3;
    let uri = format!(
        "data:application/octet-stream;base64,{}",
        crate::util::base64(&bin)
    );
    crate::util::write_gltf(dir, "quantized.gltf", &mesh, opaque(), |doc| {
        doc["nodes"] = serde_json::json!([{"mesh": 0, "scale": [half, half, half]}]);
        doc["accessors"] = serde_json::json!([
            {"bufferView": 0, "componentType": 5122, "normalized": true, "count": n, "type": "VEC3", "min": [-32767, -32767, -32767], "max": [32767, 32767, 32767]},
            {"bufferView": 1, "componentType": 5120, "normalized": true, "count": n, "type": "VEC3"},
            {"bufferView": 2, "componentType": 5123, "normalized": true, "count": n, "type": "VEC2"},
            {"bufferView": 3, "componentType": 5123, "count": mesh.indices.len(), "type": "SCALAR"}]);
        doc["bufferViews"] = views.clone().into();
        doc["buffers"] = serde_json::json!([{"byteLength": bin.len(), "uri": uri}]);
        doc["extensionsUsed"] = serde_json::json!(["KHR_mesh_quantization"]);
        doc["extensionsRequired"] = serde_json::json!(["KHR_mesh_quantization"]);
    })
}

#[test]
fn a_quantized_mesh_renders_as_the_float_mesh() {
    let dir = tempfile::tempdir().unwrap();
    let cam = box_camera();
    let float = render(
        &box_gltf(dir.path(), [0.1; 3], opaque()),
        DMat4::IDENTITY,
        &cam,
    );
    let quantized = render(&quantized_box(dir.path(), 0.1), DMat4::IDENTITY, &cam);
    assert!(
        float.mask.pixels().filter(|p| p[0] > 0).count() > 500,
        "the box is in view"
    );
    let worst = float
        .rgba
        .as_raw()
        .iter()
        .zip(quantized.rgba.as_raw())
        .map(|(a, b)| a.abs_diff(*b))
        .max()
        .unwrap_or(0);
    // positions and normals of a box are exact in 16 and 8 bits; only rounding in the
    // vertex transform differs
    assert!(worst <= 2, "renders differ by {worst} levels");
}

/// The box of `box_gltf` as a `KHR_draco_mesh_compression` primitive, encoded by draco-core
/// (the reference bitstream's Rust port) with its default quantization.
fn draco_box(dir: &std::path::Path, half: f32, corrupt: bool) -> std::path::PathBuf {
    use draco_core::{
        DataType, EncoderBuffer, EncoderOptions, FaceIndex, GeometryAttributeType, Mesh,
        MeshEncoder, PointAttribute,
    };
    let spec = crate::util::box_mesh([half; 3]);
    let n = spec.positions.len() / 3;
    let mut mesh = Mesh::new();
    mesh.set_num_points(n);
    let mut ids = serde_json::Map::new();
    for (name, kind, values, components) in [
        (
            "POSITION",
            GeometryAttributeType::Position,
            &spec.positions,
            3,
        ),
        ("NORMAL", GeometryAttributeType::Normal, &spec.normals, 3),
        ("TEXCOORD_0", GeometryAttributeType::TexCoord, &spec.uvs, 2),
    ] {
        let mut attribute = PointAttribute::new();
        attribute.init(kind, components, DataType::Float32, false, n);
        for (i, v) in values.iter().enumerate() {
            attribute.buffer_mut().write(i * 4, &v.to_le_bytes());
        }
        let id = mesh.add_attribute(attribute);
        ids.insert(name.into(), mesh.attribute(id).unique_id().into());
    }
    let faces = spec.indices.len() / 3;
    mesh.set_num_faces(faces);
    for (f, t) in spec.indices.chunks(3).enumerate() {
        let corner = |k: usize| u32::from(t[k]).into();
        mesh.set_face(FaceIndex(f as u32), [corner(0), corner(1), corner(2)]);
    }
    let mut encoder = MeshEncoder::new();
    encoder.set_mesh(mesh);
    let mut encoded = EncoderBuffer::new();
    encoder
        .encode(&EncoderOptions::new(), &mut encoded)
        .unwrap();
    let mut bin = encoded.data().to_vec();
    if corrupt {
        // the header and the start of the connectivity only: the stream ends mid-way
        bin.truncate(24);
    }
    let uri = format!(
        "data:application/octet-stream;base64,{}",
        crate::util::base64(&bin)
    );
    crate::util::write_gltf(dir, "draco.gltf", &spec, opaque(), |doc| {
        let extension = serde_json::json!({"bufferView": 0, "attributes": ids});
        doc["meshes"][0]["primitives"][0]["extensions"] =
            serde_json::json!({ "KHR_draco_mesh_compression": extension });
        // the accessors keep their types and counts but no data of their own
        for accessor in doc["accessors"].as_array_mut().unwrap() {
            accessor.as_object_mut().unwrap().remove("bufferView");
        }
        doc["bufferViews"] =
            serde_json::json!([{"buffer": 0, "byteOffset": 0, "byteLength": bin.len()}]);
        doc["buffers"] = serde_json::json!([{"byteLength": bin.len(), "uri": uri}]);
        doc["extensionsUsed"] = serde_json::json!(["KHR_draco_mesh_compression"]);
        doc["extensionsRequired"] = serde_json::json!(["KHR_draco_mesh_compression"]);
    })
}

#[test]
fn a_draco_mesh_renders_as_the_uncompressed_mesh() {
    let dir = tempfile::tempdir().unwrap();
    let cam = box_camera();
    let plain = render(
        &box_gltf(dir.path(), [0.1; 3], opaque()),
        DMat4::IDENTITY,
        &cam,
    );
    let draco = render(&draco_box(dir.path(), 0.1, false), DMat4::IDENTITY, &cam);
    let covered = |i: &FrameImages| i.mask.pixels().filter(|p| p[0] > 127).count() as i64;
    assert!(covered(&plain) > 500, "the box is in view");
    // Draco quantizes positions (14 bits by default): the silhouette moves by a fraction of
    // a pixel at most
    let moved = (covered(&plain) - covered(&draco)).abs();
    assert!(moved <= 20, "coverage differs by {moved} pixels");
    let mean_diff = mean_difference(&plain.rgba, &draco.rgba);
    assert!(
        mean_diff < 0.5,
        "renders differ by {mean_diff} levels on average"
    );
}

#[test]
fn a_malformed_draco_stream_is_an_error_naming_the_extension() {
    let dir = tempfile::tempdir().unwrap();
    let path = draco_box(dir.path(), 0.1, true);
    match ProductModel::load(&path) {
        Ok(m) => panic!(
            "a truncated Draco stream loaded: {} triangles, {:?}",
            m.triangle_count(),
            std::fs::read_to_string(&path).unwrap().len()
        ),
        Err(e) => {
            let text = e.to_string();
            assert!(text.contains("KHR_draco_mesh_compression"), "{text}");
        }
    }
}

/// The bundled product as gltf-transform compresses it (`tests/fixtures/compressed/`): each
/// file renders as the uncompressed product, up to the encoders' quantization.
#[test]
fn compressed_files_from_gltf_transform_render_as_the_product() {
    let size = FrameSize {
        width: 200,
        height: 200,
    };
    // the product's front from 0.6 m, upright (as `asymmetric_texture_renders_the_right_way_round`)
    let world_from_cam = DMat4::from_cols(
        glam::DVec4::new(1.0, 0.0, 0.0, 0.0),
        glam::DVec4::new(0.0, -1.0, 0.0, 0.0),
        glam::DVec4::new(0.0, 0.0, -1.0, 0.0),
        glam::DVec4::new(0.0, 0.1, 0.6, 1.0),
    );
    let cam = CameraPose {
        world_from_cam,
        intrinsics: Intrinsics {
            focal_px: [300.0, 300.0],
            principal_px: [99.5, 99.5],
            size,
            lens: Default::default(),
        },
    };
    let plain = render(&crate::util::asset("product.glb"), DMat4::IDENTITY, &cam);
    let covered = plain.mask.pixels().filter(|p| p[0] > 127).count();
    assert!(covered > 2000, "the product is in view ({covered} px)");
    let fixtures =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/compressed");
    // Draco and quantization move vertices by a fraction of a millimetre (a few edge pixels);
    // WebP is lossy on the label
    for (file, max_mean) in [
        ("draco.glb", 0.05),
        ("quantized.glb", 0.05),
        ("webp.glb", 0.2),
    ] {
        let got = render(&fixtures.join(file), DMat4::IDENTITY, &cam);
        let mean = mean_difference(&plain.rgba, &got.rgba);
        let edge = plain
            .mask
            .pixels()
            .zip(got.mask.pixels())
            .filter(|(a, b)| a[0].abs_diff(b[0]) > 8)
            .count();
        assert!(
            mean <= max_mean && edge <= 40,
            "{file}: mean {mean:.3} levels, {edge} edge pixels"
        );
    }
}

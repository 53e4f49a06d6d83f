//! A small textured product as a binary glTF written from scratch: a box with one material
//! and a 256x256 PNG atlas (front label, back, sides, top/bottom).

use serde_json::json;

const HALF: [f32; 3] = [0.05, 0.11, 0.035];

/// Outward normal, the two in-face axes (u right, v up as seen from outside), atlas cell.
type Face = ([f32; 3], [f32; 3], [f32; 3], [f32; 2]);

const FACES: [Face; 6] = [
    (
        [0.0, 0.0, 1.0],
        [1.0, 0.0, 0.0],
        [0.0, 1.0, 0.0],
        [0.0, 0.0],
    ), // front: label
    (
        [0.0, 0.0, -1.0],
        [-1.0, 0.0, 0.0],
        [0.0, 1.0, 0.0],
        [0.5, 0.0],
    ), // back
    (
        [1.0, 0.0, 0.0],
        [0.0, 0.0, -1.0],
        [0.0, 1.0, 0.0],
        [0.0, 0.5],
    ), // right side
    (
        [-1.0, 0.0, 0.0],
        [0.0, 0.0, 1.0],
        [0.0, 1.0, 0.0],
        [0.0, 0.5],
    ), // left side
    (
        [0.0, 1.0, 0.0],
        [1.0, 0.0, 0.0],
        [0.0, 0.0, -1.0],
        [0.5, 0.5],
    ), // top
    (
        [0.0, -1.0, 0.0],
        [1.0, 0.0, 0.0],
        [0.0, 0.0, 1.0],
        [0.5, 0.5],
    ), // bottom
];

/// Positions, normals, UVs and triangle indices.
#[derive(Default)]
struct Geometry {
    pos: Vec<[f32; 3]>,
    nrm: Vec<[f32; 3]>,
    uv: Vec<[f32; 2]>,
    idx: Vec<u16>,
}

fn geometry() -> Geometry {
    let Geometry {
        mut pos,
        mut nrm,
        mut uv,
        mut idx,
    } = Geometry::default();
    for (n, u, v, cell) in FACES {
        let base = pos.len() as u16;
        for (su, sv) in [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)] {
            let p: [f32; 3] = std::array::from_fn(|k| (n[k] + su * u[k] + sv * v[k]) * HALF[k]);
            pos.push(p);
            nrm.push(n);
            // glTF UV origin is the top-left of the image.
            uv.push([
                cell[0] + 0.5 * (su + 1.0) / 2.0,
                cell[1] + 0.5 * (1.0 - (sv + 1.0) / 2.0),
            ]);
        }
        idx.extend([base, base + 1, base + 2, base, base + 2, base + 3]);
    }
    Geometry { pos, nrm, uv, idx }
}

fn atlas_png() -> Vec<u8> {
    let img = image::RgbaImage::from_fn(256, 256, |x, y| {
        let (qx, qy, lx, ly) = (x / 128, y / 128, x % 128, y % 128);
        let px: [u8; 3] = match (qx, qy) {
            (0, 0) if lx < 24 && ly < 24 => [250, 210, 40], // orientation marker
            (0, 0) if (58..70).contains(&ly) && (20..108).contains(&lx) && (lx / 8) % 2 == 0 => {
                [30, 30, 30]
            }
            (0, 0) if (52..76).contains(&ly) => [245, 245, 240], // label stripe
            (0, 0) => [190, 30, 35],
            (1, 0) => [120, 20, 25],
            (0, 1) => [225, 215, 195],
            _ => [200, 200, 200],
        };
        image::Rgba([px[0], px[1], px[2], 255])
    });
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .unwrap();
    bytes
}

fn pad4(buf: &mut Vec<u8>, fill: u8) {
    while !buf.len().is_multiple_of(4) {
        buf.push(fill);
    }
}

/// The GLB file bytes.
pub fn product_box() -> Vec<u8> {
    let Geometry { pos, nrm, uv, idx } = geometry();
    let mut bin = Vec::new();
    let mut views = Vec::new();
    let mut push = |bytes: &[u8], target: Option<u32>| {
        let offset = bin.len();
        bin.extend_from_slice(bytes);
        let mut v = json!({"buffer": 0, "byteOffset": offset, "byteLength": bytes.len()});
        if let Some(t) = target {
            v["target"] = json!(t);
        }
        views.push(v);
        pad4(&mut bin, 0);
    };
    push(bytemuck::cast_slice(&pos), Some(34962));
    push(bytemuck::cast_slice(&nrm), Some(34962));
    push(bytemuck::cast_slice(&uv), Some(34962));
    push(bytemuck::cast_slice(&idx), Some(34963));
    push(&atlas_png(), None);
    let n = pos.len();
    let doc = json!({
        "asset": {"version": "2.0", "generator": "vanelia make_assets"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0, "name": "product"}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0, "NORMAL": 1, "TEXCOORD_0": 2}, "indices": 3, "material": 0}]}],
        "materials": [{"name": "label", "pbrMetallicRoughness": {"baseColorTexture": {"index": 0}, "metallicFactor": 0.0, "roughnessFactor": 0.55}}],
        "textures": [{"source": 0, "sampler": 0}],
        "samplers": [{"magFilter": 9729, "minFilter": 9729}],
        "images": [{"bufferView": 4, "mimeType": "image/png"}],
        "accessors": [
            {"bufferView": 0, "componentType": 5126, "count": n, "type": "VEC3",
             "min": HALF.map(|h| -h), "max": HALF},
            {"bufferView": 1, "componentType": 5126, "count": n, "type": "VEC3"},
            {"bufferView": 2, "componentType": 5126, "count": n, "type": "VEC2"},
            {"bufferView": 3, "componentType": 5123, "count": idx.len(), "type": "SCALAR"}
        ],
        "bufferViews": views,
        "buffers": [{"byteLength": bin.len()}]
    });
    let mut json_bytes = serde_json::to_vec(&doc).unwrap();
    pad4(&mut json_bytes, b' ');
    let total = 12 + 8 + json_bytes.len() + 8 + bin.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(b"glTF");
    out.extend_from_slice(&2_u32.to_le_bytes());
    out.extend_from_slice(&(total as u32).to_le_bytes());
    out.extend_from_slice(&(json_bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(b"JSON");
    out.extend_from_slice(&json_bytes);
    out.extend_from_slice(&(bin.len() as u32).to_le_bytes());
    out.extend_from_slice(b"BIN\0");
    out.extend_from_slice(&bin);
    out
}

//! Checks on a glTF's JSON before the gltf crate sees it. Two kinds: extensions we cannot
//! decode (refused with the conversion to run), and malformed inputs on which gltf 1.4.1 /
//! gltf-json 1.4.1 panic instead of returning an error (all found by the GLB fuzz target in
//! `fuzz/`; each has a regression file under `tests/fixtures/fuzz_glb_crash_*`).

/// Extensions we cannot decode, with the conversion that removes them.
const COMPRESSION_EXTENSIONS: &[&str] = &["EXT_meshopt_compression", "KHR_texture_basisu"];

/// Reads `extensionsRequired` from the JSON (GLB chunk 0 or a .gltf file) before importing,
/// so that compressed files get a message saying how to convert them.
/// Checks a GLB or .gltf before the gltf crate parses it.
pub fn precheck(bytes: &[u8]) -> std::result::Result<(), String> {
    check_glb_header(bytes)?;
    let (json, bin_len) = glb_chunks(bytes)?;
    // glTF JSON must be UTF-8; the gltf crate is laxer and then panics on what it let through.
    let value: serde_json::Value = serde_json::from_slice(json)
        .map_err(|e| format!("the glTF JSON is not valid UTF-8 JSON ({e}); re-export the file"))?;
    check_attributes(&value)?;
    check_images(&value)?;
    check_buffer_views(&value, bin_len)?;
    let required = value
        .get("extensionsRequired")
        .and_then(|v| v.as_array())
        .cloned()
        .unwrap_or_default();
    match required
        .iter()
        .filter_map(|v| v.as_str())
        .find(|n| COMPRESSION_EXTENSIONS.contains(n))
    {
        Some(name) => Err(format!(
            "the file requires {name}, which vanelia cannot decode; re-export the model without \
             meshopt or KTX2/Basis compression (Draco and quantized meshes, WebP textures are \
             fine), e.g. from Blender with compression off, or convert it with \
             gltf-transform"
        )),
        None => Ok(()),
    }
}

/// The JSON chunk and the length of the BIN chunk of a GLB (the whole input for .gltf).
fn glb_chunks(bytes: &[u8]) -> std::result::Result<(&[u8], Option<usize>), String> {
    if !(bytes.starts_with(b"glTF") && bytes.len() >= 20) {
        return Ok((bytes, None));
    }
    let word = |at: usize| {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let truncated = || "truncated GLB chunk; re-export the file".to_owned();
    let json_len = word(12).ok_or_else(truncated)?;
    let json = bytes
        .get(20..20usize.saturating_add(json_len))
        .ok_or_else(truncated)?;
    let bin_at = 20 + json_len;
    Ok((
        json,
        word(bin_at).map(|len| len.min(bytes.len().saturating_sub(bin_at + 8))),
    ))
}

/// Every buffer view must lie inside its buffer, and a GLB's embedded buffer inside the BIN
/// chunk: gltf 1.4.1 slices image views unchecked (found by the GLB fuzz target).
fn check_buffer_views(
    doc: &serde_json::Value,
    bin_len: Option<usize>,
) -> std::result::Result<(), String> {
    let array = |key: &str| {
        doc.get(key)
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default()
    };
    let buffers: Vec<(u64, bool)> = array("buffers")
        .iter()
        .map(|b| {
            (
                b.get("byteLength").and_then(|l| l.as_u64()).unwrap_or(0),
                b.get("uri").is_some(),
            )
        })
        .collect();
    if let (Some(&(declared, false)), Some(actual)) = (buffers.first(), bin_len) {
        if declared as usize > actual {
            return Err(format!(
                "the GLB's binary chunk holds {actual} bytes but its buffer declares {declared}"
            ));
        }
    }
    for (i, view) in array("bufferViews").iter().enumerate() {
        let field = |k: &str| view.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
        let end = field("byteOffset").saturating_add(field("byteLength"));
        match buffers.get(field("buffer") as usize) {
            Some(&(len, _)) if end <= len => {}
            _ => {
                return Err(format!(
                    "buffer view {i} reaches past the end of its buffer"
                ))
            }
        }
    }
    Ok(())
}

/// A GLB's declared length must cover at least its 12-byte header: gltf 1.4.1 subtracts
/// unchecked and panics on overflow in builds with overflow checks (found by the GLB fuzz
/// target).
fn check_glb_header(bytes: &[u8]) -> std::result::Result<(), String> {
    if !bytes.starts_with(b"glTF") {
        return Ok(());
    }
    let length = bytes
        .get(8..12)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    match length {
        Some(n) if n >= 12 => Ok(()),
        _ => Err(
            "the GLB header is truncated or declares an impossible length; re-export the file"
                .into(),
        ),
    }
}

/// An image stored in a buffer view must say its MIME type, and any other image must have a
/// URI; gltf 1.4.1 unwraps both unchecked (found by the GLB fuzz target).
fn check_images(doc: &serde_json::Value) -> std::result::Result<(), String> {
    let images = doc
        .get("images")
        .and_then(|i| i.as_array())
        .cloned()
        .unwrap_or_default();
    for (i, image) in images.iter().enumerate() {
        let has = |key: &str| image.get(key).is_some_and(|v| !v.is_null());
        if has("bufferView")
            && !image
                .get("mimeType")
                .is_some_and(serde_json::Value::is_string)
        {
            return Err(format!(
                "image {i} is stored in a buffer view but has no mimeType"
            ));
        }
        if !has("bufferView") && !image.get("uri").is_some_and(serde_json::Value::is_string) {
            return Err(format!("image {i} has neither a uri nor a bufferView"));
        }
    }
    Ok(())
}

/// Every accessor a primitive uses must exist and have the type its role requires (gltf-json
/// 1.4.1 indexes POSITION's accessor unchecked; gltf 1.4.1 debug-asserts element sizes and
/// strides), and any stride must cover one element.
fn check_attributes(doc: &serde_json::Value) -> std::result::Result<(), String> {
    let accessors = doc
        .get("accessors")
        .and_then(|a| a.as_array())
        .cloned()
        .unwrap_or_default();
    let views = doc
        .get("bufferViews")
        .and_then(|v| v.as_array())
        .cloned()
        .unwrap_or_default();
    let meshes = doc
        .get("meshes")
        .and_then(|m| m.as_array())
        .cloned()
        .unwrap_or_default();
    let primitives = meshes
        .iter()
        .filter_map(|m| m.get("primitives").and_then(|p| p.as_array()).cloned())
        .flatten();
    for primitive in primitives {
        let attributes = primitive
            .get("attributes")
            .and_then(|a| a.as_object())
            .cloned()
            .unwrap_or_default();
        let uses = attributes
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .chain(primitive.get("indices").map(|v| ("indices", v.clone())));
        for (role, index) in uses {
            let Some(allowed) = allowed_types(role) else {
                continue;
            };
            let accessor = index
                .as_u64()
                .and_then(|i| accessors.get(i as usize))
                .ok_or_else(|| {
                    format!(
                        "a primitive's {role} refers to accessor {index}, but the file has {}",
                        accessors.len()
                    )
                })?;
            check_accessor(role, accessor, allowed, &views)?;
        }
    }
    Ok(())
}

/// Accessor types and component types allowed for a role; `None` for roles we ignore. With
/// `KHR_mesh_quantization`, positions, normals, tangents and texture coordinates may also be
/// 8- and 16-bit integers (normalized or not; `gltf_attributes` reads them).
fn allowed_types(role: &str) -> Option<(&'static [&'static str], &'static [u64])> {
    const QUANTIZED: &[u64] = &[5126, 5120, 5121, 5122, 5123];
    const NORMALIZED: &[u64] = &[5126, 5121, 5123];
    match role {
        "POSITION" | "NORMAL" => Some((&["VEC3"], QUANTIZED)),
        "TANGENT" => Some((&["VEC4"], QUANTIZED)),
        r if r.starts_with("TEXCOORD_") => Some((&["VEC2"], QUANTIZED)),
        r if r.starts_with("COLOR_") => Some((&["VEC3", "VEC4"], NORMALIZED)),
        "indices" => Some((&["SCALAR"], &[5121, 5123, 5125])),
        _ => None,
    }
}

fn check_accessor(
    role: &str,
    accessor: &serde_json::Value,
    (types, components): (&[&str], &[u64]),
    views: &[serde_json::Value],
) -> std::result::Result<(), String> {
    let ty = accessor.get("type").and_then(|t| t.as_str()).unwrap_or("");
    let component = accessor
        .get("componentType")
        .and_then(|c| c.as_u64())
        .unwrap_or(0);
    if !types.contains(&ty) || !components.contains(&component) {
        return Err(format!("the {role} accessor has type {ty} / component type {component}, which glTF does not allow there"));
    }
    let count = match ty {
        "SCALAR" => 1,
        "VEC2" => 2,
        "VEC3" => 3,
        _ => 4,
    };
    let element = count
        * match component {
            5120 | 5121 => 1,
            5122 | 5123 => 2,
            _ => 4,
        };
    let view = accessor
        .get("bufferView")
        .and_then(|v| v.as_u64())
        .and_then(|v| views.get(v as usize));
    match view.and_then(|v| v.get("byteStride")).and_then(|s| s.as_u64()) {
        Some(stride) if stride < element => Err(format!("the {role} accessor's byteStride {stride} is smaller than one element ({element} bytes)")),
        _ => Ok(()),
    }
}

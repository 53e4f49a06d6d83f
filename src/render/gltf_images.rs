//! Reading a glTF's buffers and images. The buffers come from gltf's own importer; the images
//! are decoded here, because gltf 1.4.1 decodes PNG and JPEG only, while `EXT_texture_webp`
//! (what web and e-commerce pipelines write by default) stores WebP. Every image is decoded by
//! its content (PNG, JPEG or WebP, 8 or 16 bit) into RGBA8, whatever its `mimeType` says.

use std::borrow::Cow;
use std::path::Path;

use base64::Engine as _;
use gltf::image::Source;

/// A parsed glTF with its buffers and decoded images.
pub struct Imported {
    /// The document.
    pub document: gltf::Document,
    /// Buffer contents, by index.
    pub buffers: Vec<gltf::buffer::Data>,
    /// Images as RGBA8, by index.
    pub images: Vec<image::RgbaImage>,
}

/// Parses `bytes` (a GLB or a .gltf) whose relative URIs resolve against `base` (none for a
/// self-contained file read from memory).
pub fn import(bytes: &[u8], base: Option<&Path>) -> Result<Imported, String> {
    let invalid =
        |e: &dyn std::fmt::Display| format!("not a valid glTF/GLB file ({e}); re-export it as GLB");
    let bytes = without_handled_requirements(bytes);
    let gltf::Gltf { document, blob } = gltf::Gltf::from_slice(&bytes).map_err(|e| invalid(&e))?;
    let buffers = gltf::import_buffers(&document, base, blob).map_err(|e| invalid(&e))?;
    let images = document
        .images()
        .map(|image| {
            let encoded = encoded(&image, base, &buffers).map_err(|e| invalid(&e))?;
            let decoded = image::load_from_memory(&encoded).map_err(|e| {
                format!(
                    "image {} cannot be decoded ({e}); re-export textures as PNG, JPEG or WebP",
                    image.index()
                )
            })?;
            Ok(decoded.to_rgba8())
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Imported {
        document,
        buffers,
        images,
    })
}

/// Extensions vanelia reads itself, which gltf 1.4.1 refuses when a file requires them.
const HANDLED_EXTENSIONS: &[&str] = &["EXT_texture_webp", "KHR_mesh_quantization"];

/// `bytes` with [`HANDLED_EXTENSIONS`] taken out of `extensionsRequired` (a GLB's JSON chunk
/// rewritten, padded with spaces as the format asks), so gltf's validation still checks
/// everything else; the input unchanged when it requires none of them or is not JSON or GLB.
fn without_handled_requirements(bytes: &[u8]) -> Cow<'_, [u8]> {
    let is_glb = bytes.starts_with(b"glTF");
    let json_range = if is_glb {
        let word = |at: usize| {
            bytes
                .get(at..at + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        };
        match word(12) {
            Some(len) if bytes.len() >= 20 + len => 20..20 + len,
            _ => return Cow::Borrowed(bytes),
        }
    } else {
        0..bytes.len()
    };
    let Ok(mut doc) = serde_json::from_slice::<serde_json::Value>(&bytes[json_range.clone()])
    else {
        return Cow::Borrowed(bytes);
    };
    let Some(required) = doc
        .get_mut("extensionsRequired")
        .and_then(|r| r.as_array_mut())
    else {
        return Cow::Borrowed(bytes);
    };
    let before = required.len();
    required.retain(|e| !e.as_str().is_some_and(|e| HANDLED_EXTENSIONS.contains(&e)));
    if required.len() == before {
        return Cow::Borrowed(bytes);
    }
    let Ok(mut json) = serde_json::to_vec(&doc) else {
        return Cow::Borrowed(bytes);
    };
    if !is_glb {
        return Cow::Owned(json);
    }
    while !json.len().is_multiple_of(4) {
        json.push(b' ');
    }
    let rest = &bytes[json_range.end..];
    let total = 20 + json.len() + rest.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&bytes[..8]);
    out.extend_from_slice(&(total as u32).to_le_bytes());
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&bytes[16..20]);
    out.extend_from_slice(&json);
    out.extend_from_slice(rest);
    Cow::Owned(out)
}

/// The encoded bytes of `image`: a buffer view, a data URI or a file beside the model.
fn encoded<'a>(
    image: &gltf::Image<'_>,
    base: Option<&Path>,
    buffers: &'a [gltf::buffer::Data],
) -> Result<Cow<'a, [u8]>, String> {
    match image.source() {
        Source::View { view, .. } => {
            let buffer = buffers
                .get(view.buffer().index())
                .ok_or("an image's buffer is missing")?;
            let range = view.offset()..view.offset().saturating_add(view.length());
            buffer
                .get(range)
                .map(Cow::Borrowed)
                .ok_or_else(|| "an image's buffer view lies outside its buffer".into())
        }
        Source::Uri { uri, .. } => {
            if let Some(data) = uri.strip_prefix("data:") {
                let (_, payload) = data
                    .split_once(";base64,")
                    .ok_or("an image's data URI is not base64")?;
                base64::engine::general_purpose::STANDARD
                    .decode(payload)
                    .map(Cow::Owned)
                    .map_err(|e| format!("an image's data URI is not valid base64 ({e})"))
            } else {
                let base = base.ok_or("an image refers to a file, and the model has no folder")?;
                let name = urlencoding::decode(uri).map_err(|e| e.to_string())?;
                let path = base.join(name.as_ref());
                std::fs::read(&path)
                    .map(Cow::Owned)
                    .map_err(|e| format!("image file {} cannot be read ({e})", path.display()))
            }
        }
    }
}

/// The image a texture shows: its `EXT_texture_webp` source where it has one (a file whose
/// WebP textures are optional may also name a PNG or JPEG fallback), else its own source.
pub fn texture_image(texture: &gltf::Texture<'_>) -> Option<usize> {
    texture
        .extension_value("EXT_texture_webp")
        .and_then(|webp| webp.get("source"))
        .and_then(serde_json::Value::as_u64)
        .and_then(|i| usize::try_from(i).ok())
        .or_else(|| texture.source().map(|image| image.index()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A GLB of `json` (padded) and a BIN chunk of `bin`.
    fn glb(json: &str, bin: &[u8]) -> Vec<u8> {
        let mut json = json.as_bytes().to_vec();
        while !json.len().is_multiple_of(4) {
            json.push(b' ');
        }
        let total = 12 + 8 + json.len() + 8 + bin.len();
        let mut out = b"glTF".to_vec();
        for word in [2, total, json.len()] {
            out.extend_from_slice(&(word as u32).to_le_bytes());
        }
        out.extend_from_slice(b"JSON");
        out.extend_from_slice(&json);
        out.extend_from_slice(&(bin.len() as u32).to_le_bytes());
        out.extend_from_slice(b"BIN\0");
        out.extend_from_slice(bin);
        out
    }

    #[test]
    fn a_glb_requiring_a_handled_extension_parses_with_its_binary_chunk() {
        let json = r#"{"asset":{"version":"2.0"},"extensionsUsed":["KHR_mesh_quantization"],
            "extensionsRequired":["KHR_mesh_quantization"],"buffers":[{"byteLength":4}]}"#;
        let bytes = glb(json, &[1, 2, 3, 4]);
        assert!(
            gltf::Gltf::from_slice(&bytes).is_err(),
            "gltf alone refuses it"
        );
        let rewritten = without_handled_requirements(&bytes);
        let parsed = gltf::Gltf::from_slice(&rewritten).expect("parses once rewritten");
        assert_eq!(parsed.blob.as_deref(), Some(&[1_u8, 2, 3, 4][..]));
        // a file requiring nothing we handle is passed through as it is
        let plain = glb(r#"{"asset":{"version":"2.0"}}"#, &[]);
        assert!(matches!(
            without_handled_requirements(&plain),
            Cow::Borrowed(_)
        ));
    }
}

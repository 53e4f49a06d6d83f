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
    let gltf::Gltf { document, blob } =
        gltf::Gltf::from_slice_without_validation(bytes).map_err(|e| invalid(&e))?;
    validate(&document).map_err(|e| invalid(&e))?;
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
const HANDLED_EXTENSIONS: &[&str] = &[
    "EXT_texture_webp",
    "KHR_mesh_quantization",
    super::gltf_draco::EXTENSION,
];

/// gltf's validation of `document`, less what the extensions vanelia reads make valid: a
/// required extension of [`HANDLED_EXTENSIONS`] (gltf 1.4.1 calls it unsupported), and, in a
/// file using Draco, accessors without a buffer view (their data is in the Draco stream).
fn validate(document: &gltf::Document) -> Result<(), String> {
    use gltf::json::validation::{Error, Validate};
    let root = document.as_json();
    let draco = root
        .extensions_used
        .iter()
        .any(|e| e == super::gltf_draco::EXTENSION);
    // gltf-json names the extension in the path: `extensionsRequired[0] = "NAME"`
    let handled = |path: &str| {
        path.starts_with("extensionsRequired[")
            && HANDLED_EXTENSIONS
                .iter()
                .any(|name| path.ends_with(&format!("= \"{name}\"")))
    };
    let mut errors = Vec::new();
    root.validate(root, gltf::json::Path::new, &mut |path, error| {
        let path = path();
        let expected = match error {
            Error::Unsupported => handled(path.as_str()),
            Error::Missing => {
                draco
                    && path.as_str().starts_with("accessors[")
                    && path.as_str().ends_with("].bufferView")
            }
            _ => false,
        };
        if !expected {
            errors.push(format!("{path}: {error}"));
        }
    });
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("invalid glTF: {}", errors.join("; ")))
    }
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
    fn extensions_read_here_may_be_required_and_others_may_not() {
        let requiring = |name: &str| {
            let json = format!(
                r#"{{"asset":{{"version":"2.0"}},"extensionsUsed":["{name}"],
                "extensionsRequired":["{name}"],"buffers":[{{"byteLength":4}}]}}"#
            );
            import(&glb(&json, &[1, 2, 3, 4]), None).map(|i| i.buffers[0].0.clone())
        };
        assert!(
            gltf::Gltf::from_slice(&glb(
                r#"{"asset":{"version":"2.0"},"extensionsRequired":["KHR_mesh_quantization"]}"#,
                &[]
            ))
            .is_err(),
            "gltf alone refuses it"
        );
        for name in HANDLED_EXTENSIONS {
            assert_eq!(
                requiring(name).as_deref(),
                Ok(&[1_u8, 2, 3, 4][..]),
                "{name}"
            );
        }
        let err = requiring("EXT_meshopt_compression")
            .err()
            .unwrap_or_default();
        assert!(err.contains("extensionsRequired"), "{err}");
    }
}

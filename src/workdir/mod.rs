//! The work directory: a manifest plus per-frame artefacts per stage, each written atomically
//! with a completion marker written last, so that a run killed at any point resumes exactly
//! where it stopped and an identical second run recomputes nothing.
//!
//! Layout (default `<output>.vanelia/`):
//! ```text
//! manifest.json                 tool version, input content hash, clip summary
//! track.json                    the camera track used (poses format)
//! placement.json                product placement, computed once per clip
//! frames/<stage>/<nr>.<name>.png  images of a frame's artefact
//! frames/<stage>/<nr>.json        completion marker: stage key, origin, image hashes
//! ```
//! A stage key hashes everything the result depends on (input content, options, upstream
//! keys, tool version); an artefact is reused only when its marker holds the current key.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::core::{atomic, hash, Error, FrameNr, Result, Stage};

/// Version string written into manifests; artefacts of other versions are recomputed.
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The manifest at the root of a work directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// `vanelia` version that wrote it.
    pub tool_version: String,
    /// SHA-256 of the input's content.
    pub input_sha256: String,
    /// Clip facts, for reports and sanity checks.
    pub clip: serde_json::Value,
    /// Hash of the last output written from this work directory, to skip identical re-encodes.
    #[serde(default)]
    pub output_key: Option<String>,
    /// Per stage: the current key and the options that went into it (for people reading the
    /// directory; the keys in the frame markers are what decides reuse).
    #[serde(default)]
    pub stages: serde_json::Map<String, serde_json::Value>,
}

/// An opened work directory.
#[derive(Debug, Clone)]
pub struct WorkDir {
    root: PathBuf,
}

impl WorkDir {
    /// Opens or creates `root` for an input with `input_sha256`. Artefacts of another input are
    /// removed (the directory belongs to the run); returns whether that happened.
    pub fn open(root: &Path, input_sha256: &str, clip: serde_json::Value) -> Result<(Self, bool)> {
        std::fs::create_dir_all(root.join("frames")).map_err(|e| {
            Error::bad_input(
                format!("cannot create the work directory ({e})"),
                "pass a writable --workdir",
                root,
            )
        })?;
        let wd = Self { root: root.into() };
        let previous = wd.manifest()?;
        let stale = previous
            .as_ref()
            .is_some_and(|m| m.input_sha256 != input_sha256 || m.tool_version != TOOL_VERSION);
        if stale {
            let frames = root.join("frames");
            std::fs::remove_dir_all(&frames)
                .map_err(Error::io("clear stale artefacts in", &frames))?;
            std::fs::create_dir_all(&frames).map_err(Error::io("create", &frames))?;
        }
        let kept = previous.filter(|_| !stale);
        let manifest = Manifest {
            tool_version: TOOL_VERSION.into(),
            input_sha256: input_sha256.into(),
            clip,
            output_key: kept.as_ref().and_then(|m| m.output_key.clone()),
            stages: kept.map(|m| m.stages).unwrap_or_default(),
        };
        wd.write_manifest(&manifest)?;
        Ok((wd, stale))
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A file at the root, e.g. `track.json`.
    pub fn file(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Reads the manifest, `None` if there is none yet.
    pub fn manifest(&self) -> Result<Option<Manifest>> {
        let path = self.file("manifest.json");
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).map_err(Error::io("read", &path))?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::WorkDir {
                detail: format!("bad manifest ({e})"),
                path,
            })
    }

    /// Replaces the manifest atomically.
    pub fn write_manifest(&self, manifest: &Manifest) -> Result<()> {
        let text = serde_json::to_vec_pretty(manifest).map_err(|e| Error::WorkDir {
            detail: e.to_string(),
            path: self.file("manifest.json"),
        })?;
        atomic::write(&self.file("manifest.json"), &text)
    }

    /// Records a stage's current key and options in the manifest.
    pub fn record_stage(&self, stage: Stage, key: &str, options: &impl Serialize) -> Result<()> {
        let path = self.file("manifest.json");
        let options = serde_json::to_value(options).map_err(|e| Error::WorkDir {
            detail: format!("the {stage} options do not serialise ({e})"),
            path: path.clone(),
        })?;
        let mut manifest = self.manifest()?.ok_or_else(|| Error::WorkDir {
            detail: "no manifest".into(),
            path,
        })?;
        manifest.stages.insert(
            stage.name().into(),
            serde_json::json!({ "key": key, "options": options }),
        );
        self.write_manifest(&manifest)
    }

    /// The artefact store of one stage.
    pub fn stage(&self, stage: Stage) -> Result<ArtefactStore> {
        let dir = self.root.join("frames").join(stage.name());
        std::fs::create_dir_all(&dir).map_err(Error::io("create", &dir))?;
        Ok(ArtefactStore { dir })
    }
}

/// One frame's artefact: named images placed at an origin in frame pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Artefact {
    /// Top-left of the images in frame pixels.
    pub origin_px: [u32; 2],
    /// The images, by name (e.g. `rgba`, `shadow`, `patch`); all the same size.
    pub images: Vec<(String, image::DynamicImage)>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    key: String,
    origin_px: [u32; 2],
    images: Vec<(String, String)>,
}

/// Per-frame artefacts of one stage.
#[derive(Debug, Clone)]
pub struct ArtefactStore {
    dir: PathBuf,
}

impl ArtefactStore {
    fn marker_path(&self, nr: FrameNr) -> PathBuf {
        self.dir.join(format!("{}.json", nr.stem()))
    }

    fn image_path(&self, nr: FrameNr, name: &str) -> PathBuf {
        self.dir.join(format!("{}.{name}.png", nr.stem()))
    }

    /// Whether a complete artefact with `key` exists (without loading its images).
    pub fn is_done(&self, nr: FrameNr, key: &str) -> bool {
        self.read_marker(nr).is_some_and(|m| m.key == key)
    }

    /// The key the frame's artefact was last completed with, if any.
    pub fn current_key(&self, nr: FrameNr) -> Option<String> {
        self.read_marker(nr).map(|m| m.key)
    }

    fn read_marker(&self, nr: FrameNr) -> Option<Marker> {
        let text = std::fs::read(self.marker_path(nr)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// Loads the artefact of `nr` if it was completed with `key` and is intact; a damaged one
    /// counts as absent and is recomputed.
    pub fn load(&self, nr: FrameNr, key: &str) -> Option<Artefact> {
        let marker = self.read_marker(nr).filter(|m| m.key == key)?;
        let mut images = Vec::with_capacity(marker.images.len());
        for (name, sha) in &marker.images {
            let bytes = std::fs::read(self.image_path(nr, name)).ok()?;
            if hash::bytes_sha256(&bytes) != *sha {
                return None;
            }
            images.push((name.clone(), image::load_from_memory(&bytes).ok()?));
        }
        Some(Artefact {
            origin_px: marker.origin_px,
            images,
        })
    }

    /// Stores the artefact of `nr` under `key`: images first, marker last.
    pub fn store(&self, nr: FrameNr, key: &str, artefact: &Artefact) -> Result<()> {
        let mut hashes = Vec::with_capacity(artefact.images.len());
        for (name, img) in &artefact.images {
            let path = self.image_path(nr, name);
            let bytes = encode_png(img).map_err(|source| Error::Image {
                op: "encode",
                path: path.clone(),
                source,
            })?;
            atomic::write(&path, &bytes)?;
            hashes.push((name.clone(), hash::bytes_sha256(&bytes)));
        }
        let marker = Marker {
            key: key.into(),
            origin_px: artefact.origin_px,
            images: hashes,
        };
        let text = serde_json::to_vec(&marker).map_err(|e| Error::WorkDir {
            detail: e.to_string(),
            path: self.marker_path(nr),
        })?;
        atomic::write(&self.marker_path(nr), &text)
    }
}

fn encode_png(img: &image::DynamicImage) -> std::result::Result<Vec<u8>, image::ImageError> {
    let mut bytes = Vec::new();
    let encoder = image::codecs::png::PngEncoder::new_with_quality(
        &mut bytes,
        image::codecs::png::CompressionType::Fast,
        image::codecs::png::FilterType::Adaptive,
    );
    img.write_with_encoder(encoder)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artefacts_round_trip_and_key_mismatch_misses() {
        let dir = tempfile::tempdir().unwrap();
        let (wd, stale) = WorkDir::open(dir.path(), "abc", serde_json::json!({})).unwrap();
        assert!(!stale);
        let store = wd.stage(Stage::Composite).unwrap();
        let img = image::RgbImage::from_pixel(3, 2, image::Rgb([1, 2, 3]));
        let a = Artefact {
            origin_px: [4, 5],
            images: vec![("patch".into(), img.into())],
        };
        store.store(FrameNr(7), "k1", &a).unwrap();
        assert_eq!(store.load(FrameNr(7), "k1"), Some(a));
        assert!(store.load(FrameNr(7), "k2").is_none());
        assert!(store.load(FrameNr(8), "k1").is_none());
        // Damage the image: the artefact is treated as absent.
        std::fs::write(dir.path().join("frames/composite/000007.patch.png"), b"x").unwrap();
        assert!(store.load(FrameNr(7), "k1").is_none());
    }

    #[test]
    fn new_input_clears_artefacts() {
        let dir = tempfile::tempdir().unwrap();
        let (wd, _) = WorkDir::open(dir.path(), "a", serde_json::json!({})).unwrap();
        let store = wd.stage(Stage::Render).unwrap();
        let a = Artefact {
            origin_px: [0, 0],
            images: vec![],
        };
        store.store(FrameNr(0), "k", &a).unwrap();
        let (wd, stale) = WorkDir::open(dir.path(), "b", serde_json::json!({})).unwrap();
        assert!(stale);
        assert!(!wd.stage(Stage::Render).unwrap().is_done(FrameNr(0), "k"));
    }
}

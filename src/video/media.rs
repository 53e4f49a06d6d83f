//! A media path, resolved once: a video file, or an image sequence when the path holds a
//! frame-number placeholder (`frames/%06d.png`). Everything that asks "is this a sequence?"
//! asks this type.

use std::path::{Path, PathBuf};

use super::image_seq::SeqPattern;

/// An input or output clip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaPath {
    /// A video file (anything FFmpeg reads; `.mp4`/`.mov`/`.mkv` when written).
    Video(PathBuf),
    /// Numbered images.
    Sequence {
        /// The path as given.
        path: PathBuf,
        /// Its placeholder, parsed.
        pattern: SeqPattern,
    },
}

impl MediaPath {
    /// `path` as a sequence when it holds a `%d`/`%0Nd` placeholder, else as a video file.
    pub fn new(path: &Path) -> Self {
        match SeqPattern::parse(path) {
            Some(pattern) => Self::Sequence {
                path: path.to_path_buf(),
                pattern,
            },
            None => Self::Video(path.to_path_buf()),
        }
    }

    /// The path as given (with its placeholder for a sequence).
    pub fn path(&self) -> &Path {
        match self {
            Self::Video(path) | Self::Sequence { path, .. } => path,
        }
    }

    /// Whether this is an image sequence.
    pub fn is_sequence(&self) -> bool {
        matches!(self, Self::Sequence { .. })
    }

    /// The video file, or frame 0's image of a sequence.
    pub fn first_file(&self) -> PathBuf {
        match self {
            Self::Video(path) => path.clone(),
            Self::Sequence { pattern, .. } => pattern.path_of(0),
        }
    }

    /// The folder that holds the sequence's images, or the video file itself: where the
    /// clip's companions (report, work directory) are named after.
    pub fn anchor(&self) -> PathBuf {
        match self {
            Self::Video(path) => path.clone(),
            Self::Sequence { pattern, .. } => pattern
                .path_of(0)
                .parent()
                .map_or_else(|| PathBuf::from("frames"), Path::to_path_buf),
        }
    }

    /// Whether the output exists (frame 0 for a sequence).
    pub fn exists(&self) -> bool {
        self.first_file().is_file()
    }
}

impl serde::Serialize for MediaPath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.path().serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for MediaPath {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        PathBuf::deserialize(d).map(|p| Self::new(&p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_make_sequences_and_paths_survive_json() {
        let seq = MediaPath::new(Path::new("out/seq/%06d.png"));
        assert!(seq.is_sequence());
        assert_eq!(seq.first_file(), PathBuf::from("out/seq/000000.png"));
        assert_eq!(seq.anchor(), PathBuf::from("out/seq"));
        let video = MediaPath::new(Path::new("out/final.mp4"));
        assert!(!video.is_sequence());
        assert_eq!(video.anchor(), PathBuf::from("out/final.mp4"));
        let json = serde_json::to_string(&seq).unwrap();
        assert_eq!(json, r#""out/seq/%06d.png""#);
        assert_eq!(serde_json::from_str::<MediaPath>(&json).unwrap(), seq);
    }
}

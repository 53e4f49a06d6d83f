//! The library's one error type.
//!
//! Every variant names what failed and, where a file is involved, the file last, so that the
//! message printed by `main` reads "what went wrong; what to do: path". Errors from inside a
//! stage are wrapped once at the stage boundary.

use std::path::PathBuf;

use super::stage::Stage;

/// Result alias used throughout the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in a vanelia run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A user-supplied file is missing, unreadable or not what it should be.
    #[error("{detail}; {hint}: {}", path.display())]
    BadInput {
        /// What is wrong with the file.
        detail: String,
        /// What the user can do about it.
        hint: String,
        /// The offending file.
        path: PathBuf,
    },
    /// A command-line value is out of range or inconsistent with the input.
    #[error("invalid {name}: {detail}")]
    InvalidArgument {
        /// The option, e.g. `--frames`.
        name: &'static str,
        /// Why the value cannot be used, with the allowed range.
        detail: String,
    },
    /// A file could not be read or written.
    #[error("cannot {op} {}", path.display())]
    Io {
        /// The operation, e.g. "write".
        op: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The video backend (FFmpeg) failed while processing a file.
    #[error("{op} failed ({detail}): {}", path.display())]
    Video {
        /// What was being done, e.g. "encoding".
        op: &'static str,
        /// The backend's message.
        detail: String,
        /// The file involved.
        path: PathBuf,
    },
    /// An image file could not be decoded or encoded.
    #[error("cannot {op} image {}", path.display())]
    Image {
        /// The operation, e.g. "decode".
        op: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: image::ImageError,
    },
    /// A camera track (poses file or COLMAP model) is malformed or does not fit the clip.
    #[error("invalid camera track: {detail}; fix or regenerate it: {}", path.display())]
    InvalidTrack {
        /// What is wrong, with frame number where it applies.
        detail: String,
        /// The poses file.
        path: PathBuf,
    },
    /// The product model cannot be used.
    #[error("cannot use product model: {detail}: {}", path.display())]
    Model {
        /// What is wrong and how to fix it.
        detail: String,
        /// The model file.
        path: PathBuf,
    },
    /// The renderer could not start or failed.
    #[error("render failed: {detail}")]
    Render {
        /// The backend's message and a hint.
        detail: String,
    },
    /// A work-directory file is corrupt or was written by an incompatible version.
    #[error("work directory is unusable ({detail}); delete it or pass --force: {}", path.display())]
    WorkDir {
        /// What is wrong.
        detail: String,
        /// The offending file or directory.
        path: PathBuf,
    },
    /// A network computation failed (device error, out of memory, bad tensor shapes).
    #[error("diffusion refinement failed: {detail}")]
    Diffusion {
        /// The backend's message.
        detail: String,
    },
    /// The device ran out of memory and the stage could not go on (even at batch 1).
    #[error("out of memory in {stage}: {detail}; {}", oom_hint(.stage))]
    OutOfMemory {
        /// The stage.
        stage: Stage,
        /// The backend's message.
        detail: String,
    },
    /// A feature of the pipeline is not available in this build or this input.
    #[error("{what} is not available: {hint}")]
    Unavailable {
        /// The missing capability.
        what: &'static str,
        /// What to do instead.
        hint: String,
    },
}

impl Error {
    /// Wraps an I/O error with the operation and path it concerns.
    pub fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { op, path, source }
    }

    /// Builds a [`Error::BadInput`].
    pub fn bad_input(
        detail: impl Into<String>,
        hint: impl Into<String>,
        path: impl Into<PathBuf>,
    ) -> Error {
        Error::BadInput {
            detail: detail.into(),
            hint: hint.into(),
            path: path.into(),
        }
    }
}

/// What makes the tracker need less memory (its plan's and its out-of-memory messages).
pub const TRACK_MEMORY_HINT: &str =
    "a larger --keyframe-every (fewer keyframe pairs to align), a smaller --pose-size, or f16 \
     tracker precision";

/// What to lower when `stage` runs out of memory even at batch 1.
fn oom_hint(stage: &Stage) -> String {
    if *stage == Stage::Track {
        format!("use {TRACK_MEMORY_HINT}")
    } else {
        "set a smaller --vram-budget, --refine-px or --batch-size".into()
    }
}

/// A backend's failure in `stage`: [`Error::OutOfMemory`] when the message says the device ran
/// out, else what `other` makes of the message.
pub fn backend_failure(stage: Stage, detail: String, other: impl FnOnce(String) -> Error) -> Error {
    if is_out_of_memory(&detail) {
        Error::OutOfMemory { stage, detail }
    } else {
        other(detail)
    }
}

/// CUDA's out-of-memory as candle reports it (`DriverError(CUDA_ERROR_OUT_OF_MEMORY, "out of
/// memory")`, cuBLAS `CUBLAS_STATUS_ALLOC_FAILED`; spec platform.md §8). Matched on the
/// message so that the check is the same in builds with and without the `cuda` feature.
pub fn is_out_of_memory(message: &str) -> bool {
    message.contains("OUT_OF_MEMORY") || message.contains("ALLOC_FAILED")
}

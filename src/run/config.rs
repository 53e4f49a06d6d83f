//! The validated configuration of a run and the frame selection.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::composite::{CompositeSettings, Harmonise};
use crate::core::{Error, FrameRange, FrameRate, Result};
use crate::diffusion::options::RefineOptions;
use crate::pose::stage::PoseOptions;
use crate::render::defocus::FocusRequest;
use crate::render::placement::PlacementOptions;
use crate::render::RenderOptions;
use crate::video::MediaPath;

/// How the composited product region is refined.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefineMode {
    /// Compositing with the given harmonisation only.
    Composite(Harmonise),
    /// Stable Diffusion refinement after a plain composite.
    Diffusion,
}

/// Which frames a run computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameSelection {
    first: Option<u64>,
    end: Option<u64>,
}

impl FrameSelection {
    /// Parses `A..B`, `A..`, `..B` or nothing (all frames).
    pub fn parse(spec: Option<&str>) -> Result<Self> {
        let Some(spec) = spec else {
            return Ok(Self {
                first: None,
                end: None,
            });
        };
        let bad = || Error::InvalidArgument {
            name: "--frames",
            detail: format!("expected A..B (end exclusive), A.. or ..B, got \"{spec}\""),
        };
        let (a, b) = spec.split_once("..").ok_or_else(bad)?;
        let num = |s: &str| -> Result<Option<u64>> {
            if s.trim().is_empty() {
                Ok(None)
            } else {
                s.trim().parse().map(Some).map_err(|_| bad())
            }
        };
        Ok(Self {
            first: num(a)?,
            end: num(b)?,
        })
    }

    /// The concrete range for a clip of `frame_count` frames.
    pub fn resolve(self, frame_count: u64) -> Result<FrameRange> {
        let range = FrameRange {
            first: self.first.unwrap_or(0),
            end: self.end.unwrap_or(frame_count),
        };
        if range.first >= range.end || range.end > frame_count {
            return Err(Error::InvalidArgument {
                name: "--frames",
                detail: format!("{range} is outside the clip, which has frames 0..{frame_count}"),
            });
        }
        Ok(range)
    }
}

/// A validated run configuration (built by the command line).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunConfig {
    /// Input video or image sequence.
    pub input: MediaPath,
    /// Product model.
    pub model: PathBuf,
    /// Output video or image sequence.
    pub output: MediaPath,
    /// Work directory.
    pub workdir: PathBuf,
    /// Camera track to import.
    pub poses: Option<PathBuf>,
    /// Frames to compute.
    pub frames: FrameSelection,
    /// Recompute selected frames regardless of the cache.
    pub force: bool,
    /// Refinement.
    pub refine: RefineMode,
    /// Compositing options.
    pub composite: CompositeSettings,
    /// Placement options.
    pub placement: PlacementOptions,
    /// Render options.
    pub render: RenderOptions,
    /// The lens's focus: given, read from the plate, or off.
    #[serde(default)]
    pub focus: FocusRequest,
    /// Output CRF.
    pub crf: u8,
    /// Frame rate assumed for image-sequence input.
    pub seq_rate: FrameRate,
    /// Diffusion refinement options (used with `RefineMode::Diffusion`).
    pub diffusion: RefineOptions,
    /// Camera tracker options (used without `poses`).
    pub pose: PoseOptions,
    /// Device memory the plan may use, bytes (`None`: what is free when the run starts).
    pub vram_budget: Option<u64>,
    /// What the command line decided for the user (e.g. `--refine auto`'s fallback), reported
    /// as warnings.
    #[serde(default)]
    pub notes: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_selection_parses_and_checks_bounds() {
        let all = FrameSelection::parse(None).unwrap();
        assert_eq!(all.resolve(48).unwrap(), FrameRange { first: 0, end: 48 });
        let r = FrameSelection::parse(Some("10..20")).unwrap();
        assert_eq!(r.resolve(48).unwrap(), FrameRange { first: 10, end: 20 });
        assert_eq!(
            FrameSelection::parse(Some("40.."))
                .unwrap()
                .resolve(48)
                .unwrap()
                .len(),
            8
        );
        assert!(FrameSelection::parse(Some("5")).is_err());
        let e = FrameSelection::parse(Some("40..60"))
            .unwrap()
            .resolve(48)
            .unwrap_err()
            .to_string();
        assert!(e.contains("frames 0..48"), "{e}");
        assert!(FrameSelection::parse(Some("20..10"))
            .unwrap()
            .resolve(48)
            .is_err());
    }
}

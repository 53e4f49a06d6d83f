//! The pipeline's stages by name, and the clock that times one over a run. One identifier for
//! clocks, warnings, the work directory, errors and memory plans, so that a report can be
//! joined on it and a typo cannot invent a stage.

use std::fmt;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// A stage of the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Stage {
    /// Decoding the input.
    #[serde(rename = "decode")]
    Decode,
    /// Camera tracking (or the imported track's checks).
    #[serde(rename = "track")]
    Track,
    /// Placing the product on the ground plane.
    #[serde(rename = "placement")]
    Placement,
    /// Rendering the product layers.
    #[serde(rename = "render")]
    Render,
    /// Compositing the layers into the frame.
    #[serde(rename = "composite")]
    Composite,
    /// Diffusion refinement of the composite.
    #[serde(rename = "refine")]
    Refine,
    /// Encoding the output.
    #[serde(rename = "encode")]
    Encode,
    /// The work directory (cache) itself.
    #[serde(rename = "workdir")]
    WorkDir,
}

impl Stage {
    /// The name in reports, folders and messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Decode => "decode",
            Self::Track => "track",
            Self::Placement => "placement",
            Self::Render => "render",
            Self::Composite => "composite",
            Self::Refine => "refine",
            Self::Encode => "encode",
            Self::WorkDir => "workdir",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Time and frame counts of one stage over a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageTiming {
    /// The stage.
    pub name: Stage,
    /// Wall-clock time spent in the stage.
    pub wall_secs: f64,
    /// Frames computed in this run.
    pub frames_processed: u64,
    /// Frames taken from the work directory.
    pub frames_reused: u64,
    /// Frames handled per second of wall time (processed and reused).
    pub frames_per_sec: f64,
}

impl StageTiming {
    /// A stage that computed `frames` frames in `wall_secs`.
    pub fn computed(name: Stage, frames: u64, wall_secs: f64) -> Self {
        Self::of(name, wall_secs, frames, 0)
    }

    /// A stage whose result for `frames` frames came from the work directory.
    pub fn reused(name: Stage, frames: u64) -> Self {
        Self::of(name, 0.0, 0, frames)
    }

    fn of(name: Stage, wall_secs: f64, processed: u64, reused: u64) -> Self {
        let frames = (processed + reused) as f64;
        Self {
            name,
            wall_secs,
            frames_processed: processed,
            frames_reused: reused,
            frames_per_sec: if wall_secs > 0.0 {
                frames / wall_secs
            } else {
                0.0
            },
        }
    }
}

/// Accumulates the time and frame counts of one stage over a run.
#[derive(Debug, Clone)]
pub struct StageClock {
    stage: Stage,
    busy: Duration,
    /// Frames computed so far.
    pub processed: u64,
    /// Frames reused so far.
    pub reused: u64,
}

impl StageClock {
    /// A clock for `stage` with nothing recorded.
    pub fn new(stage: Stage) -> Self {
        Self {
            stage,
            busy: Duration::ZERO,
            processed: 0,
            reused: 0,
        }
    }

    /// Runs `f`, adding its duration to the stage.
    pub fn time<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = f();
        self.busy += start.elapsed();
        out
    }

    /// The stage's figures.
    pub fn timing(&self) -> StageTiming {
        StageTiming::of(
            self.stage,
            self.busy.as_secs_f64(),
            self.processed,
            self.reused,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_serialise_as_the_reports_always_wrote_them() {
        let json = serde_json::to_string(&[Stage::Track, Stage::WorkDir]).unwrap();
        assert_eq!(json, r#"["track","workdir"]"#);
        let t = StageTiming::computed(Stage::Render, 10, 2.0);
        assert_eq!(t.frames_per_sec, 5.0);
        assert_eq!(StageTiming::reused(Stage::Render, 3).frames_per_sec, 0.0);
    }
}

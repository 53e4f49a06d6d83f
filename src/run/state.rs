//! What the frame loop carries from batch to batch: the per-frame stages' clocks, the loaded
//! renderer and refiner, notes for the report and the contact sheet.

use super::contact_sheet::ContactSheet;
use crate::core::{FrameNr, Stage, StageClock};
use crate::diffusion::options::RefineStats;
use crate::diffusion::stage::RefineStage;
use crate::render::RenderStage;

/// The clocks of the per-frame stages, and what refinement counted.
#[derive(Debug)]
pub(super) struct Clocks {
    pub refine_stats: Option<RefineStats>,
    pub render: StageClock,
    pub composite: StageClock,
    pub refine: StageClock,
    pub encode: StageClock,
}

impl Default for Clocks {
    fn default() -> Self {
        Self {
            refine_stats: None,
            render: StageClock::new(Stage::Render),
            composite: StageClock::new(Stage::Composite),
            refine: StageClock::new(Stage::Refine),
            encode: StageClock::new(Stage::Encode),
        }
    }
}

/// What changes while frames stream through.
pub(super) struct StreamState {
    pub renderer: Option<RenderStage>,
    pub refiner: Option<RefineStage>,
    pub refine_notes: Vec<(FrameNr, String)>,
    pub passthrough: u64,
    pub sheet: ContactSheet,
}

//! Memory awareness over what the stages expose: what the device has ([`profile`]), the plan
//! that fits each stage's memory model (`pose::footprint`, `diffusion::footprint`,
//! `render::render_bytes`) into a budget ([`plan`](mod@plan), [`planner`]): batch sizes, VAE
//! slicing/tiling, attention chunk and residency; and what a run really used ([`monitor`]).
//! No stage imports this module: `run` plans and hands each stage its settings.

pub mod monitor;
pub mod plan;
pub mod planner;
pub mod profile;

pub use plan::{Budget, Plan, PlanStep, PoseRequest, RefineRequest, Residency, StagePlan};
pub use planner::{plan, plan_pose, ALLOCATOR_SLACK};

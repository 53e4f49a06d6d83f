//! Memory awareness: what each stage needs ([`footprint`], from the networks' configurations
//! through [`census`]), what the device has ([`profile`]), and the plan that fits one into the
//! other ([`plan`]): dtype, batch size, VAE slicing/tiling and residency; and what a run
//! really used ([`monitor`]).

pub mod census;
pub mod footprint;
pub mod monitor;
pub mod ops;
pub mod plan;
pub mod profile;

//! The DUSt3R network (`AsymmetricCroCo3DStereo`): [`config`] reads the checkpoint's
//! configuration, [`model`] is the network built from [`blocks`] (ViT encoder and decoder
//! blocks), [`rope`] (2-D rotary positions), [`dpt`] and [`heads`] (the point-map heads), loaded
//! by [`weights`]; [`trace`] records intermediates for the golden tests.

pub mod blocks;
pub mod config;
pub mod dpt;
pub mod heads;
pub mod model;
pub mod rope;
pub mod trace;
pub mod weights;

//! Global alignment of pairwise point maps (DUSt3R's `PointCloudOptimizer` with `init='mst'`):
//! one camera pose, focal and depth map per image and one similarity per edge, so that every
//! pair's prediction agrees with the images' depth maps in one world frame.
//!
//! [`input`] holds the stacked predictions, [`init`] and [`params`] the spanning-tree start,
//! [`loss`] the vectorised objective and [`optimise`] the Adam loop; [`register`] and
//! [`linalg`] are the small geometry it needs.

pub mod init;
pub mod input;
pub mod linalg;
pub mod loss;
pub mod optimise;
pub mod params;
pub mod register;

pub use input::PairwisePointMaps;
pub use optimise::{align, AlignOptions, Alignment, Schedule};

pub mod composite;
pub mod denoise;
pub mod render;

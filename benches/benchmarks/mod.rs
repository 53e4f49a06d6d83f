pub mod attention;
pub mod composite;
pub mod denoise;
pub mod pose;
pub mod render;

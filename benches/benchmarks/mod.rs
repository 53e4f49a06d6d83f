pub mod composite;
pub mod render;

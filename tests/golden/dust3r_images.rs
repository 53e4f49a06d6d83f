//! `load_images` against the reference (being written).

//! Frames to network input, as DUSt3R's `load_images` (being written).

//! Tracking a video with the network: [`pairs`] builds the frame-pair graphs, [`predictor`]
//! runs pair batches through the network (halving them when the device runs out of memory),
//! [`align`] is the global alignment of the keyframes' point maps, and [`tracker`] ties them
//! together (keyframes aligned globally, the other frames registered to them).

pub mod align;
pub mod pairs;
pub mod predictor;
pub mod tracker;

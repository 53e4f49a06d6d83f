//! The prompt's side: the CLIP BPE [`tokenizer`] and the CLIP text encoder ([`clip`]).

pub mod clip;
pub mod tokenizer;

//! Optional recording of a forward pass's intermediate tensors under the reference's names
//! (`view1.enc_block.0`, `view2.head.refinenet3`, …), so the golden tests can check every
//! stage of the network rather than only its output. Recording holds references to tensors
//! the pass computes anyway; with no trace nothing is kept.

use std::collections::BTreeMap;

use candle_core::Tensor;

/// Named intermediates of one forward pass.
#[derive(Debug, Default)]
pub struct Trace {
    prefix: String,
    /// Recorded tensors by full name.
    pub tensors: BTreeMap<String, Tensor>,
}

impl Trace {
    /// Names recorded from now on start with `prefix` (e.g. `"view1."`).
    pub fn set_prefix(&mut self, prefix: &str) {
        self.prefix = prefix.to_string();
    }
}

/// Records `t` as `name` (after the current prefix) when tracing.
pub fn note(trace: &mut Option<&mut Trace>, name: impl FnOnce() -> String, t: &Tensor) {
    if let Some(trace) = trace.as_deref_mut() {
        let key = format!("{}{}", trace.prefix, name());
        trace.tensors.insert(key, t.clone());
    }
}

//! Parameter counts of a network derived from its configuration by running the network's own
//! constructor against a backend that records every requested shape and allocates nothing
//! (each "weight" is a broadcast view of one scalar). The count is therefore exact for any
//! configuration the constructor accepts, with no table to keep in sync.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::VarBuilder;

/// Counts the elements of every tensor a constructor asks for.
struct Census {
    elements: Arc<AtomicU64>,
}

impl SimpleBackend for Census {
    fn get(
        &self,
        s: Shape,
        _name: &str,
        _h: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        self.elements
            .fetch_add(s.elem_count() as u64, Ordering::Relaxed);
        Tensor::zeros((), dtype, dev)?.broadcast_as(s)
    }

    fn get_unchecked(
        &self,
        name: &str,
        _dtype: DType,
        _dev: &Device,
    ) -> candle_core::Result<Tensor> {
        candle_core::bail!("parameter census: {name} was asked for without a shape")
    }

    fn contains_tensor(&self, _name: &str) -> bool {
        true
    }
}

/// Parameters the network built by `build` holds.
pub fn parameter_count<M>(
    build: impl FnOnce(VarBuilder<'static>) -> candle_core::Result<M>,
) -> candle_core::Result<u64> {
    let elements = Arc::new(AtomicU64::new(0));
    let backend = Census {
        elements: elements.clone(),
    };
    let vb = VarBuilder::from_backend(Box::new(backend), DType::F32, Device::Cpu);
    drop(build(vb)?);
    Ok(elements.load(Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_linear_layer_counts_its_weight_and_bias() {
        let n = parameter_count(|vb| candle_nn::linear(3, 5, vb.pp("proj"))).unwrap();
        assert_eq!(n, 3 * 5 + 5);
    }
}

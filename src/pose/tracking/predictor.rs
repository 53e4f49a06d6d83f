//! Pair predictions for the tracker: the network with a per-frame encoder cache, behind a trait
//! so that the tracking geometry can also be driven by synthetic point maps in tests.

use std::collections::HashMap;

use candle_core::{Device, Result, Tensor};

use crate::core::batching::in_halving_batches;
use crate::core::error::is_out_of_memory;
use crate::pose::network::model::{Dust3r, EncodedView};

/// Point maps of a batch of directed pairs (view 1 = frame i, view 2 = frame j), all in each
/// pair's first camera: `pred_i`/`pred_j` (P, H, W, 3), `conf_i`/`conf_j` (P, H, W), f32.
#[derive(Debug, Clone)]
pub struct PairBatch {
    /// Frame i in camera i.
    pub pred_i: Tensor,
    /// Confidence of `pred_i`.
    pub conf_i: Tensor,
    /// Frame j in camera i.
    pub pred_j: Tensor,
    /// Confidence of `pred_j`.
    pub conf_j: Tensor,
}

/// Predicts point maps for pairs of frames (indices into the tracked frame list).
pub trait PairPredictor {
    /// Network-input size (height, width) of every frame.
    fn size_px(&self) -> (usize, usize);
    /// Predictions for `pairs`, in order.
    fn predict(&mut self, pairs: &[(usize, usize)]) -> Result<PairBatch>;
}

/// A simulated device size for the pair batches (`VANELIA_INJECT_ALLOC_LIMIT`): a batch whose
/// modelled bytes exceed the limit fails as CUDA's out-of-memory would, so that the recovery
/// runs on a CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InjectedLimit {
    /// The simulated device's bytes.
    pub limit_bytes: u64,
    /// The memory model's bytes per pair of a batch.
    pub per_pair_bytes: u64,
}

/// The network, encoding each frame once and decoding pairs in batches; a batch that runs out
/// of device memory is retried at half the size, and the smaller size kept for the rest
/// (pairs are independent: only how they are batched changes).
pub struct NetworkPredictor<'a> {
    model: &'a Dust3r,
    /// Where the network runs (synchronised after an out-of-memory batch).
    device: Device,
    /// Frame `k`'s network input (1, 3, H, W).
    load: Box<dyn FnMut(usize) -> Result<Tensor> + 'a>,
    size_px: (usize, usize),
    encoded: HashMap<usize, EncodedView>,
    batch: usize,
    injected: Option<InjectedLimit>,
    /// Pair forwards run so far (decoder + heads).
    pub pairs_run: usize,
    /// Frames encoded so far.
    pub frames_encoded: usize,
    /// Batches that ran out of memory and were retried smaller.
    pub oom_retries: usize,
}

impl<'a> NetworkPredictor<'a> {
    /// `load(k)` gives frame k's input on `device`; pairs are decoded `batch` at a time.
    pub fn new(
        model: &'a Dust3r,
        device: &Device,
        size_px: (usize, usize),
        batch: usize,
        load: impl FnMut(usize) -> Result<Tensor> + 'a,
    ) -> Self {
        Self {
            model,
            device: device.clone(),
            load: Box::new(load),
            size_px,
            encoded: HashMap::new(),
            batch: batch.max(1),
            injected: None,
            pairs_run: 0,
            oom_retries: 0,
            frames_encoded: 0,
        }
    }

    fn encode(&mut self, k: usize) -> Result<()> {
        if !self.encoded.contains_key(&k) {
            let input = (self.load)(k)?;
            let view = self.model.encode(&input, None)?;
            self.encoded.insert(k, view);
            self.frames_encoded += 1;
        }
        Ok(())
    }

    /// Simulates a device of `limit` (see [`InjectedLimit`]).
    pub fn with_injected_limit(mut self, limit: Option<InjectedLimit>) -> Self {
        self.injected = limit;
        self
    }

    /// Pairs per batch now (smaller than asked after an out-of-memory retry).
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Decodes one batch of pairs whose frames are encoded.
    fn decode(
        &self,
        chunk: &[(usize, usize)],
    ) -> Result<crate::pose::network::model::PairPrediction> {
        if let Some(limit) = self.injected {
            let need = chunk.len() as u64 * limit.per_pair_bytes;
            if need > limit.limit_bytes {
                candle_core::bail!(
                    "injected CUDA_ERROR_OUT_OF_MEMORY: {} pairs need {need} bytes, the limit \
                     is {}",
                    chunk.len(),
                    limit.limit_bytes
                );
            }
        }
        let view = |k: usize| -> Result<&EncodedView> {
            self.encoded
                .get(&k)
                .ok_or_else(|| candle_core::Error::Msg(format!("frame {k} not encoded")))
        };
        let v1: Vec<&EncodedView> = chunk.iter().map(|p| view(p.0)).collect::<Result<_>>()?;
        let v2: Vec<&EncodedView> = chunk.iter().map(|p| view(p.1)).collect::<Result<_>>()?;
        self.model
            .decode(&EncodedView::stack(&v1)?, &EncodedView::stack(&v2)?, None)
    }
}

impl PairPredictor for NetworkPredictor<'_> {
    fn size_px(&self) -> (usize, usize) {
        self.size_px
    }

    fn predict(&mut self, pairs: &[(usize, usize)]) -> Result<PairBatch> {
        let mut parts: [Vec<Tensor>; 4] = Default::default();
        let mut batch = self.batch;
        let device = self.device.clone();
        let retries = in_halving_batches(
            pairs,
            &mut batch,
            |chunk| {
                for &(i, j) in chunk {
                    self.encode(i)?;
                    self.encode(j)?;
                }
                let pred = self.decode(chunk)?;
                parts[0].push(pred.view1.pts3d);
                parts[1].push(pred.view1.conf);
                parts[2].push(pred.view2.pts3d);
                parts[3].push(pred.view2.conf);
                self.pairs_run += chunk.len();
                Ok(())
            },
            |e: &candle_core::Error| {
                let oom = is_out_of_memory(&e.to_string());
                if oom {
                    // the batch's tensors went with the error; let the device free them
                    let _ = device.synchronize();
                }
                oom
            },
        )?;
        self.batch = batch;
        self.oom_retries += retries;
        let [a, b, c, d] = parts.map(|p| Tensor::cat(&p, 0));
        Ok(PairBatch {
            pred_i: a?,
            conf_i: b?,
            pred_j: c?,
            conf_j: d?,
        })
    }
}

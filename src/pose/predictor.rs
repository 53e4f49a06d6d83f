//! Pair predictions for the tracker: the network with a per-frame encoder cache, behind a trait
//! so that the tracking geometry can also be driven by synthetic point maps in tests.

use std::collections::HashMap;

use candle_core::{Result, Tensor};

use super::model::{Dust3r, EncodedView};

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

/// The network, encoding each frame once and decoding pairs in batches.
pub struct NetworkPredictor<'a> {
    model: &'a Dust3r,
    /// Frame `k`'s network input (1, 3, H, W).
    load: Box<dyn FnMut(usize) -> Result<Tensor> + 'a>,
    size_px: (usize, usize),
    encoded: HashMap<usize, EncodedView>,
    batch: usize,
    /// Pair forwards run so far (decoder + heads).
    pub pairs_run: usize,
    /// Frames encoded so far.
    pub frames_encoded: usize,
}

impl<'a> NetworkPredictor<'a> {
    /// `load(k)` gives frame k's input; pairs are decoded `batch` at a time.
    pub fn new(
        model: &'a Dust3r,
        size_px: (usize, usize),
        batch: usize,
        load: impl FnMut(usize) -> Result<Tensor> + 'a,
    ) -> Self {
        Self {
            model,
            load: Box::new(load),
            size_px,
            encoded: HashMap::new(),
            batch: batch.max(1),
            pairs_run: 0,
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
}

impl PairPredictor for NetworkPredictor<'_> {
    fn size_px(&self) -> (usize, usize) {
        self.size_px
    }

    fn predict(&mut self, pairs: &[(usize, usize)]) -> Result<PairBatch> {
        let mut parts: [Vec<Tensor>; 4] = Default::default();
        for chunk in pairs.chunks(self.batch) {
            for &(i, j) in chunk {
                self.encode(i)?;
                self.encode(j)?;
            }
            let view = |k: usize| -> Result<&EncodedView> {
                self.encoded
                    .get(&k)
                    .ok_or_else(|| candle_core::Error::Msg(format!("frame {k} not encoded")))
            };
            let v1: Vec<&EncodedView> = chunk.iter().map(|p| view(p.0)).collect::<Result<_>>()?;
            let v2: Vec<&EncodedView> = chunk.iter().map(|p| view(p.1)).collect::<Result<_>>()?;
            let pred =
                self.model
                    .decode(&EncodedView::stack(&v1)?, &EncodedView::stack(&v2)?, None)?;
            parts[0].push(pred.view1.pts3d);
            parts[1].push(pred.view1.conf);
            parts[2].push(pred.view2.pts3d);
            parts[3].push(pred.view2.conf);
            self.pairs_run += chunk.len();
        }
        let [a, b, c, d] = parts.map(|p| Tensor::cat(&p, 0));
        Ok(PairBatch {
            pred_i: a?,
            conf_i: b?,
            pred_j: c?,
            conf_j: d?,
        })
    }
}

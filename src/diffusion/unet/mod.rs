//! The SD 1.5 UNet (`UNet2DConditionModel`) and the pieces the ControlNet shares with it.
//! Main types: [`UNet2DConditionConfig`], [`model::UNet2DConditionModel`] and
//! [`model::ControlResiduals`]; [`transformer`] has the attention with erf GELU, [`resnet`] the
//! time-conditioned resnet and resamplers, [`time`] the timestep embedding.

pub mod controlnet;
pub mod model;
pub mod resnet;
pub mod time;
pub mod transformer;

/// `unet/config.json` fields the port reads; `Default` is SD 1.5's
/// (<https://huggingface.co/stable-diffusion-v1-5/stable-diffusion-v1-5/blob/main/unet/config.json>).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct UNet2DConditionConfig {
    /// `in_channels` (4, or 9 for the inpainting UNet).
    pub in_channels: usize,
    /// `out_channels` (absent in ControlNet configs).
    #[serde(default = "four")]
    pub out_channels: usize,
    /// `block_out_channels`.
    pub block_out_channels: Vec<usize>,
    /// `layers_per_block`.
    pub layers_per_block: usize,
    /// `attention_head_dim`: in SD 1.5 configs this is the number of heads.
    pub attention_head_dim: usize,
    /// `cross_attention_dim`.
    pub cross_attention_dim: usize,
    /// `norm_num_groups`.
    pub norm_num_groups: usize,
    /// `norm_eps`.
    pub norm_eps: f64,
    /// `flip_sin_to_cos`.
    pub flip_sin_to_cos: bool,
    /// `freq_shift`.
    pub freq_shift: f64,
    /// `down_block_types` (`CrossAttnDownBlock2D` levels have attention).
    #[serde(default = "default_down_blocks")]
    pub down_block_types: Vec<String>,
    /// `up_block_types` (`CrossAttnUpBlock2D` levels have attention).
    #[serde(default = "default_up_blocks")]
    pub up_block_types: Vec<String>,
    /// Not a checkpoint key: query rows per attention chunk (candle's `sliced_attention_size`),
    /// set by the memory plan when it loads the network; the result does not depend on it.
    #[serde(skip, default = "default_query_chunk")]
    pub query_chunk: usize,
}

fn default_query_chunk() -> usize {
    crate::nn::attention::QUERY_CHUNK
}

/// A UNet-shaped network's configuration, whose attention runs in query chunks.
pub trait QueryChunked {
    /// Sets the query rows per attention chunk.
    fn set_query_chunk(&mut self, rows: usize);
}

impl QueryChunked for UNet2DConditionConfig {
    fn set_query_chunk(&mut self, rows: usize) {
        self.query_chunk = rows;
    }
}

/// Loads a diffusers folder of a UNet-shaped network (`config.json`,
/// `diffusion_pytorch_model.safetensors`) built by `build`, with attention in chunks of
/// `query_chunk` query rows.
pub(crate) fn load_chunked<C, M>(
    dir: &std::path::Path,
    (dtype, device): (candle_core::DType, &candle_core::Device),
    query_chunk: usize,
    build: impl FnOnce(candle_nn::VarBuilder<'static>, C) -> candle_core::Result<M>,
) -> crate::Result<M>
where
    C: QueryChunked + serde::de::DeserializeOwned,
{
    let weights = crate::diffusion::weights::DIFFUSERS_WEIGHTS;
    crate::diffusion::weights::load_component(dir, weights, dtype, device, |vb, mut config: C| {
        config.set_query_chunk(query_chunk);
        build(vb, config)
    })
}

fn four() -> usize {
    4
}

fn default_down_blocks() -> Vec<String> {
    [
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "DownBlock2D",
    ]
    .map(String::from)
    .to_vec()
}

fn default_up_blocks() -> Vec<String> {
    [
        "UpBlock2D",
        "CrossAttnUpBlock2D",
        "CrossAttnUpBlock2D",
        "CrossAttnUpBlock2D",
    ]
    .map(String::from)
    .to_vec()
}

impl Default for UNet2DConditionConfig {
    fn default() -> Self {
        Self {
            in_channels: 4,
            out_channels: 4,
            block_out_channels: vec![320, 640, 1280, 1280],
            layers_per_block: 2,
            attention_head_dim: 8,
            cross_attention_dim: 768,
            norm_num_groups: 32,
            norm_eps: 1e-5,
            flip_sin_to_cos: true,
            freq_shift: 0.0,
            down_block_types: default_down_blocks(),
            up_block_types: default_up_blocks(),
            query_chunk: default_query_chunk(),
        }
    }
}

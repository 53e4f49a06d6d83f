//! The Gaussian draws of a refinement batch, made per frame from `(seed, frame, stream)` on the
//! CPU and only then moved to the device, so a frame's result does not depend on which batch it
//! was in, on the batch size, on the device or on where a run resumed.

use candle_core::{DType, Device, Result, Tensor};

use crate::core::noise::FrameRng;
use crate::core::FrameNr;

/// Which random tensor of the loop a draw is for; each gets an independent stream so that
/// changing one (e.g. the latent size) does not shift the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoiseStream {
    /// The img2img noise added to the image latents.
    Latents,
    /// The VAE posterior sample of the frames.
    PosteriorImage,
    /// The VAE posterior sample of the masked frames (9-channel UNet only).
    PosteriorMaskedImage,
}

impl NoiseStream {
    /// Stream ids; fixed forever, since changing one changes every seeded result.
    fn id(self) -> u64 {
        match self {
            Self::Latents => 0x6469_6666_0001,
            Self::PosteriorImage => 0x6469_6666_0002,
            Self::PosteriorMaskedImage => 0x6469_6666_0003,
        }
    }
}

/// Standard normal noise of shape `(frames.len(), dims...)`: row `i` depends only on
/// `(seed, frames[i], stream, dims)`.
pub fn frame_noise(
    seed: u64,
    frames: &[FrameNr],
    dims: &[usize],
    stream: NoiseStream,
    dtype: DType,
    device: &Device,
) -> Result<Tensor> {
    let per_frame: usize = dims.iter().product();
    let mut values = Vec::with_capacity(per_frame * frames.len());
    for &frame in frames {
        let mut rng = FrameRng::new(seed, frame, stream.id());
        values.extend((0..per_frame).map(|_| rng.normal() as f32));
    }
    let shape: Vec<usize> = std::iter::once(frames.len())
        .chain(dims.iter().copied())
        .collect();
    Tensor::from_vec(values, shape, &Device::Cpu)?
        .to_dtype(dtype)?
        .to_device(device)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draw(frames: &[u64], stream: NoiseStream) -> Tensor {
        let frames: Vec<FrameNr> = frames.iter().map(|&f| FrameNr(f)).collect();
        frame_noise(7, &frames, &[4, 3, 5], stream, DType::F32, &Device::Cpu).unwrap()
    }

    fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar()
            .unwrap()
    }

    #[test]
    fn a_frame_draws_the_same_noise_in_any_batch() {
        let batch = draw(&[3, 9, 4], NoiseStream::Latents);
        assert_eq!(batch.dims(), &[3, 4, 3, 5]);
        for (i, f) in [3, 9, 4].into_iter().enumerate() {
            let alone = draw(&[f], NoiseStream::Latents);
            let row = batch.narrow(0, i, 1).unwrap();
            assert_eq!(max_abs_diff(&row, &alone), 0.0, "frame {f}");
        }
    }

    #[test]
    fn frames_and_streams_draw_different_noise() {
        let a = draw(&[3], NoiseStream::Latents);
        assert!(max_abs_diff(&a, &draw(&[4], NoiseStream::Latents)) > 0.5);
        assert!(max_abs_diff(&a, &draw(&[3], NoiseStream::PosteriorImage)) > 0.5);
        let b = draw(&[3], NoiseStream::PosteriorMaskedImage);
        assert!(max_abs_diff(&b, &draw(&[3], NoiseStream::PosteriorImage)) > 0.5);
    }

    #[test]
    fn noise_is_standard_normal() {
        let frames: Vec<FrameNr> = (0..4).map(FrameNr).collect();
        let x = frame_noise(
            1,
            &frames,
            &[4, 32, 32],
            NoiseStream::Latents,
            DType::F32,
            &Device::Cpu,
        )
        .unwrap();
        let mean: f32 = x.mean_all().unwrap().to_scalar().unwrap();
        let mean_sq: f32 = x.sqr().unwrap().mean_all().unwrap().to_scalar().unwrap();
        let var = mean_sq - mean * mean;
        assert!(
            mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
    }
}

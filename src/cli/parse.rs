//! Value parsers and checks shared by the subcommands' arguments.

use clap::ValueEnum;
use vanelia::core::{Error, FrameRate, Result};
use vanelia::nn::Precision;

/// Network precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PrecisionArg {
    /// f16 on a CUDA device, f32 on the CPU (where f16 is slow and the golden tests check f32).
    Auto,
    /// f32.
    F32,
    /// f16 (the usual choice on GPUs).
    F16,
    /// bf16.
    Bf16,
}

impl PrecisionArg {
    /// The library's precision on a device that is a GPU (`on_gpu`) or not.
    pub fn precision(self, on_gpu: bool) -> Precision {
        match self {
            Self::Auto if on_gpu => Precision::F16,
            Self::Auto | Self::F32 => Precision::F32,
            Self::F16 => Precision::F16,
            Self::Bf16 => Precision::Bf16,
        }
    }
}

/// Whether the networks will run on a GPU (the device `vanelia::nn::device` picks).
pub fn runs_on_gpu() -> bool {
    vanelia::nn::device().is_cuda()
}

/// An `InvalidArgument` unless `ok`.
pub fn check(name: &'static str, ok: bool, rule: &str) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument {
            name,
            detail: rule.into(),
        })
    }
}

/// Parses `X,Y,Z`.
pub fn parse_vec3(name: &'static str, s: &str) -> Result<[f64; 3]> {
    let bad = || Error::InvalidArgument {
        name,
        detail: format!("expected three numbers \"X,Y,Z\", got \"{s}\""),
    };
    let v: Vec<f64> = s
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| bad())?;
    match v.as_slice() {
        [x, y, z] if v.iter().all(|c| c.is_finite()) => Ok([*x, *y, *z]),
        _ => Err(bad()),
    }
}

/// Checks `--fps` and turns it into an exact rational (29.97 -> 30000/1001).
pub fn frame_rate(fps: f64) -> Result<FrameRate> {
    check(
        "--fps",
        fps.is_finite() && fps > 0.0 && fps <= 1000.0,
        "must be in (0, 1000]",
    )?;
    Ok(rate_of(fps))
}

/// A decimal fps as an exact rational (29.97 -> 30000/1001).
fn rate_of(fps: f64) -> FrameRate {
    for (num, den) in [(24000, 1001), (30000, 1001), (60000, 1001)] {
        if (fps - f64::from(num) / f64::from(den)).abs() < 0.005 {
            return FrameRate { num, den };
        }
    }
    FrameRate {
        num: (fps * 1000.0).round() as u32,
        den: 1000,
    }
}

/// Parses a memory size option (`--vram-budget`, `--vram`): `8G`, `512M`, bytes.
pub fn memory_size(name: &'static str, text: &str) -> Result<u64> {
    vanelia::memory::profile::parse_bytes(text).ok_or_else(|| Error::InvalidArgument {
        name,
        detail: format!("expected a size such as 8G or 512M, got \"{text}\""),
    })
}

/// Parses `--vram-budget`.
pub fn vram_budget(text: Option<&str>) -> Result<Option<u64>> {
    text.map(|v| memory_size("--vram-budget", v)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_and_reject() {
        assert_eq!(
            parse_vec3("--place", "1, -2.5,3").unwrap(),
            [1.0, -2.5, 3.0]
        );
        assert!(parse_vec3("--place", "1,2").is_err());
        let rate = |fps| frame_rate(fps).unwrap();
        assert_eq!(
            rate(29.97),
            FrameRate {
                num: 30000,
                den: 1001
            }
        );
        assert_eq!(
            rate(25.0),
            FrameRate {
                num: 25000,
                den: 1000
            }
        );
        assert!(frame_rate(0.0).is_err());
        assert_eq!(vram_budget(Some("8G")).unwrap(), Some(8 << 30));
        assert!(vram_budget(Some("eight")).is_err());
    }

    #[test]
    fn auto_precision_is_f16_on_a_gpu_and_f32_on_the_cpu() {
        assert_eq!(PrecisionArg::Auto.precision(true), Precision::F16);
        assert_eq!(PrecisionArg::Auto.precision(false), Precision::F32);
        assert_eq!(PrecisionArg::F32.precision(true), Precision::F32);
        assert_eq!(PrecisionArg::Bf16.precision(false), Precision::Bf16);
    }
}

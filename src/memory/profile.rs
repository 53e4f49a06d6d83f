//! What the machine has: host RAM from `/proc/meminfo`, and the device the networks run on.

use serde::{Deserialize, Serialize};

/// The compute device and its memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceProfile {
    /// `"cpu"` or `"cuda"`.
    pub kind: String,
    /// Device name (the CPU model or the GPU).
    pub name: String,
    /// Total memory the networks can use, bytes (host RAM on the CPU).
    pub total_bytes: u64,
    /// Memory free now, bytes (`MemAvailable` on the CPU).
    pub free_bytes: u64,
}

impl DeviceProfile {
    /// The profile of the device [`crate::nn::device`] picks. In a build without the `cuda`
    /// feature that is the CPU; with it, the GPU when one answers, else the CPU.
    pub fn current() -> Self {
        #[cfg(feature = "cuda")]
        if let Some(profile) = cuda_profile(&crate::nn::device()) {
            return profile;
        }
        let (total, available) = host_memory();
        Self {
            kind: "cpu".into(),
            name: cpu_name(),
            total_bytes: total,
            free_bytes: available,
        }
    }
}

/// The CUDA device's profile: name with compute capability (`NVIDIA H100 80GB HBM3 (sm_90)`),
/// total and free memory from the driver (platform.md §8). `None` for a CPU device or when the
/// driver does not answer, so that the caller falls back to the CPU profile.
#[cfg(feature = "cuda")]
fn cuda_profile(device: &candle_core::Device) -> Option<DeviceProfile> {
    if !device.is_cuda() {
        return None;
    }
    // Frees are stream-ordered (cuMemFreeAsync): synchronise before reading free memory.
    device.synchronize().ok()?;
    let stream = device.as_cuda_device().ok()?.cuda_stream();
    let context = stream.context();
    let (free, total) = context.mem_get_info().ok()?;
    let model = context.name().unwrap_or_else(|_| "cuda".into());
    let name = match context.compute_capability() {
        Ok((major, minor)) => format!("{model} (sm_{major}{minor})"),
        Err(_) => model,
    };
    Some(DeviceProfile {
        kind: "cuda".into(),
        name,
        total_bytes: total as u64,
        free_bytes: free as u64,
    })
}

/// (MemTotal, MemAvailable) in bytes; zeros where `/proc/meminfo` is unreadable.
pub fn host_memory() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let field = |name: &str| -> u64 {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(0, |kib| kib * 1024)
    };
    (field("MemTotal:"), field("MemAvailable:"))
}

fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "cpu".into())
}

/// Parses a memory size such as `8G`, `6GiB`, `512M`, `80G` or a byte count (powers of 1024).
pub fn parse_bytes(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number.parse().ok()?;
    let unit = unit.trim().to_ascii_uppercase();
    let unit = unit.trim_end_matches("IB").trim_end_matches('B');
    let scale = match unit {
        "" => 1.0,
        "K" => 1024.0,
        "M" => 1024.0 * 1024.0,
        "G" => 1024.0 * 1024.0 * 1024.0,
        "T" => 1024.0_f64.powi(4),
        _ => return None,
    };
    let bytes = value * scale;
    (bytes.is_finite() && bytes >= 1.0).then_some(bytes as u64)
}

/// `bytes` in the largest binary unit that keeps a value of at least 1, two decimals, for
/// tables and messages (`5.00 GiB`, `20.00 KiB`).
pub fn gib(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < units.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2} {}", units[unit])
}

/// Peak resident set size of this process (`VmHWM`), 0 where the OS does not tell.
pub fn peak_rss_bytes() -> u64 {
    proc_status_bytes("VmHWM:").unwrap_or(0)
}

/// A memory field of `/proc/self/status` (`RssAnon:`, `VmHWM:`, …) in bytes; `None` where the
/// OS does not tell.
pub fn proc_status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

/// `VANELIA_INJECT_ALLOC_LIMIT`: a simulated device size in bytes (see README, "Memory"), so
/// that out-of-memory recovery can be exercised on a CPU.
pub fn injected_alloc_limit() -> Option<u64> {
    std::env::var("VANELIA_INJECT_ALLOC_LIMIT")
        .ok()
        .and_then(|v| parse_bytes(&v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_powers_of_1024() {
        assert_eq!(parse_bytes("8G"), Some(8 << 30));
        assert_eq!(parse_bytes("6GiB"), Some(6 << 30));
        assert_eq!(parse_bytes("512M"), Some(512 << 20));
        assert_eq!(parse_bytes("1.5G"), Some(3 << 29));
        assert_eq!(parse_bytes("1000"), Some(1000));
        for bad in ["", "G", "8X", "-1G", "eight"] {
            assert_eq!(parse_bytes(bad), None, "{bad}");
        }
        assert_eq!(gib(5 << 30), "5.00 GiB");
        assert_eq!(gib(20 << 10), "20.00 KiB");
        let (total, available) = host_memory();
        assert!(total > 0 && available <= total);
    }
}

//! Measured memory: a background thread samples the memory in use on the compute device while
//! a run works, so the plan's predicted peak can be set against what the run really used.
//!
//! What "in use" means depends on the device. On a GPU it is the device's used memory as the
//! driver reports it (`total − free`, `cuMemGetInfo`), which includes the allocator's cached
//! blocks — what another process could not have. On the CPU the device memory is host memory,
//! and the figure is this process's resident set (`VmRSS`), which also holds decoded frames,
//! the renderer and FFmpeg's buffers that the plan does not count. Either way the report gives
//! the level when the run started and the peak above it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;

/// How often the sampler looks (short enough to see a UNet step's transient at batch 1).
const INTERVAL: Duration = Duration::from_millis(2);

/// What a run used, measured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MeasuredMemory {
    /// `"cuda used (total - free)"` or `"process RSS"`.
    pub source: String,
    /// In use when the run started (CUDA context, the binary, libraries).
    pub baseline_bytes: u64,
    /// The highest level seen.
    pub peak_bytes: u64,
    /// `peak_bytes − baseline_bytes`: what the run itself added, the figure to set against the
    /// plan's predicted peak.
    pub peak_above_baseline_bytes: u64,
    /// Samples taken.
    pub samples: u64,
    /// Milliseconds between samples.
    pub interval_ms: u64,
}

/// Where the level is read.
#[derive(Clone)]
enum Probe {
    /// This process's resident set.
    HostRss,
    /// The GPU's used memory.
    #[cfg(feature = "cuda")]
    Cuda(Arc<candle_core::cuda::cudarc::driver::CudaContext>),
}

impl Probe {
    fn for_device(device: &candle_core::Device) -> Self {
        #[cfg(feature = "cuda")]
        if let Ok(cuda) = device.as_cuda_device() {
            return Self::Cuda(cuda.cuda_stream().context().clone());
        }
        let _ = device;
        Self::HostRss
    }

    fn name(&self) -> &'static str {
        match self {
            Self::HostRss => "process RSS",
            #[cfg(feature = "cuda")]
            Self::Cuda(_) => "cuda used (total - free)",
        }
    }

    /// The level now; `None` when it cannot be read.
    fn read(&self) -> Option<u64> {
        match self {
            Self::HostRss => crate::core::report::proc_status_bytes("VmRSS:"),
            #[cfg(feature = "cuda")]
            Self::Cuda(context) => context
                .mem_get_info()
                .ok()
                .map(|(free, total)| (total - free) as u64),
        }
    }
}

/// State shared with the sampling thread.
struct Shared {
    stop: AtomicBool,
    peak: AtomicU64,
    samples: AtomicU64,
}

/// Samples the device's memory in use from [`PeakMonitor::start`] until
/// [`PeakMonitor::finish`].
pub struct PeakMonitor {
    probe: Probe,
    baseline: u64,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl PeakMonitor {
    /// Starts sampling the memory of `device`.
    pub fn start(device: &candle_core::Device) -> Self {
        let probe = Probe::for_device(device);
        let baseline = probe.read().unwrap_or(0);
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            peak: AtomicU64::new(baseline),
            samples: AtomicU64::new(1),
        });
        let thread = {
            let (probe, shared) = (probe.clone(), shared.clone());
            std::thread::Builder::new()
                .name("vanelia-memory".into())
                .spawn(move || sample_until_stopped(&probe, &shared))
                .ok()
        };
        Self {
            probe,
            baseline,
            shared,
            thread,
        }
    }

    /// Stops sampling (one last sample first) and returns what was seen.
    pub fn finish(mut self) -> MeasuredMemory {
        self.stop_thread();
        sample(&self.probe, &self.shared);
        let peak = self.shared.peak.load(Ordering::Relaxed);
        MeasuredMemory {
            source: self.probe.name().into(),
            baseline_bytes: self.baseline,
            peak_bytes: peak,
            peak_above_baseline_bytes: peak.saturating_sub(self.baseline),
            samples: self.shared.samples.load(Ordering::Relaxed),
            interval_ms: INTERVAL.as_millis() as u64,
        }
    }

    fn stop_thread(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for PeakMonitor {
    /// A run that fails still stops its sampler.
    fn drop(&mut self) {
        self.stop_thread();
    }
}

fn sample(probe: &Probe, shared: &Shared) {
    if let Some(level) = probe.read() {
        shared.peak.fetch_max(level, Ordering::Relaxed);
        shared.samples.fetch_add(1, Ordering::Relaxed);
    }
}

fn sample_until_stopped(probe: &Probe, shared: &Shared) {
    #[cfg(feature = "cuda")]
    if let Probe::Cuda(context) = probe {
        // the driver queries need the context current on this thread
        let _ = context.bind_to_thread();
    }
    while !shared.stop.load(Ordering::Relaxed) {
        sample(probe, shared);
        std::thread::sleep(INTERVAL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_a_transient_host_allocation() {
        let monitor = PeakMonitor::start(&candle_core::Device::Cpu);
        // 256 MiB written (so resident), held for 50 ms, then freed
        let mut block = vec![0_u8; 256 << 20];
        for page in block.chunks_mut(4096) {
            page[0] = 1;
        }
        std::thread::sleep(Duration::from_millis(50));
        drop(block);
        std::thread::sleep(Duration::from_millis(10));
        let seen = monitor.finish();
        assert_eq!(seen.source, "process RSS");
        assert!(seen.baseline_bytes > 0);
        // other tests of this process allocate too: at least the block, not wildly more
        assert!(
            seen.peak_above_baseline_bytes >= 250 << 20,
            "{}",
            seen.peak_above_baseline_bytes
        );
        assert!(seen.samples >= 10, "{}", seen.samples);
    }
}

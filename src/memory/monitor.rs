//! Measured memory: a background thread samples the memory in use on the compute device while
//! a run works, so the plan's predicted peak can be set against what the run really used.
//!
//! What "in use" means depends on the device. On a GPU it is the device's used memory as the
//! driver reports it (`total − free`, `cuMemGetInfo`), which includes the allocator's cached
//! blocks — what another process could not have. On the CPU the device memory is host memory,
//! and the figure is this process's anonymous resident memory (`RssAnon`: the heap, where
//! tensors live). Mapped files are left out: a safetensors file read through `mmap` while a
//! model loads is page cache the kernel can drop, and counting it (`VmRSS`) made the load look
//! like twice the weights. The heap also holds decoded frames, the renderer and FFmpeg's
//! buffers, which the plan does not count. Either way the report gives the level when the run
//! started, the peak above it and when the peak came.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// How often the sampler looks (short enough to see a UNet step's transient at batch 1).
const INTERVAL: Duration = Duration::from_millis(2);

/// What a run used, measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeasuredMemory {
    /// `"cuda used (total - free)"` or `"process anonymous RSS"`.
    pub source: String,
    /// In use when the run started (CUDA context, the binary, libraries).
    pub baseline_bytes: u64,
    /// The highest level seen.
    pub peak_bytes: u64,
    /// `peak_bytes − baseline_bytes`: what the run itself added, the figure to set against the
    /// plan's predicted peak.
    pub peak_above_baseline_bytes: u64,
    /// Seconds from the start to the peak (which stage it fell in).
    pub peak_at_secs: f64,
    /// Samples taken.
    pub samples: u64,
    /// Milliseconds between samples.
    pub interval_ms: u64,
}

/// Where the level is read.
#[derive(Clone)]
enum Probe {
    /// This process's anonymous resident memory.
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
            Self::HostRss => "process anonymous RSS",
            #[cfg(feature = "cuda")]
            Self::Cuda(_) => "cuda used (total - free)",
        }
    }

    /// The level now; `None` when it cannot be read.
    fn read(&self) -> Option<u64> {
        match self {
            Self::HostRss => super::profile::proc_status_bytes("RssAnon:"),
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
    started: Instant,
    stop: AtomicBool,
    peak: AtomicU64,
    /// Milliseconds from `started` to the sample that set `peak`.
    peak_at_ms: AtomicU64,
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
            started: Instant::now(),
            stop: AtomicBool::new(false),
            peak: AtomicU64::new(baseline),
            peak_at_ms: AtomicU64::new(0),
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
            peak_at_secs: self.shared.peak_at_ms.load(Ordering::Relaxed) as f64 / 1000.0,
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

/// One reading; only the sampling thread and, after it stopped, `finish` call this, so the
/// peak and its time are never written concurrently.
fn sample(probe: &Probe, shared: &Shared) {
    if let Some(level) = probe.read() {
        if level > shared.peak.load(Ordering::Relaxed) {
            shared.peak.store(level, Ordering::Relaxed);
            let ms = shared.started.elapsed().as_millis() as u64;
            shared.peak_at_ms.store(ms, Ordering::Relaxed);
        }
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
        let started = Instant::now();
        // 256 MiB written (so resident), held for 50 ms, then freed
        let mut block = vec![0_u8; 256 << 20];
        for page in block.chunks_mut(4096) {
            page[0] = 1;
        }
        let filled = started.elapsed().as_secs_f64();
        std::thread::sleep(Duration::from_millis(50));
        drop(block);
        let freed = started.elapsed().as_secs_f64();
        std::thread::sleep(Duration::from_millis(10));
        let seen = monitor.finish();
        assert_eq!(seen.source, "process anonymous RSS");
        // the peak came while the block was held
        let at = seen.peak_at_secs;
        assert!(
            at >= filled - 0.01 && at <= freed + 0.05,
            "{at} not in {filled}..{freed}"
        );
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

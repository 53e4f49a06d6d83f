//! The bench report's ratios and its text table.

use super::{BenchReport, BenchResult, BenchStage};
use crate::core::Stage;
use crate::memory::profile::gib;

/// The comparisons, where both of their variants ran: `focus` stage time of one over the
/// other.
pub(super) fn ratios(results: &[BenchResult], focus: Stage) -> Vec<(String, f64)> {
    let by = |name: &str| results.iter().find(|r| r.variant.name == name);
    let mut out = Vec::new();
    let mut ratio = |label: &str, a: &str, b: &str| {
        if let (Some(a), Some(b)) = (by(a), by(b)) {
            let (ta, tb) = (a.stage_secs(focus), b.stage_secs(focus));
            if tb > 0.0 {
                out.push((format!("{focus} {label}"), ta / tb));
            }
        }
    };
    ratio(
        "time DDIM 20 / DPM++ 12, strength 0.3",
        "ddim20_s0.3_b8",
        "dpmpp12_s0.3_b8",
    );
    ratio(
        "time DDIM 20 / DPM++ 12, same start sigma",
        "ddim20_same_sigma_b8",
        "dpmpp12_s0.3_b8",
    );
    ratio(
        "throughput batch 8 / batch 1",
        "dpmpp12_s0.3_b1",
        "dpmpp12_s0.3_b8",
    );
    ratio("throughput pair batch 8 / batch 1", "pose_b1", "pose_b8");
    out
}

/// `bytes` for a table cell, `-` when unknown.
fn cell_bytes(bytes: Option<u64>) -> String {
    bytes.map(gib).unwrap_or_else(|| "-".into())
}

impl BenchReport {
    /// The report as a table: per setting the focus stage's time and frames/s, its work
    /// (UNet evaluations or pose pairs), batch, memory.
    pub fn table(&self) -> String {
        let focus = self.focus;
        let track = self.stage == BenchStage::Track;
        let mut out = format!(
            "{} frames on {} ({}, {} total)\n{:<24} {:>8} {:>10} {:>10} {:>7} {:>6} {:>12} {:>12} {:>12} {:>6}\n",
            self.frames,
            self.device.kind,
            self.device.name,
            gib(self.device.total_bytes),
            "setting",
            "wall s",
            format!("{focus} s"),
            "frames/s",
            if track { "pairs" } else { "UNet" },
            "batch",
            "peak RSS",
            "predicted",
            "measured",
            "p/m"
        );
        for r in &self.results {
            let fps = r.stage(focus).map_or(0.0, |s| s.timing.frames_per_sec);
            let work = if track {
                r.pose_pairs
            } else {
                r.unet_evaluations
            };
            out.push_str(&format!(
                "{:<24} {:>8.2} {:>10.2} {:>10.2} {:>7} {:>6} {:>12} {:>12} {:>12} {:>6}\n",
                r.variant.name,
                r.wall_secs,
                r.stage_secs(focus),
                fps,
                work,
                r.batch_size,
                gib(r.peak_rss_bytes),
                cell_bytes(r.predicted_peak_bytes),
                cell_bytes(r.measured_peak_bytes),
                r.predicted_over_measured()
                    .map(|x| format!("{x:.2}"))
                    .unwrap_or_else(|| "-".into())
            ));
        }
        for (label, value) in &self.ratios {
            out.push_str(&format!("{label}: {value:.2}x\n"));
        }
        out
    }
}

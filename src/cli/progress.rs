//! indicatif progress bars: the only place that draws to the terminal.

use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use vanelia::core::Progress;

/// Progress bars on stderr; hidden when stderr is not a terminal or `--quiet` is given.
pub struct Bars {
    bar: Mutex<Option<ProgressBar>>,
    visible: bool,
}

impl Bars {
    /// Bars that draw only when `visible` and stderr is a terminal.
    pub fn new(visible: bool) -> Self {
        Self {
            bar: Mutex::new(None),
            visible: visible && std::io::IsTerminal::is_terminal(&std::io::stderr()),
        }
    }
}

impl Progress for Bars {
    fn begin(&self, stage: &'static str, total: u64) {
        let bar = if self.visible {
            ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
        } else {
            ProgressBar::hidden()
        };
        let style =
            ProgressStyle::with_template("{prefix:>10} [{bar:40}] {pos}/{len} {per_sec} ETA {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(stage);
        if let Ok(mut slot) = self.bar.lock() {
            *slot = Some(bar);
        }
    }

    fn advance(&self, _stage: &'static str, n: u64) {
        if let Ok(slot) = self.bar.lock() {
            if let Some(bar) = slot.as_ref() {
                bar.inc(n);
            }
        }
    }

    fn finish(&self, _stage: &'static str) {
        if let Ok(mut slot) = self.bar.lock() {
            if let Some(bar) = slot.take() {
                bar.finish_and_clear();
            }
        }
    }
}

//! The progress bar of `tidewater ingest` (indicatif on standard error): bytes read (of the
//! total when every input is a file), rows per second, records skipped, and the last commit.
//! Hidden when standard error is not a terminal.

use std::time::{Duration, Instant};

use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tidewater_client::sink::CheckpointRecord;

use crate::ingest::source::Position;

pub struct Progress {
    bar: ProgressBar,
    started: Instant,
    start_records: u64,
    last_commit: String,
    last_draw: Instant,
}

impl Progress {
    pub fn new(visible: bool, total_bytes: Option<u64>, pos: &Position) -> Progress {
        let target = if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = match total_bytes {
            Some(total) => {
                let bar = ProgressBar::with_draw_target(Some(total), target);
                if let Ok(style) = ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}",
                ) {
                    bar.set_style(style);
                }
                bar
            }
            None => {
                let bar = ProgressBar::with_draw_target(None, target);
                if let Ok(style) =
                    ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bytes} {msg}")
                {
                    bar.set_style(style);
                }
                bar
            }
        };
        bar.set_position(pos.bytes);
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress {
            bar,
            started: Instant::now(),
            start_records: pos.records,
            last_commit: "no commit yet".to_string(),
            last_draw: Instant::now(),
        }
    }

    pub fn println(&self, line: String) {
        self.bar.println(line);
    }

    /// After each record: redrawn at most ten times a second.
    pub fn read(&mut self, pos: &Position) {
        if self.last_draw.elapsed() < Duration::from_millis(100) {
            return;
        }
        self.last_draw = Instant::now();
        self.update(pos);
    }

    pub fn skipped(&mut self, pos: &Position) {
        self.update(pos);
    }

    pub fn committed(&mut self, record: &CheckpointRecord, pos: &Position) {
        let at = chrono::Local::now().format("%H:%M:%S");
        self.last_commit = match record.snapshot_id {
            Some(s) => format!("last commit #{} → snapshot {s} at {at}", record.checkpoint),
            None => format!("last commit #{} (no rows) at {at}", record.checkpoint),
        };
        self.update(pos);
    }

    fn update(&mut self, pos: &Position) {
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = (pos.records.saturating_sub(self.start_records)) as f64 / secs;
        let mut msg = format!(
            "{} rows ({:.0} rows/s, {})",
            pos.written,
            rate,
            HumanBytes(pos.bytes)
        );
        if pos.skipped > 0 {
            msg.push_str(&format!(", {} skipped", pos.skipped));
        }
        msg.push_str(", ");
        msg.push_str(&self.last_commit);
        self.bar.set_position(pos.bytes);
        self.bar.set_message(msg);
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

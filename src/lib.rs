//! leaktop: watch a process tree over time and catch the children it leaks.
//!
//! Layers one way: each line below uses only the lines under it, and every effect on
//! the machine goes through the [`host`] port, which the command line (the binary's
//! `cmd`) builds once and passes down.
//!
//! ```text
//!  demo, ui         the view: state and keys, pure render, the event loop
//!  actions, ci      the safe kill, `run`, `orphans`; run's CI outputs
//!  record, report   the headless recorder; a recording summarised or charted
//!  monitor, outfile one tick per step: a sampler, the tracker, the host's clock;
//!                   the files a user names, opened once before anything starts
//!  format, metrics  tick-log text and NDJSON; the figures --metrics serves
//!  model            identity, lineage, verdicts, alerts, orphans: pure, no I/O
//!  sample           what a process is (samples, memory, facts); the samplers
//!  ──────────────────────────────────────────────────────────────────────────
//!  host             the port: LinuxHost, MacosHost, the tests' FakeHost
//! ```
//!
//! - [`ui`]: the interactive view (live, replay, root picker);
//! - [`demo`]: `leaktop demo`, a family that leaks on purpose;
//! - [`actions`]: the safe kill, `leaktop run` and `leaktop orphans`;
//! - [`ci`]: `run --check` for CI: JUnit XML, GitHub Actions annotations and summary;
//! - [`record`]: `leaktop record`, the headless recorder;
//! - [`report`]: `leaktop report`, a recording as a summary, JSON or a chart;
//! - [`monitor`]: the sampling loop that ties a sampler to a tracker;
//! - [`mod@format`]: the tick-log text format and NDJSON, writers and parsers;
//! - [`metrics`]: `--metrics ADDR`, the figures served to Prometheus;
//! - [`model`]: identity, lineage and leak detection, pure logic over samples;
//! - [`sample`]: reading processes from the OS (one module per backend);
//! - [`host`]: the OS port: every effect on the machine (sampling, clocks, waits,
//!   signals, pidfds, reaping, spawning, files), real and fake;
//! - [`human`]: leaf helpers every layer uses (printable text, sizes, ages, counts);
//! - [`exit_codes`] and [`stdout`]: how leaktop ends, and what a failed write to
//!   standard output means.

pub mod actions;
pub mod ci;
pub mod demo;
pub mod exit_codes;
pub mod format;
pub mod host;
pub mod human;
pub mod metrics;
pub mod model;
pub mod monitor;
pub mod outfile;
pub mod record;
pub mod report;
pub mod sample;
pub mod stdout;
pub mod ui;

/// Writes leaktop's own messages to stderr. A closed stderr (a CI step that stopped
/// reading) must neither panic nor stop the work that follows, such as a kill.
pub fn say(text: &str) {
    use std::io::Write;
    let _ = std::io::stderr().write_all(text.as_bytes());
}

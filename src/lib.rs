//! leaktop: watch a process tree over time and catch the children it leaks.
//!
//! Layout:
//! - [`host`]: the OS port: every effect on the machine (sampling, clock, signals,
//!   reaping, spawning, files), with a real implementation and a fake in the tests;
//! - [`sample`]: reading processes from the OS (one module per backend);
//! - [`model`]: identity, lineage and leak detection, pure logic over samples;
//! - [`format`]: the tick-log text format and NDJSON, writers and parsers;
//! - [`monitor`]: the sampling loop that ties a sampler to a tracker;
//! - [`record`]: `leaktop record`, the headless recorder; [`outfile`]: the files a
//!   user names for leaktop to write, opened once, before anything starts;
//! - [`actions`]: the safe kill and `leaktop run`;
//! - [`ci`]: `run --check` for CI: JUnit XML, GitHub Actions annotations and summary;
//! - [`text`]: leaf helpers every layer uses (printable text, sizes, ages, counts);
//! - [`ui`]: the interactive view (live, replay, root picker);
//! - [`demo`]: `leaktop demo`, a family that leaks on purpose;
//! - [`metrics`]: `--metrics ADDR`, the figures served to Prometheus;
//! - [`exit_codes`] and [`stdout`]: how leaktop ends, and what a failed write to
//!   standard output means.

pub mod actions;
pub mod ci;
pub mod demo;
pub mod exit_codes;
pub mod format;
pub mod host;
pub mod metrics;
pub mod model;
pub mod monitor;
pub mod outfile;
pub mod record;
pub mod report;
pub mod sample;
pub mod stdout;
pub mod text;
pub mod ui;

/// Writes leaktop's own messages to stderr. A closed stderr (a CI step that stopped
/// reading) must neither panic nor stop the work that follows, such as a kill.
pub fn say(text: &str) {
    use std::io::Write;
    let _ = std::io::stderr().write_all(text.as_bytes());
}

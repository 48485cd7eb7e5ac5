//! Where `run`'s CI outputs go: checked before CMD starts, written once it has been
//! reported on.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::github::{self, Level};
use super::{CiReport, junit};
use crate::host::{Create, Host};
use crate::human::io_message;

/// The files and environment `run` reports to besides stderr.
#[derive(Debug, Clone, Default)]
pub struct CiOutputs {
    /// `--junit FILE`.
    pub junit: Option<PathBuf>,
    /// `--json FILE`: the run's summary, as `report --json` writes it.
    pub json: Option<PathBuf>,
    /// `GITHUB_ACTIONS=true`: annotate the job through workflow commands on stdout.
    pub github: bool,
    /// `$GITHUB_STEP_SUMMARY` (with `github`): the file the Markdown table is appended to.
    pub step_summary: Option<PathBuf>,
}

/// A CI output that could not be written: one line naming the file.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {why}")]
pub struct OutputError {
    pub path: String,
    pub why: String,
}

impl CiOutputs {
    /// Reads the GitHub Actions environment (`GITHUB_ACTIONS`, `GITHUB_STEP_SUMMARY`).
    pub fn from_env(junit: Option<PathBuf>, json: Option<PathBuf>) -> CiOutputs {
        let github = std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true");
        CiOutputs {
            junit,
            json,
            github,
            step_summary: github
                .then(|| std::env::var_os("GITHUB_STEP_SUMMARY"))
                .flatten()
                .filter(|p| !p.is_empty())
                .map(PathBuf::from),
        }
    }

    /// Whether anything here needs the run's summary (`--json`).
    pub fn wants_summary(&self) -> bool {
        self.json.is_some()
    }

    /// Checks, before CMD starts, that `--junit` and `--json` can be written, without
    /// touching what an existing file holds.
    pub fn check(&self, host: &dyn Host) -> Result<(), OutputError> {
        for path in [&self.junit, &self.json].into_iter().flatten() {
            crate::host::check_writable(host, path).map_err(|e| OutputError {
                path: crate::human::shown_path(path),
                why: io_message(&e),
            })?;
        }
        Ok(())
    }

    /// Writes every output through `host`; `check` fails the job (`--check`: error
    /// annotations, else warnings). Goes on past a failure and returns the first.
    pub fn write(
        &self,
        host: &dyn Host,
        report: &CiReport,
        summary: Option<&crate::report::Summary>,
        check: bool,
    ) -> Result<(), OutputError> {
        let mut first: Option<OutputError> = None;
        let mut keep = |r: Result<(), OutputError>| {
            if let Err(e) = r {
                first.get_or_insert(e);
            }
        };
        if let Some(path) = &self.junit {
            keep(write_file(host, path, junit::junit_xml(report).as_bytes()));
        }
        if let (Some(path), Some(summary)) = (&self.json, summary) {
            let json = serde_json::to_string_pretty(summary).unwrap_or_default() + "\n";
            keep(write_file(host, path, json.as_bytes()));
        }
        if self.github {
            let level = if check { Level::Error } else { Level::Warning };
            let lines = github::annotations(report, level);
            // A closed stdout (the step's reader gone) loses the annotations only.
            let _ = crate::stdout::write_all(lines.as_bytes());
            if let Some(path) = &self.step_summary {
                keep(append_summary(host, path, report));
            }
        }
        first.map_or(Ok(()), Err)
    }
}

/// Creates (or truncates) `path` and writes `bytes` to it.
fn write_file(host: &dyn Host, path: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    host.create(path, Create::Truncate)
        .and_then(|mut file| file.write_all(bytes))
        .map_err(|e| OutputError {
            path: crate::human::shown_path(path),
            why: io_message(&e),
        })
}

/// Appends the Markdown to the step summary, in what is left of GitHub's 1 MiB.
fn append_summary(host: &dyn Host, path: &Path, report: &CiReport) -> Result<(), OutputError> {
    let error = |e: std::io::Error| OutputError {
        path: crate::human::shown_path(path),
        why: io_message(&e),
    };
    let used = std::fs::metadata(path).map_or(0, |m| m.len() as usize);
    let md = github::step_summary(report, github::SUMMARY_CAP.saturating_sub(used));
    if md.is_empty() {
        return Ok(());
    }
    let mut file = host.create(path, Create::Append).map_err(error)?;
    file.write_all(md.as_bytes()).map_err(error)
}

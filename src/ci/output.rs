//! Where `run`'s CI outputs go: checked before CMD starts, written once it has been
//! reported on.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::github::{self, Level};
use super::{CiReport, junit};
use crate::host::Host;
use crate::human::io_message;
use crate::outfile::{Mode, OpenError, OutFile};

/// The files and environment `run` reports to besides stderr.
#[derive(Debug, Default)]
pub struct CiOutputs {
    /// `--junit FILE`.
    pub junit: Option<PathBuf>,
    /// `--json FILE`: the run's summary, as `report --json` writes it.
    pub json: Option<PathBuf>,
    /// `GITHUB_ACTIONS=true`: annotate the job through workflow commands on stdout.
    pub github: bool,
    /// `$GITHUB_STEP_SUMMARY` (with `github`): the file the Markdown table is appended to.
    pub step_summary: Option<PathBuf>,
    /// The files above, once [`CiOutputs::open`] has opened them.
    opened: Opened,
}

#[derive(Debug, Default)]
struct Opened {
    junit: Option<OutFile>,
    json: Option<OutFile>,
    step_summary: Option<OutFile>,
}

/// A CI output that could not be written: one line naming the file.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {why}")]
pub struct OutputError {
    pub path: String,
    pub why: String,
}

impl OutputError {
    fn io(path: &Path, e: &std::io::Error) -> OutputError {
        OutputError {
            path: crate::human::shown_path(path),
            why: io_message(e),
        }
    }
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
            opened: Opened::default(),
        }
    }

    /// Whether anything here needs the run's summary (`--json`).
    pub fn wants_summary(&self) -> bool {
        self.json.is_some()
    }

    /// Opens `--junit`, `--json` and the step summary before CMD starts, once, without
    /// touching what an existing file holds ([`OutFile::open`]): one that cannot be
    /// written is known before CMD runs. A FIFO's reader is waited for.
    pub fn open(&mut self, host: &dyn Host) -> Result<(), OutputError> {
        let open = |path: &Path, mode| {
            OutFile::open(host, path, mode, None).map_err(|e| match e {
                OpenError::Create { source, .. } => OutputError::io(path, &source),
                e => OutputError {
                    path: crate::human::shown_path(path),
                    why: e.to_string(),
                },
            })
        };
        if let Some(p) = &self.junit {
            self.opened.junit = Some(open(p, Mode::Replace)?);
        }
        if let Some(p) = &self.json {
            self.opened.json = Some(open(p, Mode::Replace)?);
        }
        if let Some(p) = self.step_summary.as_ref().filter(|_| self.github) {
            self.opened.step_summary = Some(open(p, Mode::Append)?);
        }
        Ok(())
    }

    /// Writes every output opened by [`CiOutputs::open`]; `check` fails the job
    /// (`--check`: error annotations, else warnings). Goes on past a failure and
    /// returns the first. A file leaktop created and could not write whole is removed.
    pub fn write(
        &mut self,
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
        if let Some(file) = self.opened.junit.take() {
            keep(write_file(file, junit::junit_xml(report).as_bytes()));
        }
        if let (Some(file), Some(summary)) = (self.opened.json.take(), summary) {
            let json = serde_json::to_string_pretty(summary).unwrap_or_default() + "\n";
            keep(write_file(file, json.as_bytes()));
        }
        if self.github {
            let level = if check { Level::Error } else { Level::Warning };
            let lines = github::annotations(report, level);
            // A closed stdout (the step's reader gone) loses the annotations only.
            let _ = crate::stdout::write_all(lines.as_bytes());
            if let Some(file) = self.opened.step_summary.take() {
                keep(append_summary(file, report));
            }
        }
        first.map_or(Ok(()), Err)
    }
}

/// Replaces what `file` held with `bytes`.
fn write_file(file: OutFile, bytes: &[u8]) -> Result<(), OutputError> {
    let path = file.path().to_path_buf();
    file.write_whole(bytes)
        .map_err(|e| OutputError::io(&path, &e))
}

/// Appends the Markdown to the step summary, in what is left of GitHub's 1 MiB.
fn append_summary(mut file: OutFile, report: &CiReport) -> Result<(), OutputError> {
    let used = usize::try_from(file.len()).unwrap_or(usize::MAX);
    let md = github::step_summary(report, github::SUMMARY_CAP.saturating_sub(used));
    if md.is_empty() {
        return Ok(());
    }
    match file.write_all(md.as_bytes()).and_then(|()| file.flush()) {
        Ok(()) => {
            file.kept();
            Ok(())
        }
        Err(e) => Err(OutputError::io(file.path(), &e)),
    }
}

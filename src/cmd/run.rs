//! `leaktop run -- CMD`: run a command under a subreaper.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use leaktop::actions::run::{self, RunOptions};
use leaktop::ci::CiReport;
use leaktop::ci::output::CiOutputs;
use leaktop::exit_codes::ExitCode as Exit;
use leaktop::format::Format;
use leaktop::host::Host;
use leaktop::model::AlertKind;
use leaktop::ui::RunView;
use leaktop::ui::app::ViewOptions;

use super::options::{
    AlertArgs, BackendArg, ExportArgs, FormatArg, INTERVAL, MetricsArgs, Named, NotStdout,
    RUN_INTERVAL, SETTLE, VerdictArgs, WAIT, parse_kinds, shown,
};
use super::width::{Stream, WideArg};

#[derive(Args)]
pub(crate) struct RunArgs {
    /// Time between samples while CMD runs, e.g. 200ms, 1s; from 10ms (CPU times advance in 10 ms steps) to 1h.
    #[arg(long, short, value_name = "DURATION", default_value = shown(RUN_INTERVAL), value_parser = Named(INTERVAL))]
    pub(crate) interval: Duration,
    /// How long to wait after CMD exits before deciding what leaked (at most 1h).
    #[arg(long, value_name = "DURATION", default_value = shown(SETTLE), value_parser = Named(WAIT))]
    pub(crate) settle: Duration,
    /// Exit with code 3 if anything leaked, instead of CMD's exit code.
    #[arg(long)]
    pub(crate) check: bool,
    /// End the leaked processes after reporting them (TERM, then KILL after --grace).
    #[arg(long)]
    pub(crate) kill_leaks: bool,
    /// How long --kill-leaks waits after SIGTERM before SIGKILL (at most 1h).
    #[arg(long, value_name = "DURATION", default_value = shown(leaktop::actions::kill::KILL_GRACE), value_parser = Named(WAIT))]
    pub(crate) grace: Duration,
    /// Record the whole run to FILE.
    #[arg(long, value_name = "FILE", value_parser = NotStdout)]
    pub(crate) record: Option<PathBuf>,
    /// Recording format [default: ndjson for .ndjson/.jsonl files, else text].
    #[arg(long, value_enum)]
    pub(crate) format: Option<FormatArg>,
    /// Where samples come from.
    #[arg(long, value_enum, default_value_t = BackendArg::here())]
    pub(crate) backend: BackendArg,
    /// Show the interactive view while CMD runs (CMD's own input and output go to
    /// /dev/null). Quitting the view sends SIGTERM to CMD if it is still running;
    /// the leak report and exit code follow as without --tui.
    #[arg(long)]
    pub(crate) tui: bool,
    /// Say nothing when nothing leaked and no --fail-on alert stood; when something
    /// did, only the one verdict line (and, with --kill-leaks, what the kill ended).
    /// Errors are still said. For a wrapper around an interactive command.
    #[arg(long, short)]
    pub(crate) quiet: bool,
    #[command(flatten)]
    pub(crate) wide: WideArg,
    /// With --check, also exit 3 when any of these alerts was raised at any time during
    /// the run, even if it cleared before CMD exited (comma-separated: accumulating,
    /// idle, rss_ratchet, zombies, stopped).
    #[arg(long, value_name = "KINDS", value_delimiter = ',', value_parser = parse_kinds, requires = "check")]
    pub(crate) fail_on: Vec<AlertKind>,
    /// With --fail-on, exit 3 only for an alert standing when CMD exits or one that
    /// stood for at least DURATION without a break (0 = any alert raised at any time).
    #[arg(long, value_name = "DURATION", default_value = shown(Duration::ZERO), value_parser = Named(WAIT), requires = "fail_on")]
    pub(crate) fail_after: Duration,
    /// With --tui: where the view's `e` writes.
    #[command(flatten)]
    pub(crate) export: ExportArgs,
    #[command(flatten)]
    pub(crate) verdict: VerdictArgs,
    #[command(flatten)]
    pub(crate) alerts: AlertArgs,
    #[command(flatten)]
    pub(crate) metrics: MetricsArgs,
    /// Write a JUnit XML report to FILE: a failing test case per leaked tree (the tree
    /// with pids, RSS and how each process leaked), one per --fail-on alert kind; a
    /// clean run is one passing case.
    #[arg(long, value_name = "FILE", value_parser = NotStdout, help_heading = "Reports")]
    pub(crate) junit: Option<PathBuf>,
    /// Write the run's report to FILE as one JSON object, as `leaktop report --json`
    /// writes a recording's (a file: CMD's own output shares standard output).
    #[arg(long, value_name = "FILE", value_parser = NotStdout, help_heading = "Reports")]
    pub(crate) json: Option<PathBuf>,
    /// The command and its arguments.
    #[arg(last = true, value_name = "CMD", help_heading = "Arguments")]
    pub(crate) command: Vec<std::ffi::OsString>,
}

/// Runs CMD under the subreaper; the exit code is CMD's own, or 3 where `--check`
/// fails. Errors: a metrics address that cannot be served, a `--junit` or `--json`
/// file that cannot be written (both before CMD starts), CMD that cannot be started
/// or supervised, and a CI output not written after the run.
pub(crate) fn run(host: Arc<dyn Host>, args: RunArgs, color: bool) -> Result<Exit, super::Error> {
    // Bound before CMD starts: a taken address fails the run without running CMD.
    let served = args.metrics.start()?;
    if let Some(s) = &served
        && !args.tui
        && !args.quiet
    {
        say!("{}", s.note());
    }
    // On GitHub Actions (GITHUB_ACTIONS=true) leaks are also annotations and a step
    // summary; --junit and --json files must be writable before CMD starts.
    let mut outputs = CiOutputs::from_env(args.junit.clone(), args.json.clone());
    outputs.open(host.as_ref()).map_err(anyhow::Error::from)?;
    let command = args.command.clone();
    let fail_on = args.fail_on.clone();
    let check = args.check;
    let opts = RunOptions {
        summarize: outputs.wants_summary(),
        metrics: served.as_ref().map(|s| s.state.clone()),
        alerts: args.alerts.config(args.interval),
        leak_grace: args.verdict.leak_grace,
        allowed: args.verdict.allowed()?,
        fail_on: args.fail_on,
        fail_after: args.fail_after,
        tui: args.tui.then(|| {
            Box::new(RunView::new(
                ViewOptions {
                    color,
                    grace: args.grace,
                    ..ViewOptions::default()
                },
                args.export.export_dir.clone(),
            )) as Box<dyn run::View>
        }),
        command: args.command,
        interval: args.interval,
        settle: args.settle,
        check: args.check,
        kill_leaks: args.kill_leaks,
        quiet: args.quiet,
        grace: args.grace,
        record: args.record,
        format: args.format.map(Format::from),
        backend: args.backend.into(),
        width: args.wide.width(Stream::Stderr),
    };
    let outcome = run::run_on(host, &opts)?;
    if let Some(line) = run::verdict(&command, &outcome, check, opts.quiet) {
        leaktop::say(&opts.width.lines(&line));
    }
    let code = if outcome.fails_check {
        Exit::Leaked
    } else {
        Exit::Command(outcome.cmd_code)
    };
    let report = CiReport::new(
        &command,
        outcome.cmd_code,
        &outcome.leaked_rows,
        &outcome.hidden,
        &outcome.failing,
        &fail_on,
    );
    outputs
        .write(&report, outcome.summary.as_ref(), check)
        .map_err(|e| super::Error::Unreported {
            error: e.into(),
            code,
        })?;
    // The run went on without its recording: the output asked for is not all there.
    if let Some(e) = outcome.recording_error {
        return Err(super::Error::Unreported {
            error: anyhow::anyhow!("the recording is incomplete: {e}"),
            code,
        });
    }
    Ok(code)
}

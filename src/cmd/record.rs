//! `leaktop record`: record a family headlessly.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{ArgGroup, Args};

use leaktop::exit_codes::ExitCode as Exit;
use leaktop::format::{self, Format, human_kb};
use leaktop::host::Host;
use leaktop::record::{self, RecordOptions};

use super::options::{
    AlertArgs, BackendArg, FormatArg, INTERVAL, MetricsArgs, Named, RootArgs, SPAN, VerdictArgs,
};

#[derive(Args)]
#[command(group(ArgGroup::new("root").required(true).args(["pid", "name"])))]
pub(crate) struct RecordArgs {
    #[command(flatten)]
    pub(crate) root: RootArgs,
    /// Where to write; `-` is standard output.
    #[arg(long, short, value_name = "FILE", default_value = "-")]
    pub(crate) out: PathBuf,
    /// Time between samples, e.g. 200ms, 1s; from 10ms (CPU times advance in 10 ms steps) to 1h.
    #[arg(long, short, value_name = "DURATION", default_value = super::options::shown(super::options::VIEW_INTERVAL), value_parser = Named(INTERVAL))]
    pub(crate) interval: Duration,
    /// Stop after this many ticks.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) ticks: Option<u64>,
    /// Stop after this much time, e.g. 30s, 10m, 2h (at most 1year).
    #[arg(long, value_name = "DURATION", value_parser = Named(SPAN))]
    pub(crate) duration: Option<Duration>,
    /// Output format [default: ndjson for .ndjson/.jsonl files, else text].
    #[arg(long, value_enum)]
    pub(crate) format: Option<FormatArg>,
    /// Where samples come from.
    #[arg(long, value_enum, default_value_t = BackendArg::here())]
    pub(crate) backend: BackendArg,
    /// No status line and no summary on stderr.
    #[arg(long, short)]
    pub(crate) quiet: bool,
    /// Do not read /proc/PID/smaps_rollup: PSS, USS and swap stay unknown. Reading it
    /// costs 20-300x a stat read and takes each target's memory-map lock (within a
    /// tenth of the interval); RSS is always recorded.
    #[arg(long)]
    pub(crate) no_pss: bool,
    #[command(flatten)]
    pub(crate) verdict: VerdictArgs,
    #[command(flatten)]
    pub(crate) alerts: AlertArgs,
    #[command(flatten)]
    pub(crate) metrics: MetricsArgs,
}

pub(crate) fn run(host: Arc<dyn Host>, args: RecordArgs) -> Result<Exit, super::Error> {
    // Bound first: a taken address is known before anything else happens.
    let served = args.metrics.start()?;
    if let Some(s) = &served
        && !args.quiet
    {
        say!("{}", s.note());
    }
    let to_stdout = args.out.as_os_str() == "-";
    let format = args
        .format
        .map_or_else(|| Format::from_path(&args.out), Format::from);
    let pid = match (args.root.pid, &args.root.name) {
        (Some(pid), _) => pid,
        (None, Some(pattern)) => {
            let found =
                leaktop::monitor::find_all_by_name(host.as_ref(), args.backend.into(), pattern)
                    .map_err(anyhow::Error::from)?;
            let pid = found.picked().ok_or_else(|| {
                anyhow::anyhow!(
                    "no process matches --name '{}'",
                    leaktop::human::printable(pattern)
                )
            })?;
            // Several matches: say which one is recorded and why, never silently.
            if let Some(choice) = found.choice()
                && !args.quiet
            {
                say!("leaktop: {choice}");
            }
            pid
        }
        (None, None) => {
            return Err(super::Error::usage(
                "record needs --pid PID or --name PATTERN",
            ));
        }
    };
    let opts = RecordOptions {
        pid,
        follow: args.root.follow.then(|| args.root.name.clone()).flatten(),
        interval: args.interval,
        ticks: args.ticks,
        duration: args.duration,
        format,
        out: (!to_stdout).then(|| args.out.clone()),
        backend: args.backend.into(),
        status: !args.quiet,
        notes: !args.quiet,
        alerts: args.alerts.config(args.interval),
        leak_grace: args.verdict.leak_grace,
        allowed: args.verdict.allowed()?,
        pss: !args.no_pss,
        metrics: served.as_ref().map(|s| s.state.clone()),
    };
    let summary = record::record(host, &opts).map_err(anyhow::Error::from)?;
    if !args.quiet {
        let place = if to_stdout {
            "standard output".to_string()
        } else {
            args.out.display().to_string()
        };
        // Caught but not yet judged: never left out, so the line is no all-clear.
        let undecided = if summary.undecided_at_end > 0 {
            format!(
                "; {} ({}) still within the leak grace, not yet judged",
                format::plural(
                    summary.undecided_at_end,
                    "orphaned or escaped process",
                    "orphaned or escaped processes"
                ),
                human_kb(summary.undecided_rss_kb),
            )
        } else {
            String::new()
        };
        say!(
            "leaktop: recorded {} to {place} ({}); {} holding {} at the end{undecided}",
            format::plural(summary.ticks as usize, "tick", "ticks"),
            summary.stop,
            format::plural(summary.leaked_at_end, "leaked process", "leaked processes"),
            human_kb(summary.leaked_rss_kb),
        );
    }
    Ok(Exit::Success)
}

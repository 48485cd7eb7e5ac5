//! `leaktop watch`: always on, and the story of every orphan.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use leaktop::actions::watch::{self, Io, Options, WatchError};
use leaktop::exit_codes::ExitCode as Exit;
use leaktop::format::units::{self, UnitKind};
use leaktop::host::Host;
use leaktop::model::allow::AllowRule;
use leaktop::sample::events::EventRequest;

use super::config::{ConfigArgs, own_journal};
use super::options::{
    INTERVAL, MetricsArgs, Named, WAIT, WATCH_INTERVAL, parse_size_kb, shown, shown_kb,
};
use leaktop::format::journal::DEFAULT_CAP;
use leaktop::monitor::LEAK_GRACE;

#[derive(Args)]
pub(crate) struct WatchArgs {
    /// Where the journal is kept [default: /var/lib/leaktop as root, else
    /// $XDG_STATE_HOME/leaktop].
    #[arg(long, value_name = "DIR", env = "LEAKTOP_JOURNAL")]
    pub(crate) journal: Option<PathBuf>,
    // The helps below name their defaults, the constants the code falls back to.
    #[arg(long, value_name = "SIZE", value_parser = parse_size_kb, help = format!(
        "The journal's cap: its oldest files are removed to stay within it (at least \
         256KiB) [default: {}]",
        shown_kb(DEFAULT_CAP / 1024)
    ))]
    pub(crate) journal_max: Option<u64>,
    #[arg(long, short, value_name = "DURATION", value_parser = Named(INTERVAL), help = format!(
        "Time between scans of /proc where the kernel's connector gives no events (a \
         user without CAP_NET_ADMIN: pidfds see exits only) [default: {}]; with the \
         connector, a scan a minute checks what the events told",
        shown(WATCH_INTERVAL)
    ))]
    pub(crate) interval: Option<Duration>,
    #[arg(long, value_name = "DURATION", value_parser = Named(WAIT), help = format!(
        "A group must have lasted this long to be counted or handed to a policy \
         [default: {}, as --leak-grace]",
        shown(LEAK_GRACE)
    ))]
    pub(crate) older_than: Option<Duration>,
    /// A process meant to outlive its parent: its command line contains PATTERN (as
    /// an [[ignore]] rule with `command = PATTERN`). Its group is neither counted nor
    /// handed to a policy. Repeatable.
    #[arg(long = "allow", value_name = "PATTERN", value_parser = super::options::Named(super::options::Allow))]
    pub(crate) allow: Vec<AllowRule>,
    /// Policies say what they would do (a `policy` record, `would end …`) and do nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// No records on standard output: the journal only.
    #[arg(long, short)]
    pub(crate) quiet: bool,
    /// Write the figures to DIR/leaktop.prom at every scan, atomically, for
    /// node_exporter's textfile collector (or Alloy's, or Fluent Bit's).
    #[arg(long, value_name = "DIR")]
    pub(crate) textfile: Option<PathBuf>,
    /// Print a unit that runs `leaktop watch` with these options, and exit:
    /// systemd-user (your processes), systemd (every process, as root), launchd.
    #[arg(long, value_name = "KIND", value_enum)]
    pub(crate) print_unit: Option<UnitKind>,
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    #[command(flatten)]
    pub(crate) metrics: MetricsArgs,
}

/// Watches until a signal or standard output's reader ends it. Errors: a bad
/// configuration file (exit 2), a metrics address, signals or a journal that cannot
/// be had, and what [`watch::run_on`] returns (exit 1).
pub(crate) fn run(host: Arc<dyn Host>, args: WatchArgs) -> Result<Exit, super::Error> {
    if let Some(kind) = args.print_unit {
        return print_unit(kind, &args.config);
    }
    let config = args.config.load()?;
    let journal = args
        .journal
        .clone()
        .or_else(|| config.watch.journal.clone())
        .unwrap_or_else(|| own_journal(host.as_ref()));
    let served = args.metrics.start()?;
    if let Some(s) = &served {
        leaktop::say(&format!("{}\n", s.note()));
    }
    let opts = Options {
        journal,
        journal_max: args
            .journal_max
            .map(|kb| kb.saturating_mul(1024))
            .or(config.watch.journal_max)
            .unwrap_or(DEFAULT_CAP),
        interval: args
            .interval
            .or(config.watch.interval)
            .unwrap_or(WATCH_INTERVAL),
        older_than: args.older_than.or(config.older_than).unwrap_or(LEAK_GRACE),
        policies: config.policies.clone(),
        allowed: args.allow.iter().chain(&config.ignore).cloned().collect(),
        config: config.path.clone(),
        dry_run: args.dry_run,
        metrics: served.as_ref().map(|s| s.state.clone()),
        textfile: args.textfile.clone().or(config.watch.textfile.clone()),
        quiet: args.quiet,
        request: EventRequest::from_env(),
    };
    if let Some(p) = &config.path {
        leaktop::say(&format!(
            "leaktop: configuration {} ({} ignore rules, {} policies)\n",
            leaktop::human::shown_path(p),
            config.ignore.len(),
            config.policies.len()
        ));
    }
    let (tx, rx) = std::sync::mpsc::channel();
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let _listening = host
        .listen_signals(
            &[SIGINT, SIGTERM, SIGHUP],
            Box::new(move |sig, _| tx.send(sig).is_ok()),
        )
        .map_err(|e| anyhow::anyhow!("cannot listen for signals: {e}"))?;
    host.set_process_name("leaktop watch");
    let stop = move || {
        let signal = rx.try_recv().ok()?;
        Some(format!(
            "signal {}",
            match signal {
                SIGINT => "SIGINT",
                SIGTERM => "SIGTERM",
                _ => "SIGHUP",
            }
        ))
    };
    let reader_gone = leaktop::stdout::reader_gone;
    let stop_or_gone = || stop().or_else(|| reader_gone().then(|| "standard output closed".into()));
    let mut out = |s: &str| leaktop::stdout::write_all(s.as_bytes());
    let mut say = |s: &str| leaktop::say(s);
    let mut io = Io {
        out: &mut out,
        say: &mut say,
        stop: &stop_or_gone,
    };
    match watch::run_on(host, &opts, &mut io) {
        Ok(()) => Ok(Exit::Success),
        Err(WatchError::Write(e)) => Err(e.into()),
        Err(e) => Err(anyhow::Error::from(e).into()),
    }
}

/// `--print-unit KIND`: the unit, running this leaktop with the options given
/// (those that matter to a service), on standard output.
fn print_unit(kind: UnitKind, config: &ConfigArgs) -> Result<Exit, super::Error> {
    // A unit that would fail at its first start is no unit to install.
    config.load()?;
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "/usr/local/bin/leaktop".into());
    let cwd = std::env::current_dir().map_err(anyhow::Error::from)?;
    let raw = std::env::args().skip_while(|a| a != "watch").skip(1);
    let args = units::service_args(raw, &cwd).map_err(super::Error::usage)?;
    let home = std::env::var("HOME").unwrap_or_else(|_| "~".into());
    let text = units::unit(kind, &exe, &args, &home);
    leaktop::stdout::write_all(text.as_bytes())?;
    Ok(Exit::Success)
}

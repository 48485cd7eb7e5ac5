//! `leaktop orphans`: find (and end) what was orphaned before leaktop started.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use leaktop::actions::kill::KillSignal;
use leaktop::actions::orphans::{self, Filter, Io, KillOptions, Options, Output, ScanOptions};
use leaktop::exit_codes::ExitCode as Exit;
use leaktop::host::Host;
use leaktop::monitor::LEAK_GRACE;

use leaktop::actions::known::Known;

use super::config::{ConfigArgs, journals_to_read};
use super::options::{
    INTERVAL, MetricsArgs, Named, Pattern, SCAN_INTERVAL, WAIT, parse_size_kb, shown,
};
use super::width::{Stream, WideArg};

/// Whether the listing is a table, JSON or tick-log snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ListFormat {
    /// A table for people.
    Table,
    /// A tick-log snapshot per group, to paste into a bug report.
    Text,
    /// One line per group for scripts, tab-separated, never cut: id, strength,
    /// processes, RSS KiB, PSS KiB, GPU KiB (`?` where unknown), the first evidence's
    /// kind, the largest process's command line.
    Summary,
}

/// The signal `--kill` sends first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum SignalArg {
    Term,
    Int,
    Hup,
    Kill,
}

impl SignalArg {
    fn kill_signal(self) -> KillSignal {
        match self {
            SignalArg::Term => KillSignal::Term,
            SignalArg::Int => KillSignal::Int,
            SignalArg::Hup => KillSignal::Hup,
            SignalArg::Kill => KillSignal::Kill,
        }
    }
}

#[derive(Args)]
pub(crate) struct OrphansArgs {
    /// Only groups with a process whose command line contains PATTERN (a plain
    /// substring). Names the groups: weak ones are ended too with --kill.
    #[arg(long = "match", short = 'm', value_name = "PATTERN", value_parser = Named(Pattern))]
    pub(crate) pattern: Option<String>,
    // Its help names its default, the constant the code falls back to.
    #[arg(long, value_name = "DURATION", value_parser = Named(WAIT), help = format!(
        "Only processes at least this old are candidates, and with --watch a group is \
         reported once it has lasted this long: a pool orphaned a moment ago may still \
         be exiting by itself, a service lingering by design (esbuild's, a language \
         server) exits within 3 s of its parent; the default is --leak-grace's (at most \
         1h) [default: {}, or the configuration file's]",
        shown(LEAK_GRACE)
    ))]
    pub(crate) older_than: Option<Duration>,
    /// Only groups holding at least this much RSS, e.g. 100MB.
    #[arg(long, value_name = "SIZE", value_parser = parse_size_kb)]
    pub(crate) min_rss: Option<u64>,
    /// Only groups with an adopted process of this user (a name or a uid).
    #[arg(long, value_name = "NAME")]
    pub(crate) user: Option<String>,
    /// Only the group with this id (as listed: pg-4242, sid-4100, run-…, unit-…).
    /// Names the group: a weak one is ended too with --kill.
    #[arg(long, value_name = "ID")]
    pub(crate) group: Option<String>,
    /// Do not read PSS and USS (`/proc/PID/smaps_rollup`, which takes each process's
    /// mmap lock and costs 20-300x a `stat` read): RSS only.
    #[arg(long)]
    pub(crate) no_pss: bool,
    /// Also list daemons by design and adopted processes without evidence.
    #[arg(long)]
    pub(crate) all: bool,
    /// A process meant to outlive its parent (a deploy script's `nohup app &`, a
    /// double-forking daemon): one whose command line contains PATTERN is not listed
    /// (with --all, listed weak), nor ended. Repeatable.
    #[arg(long = "allow", value_name = "PATTERN", value_parser = Named(super::options::Allow))]
    pub(crate) allow: Vec<leaktop::model::allow::AllowRule>,
    /// Print one JSON object (with --watch: one NDJSON line per new group).
    #[arg(long, conflicts_with = "format")]
    pub(crate) json: bool,
    /// The listing's format.
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub(crate) format: ListFormat,
    /// End the selected groups with the safe kill (asks on a terminal; --yes without
    /// one). Groups with weak evidence only when named by --group or --match.
    #[arg(long, conflicts_with = "watch")]
    pub(crate) kill: bool,
    /// Do not ask before --kill.
    #[arg(long, requires = "kill")]
    pub(crate) yes: bool,
    /// The signal --kill sends first.
    #[arg(long, value_enum, default_value_t = SignalArg::Term, requires = "kill")]
    pub(crate) signal: SignalArg,
    /// How long --kill waits before SIGKILL (at most 1h).
    #[arg(long, value_name = "DURATION", default_value = shown(leaktop::actions::kill::KILL_GRACE), value_parser = Named(WAIT), requires = "kill")]
    pub(crate) grace: Duration,
    /// Keep watching and report each new group once, when it has lasted --older-than.
    /// With process events (the connector, else pidfds on every parent) a parent's
    /// exit starts the scan that finds its group; the scans at --interval go on
    /// beside them, and are all there is where neither can be had (other systems).
    #[arg(long)]
    pub(crate) watch: bool,
    /// Time between scans with --watch (from 10ms to 1h).
    #[arg(long, short, value_name = "DURATION", default_value = shown(SCAN_INTERVAL), value_parser = Named(INTERVAL), requires = "watch")]
    pub(crate) interval: Duration,
    /// With --watch, stop after N scans at --interval (those a parent's exit starts
    /// are not counted).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..), requires = "watch")]
    pub(crate) count: Option<u64>,
    /// The journal of a `leaktop watch` to read the stories from [default: this
    /// user's and the system's, /var/lib/leaktop].
    #[arg(long, value_name = "DIR", env = "LEAKTOP_JOURNAL")]
    pub(crate) journal: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub(crate) wide: WideArg,
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    #[command(flatten)]
    pub(crate) metrics: MetricsArgs,
}

/// Lists (and with `--kill` ends) the orphan groups. Errors: an unknown `--user`,
/// `--metrics` without `--watch` (usage errors), and what [`orphans::run_on`] returns.
pub(crate) fn run(host: Arc<dyn Host>, args: OrphansArgs) -> Result<Exit, super::Error> {
    let uid = match &args.user {
        None => None,
        Some(name) => Some(
            name.parse::<u32>()
                .ok()
                .or_else(|| host.user_id(name))
                .ok_or_else(|| super::Error::usage(format!("--user {name}: no such user")))?,
        ),
    };
    if args.metrics.metrics.is_some() && !args.watch {
        return Err(super::Error::usage(
            "--metrics needs --watch (a single scan has nothing to serve)",
        ));
    }
    let served = args.metrics.start()?;
    if let Some(s) = &served {
        leaktop::say(&format!("{}\n", s.note()));
    }
    let config = args.config.load()?;
    let known = Known {
        config: config.path.clone(),
        journals: journals_to_read(host.as_ref(), args.journal.as_ref()),
    };
    let terminal = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let width = args.wide.width(Stream::Stdout);
    let kill = args.kill.then(|| {
        let s = args.signal.kill_signal();
        KillOptions {
            signal: s.signal(),
            signal_name: s.name(),
            grace: args.grace,
            yes: args.yes,
        }
    });
    let opts = Options {
        scan: ScanOptions {
            older_than: args.older_than.or(config.older_than).unwrap_or(LEAK_GRACE),
            all: args.all,
            measure: !args.no_pss,
            // `[[ignore]]` rules are `--allow` rules from the file.
            allowed: args
                .allow
                .into_iter()
                .chain(config.ignore.clone())
                .collect(),
        },
        filter: Filter {
            pattern: args.pattern,
            min_rss_kb: args.min_rss.or(config.min_rss_kb).unwrap_or(0),
            uid,
            group: args.group,
        },
        output: match (args.json, args.format) {
            (true, _) => Output::Json,
            (false, ListFormat::Text) => Output::Text,
            (false, ListFormat::Table) => Output::Table(width),
            (false, ListFormat::Summary) => Output::Summary,
        },
        kill,
        watch: args.watch.then_some(args.interval),
        count: args.count,
        metrics: served.as_ref().map(|s| s.state.clone()),
        known,
    };
    let mut out = |s: &str| leaktop::stdout::write_all(s.as_bytes());
    let mut ask = |question: &str| {
        let mut err = std::io::stderr();
        let _ = err.write_all(question.as_bytes());
        let _ = err.flush();
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer).is_ok()
            && matches!(answer.trim(), "y" | "Y" | "yes")
    };
    let mut say = |s: &str| leaktop::say(s);
    let mut io = Io {
        out: &mut out,
        ask: if terminal { Some(&mut ask) } else { None },
        say: &mut say,
        reader_gone: &leaktop::stdout::reader_gone,
    };
    orphans::run_on(host, &opts, &mut io)?;
    Ok(Exit::Success)
}

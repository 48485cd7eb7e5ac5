//! The command line: parses arguments, wires the library together, reports errors once.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use leaktop::actions::run::{self, RunOptions};
use leaktop::demo;
use leaktop::exit_codes::ExitCode as Exit;
use leaktop::format::{self, Format, human_kb};
use leaktop::model::{AlertConfig, AlertKind};
use leaktop::record::{self, RecordOptions};
use leaktop::report;
use leaktop::sample::Backend;
use leaktop::ui::app::ViewOptions;
use leaktop::ui::{self, Root, WatchOptions};

/// A line on stderr. A closed stderr must not turn an error into a panic (exit 101)
/// or stop the work that follows.
macro_rules! say {
    ($($arg:tt)*) => {
        leaktop::say(&format!("{}\n", format_args!($($arg)*)))
    };
}

#[derive(Parser)]
#[command(
    name = "leaktop",
    version,
    about = "Watch a process tree over time and catch the children it leaks",
    long_about = "Watch a process tree over time and catch the children it leaks.\n\n\
leaktop samples the tree under a root process at a fixed interval, records PID, PPID, RSS \
and state at every tick, and marks members that were reparented (their parent died and init \
or a subreaper adopted them), that escaped the family, or that outlived the root as leaked, \
together with the trees under them.",
    after_help = "\
Examples:
  See what a leak looks like (a family that leaks on purpose):
    leaktop demo
  Choose a process from a list sorted by the memory of its whole tree:
    leaktop
  Attach to a daemon by pid or by name:
    leaktop --pid 213019
    leaktop --name 'cce serve'
  Kill what a crashed daemon left behind (its pool now lives under init):
    leaktop --name multiprocessing.forkserver     then x on the tree, y to confirm
  Record a session for a bug report, or gate CI on leaks:
    leaktop record --pid 213019 --duration 10m --out leak.ticklog
    leaktop run --check -- cce index --path README.md

Exit codes: 0 ok, 1 runtime error, 2 usage error, 3 leaks found (run --check), 126/127 command could not run."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    /// When to use colour: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, value_enum, global = true, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    // After --color: the alert options it flattens in open a help section of their own.
    #[command(flatten)]
    view: ViewArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    fn enabled(self) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::io::IsTerminal::is_terminal(&std::io::stdout())
            }
        }
    }
}

/// Options of the interactive view.
#[derive(Args)]
struct ViewArgs {
    /// The root process to watch; without it (or --name) leaktop lets you choose.
    #[arg(long, short, value_name = "PID", conflicts_with = "name")]
    pid: Option<u32>,
    /// Watch the oldest process whose command line contains PATTERN.
    #[arg(long, short, value_name = "PATTERN")]
    name: Option<String>,
    /// With --name: when the root exits and a new process matching PATTERN starts (a
    /// supervisor restarted it), watch the new one; the old one's survivors stay leaked.
    #[arg(long, requires = "name")]
    follow: bool,
    #[command(flatten)]
    tuning: ViewTuning,
}

#[derive(Args)]
struct ViewTuning {
    /// Time between samples, e.g. 200ms, 1s; from 10ms (CPU times advance in 10 ms steps) to 1h.
    #[arg(long, short, value_name = "DURATION", default_value = "1s", value_parser = Named(INTERVAL))]
    interval: Duration,
    /// How long a kill waits for processes to end before offering SIGKILL (at most 1h).
    #[arg(long, value_name = "DURATION", default_value = "3s", value_parser = Named(WAIT))]
    grace: Duration,
    /// Where samples come from.
    #[arg(long, value_enum, default_value_t = Backend::default())]
    backend: Backend,
    #[command(flatten)]
    alerts: AlertArgs,
}

impl ViewTuning {
    fn watch(&self, root: Root, color: bool) -> WatchOptions {
        WatchOptions {
            root,
            interval: self.interval,
            backend: self.backend,
            grace: self.grace,
            color,
            subreapers: Vec::new(),
            alerts: self.alerts.config(),
        }
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Start a small family that leaks on purpose and watch it: the first thing to try.
    #[command(after_help = "\
Examples:
  The demo as it comes, then faster and with short alert thresholds:
    leaktop demo
    leaktop demo --interval 250ms --idle-after 5s --idle-min-rss 20MB

leaktop starts a server that opens a session every 12 s, three in all; each session
starts two workers holding memory and then exits without ending them, so they are
reparented and marked LEAK. Try K to kill them all, x on a single tree, ← to step
back in time. Every helper ends when you quit.")]
    Demo(ViewTuning),
    /// Summarise a recording: leaks, peaks, growers; or chart it, show one tick, convert it.
    #[command(after_help = "\
Examples:
  What leaked, when, from which parent, and how big it got:
    leaktop report serve.ticklog
  The same for a script, as one JSON object:
    leaktop report serve.ticklog --json | jq '.leaked[] | select(.alive_at_end)'
  A chart to paste into a bug report:
    leaktop report serve.ticklog --svg leak.svg
  One tick as a snapshot for an issue, and a conversion to NDJSON:
    leaktop report serve.ticklog --tick 14
    leaktop report serve.ticklog --convert ndjson --out serve.ndjson

The format (text or NDJSON) is detected from the content, not the name.")]
    Report(ReportArgs),
    /// Open a recording in the interactive view, to step through its ticks.
    #[command(after_help = "\
Examples:
  Step through a recording someone attached to a bug report (← → [ ], End):
    leaktop replay leak.ticklog
  The same for a recording made by leaktop run:
    leaktop replay tests.ndjson

Killing and pausing are off in a replay. Without a terminal, use leaktop report.")]
    Replay {
        /// A tick-log or NDJSON recording.
        file: PathBuf,
    },
    /// Print a shell completion script.
    #[command(after_help = "\
Install, for example:
  bash:  leaktop completions bash > ~/.local/share/bash-completion/completions/leaktop
  zsh:   leaktop completions zsh > ~/.zfunc/_leaktop   (with fpath+=~/.zfunc before compinit)
  fish:  leaktop completions fish > ~/.config/fish/completions/leaktop.fish")]
    Completions { shell: clap_complete::Shell },
    /// Print a manual page (roff): leaktop man | man -l -, or leaktop man report
    Man {
        /// The page of this command (leaktop-COMMAND(1)) instead of leaktop(1).
        #[arg(value_parser = ["demo", "report", "replay", "completions", "man", "record", "run"])]
        command: Option<String>,
    },
    /// Record a family's timeline headlessly, as a tick-log or NDJSON.
    #[command(after_help = "\
Examples:
  Attach to a daemon and record until it and all it spawned are gone:
    leaktop record --pid $(pgrep -f 'cce serve') --out serve.ticklog
  Record a minute at 200 ms for a bug report, as NDJSON:
    leaktop record --pid 213019 --interval 200ms --duration 1m --out leak.ndjson
  Watch the ticks go by:
    leaktop record --pid 213019 --out -
  Keep recording a daemon across its supervisor's restarts, for a day:
    leaktop record --name 'cce serve' --follow --duration 24h --out serve.ndjson

It stops on --ticks or --duration, when no member of the family is alive any more \
(unless --follow), or on Ctrl-C (SIGINT), SIGTERM or SIGHUP, after finishing the current tick.")]
    Record(RecordArgs),
    /// Run a command under a subreaper and report every process it leaves behind.
    #[command(after_help = "\
Examples:
  Gate CI on a daemon cleaning up after itself (exit 3 if anything leaked):
    leaktop run --check -- cce index --path README.md
  Run a test suite, record it, and end whatever it leaks:
    leaktop run --record tests.ticklog --kill-leaks -- npm test
  Watch a dev server's family live while it runs:
    leaktop run --tui -- npm run dev

leaktop becomes a child subreaper, so every process orphaned under CMD is adopted by
leaktop instead of init, however fast it forks or whether it calls setsid. CMD's
stdin, stdout and stderr are untouched; leaktop reports on stderr. INT, TERM and HUP
sent to leaktop are forwarded to CMD. If leaktop is killed with SIGKILL, CMD receives
SIGTERM (PR_SET_PDEATHSIG).

Exit codes: CMD's own (128+N if signal N killed it); 3 with --check when anything
leaked; 127 when CMD is not found, 126 when it cannot be executed; 1 on other errors.")]
    Run(RunArgs),
}

#[derive(Args)]
struct RunArgs {
    /// Time between samples while CMD runs, e.g. 200ms, 1s; from 10ms (CPU times advance in 10 ms steps) to 1h.
    #[arg(long, short, value_name = "DURATION", default_value = "200ms", value_parser = Named(INTERVAL))]
    interval: Duration,
    /// How long to wait after CMD exits before deciding what leaked (at most 1h).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = Named(WAIT))]
    settle: Duration,
    /// Exit with code 3 if anything leaked, instead of CMD's exit code.
    #[arg(long)]
    check: bool,
    /// End the leaked processes after reporting them (TERM, then KILL after --grace).
    #[arg(long)]
    kill_leaks: bool,
    /// How long --kill-leaks waits after SIGTERM before SIGKILL (at most 1h).
    #[arg(long, value_name = "DURATION", default_value = "3s", value_parser = Named(WAIT))]
    grace: Duration,
    /// Record the whole run to FILE.
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
    /// Recording format [default: ndjson for .ndjson/.jsonl files, else text].
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Where samples come from.
    #[arg(long, value_enum, default_value_t = Backend::default())]
    backend: Backend,
    /// Show the interactive view while CMD runs (CMD's own input and output go to
    /// /dev/null). Quitting the view sends SIGTERM to CMD if it is still running;
    /// the leak report and exit code follow as without --tui.
    #[arg(long)]
    tui: bool,
    /// With --check, also exit 3 when any of these alerts was raised (comma-separated:
    /// accumulating, idle, rss_ratchet).
    #[arg(long, value_name = "KINDS", value_delimiter = ',', value_parser = parse_kinds, requires = "check")]
    fail_on: Vec<AlertKind>,
    #[command(flatten)]
    alerts: AlertArgs,
    /// The command and its arguments.
    #[arg(last = true, value_name = "CMD")]
    command: Vec<std::ffi::OsString>,
}

#[derive(Args)]
struct ReportArgs {
    /// A tick-log or NDJSON recording.
    file: PathBuf,
    /// Print the summary as one JSON object.
    #[arg(long, conflicts_with_all = ["tick", "convert"])]
    json: bool,
    /// Also draw total, live and leaked RSS over time as an SVG chart.
    #[arg(long, value_name = "OUT.svg")]
    svg: Option<PathBuf>,
    /// Print only tick N, as a tick-log snapshot (header and that tick).
    #[arg(long, value_name = "N", conflicts_with = "convert")]
    tick: Option<u32>,
    /// Rewrite the whole recording in this format (to --out, or standard output).
    #[arg(long, value_enum, value_name = "FORMAT")]
    convert: Option<Format>,
    /// Where --convert writes; `-` is standard output.
    #[arg(long, short, value_name = "FILE", requires = "convert")]
    out: Option<PathBuf>,
}

#[derive(Args)]
struct RecordArgs {
    /// The root process: its family is itself plus every descendant ever seen.
    #[arg(
        long,
        short,
        value_name = "PID",
        required_unless_present = "name",
        conflicts_with = "name"
    )]
    pid: Option<u32>,
    /// Record the oldest process whose command line contains PATTERN.
    #[arg(long, short, value_name = "PATTERN")]
    name: Option<String>,
    /// With --name: when the root exits and a new process matching PATTERN starts (a
    /// supervisor restarted it), go on with the new one; the old one's survivors stay
    /// leaked. Recording then stops only on --ticks, --duration or a signal.
    #[arg(long, requires = "name")]
    follow: bool,
    /// Where to write; `-` is standard output.
    #[arg(long, short, value_name = "FILE", default_value = "-")]
    out: PathBuf,
    /// Time between samples, e.g. 200ms, 1s; from 10ms (CPU times advance in 10 ms steps) to 1h.
    #[arg(long, short, value_name = "DURATION", default_value = "1s", value_parser = Named(INTERVAL))]
    interval: Duration,
    /// Stop after this many ticks.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    ticks: Option<u64>,
    /// Stop after this much time, e.g. 30s, 10m, 2h (at most 1year).
    #[arg(long, value_name = "DURATION", value_parser = Named(SPAN))]
    duration: Option<Duration>,
    /// Output format [default: ndjson for .ndjson/.jsonl files, else text].
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Where samples come from.
    #[arg(long, value_enum, default_value_t = Backend::default())]
    backend: Backend,
    /// No status line and no summary on stderr.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    alerts: AlertArgs,
}

/// Thresholds of the alerts for leaks under live parents (the same on every command).
#[derive(Args, Clone)]
#[command(next_help_heading = "Alerts")]
struct AlertArgs {
    /// Ticks over which the children a parent keeps must rise (in each fifth) to be
    /// `accumulating`.
    #[arg(long, value_name = "TICKS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(5..))]
    accumulate_window: u32,
    /// How many more children than at the window's start make it `accumulating`.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    accumulate_min: u32,
    /// How long a process must use no CPU to be `idle` (at most 1year).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = Named(SPAN))]
    idle_after: Duration,
    /// The RSS an `idle` process must hold: 100MB, 512MiB, 2GB (KB, MB, GB count in
    /// 1024s, as KiB, MiB, GiB do).
    #[arg(long, value_name = "SIZE", default_value = "100MB", value_parser = parse_size_kb)]
    idle_min_rss: u64,
    /// Windows whose RSS minimum must rise one after another for `rss_ratchet`.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(2..))]
    ratchet_windows: u32,
    /// Ticks per window of `rss_ratchet`.
    #[arg(long, value_name = "TICKS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    ratchet_window_ticks: u32,
    /// How much the last window's minimum must exceed the first's, in percent.
    #[arg(long, value_name = "PERCENT", default_value_t = 5.0, value_parser = Named(Percent))]
    ratchet_min_growth: f64,
}

impl AlertArgs {
    fn config(&self) -> AlertConfig {
        AlertConfig {
            accumulate_window: self.accumulate_window as usize,
            accumulate_min: self.accumulate_min as usize,
            // Capped at a year by the parser; saturating all the same, not wrapping.
            idle_after_ms: u64::try_from(self.idle_after.as_millis()).unwrap_or(u64::MAX),
            idle_min_rss_kb: self.idle_min_rss,
            ratchet_windows: self.ratchet_windows as usize,
            ratchet_window_ticks: self.ratchet_window_ticks as usize,
            ratchet_min_growth_pct: self.ratchet_min_growth,
        }
    }
}

/// A size in KiB from `100MB`, `512MiB`, `1.5G`, `4096KiB`. KB, MB and GB count in
/// 1024s like KiB, MiB and GiB: leaktop shows RSS in binary units, and `100MB` typed
/// after reading "100.00 MiB" in the view must mean that.
fn parse_size_kb(s: &str) -> Result<u64, String> {
    const SIZES: parse_size::Config = parse_size::Config::new().with_binary();
    let t = s.trim();
    // parse-size reads a bare number as bytes; here it is more likely meant as MB.
    if !t.ends_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(format!("'{s}' needs a unit, like {t}MB"));
    }
    match SIZES.parse_size(t) {
        Ok(bytes) => Ok(bytes / 1024),
        Err(parse_size::Error::PosOverflow) => Err(format!("'{s}' is too large")),
        Err(_) => Err(format!(
            "'{s}' is not a size like 100MB or 2GiB (units B, KB, MB, GB, TB)"
        )),
    }
}

/// Alert kinds, comma-separated.
fn parse_kinds(s: &str) -> Result<AlertKind, String> {
    AlertKind::from_name(s.trim())
        .ok_or_else(|| format!("'{s}' is not an alert kind (accumulating, idle, rss_ratchet)"))
}

/// A check of an option's value whose error says why after the option and value.
trait Checked: Clone + Send + Sync + 'static {
    type Value: Clone + Send + Sync + 'static;
    fn check(&self, s: &str) -> Result<Self::Value, String>;
}

/// Parses with a [`Checked`]; a bad value is one line that starts with the option:
/// "--interval 5h is too long (at most 1h)".
#[derive(Clone)]
struct Named<C>(C);

impl<C: Checked> clap::builder::TypedValueParser for Named<C> {
    type Value = C::Value;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<C::Value, clap::Error> {
        let s = value.to_string_lossy();
        self.0.check(&s).map_err(|why| {
            let flag = arg
                .and_then(clap::Arg::get_long)
                .map_or_else(|| "a value".to_string(), |l| format!("--{l}"));
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("{flag} {s} {why}\n"),
            )
            .with_cmd(cmd)
        })
    }
}

/// A percentage: a finite number, 0 or more (NaN would make every comparison false,
/// and a negative one every comparison true).
#[derive(Clone, Copy)]
struct Percent;

impl Checked for Percent {
    type Value = f64;
    fn check(&self, s: &str) -> Result<f64, String> {
        match s.trim().parse::<f64>() {
            Ok(p) if p.is_finite() && p >= 0.0 => Ok(p),
            _ => Err("is not a percentage (a finite number, 0 or more)".into()),
        }
    }
}

/// The bounds of a duration option; every duration option is parsed by one of these.
/// The caps keep every `Instant + Duration` and millisecond count leaktop computes far
/// from overflow (`9223372036854775807s` panicked), and catch a unit typed wrong.
#[derive(Clone, Copy)]
struct Span {
    /// The shortest accepted; a zero `min` accepts zero.
    min: Duration,
    /// Why `min`, said when a value is under it.
    why_min: &'static str,
    max: Duration,
}

/// Time between samples. Under 10 ms a sample means nothing more: the CPU times in
/// /proc advance in 10 ms steps (USER_HZ = 100), and reading /proc for a 150-process
/// family already takes about 2 ms of CPU. Over an hour is a typo more likely than a
/// wish, and would leave a leak unseen for that long.
const INTERVAL: Span = Span {
    min: Duration::from_millis(10),
    why_min: "CPU times in /proc advance in 10 ms steps, and each sample costs milliseconds",
    max: Duration::from_secs(3600),
};

/// Waits that a person or a CI job sits through (--grace, --settle): zero is fine
/// (no wait), more than an hour is a mistake.
const WAIT: Span = Span {
    min: Duration::ZERO,
    why_min: "",
    max: Duration::from_secs(3600),
};

/// Spans of a whole session (--duration, --idle-after): more than zero, at most a
/// year (humantime's, 365.25 days).
const SPAN: Span = Span {
    min: Duration::from_millis(1),
    why_min: "",
    max: Duration::from_secs(31_557_600),
};

impl Checked for Span {
    type Value = Duration;
    /// Parses a human duration (`200ms`, `1m 30s`) within these bounds.
    fn check(&self, s: &str) -> Result<Duration, String> {
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Err(format!("needs a unit, like {s}s or {s}ms"));
        }
        let d = humantime::parse_duration(s)
            .map_err(|e| format!("is not a duration like 200ms or 1s ({e})"))?;
        let show = |d| humantime::format_duration(d).to_string();
        if d < self.min {
            return Err(match (d.is_zero(), self.why_min) {
                (true, "") => "must be greater than zero".to_string(),
                (_, "") => format!("is too short (at least {})", show(self.min)),
                (_, why) => format!("is too short (at least {}: {why})", show(self.min)),
            });
        }
        if d > self.max {
            return Err(format!("is too long (at most {})", show(self.max)));
        }
        Ok(d)
    }
}

fn main() -> ExitCode {
    // `leaktop demo` re-executes leaktop as its helpers; they are not part of the CLI.
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some(demo::HELPER_COMMAND) {
        demo::helper(
            argv.get(2).map_or("", String::as_str),
            &argv[3.min(argv.len())..],
        );
    }
    let cli = parse_args();
    let color = cli.color.enabled();
    if cli.color == ColorChoice::Always {
        // crossterm honours NO_COLOR on its own; an explicit --color always wins.
        ratatui::crossterm::style::force_color_output(true);
    }
    let result = match cli.command {
        Some(Cmd::Record(args)) => run_record(args),
        Some(Cmd::Run(args)) => return run_command(args, color),
        Some(Cmd::Demo(tuning)) => demo::run(tuning.watch(Root::Pick, color))
            .map(|()| ExitCode::SUCCESS)
            .map_err(Into::into),
        Some(Cmd::Report(args)) => run_report(args),
        Some(Cmd::Replay { file }) => ui::replay(&file, color)
            .map(|()| ExitCode::SUCCESS)
            .map_err(Into::into),
        Some(Cmd::Completions { shell }) => {
            // Rendered first: clap_complete panics on a failed write to stdout.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "leaktop", &mut script);
            leaktop::stdout::write_all(&script)
                .map(|()| ExitCode::SUCCESS)
                .map_err(Into::into)
        }
        Some(Cmd::Man { command }) => man_page(command.as_deref())
            .map_err(anyhow::Error::from)
            .and_then(|page| Ok(leaktop::stdout::write_all(&page)?))
            .map(|()| ExitCode::SUCCESS),
        None => {
            let root = match (cli.view.pid, cli.view.name) {
                (Some(pid), _) => Root::Pid(pid),
                (None, Some(pattern)) => Root::Name {
                    pattern,
                    follow: cli.view.follow,
                },
                (None, None) => Root::Pick,
            };
            ui::watch(&cli.view.tuning.watch(root, color))
                .map(|_| ExitCode::SUCCESS)
                .map_err(Into::into)
        }
    };
    result.unwrap_or_else(|e| fail(&e))
}

/// How an error ends leaktop, decided once: a reader that closed standard output
/// (`leaktop report x | head`) ends it quietly with 0, as ripgrep does; anything else
/// is one line on stderr and exit 1.
fn fail(e: &anyhow::Error) -> ExitCode {
    if leaktop::stdout::closed_pipe(e.as_ref()) {
        return Exit::Success.into();
    }
    // Every error message already carries its cause: print it once, not the chain.
    say!("leaktop: error: {e}");
    Exit::RuntimeError.into()
}

/// Parses the command line. Usage errors are one plain line on stderr and exit 2.
fn parse_args() -> Cli {
    let matches = Cli::command()
        .try_get_matches()
        .unwrap_or_else(|e| usage_error(&e));
    if let Some((sub, _)) = matches.subcommand() {
        // The live view's options before a subcommand would be silently ignored.
        let misplaced = matches.ids().find(|id| {
            id.as_str() != "color"
                && matches.value_source(id.as_str()) == Some(clap::parser::ValueSource::CommandLine)
        });
        if let Some(id) = misplaced {
            let flag = Cli::command()
                .get_arguments()
                .find(|a| a.get_id() == id)
                .and_then(|a| a.get_long())
                .unwrap_or(id.as_str())
                .to_string();
            usage_line(&format!(
                "--{flag} is an option of the live view; options of `{sub}` go after it: leaktop {sub} [OPTIONS]"
            ));
        }
    }
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| usage_error(&e))
}

fn usage_error(e: &clap::Error) -> ! {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit();
    }
    // `leaktop 1234`: a pid where a command goes.
    if e.kind() == ErrorKind::InvalidSubcommand
        && let Some(ContextValue::String(word)) = e.get(ContextKind::InvalidSubcommand)
        && let Ok(pid) = word.parse::<u32>()
    {
        usage_line(&format!(
            "'{word}' is not a command; to watch pid {pid} use `leaktop --pid {pid}`"
        ));
    }
    // clap's first paragraph is the message (a list of missing arguments continues it
    // on indented lines); tips and usage follow.
    let text = e.render().to_string();
    let message: Vec<&str> = text
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let mut message = message.join(" ");
    // Of the tips, the one that matters on a single line: the near miss of a typo.
    let similar: Vec<String> = [
        ContextKind::SuggestedSubcommand,
        ContextKind::SuggestedArg,
        ContextKind::SuggestedValue,
    ]
    .into_iter()
    .filter_map(|kind| match e.get(kind) {
        Some(ContextValue::String(s)) => Some(vec![s.clone()]),
        Some(ContextValue::Strings(v)) => Some(v.clone()),
        _ => None,
    })
    .flatten()
    .map(|s| format!("'{s}'"))
    .collect();
    if !similar.is_empty() {
        message = format!("{message}; did you mean {}?", similar.join(" or "));
    }
    usage_line(message.strip_prefix("error: ").unwrap_or(&message));
}

fn usage_line(message: &str) -> ! {
    say!("leaktop: error: {message} (see --help)");
    Exit::UsageError.exit()
}

fn run_report(args: ReportArgs) -> anyhow::Result<ExitCode> {
    use std::io::Write as _;
    let name = args.file.display().to_string();
    let rec = format::read(&args.file)?;
    rec.require_ticks(&name)?;
    if let Some(cut) = &rec.truncated {
        say!(
            "leaktop: warning: {name}:{cut}; the incomplete last tick was dropped, reporting the {} complete ones",
            rec.ticks.len()
        );
    }
    let mut stdout = std::io::stdout().lock();
    if let Some(n) = args.tick {
        let tick = rec.ticks.iter().find(|t| t.tick == n).ok_or_else(|| {
            anyhow::anyhow!(
                "tick {n} is not in {name} (it has ticks {} to {})",
                rec.ticks.first().map_or(0, |t| t.tick),
                rec.ticks.last().map_or(0, |t| t.tick)
            )
        })?;
        let mut out = String::new();
        Format::Text.write_header(&rec.header, &mut out);
        Format::Text.write_tick(tick, &mut out);
        stdout.write_all(out.as_bytes())?;
    } else if let Some(to) = args.convert {
        let out = rec.write(to);
        match args.out.as_deref() {
            Some(path) if path.as_os_str() != "-" => std::fs::write(path, out)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?,
            _ => stdout.write_all(out.as_bytes())?,
        }
    }
    let summary = report::summarize(&rec);
    if let Some(svg) = &args.svg {
        report::svg::write(&rec, &summary, svg)?;
        say!("leaktop: wrote the chart to {}", svg.display());
    }
    if args.tick.is_none() && args.convert.is_none() {
        if args.json {
            serde_json::to_writer_pretty(&mut stdout, &summary)?;
            writeln!(stdout)?;
        } else {
            stdout.write_all(report::write_text(&summary, &name).as_bytes())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The manual page of leaktop, or of one of its commands (leaktop-report(1), ...),
/// generated from the same definitions as `--help`.
fn man_page(command: Option<&str>) -> std::io::Result<Vec<u8>> {
    let mut cli = Cli::command().disable_help_subcommand(true);
    // Gives subcommands their leaktop-NAME titles and fills in inherited options.
    cli.build();
    let cmd = match command {
        None => cli,
        Some(name) => cli
            .find_subcommand(name)
            .cloned()
            .ok_or_else(|| std::io::Error::other(format!("no command {name}")))?,
    };
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut page)?;
    // clap_mangen files the text after the options under EXTRA.
    let page = String::from_utf8_lossy(&page)
        .replacen(".SH EXTRA\nExamples:\n", ".SH EXAMPLES\n", 1)
        .replacen(".SH EXTRA\n", ".SH NOTES\n", 1);
    Ok(page.into_bytes())
}

fn run_command(args: RunArgs, color: bool) -> ExitCode {
    let opts = RunOptions {
        alerts: args.alerts.config(),
        fail_on: args.fail_on,
        tui: args.tui.then_some(ViewOptions {
            color,
            grace: args.grace,
            ..ViewOptions::default()
        }),
        command: args.command,
        interval: args.interval,
        settle: args.settle,
        check: args.check,
        kill_leaks: args.kill_leaks,
        grace: args.grace,
        record: args.record,
        format: args.format,
        backend: args.backend,
    };
    match run::run(&opts) {
        Ok(outcome) => ExitCode::from(outcome.exit_code),
        Err(e) => {
            say!("leaktop: error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn run_record(args: RecordArgs) -> anyhow::Result<ExitCode> {
    let to_stdout = args.out.as_os_str() == "-";
    let format = args.format.unwrap_or_else(|| Format::from_path(&args.out));
    let pid = match (args.pid, &args.name) {
        (Some(pid), _) => pid,
        (None, Some(pattern)) => leaktop::monitor::find_by_name(args.backend, pattern)?
            .ok_or_else(|| anyhow::anyhow!("no process matches --name '{pattern}'"))?,
        (None, None) => anyhow::bail!("record needs --pid PID or --name PATTERN"),
    };
    let opts = RecordOptions {
        pid,
        follow: args.follow.then(|| args.name.clone()).flatten(),
        interval: args.interval,
        ticks: args.ticks,
        duration: args.duration,
        format,
        out: (!to_stdout).then(|| args.out.clone()),
        backend: args.backend,
        status: !args.quiet,
        alerts: args.alerts.config(),
    };
    let summary = record::record(&opts)?;
    if !args.quiet {
        let place = if to_stdout {
            "standard output".to_string()
        } else {
            args.out.display().to_string()
        };
        say!(
            "leaktop: recorded {} to {place} ({}); {} holding {} at the end",
            format::plural(summary.ticks as usize, "tick", "ticks"),
            summary.stop,
            format::plural(summary.leaked_at_end, "leaked process", "leaked processes"),
            human_kb(summary.leaked_rss_kb),
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_bounded_and_say_their_bounds() {
        assert_eq!(INTERVAL.check("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(INTERVAL.check("1m 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(INTERVAL.check("10ms"), Ok(Duration::from_millis(10)));
        assert_eq!(INTERVAL.check("1h"), Ok(Duration::from_secs(3600)));
        for tiny in ["0s", "1ns", "9ms"] {
            let e = INTERVAL.check(tiny).unwrap_err();
            assert!(
                e.starts_with("is too short (at least 10ms: CPU times"),
                "{e}"
            );
        }
        for huge in ["9223372036854775807s", "1h 1s", "2years"] {
            assert_eq!(
                INTERVAL.check(huge).unwrap_err(),
                "is too long (at most 1h)",
                "{huge}"
            );
        }
        assert_eq!(WAIT.check("0s"), Ok(Duration::ZERO));
        assert!(WAIT.check("2h").unwrap_err().contains("at most 1h"));
        assert_eq!(SPAN.check("1year"), Ok(Duration::from_secs(31_557_600)));
        assert!(SPAN.check("0s").unwrap_err().contains("greater than zero"));
        assert!(SPAN.check("2years").unwrap_err().contains("at most 1year"));
        assert!(
            SPAN.check("9223372036854775807s")
                .unwrap_err()
                .contains("too long")
        );
        assert!(INTERVAL.check("5").unwrap_err().contains("needs a unit"));
        assert!(
            INTERVAL
                .check("soon")
                .unwrap_err()
                .contains("not a duration")
        );
        // Every cap fits in the millisecond counts and Instants it becomes.
        for span in [INTERVAL, WAIT, SPAN] {
            assert!(
                std::time::Instant::now()
                    .checked_add(span.max * 1000)
                    .is_some()
            );
        }
    }

    #[test]
    fn percentages_are_finite_and_not_negative() {
        assert_eq!(Percent.check("5"), Ok(5.0));
        assert_eq!(Percent.check("0"), Ok(0.0));
        assert_eq!(Percent.check("250.5"), Ok(250.5));
        for bad in [
            "NaN", "nan", "inf", "-inf", "infinity", "-1", "-0.5", "five",
        ] {
            let e = Percent.check(bad).unwrap_err();
            assert!(e.contains("not a percentage"), "{bad}: {e}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size_kb("100MB"), Ok(100 * 1024));
        assert_eq!(parse_size_kb("2GiB"), Ok(2 * 1024 * 1024));
        assert_eq!(parse_size_kb("1.5g"), Ok(1536 * 1024));
        // MB is MiB, as RSS is shown.
        assert_eq!(parse_size_kb("100MB"), parse_size_kb("100MiB"));
        assert_eq!(parse_size_kb("4096KB"), Ok(4096));
        assert_eq!(parse_size_kb("1 TB"), Ok(1 << 30));
        assert_eq!(parse_size_kb("512B"), Ok(0));
        assert!(parse_size_kb("100").unwrap_err().contains("needs a unit"));
        assert!(parse_size_kb("1e3").unwrap_err().contains("needs a unit"));
        assert!(parse_size_kb("-5MB").unwrap_err().contains("'-5MB'"));
        assert_eq!(parse_size_kb("16EiB").unwrap_err(), "'16EiB' is too large");
        assert!(
            parse_size_kb("9 parsecs")
                .unwrap_err()
                .contains("'9 parsecs'")
        );
        assert!(parse_kinds("leaky").unwrap_err().contains("'leaky'"));
    }

    /// The subcommands a user sees (not the demo's hidden helper).
    fn visible_commands() -> Vec<String> {
        Cli::command()
            .get_subcommands()
            .filter(|c| !c.is_hide_set())
            .map(|c| c.get_name().to_string())
            .collect()
    }

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    /// The pages in `assets/` must match the CLI; regenerate with
    /// `UPDATE_MAN=1 cargo test --bin leaktop man_page`.
    #[test]
    fn man_pages_are_up_to_date_and_cover_every_command() {
        let visible = visible_commands();
        let mut pages = vec![(None, "leaktop".to_string())];
        pages.extend(
            visible
                .iter()
                .map(|c| (Some(c.as_str()), format!("leaktop-{c}"))),
        );
        for (command, name) in pages {
            let page = man_page(command).unwrap();
            let text = String::from_utf8_lossy(&page);
            assert!(
                text.starts_with(&format!(
                    ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n.TH {name} 1"
                )),
                "{name}: {}",
                &text[..80]
            );
            assert!(!text.contains(".SH EXTRA"), "{name}");
            let path = format!("{}/assets/{name}.1", env!("CARGO_MANIFEST_DIR"));
            if std::env::var_os("UPDATE_MAN").is_some() {
                std::fs::write(&path, &page).unwrap();
            }
            let saved = std::fs::read(&path).unwrap_or_default();
            assert!(
                saved == page,
                "{path} is out of date: run UPDATE_MAN=1 cargo test --bin leaktop man_page"
            );
        }
        // `leaktop man COMMAND` offers exactly these.
        let offered: Vec<String> = Cli::command()
            .find_subcommand("man")
            .and_then(|m| m.get_arguments().find(|a| a.get_id() == "command"))
            .map(|a| {
                a.get_possible_values()
                    .iter()
                    .map(|v| v.get_name().to_string())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(offered, visible);
        // Every page the main one refers to exists.
        let main = String::from_utf8(man_page(None).unwrap()).unwrap();
        for c in &visible {
            assert!(main.contains(&format!("leaktop\\-{c}(1)")), "{c}");
        }
    }

    #[test]
    fn completions_for_every_shell_know_every_subcommand() {
        use clap_complete::Shell;
        let visible = visible_commands();
        assert!(visible.len() >= 6, "{visible:?}");
        for shell in [
            Shell::Bash,
            Shell::Zsh,
            Shell::Fish,
            Shell::Elvish,
            Shell::PowerShell,
        ] {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "leaktop", &mut out);
            let script = String::from_utf8(out).unwrap();
            for name in &visible {
                assert!(script.contains(name.as_str()), "{shell} lacks {name}");
            }
            assert!(
                !script.contains("__demo-helper"),
                "{shell} shows the hidden helper"
            );
        }
    }
}

//! The command line: parses arguments, wires the library together, reports errors once.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use leaktop::actions::run::{self, RunOptions};
use leaktop::demo;
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

/// Exit code for errors at run time (the usage errors clap reports exit with 2).
const EXIT_RUNTIME: u8 = 1;

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
    /// Time between samples, e.g. 200ms, 1s.
    #[arg(long, short, value_name = "DURATION", default_value = "1s", value_parser = parse_interval)]
    interval: Duration,
    /// How long a kill waits for processes to end before offering SIGKILL.
    #[arg(long, value_name = "DURATION", default_value = "3s", value_parser = humantime::parse_duration)]
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
    /// Time between samples while CMD runs.
    #[arg(long, short, value_name = "DURATION", default_value = "200ms", value_parser = parse_interval)]
    interval: Duration,
    /// How long to wait after CMD exits before deciding what leaked.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = humantime::parse_duration)]
    settle: Duration,
    /// Exit with code 3 if anything leaked, instead of CMD's exit code.
    #[arg(long)]
    check: bool,
    /// End the leaked processes after reporting them (TERM, then KILL after --grace).
    #[arg(long)]
    kill_leaks: bool,
    /// How long --kill-leaks waits after SIGTERM before SIGKILL.
    #[arg(long, value_name = "DURATION", default_value = "3s", value_parser = humantime::parse_duration)]
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
    /// Time between samples, e.g. 200ms, 1s, 1m.
    #[arg(long, short, value_name = "DURATION", default_value = "1s", value_parser = parse_interval)]
    interval: Duration,
    /// Stop after this many ticks.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    ticks: Option<u64>,
    /// Stop after this much time, e.g. 30s, 10m, 2h.
    #[arg(long, value_name = "DURATION", value_parser = parse_interval)]
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
    /// How long a process must use no CPU to be `idle`.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_interval)]
    idle_after: Duration,
    /// The RSS an `idle` process must hold: 100MB, 512MiB, 2GB.
    #[arg(long, value_name = "SIZE", default_value = "100MB", value_parser = parse_size_kb)]
    idle_min_rss: u64,
    /// Windows whose RSS minimum must rise one after another for `rss_ratchet`.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(2..))]
    ratchet_windows: u32,
    /// Ticks per window of `rss_ratchet`.
    #[arg(long, value_name = "TICKS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    ratchet_window_ticks: u32,
    /// How much the last window's minimum must exceed the first's, in percent.
    #[arg(long, value_name = "PERCENT", default_value_t = 5.0)]
    ratchet_min_growth: f64,
}

impl AlertArgs {
    fn config(&self) -> AlertConfig {
        AlertConfig {
            accumulate_window: self.accumulate_window as usize,
            accumulate_min: self.accumulate_min as usize,
            idle_after_ms: self.idle_after.as_millis() as u64,
            idle_min_rss_kb: self.idle_min_rss,
            ratchet_windows: self.ratchet_windows as usize,
            ratchet_window_ticks: self.ratchet_window_ticks as usize,
            ratchet_min_growth_pct: self.ratchet_min_growth,
        }
    }
}

/// A size in KiB from `100MB`, `512MiB`, `2G`, `4096KiB` (MB and MiB alike mean 2^20
/// bytes, as RSS is counted in pages of KiB).
fn parse_size_kb(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a size like 100MB or 2GiB"))?;
    let kb_per = match unit.trim().to_ascii_lowercase().as_str() {
        "k" | "kb" | "kib" => 1.0,
        "m" | "mb" | "mib" => 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0,
        "" => return Err(format!("'{s}' needs a unit, like {s}MB")),
        other => return Err(format!("'{s}': unknown unit '{other}' (use KB, MB or GB)")),
    };
    Ok((n * kb_per) as u64)
}

/// Alert kinds, comma-separated.
fn parse_kinds(s: &str) -> Result<AlertKind, String> {
    AlertKind::from_name(s.trim())
        .ok_or_else(|| format!("'{s}' is not an alert kind (accumulating, idle, rss_ratchet)"))
}

/// A human duration that is not zero: `200ms`, `1s`, `1m 30s`.
fn parse_interval(s: &str) -> Result<Duration, String> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(format!("'{s}' needs a unit, like {s}s or {s}ms"));
    }
    let d = humantime::parse_duration(s)
        .map_err(|e| format!("'{s}' is not a duration like 200ms or 1s ({e})"))?;
    if d.is_zero() {
        return Err("must be greater than zero".into());
    }
    Ok(d)
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
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "leaktop",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(Cmd::Man { command }) => man_page(command.as_deref())
            .and_then(|page| std::io::Write::write_all(&mut std::io::stdout(), &page))
            .map(|()| ExitCode::SUCCESS)
            .map_err(Into::into),
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
    match result {
        Ok(code) => code,
        Err(e) => {
            // Every error message already carries its cause: print it once, not the chain.
            say!("leaktop: error: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
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
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit();
    }
    // clap's first paragraph is the message (a list of missing arguments continues it
    // on indented lines); tips and usage follow.
    let text = e.render().to_string();
    let message: Vec<&str> = text
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let message = message.join(" ");
    usage_line(message.strip_prefix("error: ").unwrap_or(&message));
}

fn usage_line(message: &str) -> ! {
    say!("leaktop: error: {message} (see --help)");
    std::process::exit(2);
}

fn run_report(args: ReportArgs) -> anyhow::Result<ExitCode> {
    report::run(&report::Options {
        file: args.file,
        json: args.json,
        svg: args.svg,
        tick: args.tick,
        convert: args.convert,
        out: args.out,
    })?;
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
    fn intervals() {
        assert_eq!(parse_interval("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(parse_interval("1m 30s"), Ok(Duration::from_secs(90)));
        assert!(
            parse_interval("0s")
                .unwrap_err()
                .contains("greater than zero")
        );
        assert!(parse_interval("5").unwrap_err().contains("needs a unit"));
        assert!(parse_interval("soon").unwrap_err().contains("'soon'"));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size_kb("100MB"), Ok(100 * 1024));
        assert_eq!(parse_size_kb("2GiB"), Ok(2 * 1024 * 1024));
        assert_eq!(parse_size_kb("1.5g"), Ok(1536 * 1024));
        assert!(parse_size_kb("100").unwrap_err().contains("needs a unit"));
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

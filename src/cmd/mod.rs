//! The command line: one module per subcommand, the option groups they share in
//! [`options`], and here the definition of the whole CLI and its dispatch; [`exit`] is
//! the one place where errors are reported and exit codes decided.

/// A line on stderr. A closed stderr must not turn an error into a panic (exit 101)
/// or stop the work that follows.
macro_rules! say {
    ($($arg:tt)*) => {
        leaktop::say(&format!("{}\n", format_args!($($arg)*)))
    };
}

mod config;
mod exit;
mod man;
mod options;
mod orphans;
mod record;
mod report;
mod run;
mod view;
mod watch;
mod width;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use leaktop::demo;
use leaktop::exit_codes::ExitCode as Exit;

use exit::Error;
use leaktop::ui::{self, Root};

use std::path::PathBuf;

use leaktop::sample::events::{NO_CONNECTOR_VAR, Source};
use options::ViewTuning;
use record::RecordArgs;
use report::ReportArgs;
use run::RunArgs;
use view::ViewArgs;

/// The top-level `--help` text: what leaktop does, and what each event source
/// guarantees ([`Source::guarantees`]).
fn long_about() -> String {
    let mut text = String::from(
        "Watch a process tree over time and catch the children it leaks.\n\n\
leaktop samples the tree under a root process at a fixed interval, records PID, PPID, RSS \
and state at every tick, and marks members that were reparented (their parent died and init \
or a subreaper adopted them), that escaped the family, or that outlived the root as leaked, \
together with the trees under them.\n\n\
Between ticks it listens for process events from the best source it may use, named in the \
view's header and in the recording's header:",
    );
    for source in [Source::Connector, Source::Pidfd, Source::Ticks] {
        text.push_str(&format!(
            "\n  {:<10} {}",
            source.name(),
            source.guarantees()
        ));
    }
    text.push_str(&format!(
        "\nThe connector needs CAP_NET_ADMIN (root); {NO_CONNECTOR_VAR}=1 keeps leaktop off it."
    ));
    text
}

#[derive(Parser)]
#[command(
    name = "leaktop",
    version,
    about = "Watch a process tree over time and catch the children it leaks",
    long_about = long_about(),
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
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Option<Cmd>,
    /// When to use colour: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, value_enum, global = true, default_value_t = ColorChoice::Auto)]
    pub(crate) color: ColorChoice,
    // After --color: the alert options it flattens in open a help section of their own.
    #[command(flatten)]
    pub(crate) view: ViewArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    pub(crate) fn enabled(self) -> bool {
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

#[derive(Subcommand)]
pub(crate) enum Cmd {
    /// Start a small family that leaks on purpose and watch it: the first thing to try.
    // Its own defaults, so that `demo -h` says what the demo does: it samples every
    // 250 ms and calls a leak after 1 s, to show its point at once.
    #[command(
        mut_arg("interval", |a| a.default_value(options::shown(leaktop::demo::DEMO_INTERVAL))),
        mut_arg("leak_grace", |a| a.default_value(options::shown(leaktop::demo::DEMO_LEAK_GRACE))),
        after_help = "\
Examples:
  The demo as it comes, then with short alert thresholds:
    leaktop demo
    leaktop demo --idle-after 5s --idle-min-rss 20MB

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
  Whole command lines on a terminal, not cut to its width with …:
    leaktop report serve.ticklog --wide

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
        /// Stop at a damaged line, instead of skipping the tick it is in.
        #[arg(long)]
        strict: bool,
        #[command(flatten)]
        export: options::ExportArgs,
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
        #[arg(value_parser = ["demo", "report", "replay", "completions", "man", "record", "run", "orphans", "watch"])]
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
  The report's command lines whole on a terminal, not cut to its width with …:
    leaktop run --wide --check -- pytest -n 4
  Wrap an interactive command for good (silent unless it leaked; leaks ended):
    alias claude='leaktop run --kill-leaks --quiet -- claude'

leaktop becomes a child subreaper, so every process orphaned under CMD is adopted by
leaktop instead of init, however fast it forks or whether it calls setsid. CMD's
stdin, stdout and stderr are untouched; leaktop reports on stderr. INT, TERM and HUP
sent to leaktop are forwarded to CMD. If leaktop is killed with SIGKILL, CMD receives
SIGTERM (PR_SET_PDEATHSIG). Nothing is said while CMD runs: the terminal is CMD's
(raw mode, resizes, Ctrl-C, Ctrl-Z and fg, a closed terminal all reach it as without
leaktop).

What the subreaper changes for CMD's family: an orphan's parent is leaktop, not PID 1,
so a program that exits once getppid() == 1 never does under run (the verdict is
right: it did outlive its parent); and an orphaned process group with a stopped member
is not sent SIGHUP and SIGCONT as it would be under init, so a stopped orphan stays
stopped. A leak that exits before the run ends is still reported (\"leaked, then exited
after 5.1 s\") and fails --check.

Exit codes: CMD's own (128+N if signal N killed it); 3 with --check when anything
leaked; 127 when CMD is not found, 126 when it cannot be executed; 1 on other errors.")]
    Run(RunArgs),
    /// Find the leaks that happened before leaktop started: orphaned pools, by origin.
    #[command(after_help = "\
Examples:
  What crashed jobs left behind, largest first, with the evidence:
    leaktop orphans
  The same for a script, a line per group (tab-separated, KiB), and a snapshot per
  group for a bug report:
    leaktop orphans --json | jq '.groups[] | {id, rss_kb}'
    leaktop orphans --format summary | awk -F'\\t' '$2 == \"strong\" { print $1, $4 }'
    leaktop orphans --format text
  End one group (asks first; --yes without a terminal):
    leaktop orphans --group pg-4242 --kill
  End every orphaned MCP server older than two minutes:
    leaktop orphans --match mcp-server --older-than 2m --kill --yes
  Report new orphan groups as they appear, as NDJSON:
    leaktop orphans --watch --json
  Whole command lines (a forkserver's sys.path), or cut to 120 columns in a pipe:
    leaktop orphans --wide
    COLUMNS=120 leaktop orphans | less

An orphan is a process whose parent is PID 1 or a known subreaper (systemd --user, tini,
dumb-init, catatonit, WSL's init), known by its root-owned executable, not by its name.
Strong evidence: its process group's or session's leader is gone, it carries the
LEAKTOP_RUN marker of a leaktop run that is gone and whose record (kept by the run in
$XDG_RUNTIME_DIR/leaktop or /run/leaktop, owned by the orphan's user) vouches for it, or
its systemd service's main process is gone. Weak: a gone leader while a live shell still
holds the session (nohup cmd & looks the same), a parent gone while its process group's
leader lives on (sh -c \"helper & exit 0\"), a LEAKTOP_RUN nothing vouches for
(unverified); weak groups are ended only when named by --group or --match, and a --kill
that ends nothing for that reason exits 1. Workers by design (multiprocessing, loky,
celery, gunicorn, uvicorn, Jupyter kernels, by their command line) are listed, labelled
and ranked first, never made strong by that alone. A detached child whose stdout and
stderr are pipes or sockets no living process reads any more (its reader is gone) is
listed, weak. Daemons by design (setsid, no terminal, stdio on /dev/null or a file) are listed
only with --all, as is a detached child that looks like one.

Each process shows its RSS, PSS, age, CPU time and IDLE: how long ago it last ran on any
CPU, from the scheduler (/proc/PID/task/TID/sched), ? where unknown.")]
    Orphans(orphans::OrphansArgs),
    /// Watch every process, always: the story of each orphan, in a journal, and policies.
    #[command(after_help = "\
Examples:
  Leave it running, then ask what a leak is and where it came from:
    leaktop watch &
    leaktop orphans
  Install it as a service (see the README's Deployments):
    leaktop watch --print-unit systemd-user > ~/.config/systemd/user/leaktop-watch.service
    sudo sh -c 'leaktop watch --print-unit systemd > /etc/systemd/system/leaktop-watch.service'
  What the policies in the configuration file would do, without doing it:
    leaktop watch --dry-run
  For node_exporter's textfile collector:
    leaktop watch --quiet --textfile /var/lib/node_exporter/textfile

As root it watches every process, with the kernel's process-events connector; as a user,
the user's own processes, with pidfds (exits as they happen, forks at each scan). Each
orphaning (a process that died leaving live processes behind) is one NDJSON record on
standard output and in the journal: what died, how and when, what it left (group,
session, cgroup, command, RSS, PSS); later records say what became of each process.
`leaktop orphans` tells these stories. The journal is bounded (--journal-max) and read
back when the watcher restarts.

Policies ([[policy]] in the configuration file) report by default; a kill policy ends
only groups with strong evidence, through the safe kill, after its duration.")]
    Watch(watch::WatchArgs),
}

/// Parses the command line, runs the command on the real host, built here once and
/// passed down, and ends leaktop with its outcome: the one way out ([`exit::finish`]).
pub(crate) fn main() -> ExitCode {
    let host = leaktop::host::real();
    // `leaktop demo` re-executes leaktop as its helpers; they are not part of the CLI.
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some(demo::HELPER_COMMAND) {
        demo::helper(
            host,
            argv.get(2).map_or("", String::as_str),
            &argv[3.min(argv.len())..],
        );
    }
    exit::finish(parse_args().and_then(|parsed| match parsed {
        Parsed::Command(cli) => run(host, *cli),
        Parsed::Print(text) => {
            leaktop::stdout::write_all(text.as_bytes())?;
            Ok(Exit::Success)
        }
    }))
}

/// Runs the command the command line names on `host`: its exit code, or why it failed.
fn run(host: std::sync::Arc<dyn leaktop::host::Host>, cli: Cli) -> Result<Exit, Error> {
    let color = cli.color.enabled();
    if cli.color == ColorChoice::Always {
        // crossterm honours NO_COLOR on its own; an explicit --color always wins.
        ratatui::crossterm::style::force_color_output(true);
    }
    match cli.command {
        Some(Cmd::Record(args)) => record::run(host, args),
        Some(Cmd::Run(args)) => run::run(host, args, color),
        Some(Cmd::Orphans(args)) => orphans::run(host, args),
        Some(Cmd::Watch(args)) => watch::run(host, args),
        Some(Cmd::Demo(tuning)) => {
            demo::run(host, tuning.watch(Root::Pick, color)?).map_err(anyhow::Error::from)?;
            Ok(Exit::Success)
        }
        Some(Cmd::Report(args)) => report::run(host, args),
        Some(Cmd::Replay {
            file,
            strict,
            export,
        }) => {
            ui::replay(host, &file, color, strict, export.export_dir)
                .map_err(anyhow::Error::from)?;
            Ok(Exit::Success)
        }
        Some(Cmd::Completions { shell }) => {
            // Rendered first: clap_complete panics on a failed write to stdout.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "leaktop", &mut script);
            leaktop::stdout::write_all(&script)?;
            Ok(Exit::Success)
        }
        Some(Cmd::Man { command }) => {
            let page = man::page(command.as_deref()).map_err(anyhow::Error::from)?;
            leaktop::stdout::write_all(&page)?;
            Ok(Exit::Success)
        }
        None => cli.view.watch(host, color).map(|()| Exit::Success),
    }
}

/// What the command line asks for: a command to run, or a text to print (`--help`,
/// `--version`), which is written as any other output, so a failed write is an error.
pub(crate) enum Parsed {
    /// Run this command.
    Command(Box<Cli>),
    /// Print this (help or version) and exit 0.
    Print(String),
}

/// Parses the command line. Errors: a usage error, one line naming the bad value.
pub(crate) fn parse_args() -> Result<Parsed, Error> {
    let matches = match hyphen_values(Cli::command()).try_get_matches() {
        Ok(matches) => matches,
        Err(e) => return help_or_usage_error(&e),
    };
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
            return Err(Error::usage(format!(
                "--{flag} is an option of the live view; options of `{sub}` go after it: leaktop {sub} [OPTIONS]"
            )));
        }
    }
    match Cli::from_arg_matches(&matches) {
        Ok(cli) => Ok(Parsed::Command(Box::new(cli))),
        Err(e) => help_or_usage_error(&e),
    }
}

/// What clap's "error" means: help or the version to print, or a usage error.
fn help_or_usage_error(e: &clap::Error) -> Result<Parsed, Error> {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let text = e.render();
            // As clap would: styled on a terminal, unless NO_COLOR says otherwise.
            Ok(Parsed::Print(if ColorChoice::Auto.enabled() {
                text.ansi().to_string()
            } else {
                text.to_string()
            }))
        }
        _ => Err(usage_error(e)),
    }
}

/// Lets a value starting with `-` reach the parser of an option that takes a number,
/// a size or a duration, so `--min-rss -5` says that `-5` is not a size rather than
/// "unexpected argument '-5'" (and `--older-than -1s` does not name `-1`).
fn hyphen_values(cmd: clap::Command) -> clap::Command {
    cmd.mut_args(|a| {
        let numeric = a.get_value_names().is_some_and(|names| {
            names
                .iter()
                .any(|n| ["DURATION", "SIZE", "N"].contains(&n.as_str()))
        });
        if numeric {
            a.allow_hyphen_values(true)
        } else {
            a
        }
    })
    .mut_subcommands(hyphen_values)
}

/// A usage error of clap's as one line: clap's message, an escaped word where clap
/// would show a crafted one as another, and the near miss of a typo.
fn usage_error(e: &clap::Error) -> Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    // `leaktop 1234`: a pid where a command goes.
    if e.kind() == ErrorKind::InvalidSubcommand
        && let Some(ContextValue::String(word)) = e.get(ContextKind::InvalidSubcommand)
        && let Ok(pid) = word.parse::<u32>()
    {
        return Error::usage(format!(
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
    // clap's rendering strips escape sequences from the word it quotes, so a crafted
    // argument would be shown as another word: say it escaped instead.
    let quoted = [
        (ContextKind::InvalidSubcommand, "unrecognized subcommand"),
        (ContextKind::InvalidArg, "unexpected argument"),
        (ContextKind::InvalidValue, "invalid value"),
    ];
    for (kind, what) in quoted {
        if let Some(ContextValue::String(raw)) = e.get(kind)
            && raw.chars().any(leaktop::human::is_hidden)
        {
            let raw = leaktop::human::printable(raw);
            message = match (kind, e.get(ContextKind::InvalidArg)) {
                (ContextKind::InvalidValue, Some(ContextValue::String(arg))) => {
                    format!("{what} '{raw}' for '{}'", leaktop::human::printable(arg))
                }
                _ => format!("{what} '{raw}'"),
            };
        }
    }
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
    let similar = if similar.is_empty()
        && let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg)
    {
        near_option(arg)
            .map(|o| format!("'{o}'"))
            .into_iter()
            .collect()
    } else {
        similar
    };
    if !similar.is_empty() {
        message = format!("{message}; did you mean {}?", similar.join(" or "));
    }
    Error::usage(message.strip_prefix("error: ").unwrap_or(&message))
}

/// The long option of the command line's subcommand (or of leaktop itself) nearest to
/// a mistyped `--option`, when clap has none to offer: clap's measure (Jaro) misses a
/// swap of two letters in a short name (`--pdi`), which edit distance counts as one.
fn near_option(typed: &str) -> Option<String> {
    let name = typed.strip_prefix("--")?.split('=').next()?;
    let mut cli = Cli::command();
    cli.build();
    let sub = std::env::args()
        .skip(1)
        .find_map(|a| cli.find_subcommand(&a).map(|c| c.get_name().to_string()));
    let cmd = match &sub {
        Some(s) => cli.find_subcommand(s)?,
        None => &cli,
    };
    let allowed = if name.chars().count() <= 4 { 1 } else { 2 };
    cmd.get_arguments()
        .filter(|a| !a.is_hide_set())
        .filter_map(clap::Arg::get_long)
        .map(|long| (strsim::damerau_levenshtein(name, long), long))
        .filter(|&(d, _)| d <= allowed)
        .min()
        .map(|(_, long)| format!("--{long}"))
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// The top-level command (the view) and every subcommand a user sees.
    fn every_command(cli: &clap::Command) -> Vec<&clap::Command> {
        std::iter::once(cli)
            .chain(cli.get_subcommands().filter(|c| !c.is_hide_set()))
            .collect()
    }

    /// The paragraph of `--long` in `help`: from its flag to the next option or
    /// heading, on one line.
    fn paragraph_of(help: &str, long: &str) -> Option<String> {
        let flag = format!("--{long}");
        let at = help
            .lines()
            .position(|l| l.trim_start().starts_with(&flag) || l.contains(&format!(", {flag}")))?;
        let next = |l: &&str| {
            let body = l.trim_start();
            let indent = l.len() - body.len();
            (body.starts_with('-') && indent <= 6) || (indent == 0 && !body.is_empty())
        };
        Some(
            help.lines()
                .skip(at)
                .enumerate()
                .take_while(|(i, l)| *i == 0 || !next(l))
                .map(|(_, l)| l.trim())
                .collect::<Vec<_>>()
                .join(" "),
        )
    }

    /// The default `--help` states for `--long`: what is inside `[default: …]`.
    fn stated_default(help: &str, long: &str) -> Option<String> {
        let paragraph = paragraph_of(help, long)?;
        let at = paragraph.find("[default: ")? + "[default: ".len();
        let len = paragraph[at..].find(']')?;
        Some(paragraph[at..at + len].to_string())
    }

    /// Every default `--help` states for an option is the one clap parses to, stated
    /// once: a hand-written `[default: …]` in a doc comment beside clap's own would
    /// say two things (issue 28: `demo -h` said 1s, and the demo ran at 250ms).
    #[test]
    fn help_states_each_default_once_and_as_clap_uses_it() {
        let mut cli = Cli::command();
        cli.build();
        for sub in every_command(&cli) {
            let help = sub.clone().render_long_help().to_string();
            for arg in sub.get_arguments() {
                let defaults: Vec<String> = arg
                    .get_default_values()
                    .iter()
                    .map(|v| v.to_string_lossy().into_owned())
                    .collect();
                let Some(long) = arg.get_long() else { continue };
                if defaults.is_empty()
                    || arg.is_hide_default_value_set()
                    || !arg.get_action().takes_values()
                {
                    continue;
                }
                let flag = format!("--{long}");
                let Some(paragraph) = paragraph_of(&help, long) else {
                    panic!("{}: no {flag} in its help", sub.get_name());
                };
                let stated = paragraph.matches("[default: ").count();
                assert_eq!(stated, 1, "{} {flag}: {paragraph}", sub.get_name());
                let want = format!("[default: {}]", defaults.join(","));
                assert!(
                    paragraph.contains(&want),
                    "{} {flag}: clap uses {want}: {paragraph}",
                    sub.get_name()
                );
            }
        }
        // The demo states its own defaults, and runs at them.
        let demo = Cli::try_parse_from(["leaktop", "demo"]).unwrap();
        let Some(Cmd::Demo(tuning)) = demo.command else {
            panic!("not the demo");
        };
        assert_eq!(tuning.interval, std::time::Duration::from_millis(250));
        assert_eq!(tuning.verdict.leak_grace, std::time::Duration::from_secs(1));
        let mut cli = Cli::command();
        let help = cli
            .find_subcommand_mut("demo")
            .unwrap()
            .render_long_help()
            .to_string();
        assert!(help.contains("[default: 250ms]"), "{help}");
    }

    /// Every figure's default that `--help` states, on every command, read back from
    /// the help text and compared with the constant the code itself uses where no
    /// option says otherwise (the monitor's leak grace and alert thresholds, the
    /// kill's grace, the demo's pace): the help is generated from those constants,
    /// and this keeps it so. A new option with a default must be added here.
    #[test]
    fn help_defaults_are_the_constants_the_code_uses() {
        use leaktop::model::AlertConfig;
        use std::time::Duration;
        #[derive(Debug, PartialEq)]
        enum Value {
            Span(Duration),
            Kb(u64),
            Count(u64),
            Percent(f64),
        }
        let a = AlertConfig::default();
        let ms = Duration::from_millis;
        let expected = |sub: &str, long: &str| -> Option<Value> {
            use Value::*;
            Some(match (sub, long) {
                ("demo", "interval") => Span(leaktop::demo::DEMO_INTERVAL),
                ("demo", "leak-grace") => Span(leaktop::demo::DEMO_LEAK_GRACE),
                ("run", "interval") => Span(options::RUN_INTERVAL),
                ("orphans", "interval") => Span(options::SCAN_INTERVAL),
                ("watch", "interval") => Span(options::WATCH_INTERVAL),
                (_, "older-than") => Span(leaktop::monitor::LEAK_GRACE),
                ("watch", "journal-max") => Kb(leaktop::format::journal::DEFAULT_CAP / 1024),
                (_, "interval") => Span(options::VIEW_INTERVAL),
                (_, "grace") => Span(leaktop::actions::kill::KILL_GRACE),
                (_, "leak-grace") => Span(leaktop::monitor::LEAK_GRACE),
                ("run", "settle") => Span(options::SETTLE),
                ("run", "fail-after") => Span(Duration::ZERO),
                (_, "accumulate-window") => Span(ms(a.accumulate_span_ms)),
                (_, "accumulate-min") => Count(a.accumulate_min as u64),
                (_, "idle-after") => Span(ms(a.idle_after_ms)),
                (_, "idle-min-rss") => Kb(a.idle_min_rss_kb),
                (_, "ratchet-windows") => Count(a.ratchet_windows as u64),
                (_, "ratchet-span") => Span(ms(a.ratchet_span_ms)),
                (_, "ratchet-min-growth") => Percent(a.ratchet_min_growth_pct),
                (_, "ratchet-min-rise") => Kb(a.ratchet_min_rise_kb),
                (_, "zombies-min") => Count(a.zombies_min as u64),
                (_, "zombie-after") => Span(ms(a.zombie_after_ms)),
                (_, "stopped-after") => Span(ms(a.stopped_after_ms)),
                _ => return None,
            })
        };
        let mut cli = Cli::command();
        cli.build();
        let mut checked = 0;
        for sub in every_command(&cli) {
            let name = sub.get_name();
            let help = sub.clone().render_long_help().to_string();
            for arg in sub.get_arguments() {
                let Some(long) = arg.get_long() else { continue };
                let Some(stated) = stated_default(&help, long) else {
                    continue;
                };
                let figure = arg.get_value_names().is_some_and(|names| {
                    names.iter().any(|n| {
                        ["DURATION", "SIZE", "N", "PERCENT", "TICKS"].contains(&n.as_str())
                    })
                });
                let Some(want) = expected(name, long) else {
                    assert!(
                        !figure,
                        "{name} --{long}: [default: {stated}] is in no table"
                    );
                    continue;
                };
                // "5s, or the configuration file's": the figure comes first.
                let stated = stated.split(',').next().unwrap_or_default().to_string();
                let read = match want {
                    Value::Span(_) => Value::Span(humantime::parse_duration(&stated).unwrap()),
                    Value::Kb(_) => Value::Kb(leaktop::human::parse_size_kb(&stated).unwrap()),
                    Value::Count(_) => Value::Count(stated.parse().unwrap()),
                    Value::Percent(_) => Value::Percent(stated.parse().unwrap()),
                };
                assert_eq!(read, want, "{name} --{long}: [default: {stated}]");
                checked += 1;
            }
        }
        // The view, demo, record and run each state the alert thresholds at least.
        assert!(checked >= 4 * 11, "{checked}");
        // A view opened without options (a replay: nothing to kill) waits as long.
        assert_eq!(
            leaktop::ui::app::ViewOptions::default().grace,
            leaktop::actions::kill::KILL_GRACE
        );
    }

    /// An option sits under a heading that names what it is (issue 28: `run -h` listed
    /// --junit and --json, and CMD, under "Metrics:").
    #[test]
    fn options_sit_under_the_heading_of_what_they_are() {
        let mut cli = Cli::command();
        cli.build();
        for sub in std::iter::once(&cli).chain(cli.get_subcommands()) {
            for arg in sub.get_arguments() {
                let id = arg.get_id().as_str();
                match arg.get_help_heading() {
                    Some("Metrics") => {
                        assert!(id.starts_with("metrics"), "{}: {id}", sub.get_name())
                    }
                    Some("Alerts") => assert!(
                        !["junit", "json", "command", "record"].contains(&id),
                        "{}: {id}",
                        sub.get_name()
                    ),
                    _ => {}
                }
            }
        }
        let run = cli.find_subcommand_mut("run").unwrap();
        let help = run.render_long_help().to_string();
        let heading_of = |flag: &str| {
            let at = help.find(flag).unwrap();
            help[..at]
                .lines()
                .rfind(|l| !l.starts_with(' ') && l.ends_with(':'))
                .unwrap_or("")
                .to_string()
        };
        assert_eq!(heading_of("--junit <FILE>"), "Reports:");
        assert_eq!(heading_of("--json <FILE>"), "Reports:");
        assert_eq!(heading_of("--metrics <ADDR>"), "Metrics:");
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
            let page = man::page(command).unwrap();
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
        let main = String::from_utf8(man::page(None).unwrap()).unwrap();
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

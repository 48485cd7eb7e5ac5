//! The option groups several commands share (sampling, alerts) and the value parsers
//! every option goes through, so that a bound or a message is said once.

use leaktop::format::config::ConfigError;
use std::time::Duration;

use clap::Args;

use leaktop::actions::kill::KILL_GRACE;
use leaktop::format::Format;
use leaktop::human::human_kb;
use leaktop::model::allow::AllowRule;
use leaktop::model::{AlertConfig, AlertKind};
use leaktop::monitor::LEAK_GRACE;
use leaktop::sample::Backend;
use leaktop::ui::{Root, WatchOptions};

/// `--format` (`record`, `run`) and `--convert` (`report`): a recording's [`Format`]
/// as the command line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum FormatArg {
    /// The tick-log text format (see docs/tick-log.md).
    Text,
    /// One JSON object per line.
    Ndjson,
}

impl From<FormatArg> for Format {
    fn from(arg: FormatArg) -> Format {
        match arg {
            FormatArg::Text => Format::Text,
            FormatArg::Ndjson => Format::Ndjson,
        }
    }
}

/// `--backend`: which [`Backend`] samples, as the command line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum BackendArg {
    /// Read /proc directly (Linux only; the default there).
    Procfs,
    /// The portable `sysinfo` crate (the default elsewhere).
    Sysinfo,
}

impl BackendArg {
    /// This platform's default ([`Backend::default`]).
    pub(crate) fn here() -> BackendArg {
        match Backend::default() {
            Backend::Procfs => BackendArg::Procfs,
            Backend::Sysinfo => BackendArg::Sysinfo,
        }
    }
}

impl From<BackendArg> for Backend {
    fn from(arg: BackendArg) -> Backend {
        match arg {
            BackendArg::Procfs => Backend::Procfs,
            BackendArg::Sysinfo => Backend::Sysinfo,
        }
    }
}

/// Which process is the family's root (the view and `record`).
#[derive(Args)]
pub(crate) struct RootArgs {
    /// The root process: its family is itself and every descendant ever seen. Without
    /// it or --name, the view lets you choose (orphan groups first; x ends one).
    #[arg(long, short, value_name = "PID", conflicts_with = "name", allow_hyphen_values = true, value_parser = Named(ProcessId))]
    pub(crate) pid: Option<u32>,
    /// The root is the oldest process whose command line contains PATTERN.
    #[arg(long, short, value_name = "PATTERN", value_parser = Named(Pattern))]
    pub(crate) name: Option<String>,
    /// With --name: when the root exits, follow its restart: a new process matching
    /// PATTERN that runs the same executable, started by the root's parent (its
    /// supervisor) while that lives; the old one's survivors stay leaked.
    #[arg(long, requires = "name")]
    pub(crate) follow: bool,
}

impl RootArgs {
    /// The root as the view takes it: `--pid`, `--name` (with `--follow`) or a pick.
    pub(crate) fn root(&self) -> Root {
        match (self.pid, &self.name) {
            (Some(pid), _) => Root::Pid(pid),
            (None, Some(pattern)) => Root::Name {
                pattern: pattern.clone(),
                follow: self.follow,
            },
            (None, None) => Root::Pick,
        }
    }
}

#[derive(Args)]
pub(crate) struct ViewTuning {
    /// Time between samples, e.g. 200ms, 1s; from 10ms (CPU times advance in 10 ms steps) to 1h.
    #[arg(long, short, value_name = "DURATION", default_value = shown(VIEW_INTERVAL), value_parser = Named(INTERVAL))]
    pub(crate) interval: Duration,
    /// How long a kill waits for processes to end before offering SIGKILL (at most 1h).
    #[arg(long, value_name = "DURATION", default_value = shown(KILL_GRACE), value_parser = Named(WAIT))]
    pub(crate) grace: Duration,
    /// Where samples come from.
    #[arg(long, value_enum, default_value_t = BackendArg::here())]
    pub(crate) backend: BackendArg,
    #[command(flatten)]
    pub(crate) export: ExportArgs,
    #[command(flatten)]
    pub(crate) verdict: VerdictArgs,
    #[command(flatten)]
    pub(crate) alerts: AlertArgs,
}

/// When an orphan becomes a leak (the same on every command that samples).
#[derive(Args, Clone)]
pub(crate) struct VerdictArgs {
    /// How long an orphan must outlive its parent (or the family its root) to be called
    /// leaked, at least one interval: what exits by itself once its parent is gone (a
    /// pool seeing EOF, a shutdown draining, a service that lingers by design) is no
    /// leak. The default is above the lingers measured: pools drain within 0.2 s, an
    /// esbuild-like service exits about 2 s after its pings stop, a language server
    /// polling its client's pid every 3 s within 3 s. Longer ones need more (VS Code's
    /// extension host watchdog: 6 s). Not --grace, which is how long a kill waits
    /// before SIGKILL.
    #[arg(long, value_name = "DURATION", default_value = shown(LEAK_GRACE), value_parser = Named(WAIT))]
    pub(crate) leak_grace: Duration,
    /// A process meant to outlive its parent (a deploy script's `nohup app &`, a
    /// double-forking daemon): one whose command line contains PATTERN (a plain
    /// substring), and everything below it, is never called leaked. Repeatable.
    #[arg(long = "allow", value_name = "PATTERN", value_parser = Named(Allow))]
    pub(crate) allow: Vec<AllowRule>,
}

/// `--allow PATTERN`: a rule on the command line, a [`Pattern`]; an empty or blank one
/// would allow every process.
#[derive(Clone, Copy)]
pub(crate) struct Allow;

impl Checked for Allow {
    type Value = AllowRule;
    fn check(&self, s: &str) -> Result<AllowRule, String> {
        Pattern
            .check(s)
            .map(|pattern| AllowRule::command(&pattern))
            .map_err(|_| "would allow every process: give part of a command line".into())
    }
}

/// A plain substring of a command line (--name, --match). An empty or blank one is
/// refused: it would match every process (`--name ''` watched kthreadd).
#[derive(Clone, Copy)]
pub(crate) struct Pattern;

impl Checked for Pattern {
    type Value = String;
    fn check(&self, s: &str) -> Result<String, String> {
        if s.trim().is_empty() {
            return Err("would match every process: give part of a command line".into());
        }
        Ok(s.to_string())
    }
}

impl VerdictArgs {
    /// The `--allow` rules, and the configuration file's `[[ignore]]` rules (the same
    /// rule type), found where `orphans` and `watch` find it (`LEAKTOP_NO_CONFIG=1`
    /// leaves it out). Errors: a bad file.
    pub(crate) fn allowed(&self) -> Result<Vec<AllowRule>, ConfigError> {
        let mut rules = self.allow.clone();
        rules.extend(super::config::ConfigArgs::found().load()?.ignore);
        Ok(rules)
    }
}

impl ViewTuning {
    /// The view's options. Errors: a bad configuration file.
    pub(crate) fn watch(&self, root: Root, color: bool) -> Result<WatchOptions, ConfigError> {
        Ok(WatchOptions {
            root,
            interval: self.interval,
            backend: self.backend.into(),
            grace: self.grace,
            color,
            subreapers: Vec::new(),
            alerts: self.alerts.config(self.interval),
            leak_grace: self.verdict.leak_grace,
            allowed: self.verdict.allowed()?,
            metrics: None,
            export_dir: self.export.export_dir.clone(),
        })
    }
}

/// Where the view's `e` writes (the view, the demo, a replay).
#[derive(Args, Clone)]
pub(crate) struct ExportArgs {
    /// Where `e` writes the timeline (it says where and waits for Enter first)
    /// [default: $XDG_DATA_HOME/leaktop, else ~/.local/share/leaktop, made on first use].
    #[arg(long, value_name = "DIR", value_parser = Named(Dir))]
    pub(crate) export_dir: Option<std::path::PathBuf>,
}

/// A directory given on the command line: not empty (which would be the working
/// directory by accident).
#[derive(Clone, Copy)]
pub(crate) struct Dir;

impl Checked for Dir {
    type Value = std::path::PathBuf;
    fn check(&self, s: &str) -> Result<std::path::PathBuf, String> {
        if s.trim().is_empty() {
            return Err("is no directory: give a path (. for the working directory)".into());
        }
        Ok(s.into())
    }
}

/// Thresholds of the alerts for leaks under live parents (the same on every command).
#[derive(Args, Clone)]
#[command(next_help_heading = "Alerts")]
pub(crate) struct AlertArgs {
    /// The shortest span over which the children a parent keeps must rise, in each of
    /// five parts, to be `accumulating`. Trends are judged over each process's whole
    /// history at several timescales at once; this is the least evidence one needs (a
    /// warm-up rises like a leak for its first seconds). A bare number counts ticks
    /// (deprecated).
    #[arg(long, value_name = "DURATION", default_value = shown_ms(DEFAULTS.accumulate_span_ms), value_parser = Named(Window { min_ticks: 5 }))]
    pub(crate) accumulate_window: WindowArg,
    /// How many more children the last part of that span holds than the first, at least.
    #[arg(long, value_name = "N", default_value_t = DEFAULTS.accumulate_min as u32, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) accumulate_min: u32,
    /// How long a process must use no CPU to be `idle` (at most 1year).
    #[arg(long, value_name = "DURATION", default_value = shown_ms(DEFAULTS.idle_after_ms), value_parser = Named(SPAN))]
    pub(crate) idle_after: Duration,
    /// The RSS an `idle` process must hold: 100MB, 512MiB, 2GB (KB, MB, GB count in
    /// 1024s, as KiB, MiB, GiB do).
    #[arg(long, value_name = "SIZE", default_value = shown_kb(DEFAULTS.idle_min_rss_kb), value_parser = parse_size_kb)]
    pub(crate) idle_min_rss: u64,
    /// Parts (2 to 16) the span of `rss_ratchet` is cut into: the RSS minimum must rise
    /// from each to the next.
    #[arg(long, value_name = "N", default_value_t = DEFAULTS.ratchet_windows as u32, value_parser = clap::value_parser!(u32).range(2..=16))]
    pub(crate) ratchet_windows: u32,
    /// The shortest span over which the RSS low-water mark must rise, in each part, to
    /// be `rss_ratchet` (judged, as for --accumulate-window, over the whole history).
    #[arg(long, value_name = "DURATION", default_value = shown_ms(DEFAULTS.ratchet_span_ms), value_parser = Named(SPAN), conflicts_with = "ratchet_window_ticks")]
    pub(crate) ratchet_span: Duration,
    /// Deprecated: use --ratchet-span. The length of each of --ratchet-windows parts; a
    /// bare number counts ticks.
    #[arg(long, value_name = "TICKS", value_parser = Named(Window { min_ticks: 1 }))]
    pub(crate) ratchet_window_ticks: Option<WindowArg>,
    /// How much the last part's minimum must exceed the first's, in percent.
    #[arg(long, value_name = "PERCENT", default_value_t = DEFAULTS.ratchet_min_growth_pct, value_parser = Named(Percent))]
    pub(crate) ratchet_min_growth: f64,
    /// How much the last part's minimum must exceed the first's, in memory: 8MB, 512KB.
    #[arg(long, value_name = "SIZE", default_value = shown_kb(DEFAULTS.ratchet_min_rise_kb), value_parser = parse_size_kb)]
    pub(crate) ratchet_min_rise: u64,
    /// Unreaped children (zombies) a live parent must hold for 3s to raise `zombies`; a
    /// count that rises in each of five parts of --accumulate-window raises it too.
    #[arg(long, value_name = "N", default_value_t = DEFAULTS.zombies_min as u32, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) zombies_min: u32,
    /// How long one zombie may stay unreaped under a live parent before it raises
    /// `zombies` by itself (a server child OOM-killed that nothing waits for). A
    /// parent that reaps does so within milliseconds: on a busy build machine (about
    /// 100 processes, each second for 2 minutes) no zombie stayed over 2s.
    #[arg(long, value_name = "DURATION", default_value = shown_ms(DEFAULTS.zombie_after_ms), value_parser = Named(SPAN))]
    pub(crate) zombie_after: Duration,
    /// How long a process may stay stopped by a signal (state T: a profiler that
    /// detached with a SIGSTOP pending, a job stopped and forgotten) before it is
    /// `stopped`. A debugger's stop (t) is not counted; that busy machine showed no
    /// stopped process at all.
    #[arg(long, value_name = "DURATION", default_value = shown_ms(DEFAULTS.stopped_after_ms), value_parser = Named(SPAN))]
    pub(crate) stopped_after: Duration,
}

impl AlertArgs {
    /// The thresholds, windows in time: a count of ticks (deprecated) is taken at
    /// `interval`, with a warning on stderr saying the duration it means.
    pub(crate) fn config(&self, interval: Duration) -> AlertConfig {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let show = |d: Duration| humantime::format_duration(d).to_string();
        let accumulate = match self.accumulate_window {
            WindowArg::Span(d) => d,
            WindowArg::Ticks(n) => {
                let d = interval.saturating_mul(n);
                say!(
                    "leaktop: warning: --accumulate-window {n} counts ticks, which is deprecated: \
                     at --interval {} it is --accumulate-window {}",
                    show(interval),
                    show(d)
                );
                d
            }
        };
        let windows = self.ratchet_windows;
        let ratchet = match self.ratchet_window_ticks {
            None => self.ratchet_span,
            Some(w) => {
                let (given, each) = match w {
                    WindowArg::Span(d) => (show(d), d),
                    WindowArg::Ticks(n) => (n.to_string(), interval.saturating_mul(n)),
                };
                let d = each.saturating_mul(windows);
                say!(
                    "leaktop: warning: --ratchet-window-ticks is deprecated: {given} in each of \
                     {windows} windows at --interval {} is --ratchet-span {}",
                    show(interval),
                    show(d)
                );
                d
            }
        };
        AlertConfig {
            accumulate_span_ms: ms(accumulate),
            accumulate_min: self.accumulate_min as usize,
            // Capped at a year by the parser; saturating all the same, not wrapping.
            idle_after_ms: ms(self.idle_after),
            idle_min_rss_kb: self.idle_min_rss,
            ratchet_windows: windows as usize,
            ratchet_span_ms: ms(ratchet),
            ratchet_min_growth_pct: self.ratchet_min_growth,
            ratchet_min_rise_kb: self.ratchet_min_rise,
            zombies_min: self.zombies_min as usize,
            zombie_after_ms: ms(self.zombie_after),
            stopped_after_ms: ms(self.stopped_after),
        }
    }
}

/// The alerts' thresholds when no option or file says otherwise: `--help` states
/// these, and a monitor made without options uses them.
const DEFAULTS: AlertConfig = AlertConfig::DEFAULT;

/// A duration as `--help` states a default, from the constant the code uses: `5s`,
/// `200ms`, `2m`.
pub(crate) fn shown(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// [`shown`] of a count of milliseconds.
fn shown_ms(ms: u64) -> String {
    shown(Duration::from_millis(ms))
}

/// A size in KiB as `--help` states a default, as it is typed: `100MiB`.
pub(crate) fn shown_kb(kb: u64) -> String {
    human_kb(kb).replace(' ', "")
}

/// `--interval`'s default in the view and `record`.
pub(crate) const VIEW_INTERVAL: Duration = Duration::from_secs(1);
/// `run --interval`'s default: a test suite's processes live for moments.
pub(crate) const RUN_INTERVAL: Duration = Duration::from_millis(200);
/// `run --settle`'s default.
pub(crate) const SETTLE: Duration = Duration::from_secs(1);
/// `orphans --watch --interval`'s default.
pub(crate) const SCAN_INTERVAL: Duration = Duration::from_secs(2);
/// `watch --interval`'s default, where no configuration file says otherwise.
pub(crate) const WATCH_INTERVAL: Duration = Duration::from_secs(10);

/// An alert window as given: a duration, or (deprecated) a bare count of ticks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum WindowArg {
    Span(Duration),
    Ticks(u32),
}

/// Parses an alert window: a duration within [`SPAN`], or a bare number of ticks (the
/// options' old meaning, kept for scripts) of at least `min_ticks`.
#[derive(Clone, Copy)]
pub(crate) struct Window {
    pub(crate) min_ticks: u32,
}

impl Checked for Window {
    type Value = WindowArg;
    fn check(&self, s: &str) -> Result<WindowArg, String> {
        let t = s.trim();
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return SPAN.check(t).map(WindowArg::Span);
        }
        match t.parse::<u32>() {
            Ok(n) if n >= self.min_ticks => Ok(WindowArg::Ticks(n)),
            Ok(_) => Err(format!(
                "is too few ticks (at least {}); give a duration, like {t}s",
                self.min_ticks
            )),
            Err(_) => Err(format!("is too many ticks; give a duration, like {t}s")),
        }
    }
}

/// A size in KiB from `100MB`, `512MiB`, `1.5G` ([`leaktop::human::parse_size_kb`]).
pub(crate) fn parse_size_kb(s: &str) -> Result<u64, String> {
    leaktop::human::parse_size_kb(s)
}

/// Alert kinds, comma-separated.
pub(crate) fn parse_kinds(s: &str) -> Result<AlertKind, String> {
    AlertKind::from_name(s.trim())
        .ok_or_else(|| format!("'{s}' is not an alert kind ({})", AlertKind::names()))
}

/// A check of an option's value whose error says why after the option and value.
pub(crate) trait Checked: Clone + Send + Sync + 'static {
    type Value: Clone + Send + Sync + 'static;
    fn check(&self, s: &str) -> Result<Self::Value, String>;
}

/// Parses with a [`Checked`]; a bad value is one line that starts with the option:
/// "--interval 5h is too long (at most 1h)".
#[derive(Clone)]
pub(crate) struct Named<C>(pub(crate) C);

impl<C: Checked> clap::builder::TypedValueParser for Named<C> {
    type Value = C::Value;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<C::Value, clap::Error> {
        let s = value.to_string_lossy();
        self.0
            .check(&s)
            .map_err(|why| named_error(cmd, arg, &s, &why))
    }
}

/// The error of a bad value: "--interval 5h is too long (at most 1h)".
fn named_error(
    cmd: &clap::Command,
    arg: Option<&clap::Arg>,
    value: &str,
    why: &str,
) -> clap::Error {
    let flag = arg
        .and_then(clap::Arg::get_long)
        .map_or_else(|| "a value".to_string(), |l| format!("--{l}"));
    // An empty or blank value is shown quoted, so that the line still names it.
    let value = if value.trim().is_empty() {
        format!("'{}'", leaktop::human::printable(value))
    } else {
        leaktop::human::printable(value).into_owned()
    };
    clap::Error::raw(
        clap::error::ErrorKind::ValueValidation,
        format!("{flag} {value} {why}\n"),
    )
    .with_cmd(cmd)
}

/// A file `run` writes (--record, --junit, --json). `-`, standard output elsewhere
/// (record --out, report --out and --svg), is refused: under `run` standard output is
/// CMD's, and a recording or report mixed into CMD's output could not be read back.
#[derive(Clone, Copy)]
pub(crate) struct NotStdout;

impl clap::builder::TypedValueParser for NotStdout {
    type Value = std::path::PathBuf;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<std::path::PathBuf, clap::Error> {
        if value == "-" {
            return Err(named_error(
                cmd,
                arg,
                "-",
                "would be standard output, which is CMD's under run: give a file",
            ));
        }
        Ok(value.into())
    }
}

/// A process id: a whole number from 1 (`-1`, which `kill(2)` reads as "every
/// process", is named in the error rather than taken for an option).
#[derive(Clone, Copy)]
pub(crate) struct ProcessId;

impl Checked for ProcessId {
    type Value = u32;
    fn check(&self, s: &str) -> Result<u32, String> {
        match s.trim().parse::<u32>() {
            Ok(pid) if pid > 0 => Ok(pid),
            _ => Err("is not a process id (a whole number from 1)".into()),
        }
    }
}

/// A percentage: a finite number, 0 or more (NaN would make every comparison false,
/// and a negative one every comparison true).
#[derive(Clone, Copy)]
pub(crate) struct Percent;

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
pub(crate) struct Span {
    /// The shortest accepted; a zero `min` accepts zero.
    pub(crate) min: Duration,
    /// Why `min`, said when a value is under it.
    pub(crate) why_min: &'static str,
    pub(crate) max: Duration,
}

/// Time between samples. Under 10 ms a sample means nothing more: the CPU times in
/// /proc advance in 10 ms steps (USER_HZ = 100), and reading /proc for a 150-process
/// family already takes about 2 ms of CPU. Over an hour is a typo more likely than a
/// wish, and would leave a leak unseen for that long.
pub(crate) const INTERVAL: Span = Span {
    min: Duration::from_millis(10),
    why_min: "CPU times in /proc advance in 10 ms steps, and each sample costs milliseconds",
    max: Duration::from_secs(3600),
};

/// Waits that a person or a CI job sits through (--grace, --settle): zero is fine
/// (no wait), more than an hour is a mistake.
pub(crate) const WAIT: Span = Span {
    min: Duration::ZERO,
    why_min: "",
    max: Duration::from_secs(3600),
};

/// Spans of a whole session (--duration, --idle-after): more than zero, at most a
/// year (humantime's, 365.25 days).
pub(crate) const SPAN: Span = Span {
    min: Duration::from_millis(1),
    why_min: "",
    max: Duration::from_secs(31_557_600),
};

impl Checked for Span {
    type Value = Duration;
    /// Parses a human duration (`200ms`, `1m 30s`) within these bounds.
    fn check(&self, s: &str) -> Result<Duration, String> {
        let show = |d| humantime::format_duration(d).to_string();
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            // Suggest only what would be accepted: `--interval 0` is neither 0s nor 0ms.
            let fits: Vec<String> = ["s", "ms"]
                .iter()
                .map(|unit| format!("{s}{unit}"))
                .filter(|given| self.check(given).is_ok())
                .collect();
            return Err(match fits.as_slice() {
                [] if humantime::parse_duration(&format!("{s}ms")).is_ok_and(|d| d < self.min) => {
                    format!(
                        "needs a unit, and is too short with any: give at least {}",
                        show(self.min)
                    )
                }
                [] => format!(
                    "needs a unit, like 200ms or 1s (from {} to {})",
                    show(self.min),
                    show(self.max)
                ),
                [one] => format!("needs a unit, like {one}"),
                [one, two, ..] => format!("needs a unit, like {one} or {two}"),
            });
        }
        let d = humantime::parse_duration(s)
            .map_err(|e| format!("is not a duration like 200ms or 1s ({e})"))?;
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

/// `--metrics ADDR` (record, run, the view): serve the family's figures to Prometheus.
#[derive(Args, Clone)]
#[command(next_help_heading = "Metrics")]
pub(crate) struct MetricsArgs {
    /// Serve the family's figures on http://ADDR/metrics in the OpenMetrics format, for
    /// Prometheus: 127.0.0.1:9847 or [::1]:9847 (port 0 takes a free port).
    #[arg(long, value_name = "ADDR", value_parser = leaktop::metrics::server::parse_addr)]
    pub(crate) metrics: Option<std::net::SocketAddr>,
    /// Serve --metrics on an address that is not loopback (the figures name this
    /// machine's processes, and the server has no authentication).
    #[arg(long, requires = "metrics")]
    pub(crate) metrics_public: bool,
}

impl MetricsArgs {
    /// Starts the server before anything else starts: a non-loopback address without
    /// --metrics-public is a usage error (exit 2); an address that cannot be bound (in
    /// use) is an error returned (exit 1). `None` without --metrics.
    pub(crate) fn start(&self) -> Result<Option<Served>, super::Error> {
        use leaktop::metrics::{MetricsError, MetricsServer, MetricsState};
        let Some(addr) = self.metrics else {
            return Ok(None);
        };
        let state = MetricsState::new();
        match MetricsServer::start(addr, self.metrics_public, state.clone()) {
            Ok(server) => Ok(Some(Served { server, state })),
            Err(e @ MetricsError::NotLoopback(_)) => Err(super::Error::usage(e.to_string())),
            Err(e) => Err(anyhow::Error::from(e).into()),
        }
    }
}

/// A running metrics server and the state it serves; the server stops when dropped.
pub(crate) struct Served {
    pub(crate) server: leaktop::metrics::MetricsServer,
    pub(crate) state: std::sync::Arc<leaktop::metrics::MetricsState>,
}

impl Served {
    /// "serving metrics on http://127.0.0.1:9847/metrics", for stderr.
    pub(crate) fn note(&self) -> String {
        format!(
            "leaktop: serving metrics on http://{}/metrics",
            self.server.addr()
        )
    }
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
        assert_eq!(INTERVAL.check("5").unwrap_err(), "needs a unit, like 5s");
        // A bare number is told a value that is accepted (issue 28: `--interval 0`
        // suggested 0s, which was then refused).
        for tiny in ["0", "0.0", "0.001"] {
            let e = INTERVAL.check(tiny).unwrap_err();
            assert!(e.contains("give at least 10ms"), "{tiny}: {e}");
        }
        assert_eq!(
            INTERVAL.check("5000").unwrap_err(),
            "needs a unit, like 5000ms"
        );
        assert_eq!(WAIT.check("0").unwrap_err(), "needs a unit, like 0s or 0ms");
        assert_eq!(
            INTERVAL.check("99999999").unwrap_err(),
            "needs a unit, like 200ms or 1s (from 10ms to 1h)"
        );
        for span in [INTERVAL, WAIT, SPAN] {
            for bare in ["0", "1", "9", "10", "59", "3600", "5000", "0.5", "99999999"] {
                let e = span.check(bare).unwrap_err();
                for word in e.split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')')
                {
                    let suggested = word.starts_with(|c: char| c.is_ascii_digit())
                        && word.ends_with(|c: char| c.is_ascii_alphabetic());
                    if suggested {
                        assert!(span.check(word).is_ok(), "{bare}: {e}: {word} is refused");
                    }
                }
            }
        }
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
        assert!(
            parse_size_kb("-5")
                .unwrap_err()
                .contains("'-5' is negative")
        );
        assert!(
            parse_size_kb("-5MB")
                .unwrap_err()
                .contains("'-5MB' is negative")
        );
        assert!(parse_size_kb("1e3").unwrap_err().contains("needs a unit"));
        assert!(parse_size_kb("-5MB").unwrap_err().contains("'-5MB'"));
        assert_eq!(parse_size_kb("16EiB").unwrap_err(), "'16EiB' is too large");
        assert!(
            parse_size_kb("9 parsecs")
                .unwrap_err()
                .contains("'9 parsecs'")
        );
        assert!(parse_kinds("leaky").unwrap_err().contains("'leaky'"));
        assert_eq!(parse_kinds("zombies"), Ok(AlertKind::Zombies));
    }

    /// The alert options as a command line gives them.
    fn alerts(args: &[&str]) -> AlertArgs {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            alerts: AlertArgs,
        }
        let argv = std::iter::once("leaktop").chain(args.iter().copied());
        <Cli as clap::Parser>::try_parse_from(argv).unwrap().alerts
    }

    #[test]
    fn alert_windows_become_durations_whatever_the_interval() {
        let second = Duration::from_secs(1);
        let defaults = alerts(&[]).config(second);
        assert_eq!(defaults, AlertConfig::default());
        assert_eq!(defaults, alerts(&[]).config(Duration::from_millis(200)));
        let given = alerts(&["--accumulate-window", "90s", "--ratchet-span", "5m"]);
        let c = given.config(Duration::from_millis(200));
        assert_eq!((c.accumulate_span_ms, c.ratchet_span_ms), (90_000, 300_000));
        // Deprecated tick counts are taken at the interval.
        let ticks = alerts(&["--accumulate-window", "30", "--ratchet-window-ticks", "10"]);
        let c = ticks.config(Duration::from_millis(200));
        assert_eq!((c.accumulate_span_ms, c.ratchet_span_ms), (6_000, 10_000));
        let c = ticks.config(second);
        assert_eq!((c.accumulate_span_ms, c.ratchet_span_ms), (30_000, 50_000));
        let z = alerts(&["--zombies-min", "12"]).config(second);
        assert_eq!(z.zombies_min, 12);
    }

    #[test]
    fn windows_are_durations_or_deprecated_ticks() {
        let w = Window { min_ticks: 5 };
        assert_eq!(w.check("2m"), Ok(WindowArg::Span(Duration::from_secs(120))));
        assert_eq!(w.check("30"), Ok(WindowArg::Ticks(30)));
        assert!(
            w.check("4").unwrap_err().contains("at least 5"),
            "{:?}",
            w.check("4")
        );
        assert!(
            w.check("99999999999")
                .unwrap_err()
                .contains("too many ticks")
        );
        assert!(w.check("0s").unwrap_err().contains("greater than zero"));
        assert!(w.check("2years").unwrap_err().contains("at most 1year"));
        assert!(w.check("soon").unwrap_err().contains("not a duration"));
    }
}

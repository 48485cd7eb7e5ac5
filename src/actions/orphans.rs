//! `leaktop orphans` on a [`Host`]: one scan classified into orphan groups, the
//! filters that select among them, their memory, and the safe kill of the selected.
//!
//! The judgement is [`crate::model::orphans`]'s; this reads the facts it asks for
//! through the host (so the whole command runs on the fake host in tests) and ends
//! groups with [`kill::kill_owned`].

use std::fmt::Write;
use std::time::Duration;

use crate::host::{self, Host, Memory, Signal};
use crate::model::orphans::{
    self, Classified, Context, ExeFile, Lookup, OrphanGroup, ProcFacts, adopters_seen,
};
use crate::model::run_record::RunRecord;
use crate::sample::{Backend, Command, IdMap, IdSet, Identity, ProcSample, Sampler};

use super::kill::{self, KillReport, Target};

mod watch;

/// What one scan looks at.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// A candidate must be at least this old.
    pub older_than: Duration,
    /// Also list daemons by design and processes without evidence.
    pub all: bool,
    /// Read PSS and USS (`/proc/PID/smaps_rollup`) of every listed process.
    pub measure: bool,
    /// Processes meant to outlive their parent (`--allow`): listed only with `all`.
    pub allowed: Vec<crate::model::allow::AllowRule>,
}

/// One scan, classified.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    pub classified: Classified,
    /// Every process of the scan, for the next one's comparison (`--watch`).
    pub samples: Vec<ProcSample>,
    /// Now in start-time units, to tell ages.
    pub now_start: u64,
    /// Start-time units per second.
    pub per_sec: u64,
    /// PSS, USS and swap of listed processes, where measured.
    pub memory: IdMap<Identity, Memory>,
}

impl Scan {
    /// The age of a process that started at `start`, in ms.
    pub fn age_ms(&self, start: u64) -> u64 {
        self.now_start.saturating_sub(start).saturating_mul(1000) / self.per_sec.max(1)
    }
}

/// Scans over time: remembers the previous scan to see adopters (`--watch`).
pub struct Scanner {
    host: std::sync::Arc<dyn Host>,
    sampler: Box<dyn Sampler + Send>,
    seen_adopting: IdSet<u32>,
    previous: Vec<ProcSample>,
    protected: IdSet<u32>,
    /// Processes a watcher saw orphaned: listed whatever `/proc` shows.
    watched: IdSet<Identity>,
    /// Their parents at the last scan: adopters, never signalled.
    watched_adopters: IdSet<u32>,
}

impl Scanner {
    /// A scanner with its own sampler for command lines.
    pub fn new(host: std::sync::Arc<dyn Host>) -> Result<Scanner, crate::sample::SampleError> {
        let sampler = host.sampler(Backend::default())?;
        let protected = host::protected(host.as_ref()).into_iter().collect();
        Ok(Scanner {
            host,
            sampler,
            seen_adopting: IdSet::default(),
            previous: Vec::new(),
            protected,
            watched: IdSet::default(),
            watched_adopters: IdSet::default(),
        })
    }

    /// The processes a watcher saw orphaned ([`crate::model::orphans::Context::watched`]):
    /// each is listed, and its parent now taken for an adopter.
    pub fn set_watched(&mut self, ids: impl Iterator<Item = Identity>) {
        self.watched = ids.collect();
    }

    /// Scans every process once and classifies it.
    pub fn scan(&mut self, opts: &ScanOptions) -> Scan {
        let samples = self.host.scan();
        self.classify(samples, opts)
    }

    /// Classifies `samples`, a scan of every process just taken.
    pub fn classify(&mut self, samples: Vec<ProcSample>, opts: &ScanOptions) -> Scan {
        let host = self.host.as_ref();
        if !self.previous.is_empty() {
            self.seen_adopting
                .extend(adopters_seen(&self.previous, &samples));
            let live: IdSet<u32> = samples.iter().map(|s| s.pid).collect();
            self.seen_adopting.retain(|p| live.contains(p));
        }
        let per_sec = self.sampler.start_clock().map_or(100, |c| c.per_sec);
        // Unknown: the youngest process stands for now, so no age is overstated.
        let now_start = host
            .now_start()
            .unwrap_or_else(|| samples.iter().map(|s| s.start).max().unwrap_or(0));
        // The parent of a process a watcher saw orphaned adopted it.
        self.watched_adopters = samples
            .iter()
            .filter(|s| s.ppid > 1 && self.watched.contains(&s.id()))
            .map(|s| s.ppid)
            .collect();
        let mut seen_adopting = self.seen_adopting.clone();
        seen_adopting.extend(self.watched_adopters.iter().copied());
        let ctx = Context {
            protected: self.protected.clone(),
            seen_adopting,
            watched: self.watched.clone(),
            now_start,
            per_sec,
            older_than: u64::try_from(opts.older_than.as_millis())
                .unwrap_or(u64::MAX)
                .saturating_mul(per_sec)
                / 1000,
            all: opts.all,
            allowed: opts.allowed.clone(),
        };
        let mut lookup = HostLookup {
            host,
            sampler: self.sampler.as_mut(),
            facts: IdMap::default(),
            units: IdMap::default(),
        };
        let classified = orphans::classify(&samples, &ctx, &mut lookup);
        let mut memory = IdMap::default();
        if opts.measure {
            for p in classified.groups.iter().flat_map(|g| &g.processes) {
                if let Some(m) = host.memory(p.sample.id()) {
                    memory.insert(p.sample.id(), m);
                }
            }
        }
        self.previous.clone_from(&samples);
        Scan {
            classified,
            samples,
            now_start,
            per_sec,
            memory,
        }
    }

    /// How long ago, in ms, each process of `groups` last ran, where known
    /// ([`Host::idle_ms`]), never more than its age in `scan`. Asked only for the
    /// groups shown: it reads every thread's `sched` file.
    pub fn idle_of(&self, scan: &Scan, groups: &[&OrphanGroup]) -> IdMap<Identity, u64> {
        let ids: Vec<Identity> = groups
            .iter()
            .flat_map(|g| &g.processes)
            .map(|p| p.sample.id())
            .collect();
        ids.iter()
            .zip(self.host.idle_ms(&ids))
            .filter_map(|(id, idle)| Some((*id, idle?.min(scan.age_ms(id.start)))))
            .collect()
    }

    /// GPU memory of every process of `groups` ([`crate::monitor::gpu::read`]): asked only for
    /// the groups shown, and nothing is read where the host found no GPU.
    pub fn gpu_of(&self, groups: &[&OrphanGroup]) -> crate::model::gpu::GpuUsage {
        let ids: Vec<Identity> = groups
            .iter()
            .flat_map(|g| &g.processes)
            .map(|p| p.sample.id())
            .collect();
        if ids.is_empty() {
            return crate::model::gpu::GpuUsage::none();
        }
        crate::monitor::gpu::read(self.host.as_ref(), &ids)
    }

    /// Ends `groups` (every process in them, and what they fork meanwhile, orphaned or
    /// not, where it can be tied to them) with the safe kill: `signal`, `grace`, then
    /// SIGKILL, then further rounds for what escaped ([`kill::kill_owned`]). Never PID
    /// 1, leaktop, its ancestors or an adopter.
    pub fn kill(
        &self,
        groups: &[&OrphanGroup],
        memory: &IdMap<Identity, Memory>,
        signal: Signal,
        grace: Duration,
    ) -> KillReport {
        let targets: Vec<Target> = groups
            .iter()
            .flat_map(|g| &g.processes)
            .filter(|p| {
                let pid = p.sample.pid;
                pid != 1
                    && !self.seen_adopting.contains(&pid)
                    && !self.watched_adopters.contains(&pid)
            })
            .map(|p| {
                let m = memory.get(&p.sample.id());
                Target {
                    pss_kb: m.map(|m| m.pss_kb),
                    uss_kb: m.map(|m| m.uss_kb),
                    ..Target::sample(&p.sample)
                }
            })
            .collect();
        kill::kill_owned(self.host.as_ref(), &targets, signal, grace)
    }
}

/// The filters that select groups. Empty filters select every group.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// A substring of some member's command line ([`Command::matches`]).
    pub pattern: Option<String>,
    /// At least this much RSS in the group, KiB.
    pub min_rss_kb: u64,
    /// Some adopted member runs as this uid.
    pub uid: Option<u32>,
    /// Exactly this group id.
    pub group: Option<String>,
}

impl Filter {
    /// Whether `g` passes every filter.
    pub fn selects(&self, g: &OrphanGroup) -> bool {
        self.pattern
            .as_deref()
            .is_none_or(|p| g.processes.iter().any(|o| o.command.matches(p)))
            && g.rss_kb >= self.min_rss_kb
            && self
                .uid
                .is_none_or(|u| g.processes.iter().any(|o| o.adopted && o.uid == Some(u)))
            && self.group.as_deref().is_none_or(|id| g.id == id)
    }

    /// Whether the user named the groups (`--group` or `--match`): only then are
    /// weak groups killed.
    pub fn names(&self) -> bool {
        self.pattern.is_some() || self.group.is_some()
    }
}

/// The host as the classifier asks it, with what it read kept for the scan.
struct HostLookup<'a> {
    host: &'a dyn Host,
    sampler: &'a mut (dyn Sampler + Send),
    facts: IdMap<Identity, Option<ProcFacts>>,
    units: IdMap<String, Option<u32>>,
}

impl Lookup for HostLookup<'_> {
    fn command(&mut self, id: Identity) -> Option<Command> {
        self.sampler.command(id)
    }

    fn facts(&mut self, id: Identity) -> Option<ProcFacts> {
        let host = self.host;
        self.facts
            .entry(id)
            .or_insert_with(|| host.facts(id))
            .clone()
    }

    fn uid(&mut self, id: Identity) -> Option<u32> {
        match self.facts.get(&id) {
            Some(known) => known.as_ref()?.uid,
            None => self.host.uid(id),
        }
    }

    fn service_main_pid(&mut self, unit: &str) -> Option<u32> {
        if let Some(&known) = self.units.get(unit) {
            return known;
        }
        let main = self.host.service_main_pid(unit);
        self.units.insert(unit.to_string(), main);
        main
    }

    fn exe_file(&mut self, id: Identity) -> Option<ExeFile> {
        self.host.exe_file(id)
    }

    fn run_record(&mut self, uid: u32, pid: u32, start: u64) -> Option<RunRecord> {
        super::run_trail::read(self.host, uid, pid, start)
    }
}

/// How `leaktop orphans` writes its listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// The table, within this width.
    Table(crate::format::Width),
    /// One JSON object (NDJSON, one group per line, under `--watch`).
    Json,
    /// A tick-log snapshot per group.
    Text,
    /// One tab-separated line per group, for scripts.
    Summary,
}

impl Output {
    /// How wide lines for people may be: the table's width, whole otherwise.
    pub fn width(self) -> crate::format::Width {
        match self {
            Output::Table(width) => width,
            _ => crate::format::Width::Whole,
        }
    }
}

/// How `--kill` ends the selected groups.
#[derive(Debug, Clone, Copy)]
pub struct KillOptions {
    pub signal: Signal,
    /// The signal's name, for the prompt and report.
    pub signal_name: &'static str,
    /// How long to wait before SIGKILL.
    pub grace: Duration,
    /// Do not ask (`--yes`).
    pub yes: bool,
}

/// Everything `leaktop orphans` was asked.
#[derive(Debug, Clone)]
pub struct Options {
    pub scan: ScanOptions,
    pub filter: Filter,
    pub output: Output,
    pub kill: Option<KillOptions>,
    /// Scan again at this interval and report new groups (`--watch`), each once it
    /// has lasted `scan.older_than`.
    pub watch: Option<Duration>,
    /// Stop after this many scans (`--watch --count`).
    pub count: Option<u64>,
    /// `--watch --metrics`: where each scan's group count and memory are published.
    pub metrics: Option<std::sync::Arc<crate::metrics::MetricsState>>,
    /// The configuration's `[[ignore]]` rules and a watcher's journals (read for a
    /// single scan, not under `--watch`).
    pub known: super::known::Known,
}

/// Why `leaktop orphans` failed; nothing was signalled.
#[derive(Debug, thiserror::Error)]
pub enum OrphansError {
    #[error("no orphan group '{0}' (the groups now: {1})")]
    UnknownGroup(String, String),
    #[error("no orphan group has a process whose command line matches '{0}'{1}")]
    NoMatch(String, NoMatchHint),
    #[error(
        "nothing ended: {0} {1} weak evidence only (name one with --group ID or --match PATTERN to end it)"
    )]
    NothingEnded(String, &'static str),
    #[error("--kill needs a terminal to ask on, or --yes")]
    NoTerminal,
    #[error("{0}")]
    Sample(#[from] crate::sample::SampleError),
    #[error("{0}")]
    Write(#[from] crate::stdout::Error),
}

/// Where the command's output goes: standard output (the listing) and a question on
/// the terminal (`None`: there is none).
pub struct Io<'a> {
    pub out: &'a mut dyn FnMut(&str) -> Result<(), crate::stdout::Error>,
    /// Asks a yes/no question; `None` without a terminal.
    pub ask: Option<&'a mut dyn FnMut(&str) -> bool>,
    /// Messages for people (stderr).
    pub say: &'a mut dyn FnMut(&str),
    /// Whether the reader of `out` went away (a closed pipe), asked without writing:
    /// `--watch` may have nothing to write for hours and ends when its reader does.
    pub reader_gone: &'a dyn Fn() -> bool,
}

/// Runs `leaktop orphans` on `host`. See [`Options`].
pub fn run_on(
    host: std::sync::Arc<dyn Host>,
    opts: &Options,
    io: &mut Io,
) -> Result<(), OrphansError> {
    if opts.kill.is_some_and(|k| !k.yes) && io.ask.is_none() {
        return Err(OrphansError::NoTerminal);
    }
    let mut scanner = Scanner::new(host.clone())?;
    if let Some(interval) = opts.watch {
        return watch::watch(&mut scanner, host.as_ref(), opts, interval, io);
    }
    let samples = host.scan();
    let alive: IdSet<Identity> = samples
        .iter()
        .filter(|s| !s.has_exited())
        .map(ProcSample::id)
        .collect();
    let (stories, warnings) = super::known::stories(&opts.known.journals, &alive);
    for w in warnings {
        (io.say)(&format!("leaktop: warning: {w}\n"));
    }
    let now_ms = host::wall_ms(host.as_ref());
    let judged = super::known::judge(&mut scanner, samples, &opts.scan, stories, now_ms);
    let c = &judged.scan.classified;
    let selected: Vec<&OrphanGroup> = c.groups.iter().filter(|g| opts.filter.selects(g)).collect();
    if selected.is_empty() {
        nothing_selected(&mut scanner, c, opts)?;
    }
    unreadable_note(c, io);
    let gpu = scanner.gpu_of(&selected);
    let listing = listing(&scanner, host.as_ref(), opts, &judged, &selected, &gpu, io);
    (io.out)(&listing)?;
    if opts.output != Output::Json && !opts.known.journals.is_empty() && !selected.is_empty() {
        let watchers = super::known::watchers(host.as_ref(), &opts.known.journals);
        let line = super::known::watcher_line(&watchers, &opts.known.journals, now_ms);
        (io.say)(&opts.output.width().wrap(&line, "", "  "));
    }
    match opts.kill {
        Some(k) => end_selected(&mut scanner, &judged.scan, &selected, &gpu, k, opts, io),
        None => Ok(()),
    }
}

/// The error of a `--group` or `--match` that selects nothing (with what `--all` would
/// find); `Ok` where no group was named.
fn nothing_selected(
    scanner: &mut Scanner,
    c: &Classified,
    opts: &Options,
) -> Result<(), OrphansError> {
    if let Some(id) = &opts.filter.group {
        let now: Vec<&str> = c.groups.iter().map(|g| g.id.as_str()).collect();
        let now = if now.is_empty() {
            "none".to_string()
        } else {
            now.join(", ")
        };
        return Err(OrphansError::UnknownGroup(id.clone(), now));
    }
    if let Some(p) = &opts.filter.pattern {
        return Err(OrphansError::NoMatch(
            p.clone(),
            NoMatchHint::of(scanner, opts),
        ));
    }
    Ok(())
}

/// The listing of the `selected` groups in the output asked for (with their watched
/// stories, the watcher and the configuration under `--json`); an empty listing is said
/// on stderr instead.
fn listing(
    scanner: &Scanner,
    host: &dyn Host,
    opts: &Options,
    judged: &super::known::Judged,
    selected: &[&OrphanGroup],
    gpu: &crate::model::gpu::GpuUsage,
    io: &mut Io,
) -> String {
    let scan = &judged.scan;
    let age = |start| scan.age_ms(start);
    let idle_ms = scanner.idle_of(scan, selected);
    let view = crate::format::orphans::View {
        memory: &scan.memory,
        idle_ms: &idle_ms,
        age_ms: &age,
        gpu,
    };
    match opts.output {
        Output::Table(_) if selected.is_empty() => {
            (io.say)("leaktop: no orphan groups found\n");
            String::new()
        }
        Output::Table(width) => crate::format::orphans::table(selected, &view, width),
        Output::Json => {
            let c = &scan.classified;
            let watchers = super::known::watchers(host, &opts.known.journals);
            let mut v = crate::format::orphans::json_value(selected, &view, c.denied, c.vanished);
            v["watcher"] = watcher_json(&watchers);
            v["config"] = opts
                .known
                .config
                .as_ref()
                .map(|p| p.display().to_string())
                .into();
            for (g, out) in selected
                .iter()
                .zip(v["groups"].as_array_mut().into_iter().flatten())
            {
                if let Some(story) = judged.stories.of_group(g) {
                    out["story"] = crate::format::orphans::story_json(story);
                }
            }
            format!("{v}\n")
        }
        Output::Summary => crate::format::orphans::summary(selected, &view),
        Output::Text => crate::format::orphans::snapshots(
            selected,
            &view,
            host::wall_ms(host),
            &host.hostname(),
        ),
    }
}

/// `--kill`: ends the selected groups with strong evidence, or named ones, after
/// asking unless `--yes`; says which weak ones were spared and what was freed.
/// Errors: nothing was ended because every selected group was weak.
fn end_selected(
    scanner: &mut Scanner,
    scan: &Scan,
    selected: &[&OrphanGroup],
    gpu: &crate::model::gpu::GpuUsage,
    k: KillOptions,
    opts: &Options,
    io: &mut Io,
) -> Result<(), OrphansError> {
    let (to_kill, spared): (Vec<&OrphanGroup>, Vec<&OrphanGroup>) = selected
        .iter()
        .partition(|g| g.strong() || opts.filter.names());
    for g in &spared {
        (io.say)(&format!(
            "leaktop: not ending {} (weak evidence): name it with --group {} or --match to end it\n",
            g.id, g.id
        ));
    }
    if to_kill.is_empty() {
        return match spared.len() {
            0 => Ok(()),
            1 => Err(OrphansError::NothingEnded(spared[0].id.clone(), "has")),
            n => Err(OrphansError::NothingEnded(format!("{n} groups"), "have")),
        };
    }
    if !k.yes && !confirmed(&to_kill, gpu, k, io) {
        (io.say)("leaktop: nothing ended\n");
        return Ok(());
    }
    let report = scanner.kill(&to_kill, &scan.memory, k.signal, k.grace);
    let text = kill_text(&to_kill, &report, gpu);
    let text = opts.output.width().lines(&text);
    // Machine-read outputs keep standard output to their own lines.
    if matches!(opts.output, Output::Json | Output::Summary) {
        (io.say)(&text);
    } else {
        (io.out)(&text)?;
    }
    Ok(())
}

/// Asks whether to end `to_kill` (its processes, RSS and, where a GPU was found, GPU
/// memory); false without a terminal.
fn confirmed(
    to_kill: &[&OrphanGroup],
    gpu: &crate::model::gpu::GpuUsage,
    k: KillOptions,
    io: &mut Io,
) -> bool {
    let processes: usize = to_kill.iter().map(|g| g.processes.len()).sum();
    let ids: Vec<&str> = to_kill.iter().map(|g| g.id.as_str()).collect();
    let gpu_ids: Vec<Identity> = to_kill
        .iter()
        .flat_map(|g| g.processes.iter().map(|o| o.sample.id()))
        .collect();
    let gpu_part = if gpu.found() {
        format!(
            ", GPU {}",
            gpu.group_kb(&gpu_ids)
                .map_or("?".to_string(), crate::human::human_kb)
        )
    } else {
        String::new()
    };
    let question = format!(
        "End {} ({}, RSS {}{gpu_part}) with {}, then SIGKILL after {}? [y/N] ",
        ids.join(", "),
        crate::human::plural(processes, "process", "processes"),
        crate::human::human_kb(to_kill.iter().map(|g| g.rss_kb).sum()),
        k.signal_name,
        humantime::format_duration(k.grace),
    );
    io.ask.as_mut().is_some_and(|ask| ask(&question))
}

/// What `--match` would find with `--all`, said after "no orphan group matches".
#[derive(Debug, Default)]
pub struct NoMatchHint(Vec<String>);

impl NoMatchHint {
    /// Scans again with `--all` (unless it was given) for the groups the pattern
    /// selects there.
    fn of(scanner: &mut Scanner, opts: &Options) -> NoMatchHint {
        if opts.scan.all {
            return NoMatchHint::default();
        }
        let all = ScanOptions {
            all: true,
            measure: false,
            ..opts.scan.clone()
        };
        let scan = scanner.scan(&all);
        NoMatchHint(
            scan.classified
                .groups
                .iter()
                .filter(|g| opts.filter.selects(g))
                .map(|g| g.id.clone())
                .collect(),
        )
    }
}

impl std::fmt::Display for NoMatchHint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.as_slice() {
            [] => Ok(()),
            ids => write!(
                f,
                "; with --all, {} {}: {} (daemons by design and processes without evidence)",
                ids.len(),
                if ids.len() == 1 {
                    "group does"
                } else {
                    "groups do"
                },
                ids.join(", ")
            ),
        }
    }
}

fn unreadable_note(c: &Classified, io: &mut Io) {
    if c.denied > 0 {
        (io.say)(&format!(
            "leaktop: {} could not be read fully: permission denied (run as their user or root to judge them)\n",
            crate::human::plural(c.denied, "process", "processes")
        ));
    }
}

/// What a kill did, group by group: what ended, what lives on, what came back (GPU
/// memory too, as `gpu` read it before the kill, where a GPU was found). A group is
/// said to have ended only when nothing of it is left: neither a member nor anything
/// it forked, orphaned or not.
fn kill_text(
    groups: &[&OrphanGroup],
    report: &KillReport,
    gpu: &crate::model::gpu::GpuUsage,
) -> String {
    let mut out = String::new();
    let ended: IdSet<Identity> = report.ended.iter().copied().collect();
    let plural = |n, one, many| crate::human::plural(n, one, many);
    for g in groups {
        let members: Vec<Identity> = g.processes.iter().map(|o| o.sample.id()).collect();
        let done = members.iter().filter(|i| ended.contains(i)).count();
        let left = report.not_ended(&members);
        let processes = plural(members.len(), "process", "processes");
        if left.is_empty() && done == members.len() {
            let all = if members.len() == 1 { "its" } else { "all" };
            let _ = writeln!(out, "ended {}: {all} {processes}", g.id);
        } else if left.is_empty() {
            let _ = writeln!(out, "ended {}: {done} of {processes}", g.id);
        } else {
            let _ = writeln!(
                out,
                "not ended {}: {done} of {processes} ended; some of it lives on (below)",
                g.id
            );
        }
    }
    let known: IdSet<Identity> = groups
        .iter()
        .flat_map(|g| g.processes.iter().map(|o| o.sample.id()))
        .collect();
    let forked = report.ended.iter().filter(|i| !known.contains(i)).count();
    let escaped = report.escaped.iter().filter(|i| ended.contains(i)).count();
    if forked > 0 {
        let _ = write!(
            out,
            "ended too: {} forked during the kill",
            plural(forked, "process", "processes")
        );
        if escaped > 0 {
            let _ = write!(
                out,
                ", {escaped} of them orphaned at once (a double fork) and found again"
            );
        }
        out.push('\n');
    }
    for id in &report.survived {
        let _ = writeln!(out, "survived: {id}");
    }
    for (id, why) in &report.skipped {
        let _ = writeln!(out, "not signalled: {id}: {why}");
    }
    if !report.untied.is_empty() {
        let pids: Vec<String> = report.untied.iter().map(|i| i.pid.to_string()).collect();
        let _ = writeln!(
            out,
            "not signalled: {} appeared in the groups' process groups during the kill, \
             but nothing ties {} to the groups (their session is shared): {}; \
             `leaktop orphans` lists what is left",
            plural(report.untied.len(), "process", "processes"),
            if report.untied.len() == 1 {
                "it"
            } else {
                "them"
            },
            pids.join(" ")
        );
    }
    let _ = writeln!(
        out,
        "{}",
        crate::format::freed::freed_text(report.freed_rss_kb, report.freed_pss, report.freed_uss)
    );
    if let Some(change) = report.mem_available_change_kb {
        let _ = writeln!(out, "{}", crate::format::freed::mem_available_text(change));
    }
    if let Some(line) = gpu_freed_text(gpu, &report.ended) {
        let _ = writeln!(out, "{line}");
    }
    out
}

/// What the processes `ended` held on the GPU before the kill, which the driver gives
/// back as their last descriptor closes; `None` where no GPU was found.
fn gpu_freed_text(gpu: &crate::model::gpu::GpuUsage, ended: &[Identity]) -> Option<String> {
    if !gpu.found() {
        return None;
    }
    let asked: Vec<Identity> = ended
        .iter()
        .filter(|id| gpu.processes.contains_key(id))
        .copied()
        .collect();
    Some(match gpu.group_kb(&asked) {
        Some(kb) => format!(
            "GPU memory: {} returned (NVML and DRM fdinfo, as read before the kill)",
            crate::human::human_kb(kb)
        ),
        None => "GPU memory returned: unknown (some ended process's GPU memory could not be read)"
            .to_string(),
    })
}

/// The figures `--watch --metrics` serves: the selected groups standing now (reported
/// or not yet: a scrape sees what is there), their RSS summed and their GPU memory
/// (read for them where a GPU was found), in bytes.
fn orphan_figures(
    scanner: &Scanner,
    scan: &Scan,
    filter: &Filter,
) -> crate::metrics::OrphanFigures {
    let groups: Vec<&OrphanGroup> = scan
        .classified
        .groups
        .iter()
        .filter(|g| filter.selects(g))
        .collect();
    let gpu = scanner.gpu_of(&groups);
    let ids: Vec<Identity> = groups
        .iter()
        .flat_map(|g| g.processes.iter().map(|o| o.sample.id()))
        .collect();
    let gpu_bytes = if ids.is_empty() {
        // No orphan holds anything: 0 where there is a GPU, unknown where none.
        scanner.host.gpu().is_some().then_some(0)
    } else {
        gpu.group_kb(&ids).map(|kb| kb.saturating_mul(1024))
    };
    crate::metrics::OrphanFigures {
        groups: groups.len() as u64,
        memory_bytes: Some(groups.iter().map(|g| g.rss_kb * 1024).sum()),
        gpu_bytes,
    }
}

/// The watchers of the journals read, for `--json`: the first running one, else the
/// last that left a pid file, else `null`.
fn watcher_json(watchers: &[super::known::Watcher]) -> serde_json::Value {
    let Some(w) = watchers
        .iter()
        .find(|w| w.running)
        .or_else(|| watchers.first())
    else {
        return serde_json::Value::Null;
    };
    serde_json::json!({
        "running": w.running,
        "pid": w.file.pid,
        "since_ms": w.file.since_ms,
        "source": w.file.source,
        "scope": w.file.scope,
        "journal": w.dir.display().to_string(),
    })
}

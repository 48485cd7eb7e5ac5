//! Orphan groups: the leaks that happened before leaktop looked.
//!
//! One scan of every process, and a few facts read for the processes that could be
//! orphans, decide which processes were orphaned and are not daemons by design, and
//! group them by the job they came from. Pure: the facts come through [`Lookup`].
//!
//! - An *adopter* is PID 1, a process seen adopting between two scans (`--watch`),
//!   or a known subreaper ([`KNOWN_SUBREAPERS`]: `systemd --user`, WSL's init, tini,
//!   dumb-init, catatonit) recognised by more than its name, which any process can
//!   take: its executable is a system file of that name ([`ExeFile::is_system`]),
//!   and a `systemd` is a user manager. A live parent that is no adopter (a shell,
//!   tmux, sshd, a process that calls itself `init`) is its children's job: they are
//!   no orphans, whatever their group. A subreaper leaves no mark in `/proc`.
//! - A *candidate* is a live process whose parent is an adopter, older than the grace,
//!   but for the one child a one-child init started itself ([`own_child`]: tini and
//!   its kind exit when it does, so it is their oldest child while they live). The
//!   processes below a candidate belong to its group as its tree, but for candidates
//!   listed in their own right.
//! - **Evidence**, strong: the process group's or session's leader is gone (the job
//!   that created it died), the environment carries the `LEAKTOP_RUN` marker of a
//!   `leaktop run` that is gone *and* a record of that run ([`RunRecord`]) of the
//!   orphan's own user vouches for it, covering the orphan's start; the cgroup is a
//!   systemd service's whose main process is gone or was restarted since (only where
//!   systemd is PID 1). Weak: a gone leader while the session is still shared by a
//!   live process that is no orphan (the shell: an intentional `nohup cmd &` looks
//!   the same; session 0, whose leader is outside the PID namespace, the same way); a marker nothing vouches for (anyone can set it: shown as
//!   unverified, and it overrides nothing). Weak groups are listed and never killed
//!   unless named.
//!   A detached child whose standard output and error lead to pipes or sockets no
//!   living process reads any more (its reader, the parent, is gone) is listed,
//!   weak, whatever else it looks like.
//! - Not listed unless `all`: a daemon by design (no controlling terminal, a session
//!   no live process shares, standard streams on `/dev/null`, a file or closed,
//!   however many forks it took), a process in a live service's cgroup, anything
//!   without evidence. Never listed: a systemd service's main process, kernel
//!   threads, zombies and processes on their way out (`PF_EXITING`), leaktop.

use serde::Serialize;

pub use crate::sample::facts::{ExeFile, ProcFacts, RUN_MARKER, StdioKind};
use crate::sample::{Command, IdMap, IdSet, Identity, ProcSample};

use super::allow::{self, AllowRule, Subject};
use super::run_record::{RunRecord, parse_marker};

/// Names (`comm`) of the subreapers leaktop knows: their children may be orphans they
/// adopted, once their executable says the same ([`ExeFile::is_system`]). `systemd`
/// counts only as a user manager (`systemd --user`); `init` is WSL's.
pub const KNOWN_SUBREAPERS: [&str; 7] = [
    "systemd",
    "init",
    "tini",
    "dumb-init",
    "catatonit",
    "docker-init",
    "podman-init",
];

/// Whether the file's name is a known subreaper's, or a build of tini
/// (`tini-static`, `tini-amd64`). (Docker mounts its `docker-init` as `/dev/init`.)
fn is_subreaper_name(exe: &ExeFile) -> bool {
    let name = exe.name();
    KNOWN_SUBREAPERS.contains(&name) || name.starts_with("tini-")
}

/// What the classifier asks of the world, lazily: only candidates and their trees
/// are looked up.
pub trait Lookup {
    /// The full command line, or `None` if gone or unreadable.
    fn command(&mut self, id: Identity) -> Option<Command>;
    /// The facts of `id`, or `None` if it is gone.
    fn facts(&mut self, id: Identity) -> Option<ProcFacts>;
    /// The real uid of `id` alone, for a descendant whose other facts are never
    /// looked at; `None` if gone or unreadable. The default reads all its facts.
    fn uid(&mut self, id: Identity) -> Option<u32> {
        self.facts(id)?.uid
    }
    /// The main pid of the systemd service `unit` (`0`: it has none running), or
    /// `None` where systemd is not PID 1 or cannot say.
    fn service_main_pid(&mut self, unit: &str) -> Option<u32>;
    /// The executable `id` runs, or `None` if gone or unreadable (another user's).
    /// The default knows none.
    fn exe_file(&mut self, id: Identity) -> Option<ExeFile> {
        let _ = id;
        None
    }
    /// The record of the `leaktop run` `pid.start` kept for user `uid`, if there is
    /// one that user owns and no one else may write. The default knows none.
    fn run_record(&mut self, uid: u32, pid: u32, start: u64) -> Option<RunRecord> {
        let _ = (uid, pid, start);
        None
    }
}

/// The settings of one classification.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// Processes never listed: leaktop and its ancestors.
    pub protected: IdSet<u32>,
    /// Processes seen adopting another's child between two scans (`--watch`).
    pub seen_adopting: IdSet<u32>,
    /// Now, in start-time units (clock ticks since boot).
    pub now_start: u64,
    /// Start-time units per second.
    pub per_sec: u64,
    /// A candidate must be at least this old, in start-time units.
    pub older_than: u64,
    /// List daemons by design and processes without evidence too.
    pub all: bool,
    /// Processes meant to outlive their parent (`--allow`): not listed unless `all`,
    /// and then never strong.
    pub allowed: Vec<AllowRule>,
    /// Processes a watcher saw orphaned when their parent was killed or failed
    /// (`leaktop watch`'s journal, strong stories): listed even
    /// where `/proc` alone holds no evidence or they look like daemons; their story
    /// is added as evidence afterwards ([`super::watch::story::attach`]).
    pub watched: IdSet<Identity>,
}

/// How sure a piece of evidence is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strength {
    /// Listed, never killed unless named by `--group` or `--match`.
    Weak,
    /// The job that created it is gone.
    Strong,
}

/// One piece of evidence, in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    pub strength: Strength,
    /// `group_leader_gone`, `session_leader_gone`, `run_marker`, `unit_main_gone`,
    /// `unit_restarted`, `job_lives_on`, `worker_by_design`, `no_evidence`.
    pub kind: &'static str,
    pub text: String,
}

/// Where a group came from: its id says it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Origin {
    /// The `leaktop run` of this marker (`<pid>.<start>`).
    Run(String),
    /// A systemd service.
    Unit(String),
    /// A process group whose leader is gone (or, with `all`, any).
    Group(u32),
    /// A session whose leader is gone (or, with `all`, any).
    Session(u32),
}

impl Origin {
    /// The stable id: `run-<marker>`, `unit-<name>`, `pg-<pgid>`, `sid-<sid>`. Linux
    /// does not hand a process group's or session's id out again while a member
    /// lives, so the id stays the group's across scans.
    pub fn id(&self) -> String {
        match self {
            Origin::Run(m) => format!("run-{m}"),
            Origin::Unit(u) => format!("unit-{u}"),
            Origin::Group(g) => format!("pg-{g}"),
            Origin::Session(s) => format!("sid-{s}"),
        }
    }
}

/// One process of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    pub sample: ProcSample,
    pub command: Command,
    pub uid: Option<u32>,
    /// Adopted itself (the top of a tree), not a descendant of one.
    pub adopted: bool,
}

/// The orphans of one dead job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrphanGroup {
    pub id: String,
    pub origin: Origin,
    /// Every distinct piece of evidence of its members, strongest first.
    pub evidence: Vec<Evidence>,
    /// Summed RSS in KiB (shared pages counted once per process).
    pub rss_kb: u64,
    /// The adopted processes and their descendants, by start time.
    pub processes: Vec<Orphan>,
}

impl OrphanGroup {
    /// Strong: some evidence says the job that made it is gone. Weak groups are never
    /// killed unless named.
    pub fn strong(&self) -> bool {
        self.evidence.iter().any(|e| e.strength == Strength::Strong)
    }

    /// Whether a command line of the group says it is a worker by design
    /// ([`WORKER_SHAPES`]): it ranks the group, and never makes it strong.
    pub fn workers(&self) -> bool {
        self.evidence.iter().any(|e| e.kind == "worker_by_design")
    }
}

/// Command lines of workers by design (every needle in the command line), and what
/// each is: a pool's helper, which a live parent reaps or ends. One whose parent is
/// gone is no deliberate daemon. A command line can be forged: the hint lists, ranks
/// and labels a group, and never makes it strong.
pub const WORKER_SHAPES: [(&[&str], &str); 8] = [
    (
        &["multiprocessing.resource_tracker"],
        "a multiprocessing resource tracker",
    ),
    (
        &["multiprocessing.forkserver"],
        "a multiprocessing forkserver",
    ),
    (&["spawn_main"], "a multiprocessing worker (spawn)"),
    (&["loky.backend"], "a loky (joblib) worker"),
    (&["celery", " worker"], "a celery worker"),
    (&["gunicorn: worker"], "a gunicorn worker"),
    (&["uvicorn.workers"], "a uvicorn worker"),
    (&["jupyter", "kernel"], "a Jupyter kernel or its helper"),
];

/// The `worker_by_design` evidence of a command line that has a worker's shape.
fn worker_evidence(command: &Command) -> Option<Evidence> {
    let (_, what) = WORKER_SHAPES
        .iter()
        .find(|(needles, _)| needles.iter().all(|n| command.cmd.contains(n)))?;
    Some(Evidence {
        strength: Strength::Weak,
        kind: "worker_by_design",
        text: format!("{what} by its command line, whose parent is gone: no daemon by design"),
    })
}

/// The `job_lives_on` evidence of candidate `c`: its parent exited, but its process
/// group's leader is alive and is not the adopter (a service that ran `sh -c "helper &
/// exit 0"`, a pane's `bash -c` whose pool's parent was killed, an editor's host that
/// leaves a helper under init at every restart). Weak: a script's deliberate `cmd &`
/// looks the same.
fn job_lives_on(c: &ProcSample, by_pid: &IdMap<u32, &ProcSample>) -> Option<Evidence> {
    if c.pgrp <= 1 || c.pgrp == c.pid || c.pgrp == c.ppid {
        return None;
    }
    let leader = by_pid.get(&c.pgrp).filter(|l| !l.has_exited())?;
    Some(Evidence {
        strength: Strength::Weak,
        kind: "job_lives_on",
        text: format!(
            "its parent exited while its process group's leader {} ({}) lives on: the job left it behind (a script's deliberate `cmd &` looks the same)",
            leader.pid,
            leader.comm.to_string_lossy()
        ),
    })
}

/// The `streams_unread` evidence of a candidate whose standard output and error lead
/// nowhere anyone reads any more (one at least [`StdioKind::Unread`], the other that
/// or detached): the process that read them, its parent or the job's, is gone (a Node
/// `detached: true` child that kept its killed parent's pipes). Weak: a pipe's reader
/// may have died by itself, leaving a deliberate daemon behind.
fn streams_unread(facts: &ProcFacts) -> Option<Evidence> {
    let [_, out, err] = facts.stdio?;
    let unread = |k: StdioKind| k == StdioKind::Unread;
    let quiet = |k: StdioKind| unread(k) || k.detached();
    ((unread(out) || unread(err)) && quiet(out) && quiet(err)).then(|| Evidence {
        strength: Strength::Weak,
        kind: "streams_unread",
        text: "its standard output and error lead to pipes or sockets no living process reads any more: whoever read them is gone (a detached child that kept its parent's pipes)".to_string(),
    })
}

/// The outcome of one classification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Classified {
    /// Groups labelled workers by design first, then the others; each by RSS,
    /// largest first.
    pub groups: Vec<OrphanGroup>,
    /// Candidates or members that could not be read fully (permission denied) and
    /// were left out or judged without those facts.
    pub denied: usize,
    /// Candidates that vanished between the scan and their facts.
    pub vanished: usize,
}

/// Whether the process at `ppid` adopts orphans: PID 1, one seen adopting, or a known
/// subreaper recognised by its executable ([`known_subreaper`]).
pub fn is_adopter(
    parent: Option<&ProcSample>,
    ppid: u32,
    ctx: &Context,
    lookup: &mut dyn Lookup,
) -> bool {
    ppid == 1
        || ctx.seen_adopting.contains(&ppid)
        || parent.is_some_and(|p| known_subreaper(p, lookup))
}

/// Whether `p` is one of [`KNOWN_SUBREAPERS`]: by name, and by an executable of that
/// name that is a system file ([`ExeFile::is_system`]); where the executable cannot be
/// read (another user's process), a process of root's, which no user can start. A
/// `systemd` must moreover be a user manager: `--user` among its arguments, or the
/// `init.scope` of a `user@UID.service`.
pub fn known_subreaper(p: &ProcSample, lookup: &mut dyn Lookup) -> bool {
    let comm = p.comm.to_string_lossy();
    if !KNOWN_SUBREAPERS.contains(&comm.as_ref()) {
        return false;
    }
    let trusted = match lookup.exe_file(p.id()) {
        Some(exe) => exe.is_system() && is_subreaper_name(&exe),
        None => lookup.uid(p.id()) == Some(0),
    };
    trusted && (comm != "systemd" || user_manager(p, lookup))
}

/// A systemd that manages a user's services, not one that merely runs.
fn user_manager(p: &ProcSample, lookup: &mut dyn Lookup) -> bool {
    let by_args = lookup
        .command(p.id())
        .is_some_and(|c| c.cmd.split(' ').skip(1).any(|a| a == "--user"));
    by_args
        || lookup
            .facts(p.id())
            .and_then(|f| f.cgroup)
            .is_some_and(|cg| cg.contains("/user@") && cg.ends_with(".service/init.scope"))
}

/// The systemd service a cgroup path is in: its deepest `*.service` component, unless
/// it lies under a user manager (`user@UID.service`), which PID 1 does not run.
pub fn service_of(cgroup: &str) -> Option<&str> {
    if cgroup.contains("/user@") {
        return None;
    }
    cgroup.rsplit('/').find(|c| c.ends_with(".service"))
}

/// Processes seen adopting between two scans: a process alive in both whose parent
/// changed away from one that is gone now. `before` and `now` are whole scans.
pub fn adopters_seen(before: &[ProcSample], now: &[ProcSample]) -> Vec<u32> {
    let now_by_pid: IdMap<u32, &ProcSample> = now.iter().map(|s| (s.pid, s)).collect();
    let mut out: Vec<u32> = before
        .iter()
        .filter_map(|b| {
            let n = now_by_pid.get(&b.pid)?;
            let parent_gone = now_by_pid.get(&b.ppid).is_none_or(|p| p.has_exited());
            (n.start == b.start && n.ppid != b.ppid && n.ppid != 0 && parent_gone).then_some(n.ppid)
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Known subreapers that start exactly one child and exit when it exits (tini and its
/// builds, dumb-init, catatonit, Docker's and Podman's `--init`): while one lives, so
/// does the child it started, and that child is the oldest of its children, since
/// every process it adopts descends from it or was started after it.
const ONE_CHILD_INITS: [&str; 5] = [
    "tini",
    "dumb-init",
    "catatonit",
    "docker-init",
    "podman-init",
];

/// The child adopter `a` started itself (a container's supervisor under tini), if `a`
/// is one of [`ONE_CHILD_INITS`] recognised as [`known_subreaper`] does: its oldest
/// live child. `kids` are `a`'s live children. That child is no orphan, whatever it
/// looks like, and its tree is its own job.
fn own_child(a: &ProcSample, kids: &[&ProcSample], lookup: &mut dyn Lookup) -> Option<u32> {
    let comm = a.comm.to_string_lossy();
    if !ONE_CHILD_INITS.contains(&comm.as_ref()) || !known_subreaper(a, lookup) {
        return None;
    }
    kids.iter().min_by_key(|k| (k.start, k.pid)).map(|k| k.pid)
}

/// One scan, indexed: each process by pid, and each live process's live children.
struct Family<'a> {
    by_pid: IdMap<u32, &'a ProcSample>,
    children: IdMap<u32, Vec<&'a ProcSample>>,
}

impl<'a> Family<'a> {
    fn new(scan: &'a [ProcSample]) -> Self {
        let by_pid: IdMap<u32, &ProcSample> = scan.iter().map(|s| (s.pid, s)).collect();
        let mut children: IdMap<u32, Vec<&ProcSample>> = IdMap::default();
        for s in scan {
            if !s.has_exited() && s.pid != s.ppid {
                children.entry(s.ppid).or_default().push(s);
            }
        }
        Family { by_pid, children }
    }

    fn live(&self, pid: u32) -> bool {
        self.by_pid.get(&pid).is_some_and(|s| !s.has_exited())
    }

    fn kids(&self, pid: u32) -> &[&'a ProcSample] {
        self.children.get(&pid).map_or(&[], Vec::as_slice)
    }
}

/// Candidates: adopted, alive, old enough, not kernel threads, not leaktop, not the
/// child a one-child init started itself ([`own_child`]). Each parent is judged once.
fn candidates<'a>(
    scan: &'a [ProcSample],
    family: &Family<'a>,
    ctx: &Context,
    lookup: &mut dyn Lookup,
) -> Vec<&'a ProcSample> {
    // Per parent: whether it adopts, and the child it started itself.
    let mut adopters: IdMap<u32, (bool, Option<u32>)> = IdMap::default();
    let mut out = Vec::new();
    for s in scan {
        if s.pid > 1
            && !s.has_exited()
            && !is_kernel_thread(s)
            && !ctx.protected.contains(&s.pid)
            && ctx.now_start.saturating_sub(s.start) >= ctx.older_than
        {
            let parent = family.by_pid.get(&s.ppid).copied();
            let (adopts, own) = *adopters.entry(s.ppid).or_insert_with(|| {
                let adopts = is_adopter(parent, s.ppid, ctx, &mut *lookup);
                let own = parent
                    .filter(|_| adopts)
                    .and_then(|a| own_child(a, family.kids(a.pid), &mut *lookup));
                (adopts, own)
            });
            if adopts && own != Some(s.pid) {
                out.push(s);
            }
        }
    }
    out
}

/// The first live process of each session that is in no adopted tree of a candidate
/// whose group or session leader is gone: a shell, a terminal, whatever still holds
/// it. (A candidate that leads its own group and session, such as sshd or a tmux
/// server under init, holds its sessions.)
fn session_holders<'a>(
    scan: &'a [ProcSample],
    family: &Family<'a>,
    candidates: &[&ProcSample],
) -> IdMap<u32, &'a ProcSample> {
    let leader_gone = |c: &ProcSample| {
        (c.pgrp != 0 && c.pgrp != c.pid && !family.live(c.pgrp))
            || (c.session != 0 && c.session != c.pid && !family.live(c.session))
    };
    let mut in_trees: IdSet<u32> = IdSet::default();
    let mut stack: Vec<u32> = candidates
        .iter()
        .filter(|c| leader_gone(c))
        .map(|c| c.pid)
        .collect();
    while let Some(pid) = stack.pop() {
        if in_trees.insert(pid) {
            stack.extend(family.kids(pid).iter().map(|c| c.pid));
        }
    }
    // Session 0 is one too: its leader is outside this PID namespace (a container's
    // or a VM's init that never called setsid), and what shares it still holds it.
    let mut holders: IdMap<u32, &ProcSample> = IdMap::default();
    for s in scan {
        if !s.has_exited() && !in_trees.contains(&s.pid) && !is_kernel_thread(s) {
            holders.entry(s.session).or_insert(s);
        }
    }
    holders
}

/// Classifies one scan of every process. See the module's documentation.
pub fn classify(scan: &[ProcSample], ctx: &Context, lookup: &mut dyn Lookup) -> Classified {
    let family = Family::new(scan);
    let candidates = candidates(scan, &family, ctx, lookup);
    let holders = session_holders(scan, &family, &candidates);
    let mut out = Classified::default();
    // Each candidate judged first: one with a verdict of its own heads its group, even
    // under an adopter that is itself an orphan (tini adopted by init: what tini
    // adopted is not grouped with tini's own child).
    let mut verdicts = Vec::new();
    for c in candidates {
        let Some(facts) = lookup.facts(c.id()) else {
            out.vanished += 1;
            continue;
        };
        if facts.denied {
            out.denied += 1;
        }
        if facts.exiting {
            continue;
        }
        let seen = Seen {
            family: &family,
            holders: &holders,
        };
        if let Some(verdict) = judge(c, &facts, ctx, lookup, &seen) {
            verdicts.push((c, facts, verdict));
        }
    }
    let mut groups = Groups {
        heads: verdicts.iter().map(|(c, _, _)| c.pid).collect(),
        ..Groups::default()
    };
    for (c, facts, (origin, evidence)) in verdicts {
        groups.add(c, &facts, origin, evidence, &family, lookup);
    }
    out.groups = groups.finish();
    out
}

/// The groups as they are built: a process is listed once.
#[derive(Default)]
struct Groups {
    groups: Vec<OrphanGroup>,
    index: IdMap<String, usize>,
    placed: IdSet<u32>,
    /// The candidates listed in their own right: no other's tree takes them.
    heads: IdSet<u32>,
}

impl Groups {
    /// Adds candidate `c` and its tree to the group of `origin`, with its evidence.
    fn add(
        &mut self,
        c: &ProcSample,
        facts: &ProcFacts,
        origin: Origin,
        evidence: Vec<Evidence>,
        family: &Family<'_>,
        lookup: &mut dyn Lookup,
    ) {
        let id = origin.id();
        let groups = &mut self.groups;
        let at = *self.index.entry(id.clone()).or_insert_with(|| {
            groups.push(OrphanGroup {
                id,
                origin,
                evidence: Vec::new(),
                rss_kb: 0,
                processes: Vec::new(),
            });
            groups.len() - 1
        });
        let group = &mut groups[at];
        for e in evidence {
            if !group.evidence.contains(&e) {
                group.evidence.push(e);
            }
        }
        let mut tree = vec![(c, true)];
        while let Some((p, adopted)) = tree.pop() {
            if !self.placed.insert(p.pid) {
                continue;
            }
            let command = lookup.command(p.id()).unwrap_or_else(|| bare_command(p));
            let uid = if adopted {
                facts.uid
            } else {
                lookup.uid(p.id())
            };
            group.rss_kb += p.rss_kb;
            group.processes.push(Orphan {
                sample: *p,
                command,
                uid,
                adopted,
            });
            let heads = &self.heads;
            tree.extend(
                family
                    .kids(p.pid)
                    .iter()
                    .filter(|ch| !heads.contains(&ch.pid))
                    .map(|ch| (*ch, false)),
            );
        }
    }

    /// The groups labelled, each's members and evidence in order, and ranked: workers
    /// by design whose parent is gone first (a pool is the likely leak, above a
    /// shell's background jobs), then by memory.
    fn finish(self) -> Vec<OrphanGroup> {
        let mut groups = self.groups;
        for g in &mut groups {
            if !g.workers()
                && let Some(e) = g.processes.iter().find_map(|o| worker_evidence(&o.command))
            {
                g.evidence.push(e);
            }
            g.processes.sort_by_key(|o| (o.sample.start, o.sample.pid));
            g.evidence
                .sort_by_key(|e| (std::cmp::Reverse(e.strength), kind_rank(e.kind)));
        }
        groups.sort_by(|a, b| {
            (b.workers(), b.rss_kb)
                .cmp(&(a.workers(), a.rss_kb))
                .then(a.id.cmp(&b.id))
        });
        groups
    }
}

/// What `judge` reads of the scan beside the candidate.
struct Seen<'s, 'a> {
    family: &'s Family<'a>,
    holders: &'s IdMap<u32, &'a ProcSample>,
}

/// The origin and evidence of one candidate, or `None` if it is not listed.
fn judge(
    c: &ProcSample,
    facts: &ProcFacts,
    ctx: &Context,
    lookup: &mut dyn Lookup,
    seen: &Seen<'_, '_>,
) -> Option<(Origin, Vec<Evidence>)> {
    if let Some(e) = allowed_evidence(c, facts, ctx, lookup) {
        return ctx.all.then(|| (default_origin(c), vec![e]));
    }
    let mut found = Found::default();
    found.run_marker(c, facts, ctx, lookup, &seen.family.by_pid);
    let in_live_service = found.service(c, facts, lookup, &seen.family.by_pid)?;
    let shown = found.leaders(c, facts, ctx, lookup, seen);
    // Its parent is gone while the job that started it lives on.
    if let Some(e) = job_lives_on(c, &seen.family.by_pid)
        && shown
    {
        found.evidence.push(e);
        found.origin.get_or_insert(Origin::Group(c.pgrp));
    }
    // A live service's processes are its manager's business (`KillMode=`), unless a
    // gone `leaktop run` started them.
    if in_live_service && !ctx.all && !matches!(found.origin, Some(Origin::Run(_))) {
        return None;
    }
    found.evidence.extend(streams_unread(facts));
    found.conclude(c, ctx)
}

/// The evidence found of one candidate so far.
#[derive(Default)]
struct Found {
    evidence: Vec<Evidence>,
    origin: Option<Origin>,
    /// A `LEAKTOP_RUN` marker nothing vouches for: shown, overriding nothing.
    unverified: Option<Evidence>,
    /// A worker by design by its command line ([`worker_evidence`]).
    worker: Option<Evidence>,
}

fn strong(kind: &'static str, text: String) -> Evidence {
    Evidence {
        strength: Strength::Strong,
        kind,
        text,
    }
}

impl Found {
    /// A `leaktop run` that is gone, if its record vouches for the marker; a marker
    /// nothing vouches for is kept aside.
    fn run_marker(
        &mut self,
        c: &ProcSample,
        facts: &ProcFacts,
        ctx: &Context,
        lookup: &mut dyn Lookup,
        by_pid: &IdMap<u32, &ProcSample>,
    ) {
        let Some(marker) = facts.run_marker.as_deref().filter(|m| !m.is_empty()) else {
            return;
        };
        match check_marker(marker, c, facts, ctx, lookup, by_pid) {
            Marker::RunAlive => {}
            Marker::Vouched(record) => {
                self.evidence.push(strong(
                    "run_marker",
                    format!(
                        "started under `leaktop run` (LEAKTOP_RUN={}), which is gone; its record vouches for it",
                        record.marker()
                    ),
                ));
                self.origin = Some(Origin::Run(record.marker()));
            }
            Marker::Unverified(why) => {
                self.unverified = Some(Evidence {
                    strength: Strength::Weak,
                    kind: "run_marker",
                    text: format!("LEAKTOP_RUN is set, unverified: {why}"),
                })
            }
        }
    }

    /// A systemd service whose main process is gone or was restarted. `None`: the
    /// candidate is the service's main process, no orphan; else whether it is in a
    /// live service.
    fn service(
        &mut self,
        c: &ProcSample,
        facts: &ProcFacts,
        lookup: &mut dyn Lookup,
        by_pid: &IdMap<u32, &ProcSample>,
    ) -> Option<bool> {
        let Some(unit) = facts.cgroup.as_deref().and_then(service_of) else {
            return Some(false);
        };
        let Some(main) = lookup.service_main_pid(unit) else {
            return Some(false);
        };
        if main == c.pid {
            return None;
        }
        let main_sample = by_pid.get(&main).filter(|m| main != 0 && !m.has_exited());
        let in_live_service = match main_sample {
            None => {
                self.evidence.push(strong(
                    "unit_main_gone",
                    format!("in the cgroup of {unit}, whose main process is gone"),
                ));
                false
            }
            Some(m) if m.start > c.start => {
                self.evidence.push(strong(
                    "unit_restarted",
                    format!(
                        "in the cgroup of {unit}, whose main process {} started after it (restarted)",
                        m.pid
                    ),
                ));
                false
            }
            Some(_) => true,
        };
        if !in_live_service && self.origin.is_none() {
            self.origin = Some(Origin::Unit(unit.to_string()));
        }
        Some(in_live_service)
    }

    /// A process group or session whose leader is gone: strong unless a live process
    /// still holds the session or the candidate looks like a daemon by design. Returns
    /// whether the candidate's job evidence is shown: it does not look like a daemon,
    /// or it is listed all the same (`all`, a worker by design).
    fn leaders(
        &mut self,
        c: &ProcSample,
        facts: &ProcFacts,
        ctx: &Context,
        lookup: &mut dyn Lookup,
        seen: &Seen<'_, '_>,
    ) -> bool {
        let live = |pid| seen.family.live(pid);
        let holder = seen.holders.get(&c.session).copied();
        let mut leader_gone = Vec::new();
        if c.pgrp != 0 && c.pgrp != c.pid && !live(c.pgrp) {
            leader_gone.push((
                "group_leader_gone",
                format!("its process group {}'s leader is gone", c.pgrp),
                Origin::Group(c.pgrp),
            ));
        }
        if c.session != 0 && c.session != c.pid && !live(c.session) {
            leader_gone.push((
                "session_leader_gone",
                format!("its session {}'s leader is gone", c.session),
                Origin::Session(c.session),
            ));
        }
        // A daemon by design: no terminal, a session no live process shares, streams
        // where nobody reads; the double fork's gone leaders are no evidence then.
        // (Session 0 counts as unshared here: in a container every process that
        // never called setsid shares it, daemons by design included.)
        let unshared = holder.is_none() || c.session == 0;
        let daemon_like = unshared
            && facts.tty_nr == Some(0)
            && facts.stdio.is_some_and(|s| s.iter().all(|k| k.detached()));
        // Unreadable streams or terminal, and no live holder: it cannot be told from
        // a daemon.
        let unknown_kind = facts.stdio.is_none() || facts.tty_nr.is_none();
        let looks_daemon = daemon_like || (unknown_kind && unshared);
        // A worker by design whose parent is gone is no deliberate daemon: listed
        // (weak, whatever else it looks like) with what it would show under --all.
        if looks_daemon || self.evidence.is_empty() {
            self.worker = lookup.command(c.id()).as_ref().and_then(worker_evidence);
        }
        let shown = ctx.all || self.worker.is_some();
        for (kind, text, o) in leader_gone {
            let e = match holder {
                _ if looks_daemon => Evidence {
                    strength: Strength::Weak,
                    kind,
                    text: format!("{text}, but it looks like a daemon by design"),
                },
                Some(h) => Evidence {
                    strength: Strength::Weak,
                    kind,
                    text: format!(
                        "{text}, but session {} is still held by live {} ({}): an intentional `nohup cmd &` looks the same",
                        c.session,
                        h.pid,
                        h.comm.to_string_lossy()
                    ),
                },
                None => strong(kind, text),
            };
            if looks_daemon && !shown && self.origin.is_none() && !ctx.watched.contains(&c.id()) {
                continue;
            }
            self.evidence.push(e);
            self.origin.get_or_insert(o);
        }
        !looks_daemon || shown
    }

    /// The origin and evidence, or `None` where nothing lists the candidate.
    fn conclude(mut self, c: &ProcSample, ctx: &Context) -> Option<(Origin, Vec<Evidence>)> {
        self.evidence.extend(self.worker.take());
        if self.evidence.is_empty() {
            if ctx.watched.contains(&c.id()) {
                // The watcher's story is its evidence, attached after classification.
                let origin = Origin::Group(if c.pgrp > 1 { c.pgrp } else { c.pid });
                return Some((origin, self.evidence));
            }
            if !ctx.all {
                return None;
            }
            self.evidence
                .push(self.unverified.take().unwrap_or_else(|| Evidence {
                    strength: Strength::Weak,
                    kind: "no_evidence",
                    text: format!(
                        "adopted by {}; nothing says its job is gone (a daemon by design, or a detached child)",
                        c.ppid
                    ),
                }));
        }
        self.evidence.extend(self.unverified);
        Some((
            self.origin.unwrap_or_else(|| default_origin(c)),
            self.evidence,
        ))
    }
}

/// The origin of a candidate nothing else names: its session, or its group. A session
/// or group its adopter leads is the adopter's own job, no origin of what it adopted
/// (tini leading the session of its own child and of the orphans it took in).
fn default_origin(c: &ProcSample) -> Origin {
    if c.session != 0 && c.session != c.ppid {
        Origin::Session(c.session)
    } else if c.pgrp > 1 && c.pgrp != c.ppid {
        Origin::Group(c.pgrp)
    } else {
        Origin::Group(c.pid)
    }
}

/// The `allowed` evidence of a candidate an `--allow` rule matches (by its command
/// line, executable, uid and cgroup): meant to outlive its parent.
fn allowed_evidence(
    c: &ProcSample,
    facts: &ProcFacts,
    ctx: &Context,
    lookup: &mut dyn Lookup,
) -> Option<Evidence> {
    if ctx.allowed.is_empty() {
        return None;
    }
    let command = lookup.command(c.id())?;
    let exe = lookup.exe_file(c.id());
    let subject = Subject {
        command: &command,
        exe: exe.as_ref().map(|e| e.path.as_str()),
        uid: facts.uid,
        cgroup: facts.cgroup.as_deref(),
    };
    let rule = allow::allowed(&ctx.allowed, &subject)?;
    Some(Evidence {
        strength: Strength::Weak,
        kind: "allowed",
        text: format!(
            "meant to outlive its parent: allowed by {}",
            rule.describe()
        ),
    })
}

/// Where a kind of evidence comes in a group's list: strong before weak, and then
/// the evidence that names the group's origin (as `judge` picks it) first, so the
/// first line says why the group has its id.
fn kind_rank(kind: &str) -> usize {
    const ORDER: [&str; 5] = [
        "run_marker",
        "unit_main_gone",
        "unit_restarted",
        "group_leader_gone",
        "session_leader_gone",
    ];
    ORDER.iter().position(|k| *k == kind).unwrap_or(ORDER.len())
}

/// What a `LEAKTOP_RUN` marker is worth.
enum Marker {
    /// The run it names is alive: no evidence yet.
    RunAlive,
    /// A record of the orphan's own user says the run existed and was alive when the
    /// orphan started; the run is gone.
    Vouched(RunRecord),
    /// Nothing vouches for it: why, in words.
    Unverified(String),
}

/// Checks the marker of candidate `c` against the run's record.
fn check_marker(
    marker: &str,
    c: &ProcSample,
    facts: &ProcFacts,
    ctx: &Context,
    lookup: &mut dyn Lookup,
    by_pid: &IdMap<u32, &ProcSample>,
) -> Marker {
    let Some((pid, start)) = parse_marker(marker) else {
        // Anyone's text: not echoed.
        return Marker::Unverified(format!(
            "its {} bytes are not a run's `<pid>.<start>`",
            marker.len()
        ));
    };
    if by_pid
        .get(&pid)
        .is_some_and(|s| s.start == start && !s.has_exited())
    {
        return Marker::RunAlive;
    }
    let Some(uid) = facts.uid else {
        return Marker::Unverified("its user cannot be read".into());
    };
    match lookup.run_record(uid, pid, start) {
        None => Marker::Unverified(format!(
            "no record of leaktop run {pid}.{start} kept for uid {uid}"
        )),
        Some(r) if r.uid != uid || r.pid != pid || r.start != start => Marker::Unverified(format!(
            "the record of leaktop run {pid}.{start} is not uid {uid}'s"
        )),
        Some(r) if !r.covers(c.start, ctx.per_sec) => Marker::Unverified(format!(
            "leaktop run {pid}.{start} was not running when this process started"
        )),
        Some(r) => Marker::Vouched(r),
    }
}

/// A kernel thread: kthreadd (2) and its children.
fn is_kernel_thread(s: &ProcSample) -> bool {
    s.pid == 2 || s.ppid == 2
}

fn bare_command(s: &ProcSample) -> Command {
    let name = s.comm.to_string_lossy();
    Command {
        cmd: format!("[{name}]"),
        name,
    }
}

#[cfg(test)]
mod tests;

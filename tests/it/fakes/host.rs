//! [`FakeHost`]: a [`Host`] over an in-memory process table, for tests of what leaktop
//! does to processes without starting any.
//!
//! - **The table**: [`Proc`]s with pid, ppid, start time, state, RSS, process group,
//!   session, `comm` and command line. leaktop itself (`own_pid`) and init (1) are in
//!   it from the start. [`FakeHost::add`] puts a process in (or replaces the one at
//!   its pid: pid reuse).
//! - **Signals**: sent only through [`Host::pin`] handles, which check the start time
//!   as the real pidfds do. Every signal that reaches a process is recorded in order
//!   ([`FakeHost::signals`]; [`FakeHost::attempts`] has the failed sends too). STOP
//!   stops a process (it does nothing, forks nothing), CONT resumes it and delivers
//!   what came meanwhile, KILL always ends it; any other signal does what the
//!   process's scripted [`Reaction`] says (by default: it dies, but for CHLD, URG and
//!   WINCH, which it ignores).
//! - **Deaths**: a process that ends is gone at once, except leaktop's own children,
//!   which stay zombies (`Z`) until [`Host::reap`] collects them. Its children are
//!   reparented to init (or to [`FakeHost::set_reparent_to`], a subreaper).
//! - **Time**: the clock moves only on [`Host::sleep`] (a 3 s grace runs in
//!   microseconds), on [`FakeHost::advance`], and by [`FakeHost::set_call_cost`] on
//!   every call leaktop makes (the time its work takes, during which running processes
//!   go on forking). Timed behaviour (`Reaction::DieAfter`, `Proc::forks_every`)
//!   happens as the clock passes it. A loop that waits for its next tick
//!   ([`Host::wait`]: the recorder, `run`, the view's sampling thread) waits until the
//!   test moves the clock to its deadline ([`FakeHost::wake_next`]) or its alarm
//!   rings: the test decides when each tick happens, and [`FakeHost::log`] says in
//!   which order, at which fake time, things happened. The wall clock
//!   ([`Host::wall_clock`]) is [`WALL_START`] plus the fake time.
//! - **Signals to leaktop**: [`FakeHost::raise`] delivers a signal to every listener
//!   leaktop installed with [`Host::listen_signals`] (none is installed for real);
//!   [`Host::die_of`] is recorded ([`FakeHost::died_of`]), not done.
//! - **Subreaper**: [`Host::become_subreaper`] says `Ok(false)` (no subreapers, as on
//!   macOS) unless [`FakeHost::support_subreaper`] says otherwise; once leaktop is
//!   one, orphans are reparented to it.
//! - **Holds**: [`FakeHost::hold_signal`], [`FakeHost::hold_create`] and
//!   [`FakeHost::hold_sleep`] stop the thread that gets there until the test releases
//!   it, to act while leaktop is in the middle of something (a kill's freeze, an
//!   export).
//! - **Files**: [`Host::create`] really creates the file, with the same flags as the
//!   Linux host, unless [`FakeHost::fail_next_create`] scripted an error; renames and
//!   removals are real too, and recorded.
//! - **Sampling**: [`FakeHost::sampler`] (and [`Host::sampler`]) give a
//!   [`FakeSampler`] over the same table.
//! - **Events**: every fork, death and [`FakeHost::setsid`] is logged as the process
//!   connector reports it; [`Host::events`] hands them out, or drops them, or falls
//!   back to pidfds or ticks, as the test scripts (see `events.rs`).
//!
//! ```ignore
//! let fake = FakeHost::new(500);
//! fake.add(Proc::new(100, 1, "server"));
//! fake.add(Proc::new(101, 100, "worker").on(Signal::TERM, Reaction::Ignore));
//! let report = kill_trees(fake.host().as_ref(), &[fake.target(100)], Signal::TERM, grace, true);
//! assert_eq!(fake.signals_to(101), [Signal::STOP, Signal::TERM, Signal::CONT, /* … */]);
//! ```

mod events;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use leaktop::actions::kill::Target;
use leaktop::host::{
    Alarm, Create, Deliver, Exit, Host, Listening, Memory, PinError, Pinned, Signal, SignalError,
    SpawnError, SpawnSpec, Spawned,
};
use leaktop::sample::events::{EventRequest, EventSource};
use leaktop::sample::{
    Backend, Comm, Command, Identity, ProcSample, SampleError, Sampler, StartClock,
};
use leaktop::sample::{ProcFacts, StdioKind};

/// The wall time (ms since the epoch) of start time 0 in the fake's [`StartClock`].
pub const BOOT_MS: u64 = 1_795_000_000_000;
/// Start-time units per second (as procfs's clock ticks).
pub const START_PER_SEC: u64 = 100;
/// The wall time (ms since the epoch) at which the fake clock starts: start time
/// 1,000,000 (what [`Host::now_start`] says then), 10,000 s after the fake's boot.
pub const WALL_START: u64 = BOOT_MS + 10_000_000;

/// What a process does when a signal reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reaction {
    /// It dies of the signal.
    Die,
    /// It exits with this code (a handler that cleans up and exits).
    Exit(u8),
    /// It carries on (the signal is caught or ignored).
    Ignore,
    /// It exits (code 0) this long after, in fake time (a slow handler).
    DieAfter(Duration),
    /// It forks a child (like [`Proc::forks_like`]'s, or a plain one), then reacts so.
    Fork(Box<Reaction>),
    /// It double-forks (a child that forks a plain grandchild and exits at once, so the
    /// grandchild is orphaned before anyone sees the child), then reacts so.
    DoubleFork(Box<Reaction>),
}

/// The fake executable a process named `name` runs by default: device 8, an inode
/// made from the name.
pub fn exe_of_name(name: &str) -> (u64, u64) {
    let inode = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    (8, inode)
}

/// A process of the fake table, and how it behaves. Build with [`Proc::new`] and the
/// methods that follow it.
#[derive(Debug, Clone)]
pub struct Proc {
    pub pid: u32,
    pub ppid: u32,
    /// Start time in [`START_PER_SEC`] units; `pid * 10` unless set.
    pub start: u64,
    /// `S` running, `T` stopped, `Z` zombie.
    pub state: u8,
    pub rss_kb: u64,
    pub pgrp: u32,
    pub session: u32,
    pub cpu_ms: u64,
    pub comm: String,
    pub cmd: String,
    /// Scripted reactions, by signal; other signals do their default.
    pub reactions: Vec<(Signal, Reaction)>,
    /// While it runs it forks a child this often (fake time).
    pub forks_every: Option<Duration>,
    /// What its children are like (their pid, parent and start are filled in).
    pub child: Option<Box<Proc>>,
    /// The executable it runs (device, inode) as [`Host::exe_id`] reports it: by
    /// default one file per name (as if each name were one binary), `None` for an
    /// unreadable one. [`Proc::exe`] sets another: a process faking a name, say.
    pub exe: Option<(u64, u64)>,
    /// What [`Host::memory`] says of it (PSS, USS, swap); `None`: unreadable.
    pub memory: Option<Memory>,
    /// When it last ran, on the fake clock, as [`Host::idle_ms`] tells it; `None`:
    /// unknown.
    pub last_ran: Option<Duration>,
    /// What [`Host::facts`] says of it: by default no terminal, streams on pipes,
    /// cgroup `/`, no run marker, uid 1000.
    pub facts: ProcFacts,
}

impl Proc {
    /// A sleeping process of 10 MiB, in a group and session of its own, whose command
    /// line is its name.
    pub fn new(pid: u32, ppid: u32, comm: &str) -> Proc {
        Proc {
            pid,
            ppid,
            start: u64::from(pid) * 10,
            state: b'S',
            rss_kb: 10 * 1024,
            pgrp: pid,
            session: pid,
            cpu_ms: 0,
            comm: comm.into(),
            cmd: comm.into(),
            reactions: Vec::new(),
            forks_every: None,
            child: None,
            exe: Some(exe_of_name(comm)),
            memory: None,
            last_ran: None,
            facts: leaktop::testkit::facts(),
        }
    }

    /// Its standard streams (as [`Host::facts`] reports them).
    pub fn stdio(mut self, stdio: [StdioKind; 3]) -> Proc {
        self.facts.stdio = Some(stdio);
        self
    }

    /// Its controlling terminal's device number (0: none).
    pub fn tty(mut self, tty_nr: u32) -> Proc {
        self.facts.tty_nr = Some(tty_nr);
        self
    }

    /// Its cgroup path, e.g. `/system.slice/api.service`.
    pub fn cgroup(mut self, path: &str) -> Proc {
        self.facts.cgroup = Some(path.into());
        self
    }

    /// The `LEAKTOP_RUN` marker in its environment.
    pub fn run_marker(mut self, marker: &str) -> Proc {
        self.facts.run_marker = Some(marker.into());
        self
    }

    /// It last ran at `at` on the fake clock.
    pub fn last_ran(mut self, at: Duration) -> Proc {
        self.last_ran = Some(at);
        self
    }

    /// Its real uid.
    pub fn uid(mut self, uid: u32) -> Proc {
        self.facts.uid = Some(uid);
        self
    }

    /// Runs the executable `exe` (device, inode), whatever its name says; `None`: the
    /// executable cannot be read.
    pub fn exe(mut self, exe: Option<(u64, u64)>) -> Proc {
        self.exe = exe;
        self
    }

    /// Its PSS, USS and swap in MiB, as `smaps_rollup` would give them.
    pub fn mem_mb(mut self, pss: u64, uss: u64, swap: u64) -> Proc {
        self.memory = Some(Memory {
            pss_kb: pss * 1024,
            uss_kb: uss * 1024,
            swap_kb: swap * 1024,
            ..Default::default()
        });
        self
    }

    /// Its PSS told apart in MiB (anonymous, file-backed, shared memory, swapped), as
    /// `smaps_rollup` gives it on Linux 5.7+; after [`Proc::mem_mb`]. Without it the
    /// split is unknown, as on older kernels.
    pub fn pss_parts_mb(mut self, anon: u64, file: u64, shmem: u64, swap_pss: u64) -> Proc {
        let m = self.memory.get_or_insert_with(Memory::default);
        m.parts = leaktop::host::PssParts {
            anon_kb: Some(anon * 1024),
            file_kb: Some(file * 1024),
            shmem_kb: Some(shmem * 1024),
            swap_pss_kb: Some(swap_pss * 1024),
        };
        self
    }

    pub fn start(mut self, start: u64) -> Proc {
        self.start = start;
        self
    }

    pub fn rss_mb(mut self, mb: u64) -> Proc {
        self.rss_kb = mb * 1024;
        self
    }

    pub fn cmd(mut self, cmd: &str) -> Proc {
        self.cmd = cmd.into();
        self
    }

    pub fn state(mut self, state: u8) -> Proc {
        self.state = state;
        self
    }

    pub fn group(mut self, pgrp: u32, session: u32) -> Proc {
        self.pgrp = pgrp;
        self.session = session;
        self
    }

    /// Reacts to `signal` so (STOP, CONT and KILL cannot be scripted).
    pub fn on(mut self, signal: Signal, reaction: Reaction) -> Proc {
        self.reactions.push((signal, reaction));
        self
    }

    /// Forks a child every `every` of fake time while it runs.
    pub fn forks_every(mut self, every: Duration) -> Proc {
        self.forks_every = Some(every);
        self
    }

    /// Its children are like `child` (its reactions, its forking); by default they are
    /// plain processes named as their parent.
    pub fn forks_like(mut self, child: Proc) -> Proc {
        self.child = Some(Box::new(child));
        self
    }

    pub fn id(&self) -> Identity {
        Identity {
            pid: self.pid,
            start: self.start,
        }
    }

    /// The process as a sampler reads it.
    pub fn sample(&self) -> ProcSample {
        ProcSample {
            pid: self.pid,
            ppid: self.ppid,
            state: self.state,
            rss_kb: self.rss_kb,
            pgrp: self.pgrp,
            session: self.session,
            start: self.start,
            cpu_ms: self.cpu_ms,
            comm: Comm::new(self.comm.as_bytes()),
        }
    }

    fn reaction(&self, signal: Signal) -> Reaction {
        if let Some((_, r)) = self.reactions.iter().rev().find(|(s, _)| *s == signal) {
            return r.clone();
        }
        if [Signal::CHILD, Signal::URG, Signal::WINCH].contains(&signal) {
            Reaction::Ignore
        } else {
            Reaction::Die
        }
    }
}

/// A place where a thread of leaktop can be held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Point {
    /// Before this signal reaches its process.
    Signal(Signal),
    Create,
    Sleep,
    /// Before a [`Host::wait`] begins.
    Wait,
}

/// A held place, from [`FakeHost::hold_signal`] and its kin: the first thread to get
/// there waits until [`Hold::release`] (or until the `Hold` is dropped, so a failing
/// test cannot leave leaktop's threads stuck).
pub struct Hold(Arc<Gate>);

#[derive(Default)]
struct Gate {
    /// (reached, released)
    state: Mutex<(bool, bool)>,
    changed: Condvar,
}

impl Gate {
    fn pass(&self) {
        let mut s = self.state.lock().unwrap();
        s.0 = true;
        self.changed.notify_all();
        while !s.1 {
            s = self.changed.wait(s).unwrap();
        }
    }
}

impl Hold {
    /// Waits until a thread is held here, up to `limit`; whether one is.
    pub fn wait_reached(&self, limit: Duration) -> bool {
        let s = self.0.state.lock().unwrap();
        let (s, _) = self
            .0
            .changed
            .wait_timeout_while(s, limit, |s| !s.0)
            .unwrap();
        s.0
    }

    /// Whether a thread has got here.
    pub fn reached(&self) -> bool {
        self.0.state.lock().unwrap().0
    }

    /// Lets the held thread (and any later one) go on.
    pub fn release(&self) {
        let mut s = self.0.state.lock().unwrap();
        s.1 = true;
        self.0.changed.notify_all();
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.release();
    }
}

/// A process in the table, with what the fake keeps about it.
struct Live {
    p: Proc,
    /// Signals that came while it was stopped, delivered on CONT.
    pending: Vec<Signal>,
    /// When a slow handler ends it.
    dies_at: Option<Duration>,
    /// When it forks next.
    next_fork: Option<Duration>,
    /// How it ended, while it is a zombie; how it will end at `dies_at`
    /// ([`FakeHost::end_after`]) while it runs.
    exit: Option<Exit>,
}

struct World {
    procs: BTreeMap<u32, Live>,
    own_pid: u32,
    reparent_to: u32,
    /// Fake time since the host was made.
    now: Duration,
    call_cost: Duration,
    next_pid: u32,
    signals: Vec<(u32, Signal)>,
    attempts: Vec<(Identity, Signal, Result<(), SignalError>)>,
    deaths: Vec<(Identity, Exit)>,
    /// Each process's parent when it was added or forked.
    lineage: HashMap<u32, u32>,
    scripted_reaps: VecDeque<(u32, Exit)>,
    denied: HashSet<u32>,
    /// Every [`Host::memory`] call, in order.
    memory_reads: Vec<Identity>,
    hidden: HashSet<u32>,
    creates: Vec<(PathBuf, Create)>,
    create_errors: VecDeque<io::ErrorKind>,
    /// Directories made by [`Host::create_dir_all`], in order.
    made_dirs: Vec<PathBuf>,
    /// Owners [`Host::owner`] says instead of the file system's.
    owners: HashMap<PathBuf, u32>,
    spawns: Vec<Vec<OsString>>,
    spawn_error: Option<io::ErrorKind>,
    holds: Vec<(Point, Arc<Gate>)>,
    sleeps: Vec<Duration>,
    samples: usize,
    /// How many times [`Host::scan`] listed the table.
    scans: usize,
    /// The threads in [`Host::wait`] now: their deadline (fake time; `None`: none)
    /// and alarm.
    waiting: Vec<(u64, Option<Duration>, Alarm)>,
    next_waiter: u64,
    /// Signal listeners leaktop installed: (id, signals, deliver).
    listeners: Vec<(u64, Vec<i32>, Arc<Mutex<Deliver>>)>,
    next_listener: u64,
    /// Signals leaktop asked to die of.
    died_of: Vec<i32>,
    /// What happened, in order, at which fake time: see [`FakeHost::log`].
    log: Vec<(Duration, String)>,
    /// The wall clock at fake time zero, ms since the epoch.
    wall_start: u64,
    hostname: String,
    /// What [`Host::become_subreaper`] answers.
    subreaper: Result<bool, io::ErrorKind>,
    /// Threads of processes: tid → the process it belongs to.
    threads: HashMap<u32, u32>,
    process_names: Vec<String>,
    renames: Vec<(PathBuf, PathBuf)>,
    removals: Vec<PathBuf>,
    /// systemd services and their main pids; empty: systemd is not PID 1.
    units: HashMap<String, u32>,
    users: HashMap<String, u32>,
    /// Forks, exits and setsids as the connector would report them.
    events: events::Log,
}

impl World {
    fn alive(&self, pid: u32) -> bool {
        self.procs.get(&pid).is_some_and(|l| l.p.state != b'Z')
    }

    fn add(&mut self, p: Proc) {
        self.lineage.insert(p.pid, p.ppid);
        self.next_pid = self.next_pid.max(p.pid + 1);
        let next_fork = p.forks_every.map(|every| self.now + every);
        self.procs.insert(
            p.pid,
            Live {
                p,
                pending: Vec::new(),
                dies_at: None,
                next_fork,
                exit: None,
            },
        );
    }

    /// Start time of a process forked now.
    fn start_now(&self) -> u64 {
        1_000_000 + (self.now.as_millis() as u64) * START_PER_SEC / 1000
    }

    fn fork(&mut self, parent: u32) -> u32 {
        let Some(live) = self.procs.get(&parent) else {
            return 0;
        };
        let mut pid = self.next_pid;
        while self.procs.contains_key(&pid) {
            pid += 1;
        }
        self.next_pid = pid + 1;
        let p = &live.p;
        let mut child = match &p.child {
            Some(template) => (**template).clone(),
            None => Proc::new(pid, parent, &p.comm).cmd(&p.cmd),
        };
        child.pid = pid;
        child.ppid = parent;
        child.start = self.start_now();
        child.state = b'S';
        child.pgrp = p.pgrp;
        child.session = p.session;
        self.add(child);
        self.log_fork(parent, pid);
        pid
    }

    fn die(&mut self, pid: u32, exit: Exit) {
        let Some(live) = self.procs.get_mut(&pid) else {
            return;
        };
        if live.p.state == b'Z' {
            return;
        }
        let id = live.p.id();
        let ppid = live.p.ppid;
        let zombie = live.p.ppid == self.own_pid;
        if zombie {
            live.p.state = b'Z';
            live.exit = Some(exit);
            live.pending.clear();
            live.dies_at = None;
            live.next_fork = None;
        } else {
            self.procs.remove(&pid);
        }
        self.deaths.push((id, exit));
        self.log_exit(pid, ppid, exit);
        let heir = self.reparent_to;
        for l in self.procs.values_mut() {
            if l.p.ppid == pid && l.p.pid != pid {
                l.p.ppid = heir;
            }
        }
    }

    fn deliver(&mut self, pid: u32, signal: Signal) {
        let Some(live) = self.procs.get_mut(&pid) else {
            return;
        };
        match live.p.state {
            b'Z' => {}
            _ if signal == Signal::KILL => self.die(pid, Exit::Signaled(signal.as_raw())),
            _ if signal == Signal::STOP => live.p.state = b'T',
            b'T' if signal == Signal::CONT => {
                live.p.state = b'S';
                if let Some(every) = live.p.forks_every {
                    live.next_fork = Some(self.now + every);
                }
                for s in std::mem::take(&mut live.pending) {
                    self.deliver(pid, s);
                }
            }
            _ if signal == Signal::CONT => {}
            b'T' => live.pending.push(signal),
            _ => {
                let reaction = live.p.reaction(signal);
                self.react(pid, signal, reaction);
            }
        }
    }

    fn react(&mut self, pid: u32, signal: Signal, reaction: Reaction) {
        match reaction {
            Reaction::Die => self.die(pid, Exit::Signaled(signal.as_raw())),
            Reaction::Exit(code) => self.die(pid, Exit::Code(code)),
            Reaction::Ignore => {}
            Reaction::DieAfter(after) => {
                let at = self.now + after;
                if let Some(live) = self.procs.get_mut(&pid) {
                    live.dies_at = Some(live.dies_at.map_or(at, |d| d.min(at)));
                }
            }
            Reaction::Fork(then) => {
                self.fork(pid);
                self.react(pid, signal, *then);
            }
            Reaction::DoubleFork(then) => {
                let child = self.fork(pid);
                if child != 0 {
                    self.fork(child);
                    self.die(child, Exit::Code(0));
                }
                self.react(pid, signal, *then);
            }
        }
    }

    /// Moves the clock on by `by`, running what falls due on the way, in order.
    fn advance(&mut self, by: Duration) {
        let target = self.now + by;
        loop {
            let due = self
                .procs
                .values()
                .filter(|l| l.p.state == b'S')
                .flat_map(|l| [l.dies_at, l.next_fork])
                .flatten()
                .filter(|&t| t <= target)
                .min();
            let Some(t) = due else { break };
            self.now = self.now.max(t);
            let (dying, forking): (Vec<u32>, Vec<u32>) = {
                let running = || self.procs.values().filter(|l| l.p.state == b'S');
                (
                    running()
                        .filter(|l| l.dies_at == Some(t))
                        .map(|l| l.p.pid)
                        .collect(),
                    running()
                        .filter(|l| l.next_fork == Some(t))
                        .map(|l| l.p.pid)
                        .collect(),
                )
            };
            for pid in forking {
                if let Some(live) = self.procs.get_mut(&pid) {
                    live.next_fork = live.p.forks_every.map(|every| t + every);
                }
                self.fork(pid);
            }
            for pid in dying {
                let how = self.procs.get(&pid).and_then(|l| l.exit);
                self.die(pid, how.unwrap_or(Exit::Code(0)));
            }
        }
        self.now = target;
    }

    fn note(&mut self, what: String) {
        let now = self.now;
        self.log.push((now, what));
    }

    /// The alarms of the threads waiting on the clock, to nudge once the world's lock
    /// is let go (a waiter takes the world's lock while it holds its alarm's).
    fn waiting_alarms(&self) -> Vec<Alarm> {
        self.waiting.iter().map(|(_, _, a)| a.clone()).collect()
    }

    fn take_hold(&mut self, point: Point) -> Option<Arc<Gate>> {
        let i = self.holds.iter().position(|(p, _)| *p == point)?;
        Some(self.holds.remove(i).1)
    }
}

struct Shared {
    world: Mutex<World>,
    base: Instant,
    /// The GPU, if a test gives it one (see `fakes/gpu.rs`).
    gpu: Mutex<super::gpu::GpuWorld>,
}

/// The fake host; clones share one table. See the module's documentation.
#[derive(Clone)]
pub struct FakeHost {
    shared: Arc<Shared>,
}

impl FakeHost {
    /// A table with init (1) and leaktop at `own_pid` (a child of init).
    pub fn new(own_pid: u32) -> FakeHost {
        let mut world = World {
            procs: BTreeMap::new(),
            own_pid,
            reparent_to: 1,
            now: Duration::ZERO,
            call_cost: Duration::ZERO,
            next_pid: 2,
            signals: Vec::new(),
            attempts: Vec::new(),
            deaths: Vec::new(),
            lineage: HashMap::new(),
            scripted_reaps: VecDeque::new(),
            denied: HashSet::new(),
            scans: 0,
            memory_reads: Vec::new(),
            hidden: HashSet::new(),
            creates: Vec::new(),
            create_errors: VecDeque::new(),
            made_dirs: Vec::new(),
            owners: HashMap::new(),
            spawns: Vec::new(),
            spawn_error: None,
            holds: Vec::new(),
            sleeps: Vec::new(),
            samples: 0,
            waiting: Vec::new(),
            next_waiter: 0,
            listeners: Vec::new(),
            next_listener: 0,
            died_of: Vec::new(),
            log: Vec::new(),
            wall_start: WALL_START,
            hostname: "fakehost".into(),
            subreaper: Ok(false),
            threads: HashMap::new(),
            process_names: Vec::new(),
            renames: Vec::new(),
            removals: Vec::new(),
            units: HashMap::new(),
            users: HashMap::new(),
            events: events::Log::default(),
        };
        world.add(Proc::new(1, 0, "init").start(1));
        world.add(Proc::new(own_pid, 1, "leaktop"));
        FakeHost {
            shared: Arc::new(Shared {
                world: Mutex::new(world),
                base: Instant::now(),
                gpu: Mutex::default(),
            }),
        }
    }

    /// Makes systemd PID 1 with a service `unit` whose main pid is `main_pid` (0:
    /// none running).
    pub fn set_unit_main(&self, unit: &str, main_pid: u32) {
        self.world().units.insert(unit.into(), main_pid);
    }

    /// A user `name` with uid `uid`, for [`Host::user_id`].
    pub fn add_user(&self, name: &str, uid: u32) {
        self.world().users.insert(name.into(), uid);
    }

    /// This host as leaktop takes it.
    pub fn host(&self) -> Arc<dyn Host> {
        Arc::new(self.clone())
    }

    /// The GPU's script (`fakes/gpu.rs`).
    pub(super) fn gpu_world(&self) -> MutexGuard<'_, super::gpu::GpuWorld> {
        self.shared.gpu.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn world(&self) -> MutexGuard<'_, World> {
        self.shared.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The table as a call of leaktop's finds it: the call's cost has passed (and the
    /// threads waiting on the clock have looked again).
    fn call(&self) -> MutexGuard<'_, World> {
        let moved = {
            let mut w = self.world();
            let cost = w.call_cost;
            if cost.is_zero() {
                return w;
            }
            w.advance(cost);
            w.waiting_alarms()
        };
        nudge(&moved);
        self.world()
    }

    /// Moves the clock on by `by` and wakes whoever waits for it.
    fn pass(&self, by: Duration) {
        let moved = {
            let mut w = self.world();
            w.advance(by);
            w.waiting_alarms()
        };
        nudge(&moved);
    }

    /// Waits at `point` if a test holds it.
    fn checkpoint(&self, point: Point) {
        let gate = self.world().take_hold(point);
        if let Some(gate) = gate {
            gate.pass();
        }
    }

    fn hold(&self, point: Point) -> Hold {
        let gate = Arc::new(Gate::default());
        self.world().holds.push((point, gate.clone()));
        Hold(gate)
    }

    /// Adds `p`, or replaces the process at its pid (a reused pid). Returns its identity.
    pub fn add(&self, p: Proc) -> Identity {
        let id = p.id();
        self.world().add(p);
        id
    }

    /// A kill target for the process now at `pid` (panics if there is none).
    pub fn target(&self, pid: u32) -> Target {
        let w = self.world();
        let p = &w.procs.get(&pid).expect("no such process").p;
        Target {
            id: p.id(),
            rss_kb: p.rss_kb,
            pss_kb: p.memory.map(|m| m.pss_kb),
            uss_kb: p.memory.map(|m| m.uss_kb),
        }
    }

    /// The process at `pid`, zombie or not.
    pub fn get(&self, pid: u32) -> Option<Proc> {
        self.world().procs.get(&pid).map(|l| l.p.clone())
    }

    /// Whether a process (not a zombie) is at `pid`.
    pub fn alive(&self, pid: u32) -> bool {
        self.world().alive(pid)
    }

    /// Every process in the table, zombies included, by pid.
    pub fn processes(&self) -> Vec<Proc> {
        self.world().procs.values().map(|l| l.p.clone()).collect()
    }

    /// The living processes that are stopped.
    pub fn stopped(&self) -> Vec<u32> {
        let w = self.world();
        w.procs
            .values()
            .filter(|l| l.p.state == b'T')
            .map(|l| l.p.pid)
            .collect()
    }

    /// Every process ever added or forked under `pid`, at any depth, by the parent it
    /// had then (a reparented orphan still counts), whether alive or not.
    pub fn descendants(&self, pid: u32) -> Vec<u32> {
        let w = self.world();
        let mut out: Vec<u32> = w
            .lineage
            .keys()
            .copied()
            .filter(|&p| {
                let mut at = p;
                let mut steps = 0;
                while let Some(&parent) = w.lineage.get(&at) {
                    if parent == pid {
                        return true;
                    }
                    if parent == 0 || parent == at || steps > 100_000 {
                        return false;
                    }
                    at = parent;
                    steps += 1;
                }
                false
            })
            .collect();
        out.sort_unstable();
        out
    }

    /// Every signal that reached a process, in order: (pid, signal).
    pub fn signals(&self) -> Vec<(u32, Signal)> {
        self.world().signals.clone()
    }

    /// Every signal sent through a pinned handle, in order, with what the send
    /// returned: those that reached their process, and those that found it gone or
    /// were denied.
    pub fn attempts(&self) -> Vec<(Identity, Signal, Result<(), SignalError>)> {
        self.world().attempts.clone()
    }

    /// The signals that reached `pid`, in order.
    pub fn signals_to(&self, pid: u32) -> Vec<Signal> {
        self.world()
            .signals
            .iter()
            .filter(|(p, _)| *p == pid)
            .map(|(_, s)| *s)
            .collect()
    }

    /// Every process that ended, and how, in order.
    pub fn deaths(&self) -> Vec<(Identity, Exit)> {
        self.world().deaths.clone()
    }

    /// Fake time since the host was made.
    pub fn elapsed(&self) -> Duration {
        self.world().now
    }

    /// Moves the clock on (timed behaviour happens on the way); a thread waiting for a
    /// deadline it passes goes on.
    pub fn advance(&self, by: Duration) {
        self.pass(by);
    }

    /// The deadlines (fake time since the start) of the threads waiting on the clock
    /// now, earliest first; `None`: a thread waiting for its alarm only.
    pub fn waiting(&self) -> Vec<Option<Duration>> {
        let mut d: Vec<Option<Duration>> = self.world().waiting.iter().map(|w| w.1).collect();
        d.sort_by_key(|d| (d.is_none(), *d));
        d
    }

    /// Waits (real time, up to `limit`) until a thread waits on the clock for a
    /// deadline still to come, and none is still waking from one that has come: the
    /// work due until now is done. That deadline (fake time since the start), or
    /// `None` if no thread came to wait.
    pub fn await_wait(&self, limit: Duration) -> Option<Duration> {
        let began = Instant::now();
        loop {
            let due = {
                let w = self.world();
                let deadlines: Vec<Duration> = w.waiting.iter().filter_map(|x| x.1).collect();
                let waking = deadlines.iter().any(|&d| d <= w.now);
                deadlines.into_iter().min().filter(|_| !waking)
            };
            if due.is_some() || began.elapsed() >= limit {
                return due;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// [`FakeHost::await_wait`], then moves the clock to that deadline: the next thing
    /// leaktop does on schedule happens now. The fake time then, or `None` if no thread
    /// came to wait.
    pub fn wake_next(&self, limit: Duration) -> Option<Duration> {
        let due = self.await_wait(limit)?;
        let now = self.elapsed();
        self.pass(due.saturating_sub(now));
        Some(self.elapsed())
    }

    /// [`FakeHost::wake_next`], then [`FakeHost::await_wait`]: the tick that was due
    /// has been taken, and its thread waits for the next one (its deadline).
    pub fn tick(&self, limit: Duration) -> Option<Duration> {
        self.wake_next(limit)?;
        self.await_wait(limit)
    }

    /// What happened, in order, with the fake time it happened at: every sample
    /// taken (`sample`), every wait for the clock begun (`wait until T` or `wait`),
    /// every signal raised to leaktop (`raise N`), every file created (`create PATH`).
    pub fn log(&self) -> Vec<(Duration, String)> {
        self.world().log.clone()
    }

    /// Delivers `signal` to leaktop's listeners for it, as sent by another process
    /// (`sent`) or not (a terminal's Ctrl-C); how many listeners heard it.
    pub fn raise(&self, signal: i32, sent: bool) -> usize {
        let listeners: Vec<Arc<Mutex<Deliver>>> = {
            let mut w = self.world();
            w.note(format!("raise {signal}"));
            w.listeners
                .iter()
                .filter(|(_, signals, _)| signals.contains(&signal))
                .map(|(_, _, d)| d.clone())
                .collect()
        };
        let mut heard = 0;
        for deliver in listeners {
            let mut deliver = deliver.lock().unwrap_or_else(|e| e.into_inner());
            if (*deliver)(signal, sent) {
                heard += 1;
            }
        }
        heard
    }

    /// The signals leaktop listens for now, by listener.
    pub fn listening(&self) -> Vec<Vec<i32>> {
        self.world()
            .listeners
            .iter()
            .map(|(_, s, _)| s.clone())
            .collect()
    }

    /// The signals leaktop asked to die of ([`Host::die_of`]), in order.
    pub fn died_of(&self) -> Vec<i32> {
        self.world().died_of.clone()
    }

    /// Sets the wall clock to read `at` now (it goes on with the fake clock; at fake
    /// time zero it reads [`WALL_START`] unless set).
    pub fn set_wall_clock(&self, at: SystemTime) {
        let mut w = self.world();
        let at = at
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        w.wall_start = at.saturating_sub(w.now.as_millis() as u64);
    }

    /// The machine's name (default `fakehost`).
    pub fn set_hostname(&self, name: &str) {
        self.world().hostname = name.into();
    }

    /// What [`Host::become_subreaper`] answers: `Ok(true)` makes leaktop the subreaper
    /// of what is orphaned below it when asked; `Err(kind)`: the kernel refuses.
    pub fn support_subreaper(&self, answer: Result<bool, io::ErrorKind>) {
        self.world().subreaper = answer;
    }

    /// `tid` is a thread of the process `pid` ([`Host::thread_group`]).
    pub fn add_thread(&self, tid: u32, pid: u32) {
        self.world().threads.insert(tid, pid);
    }

    /// The names leaktop gave itself ([`Host::set_process_name`]).
    pub fn process_names(&self) -> Vec<String> {
        self.world().process_names.clone()
    }

    /// Every rename and removal of a file leaktop asked for, in order.
    pub fn renames(&self) -> Vec<(PathBuf, PathBuf)> {
        self.world().renames.clone()
    }

    pub fn removals(&self) -> Vec<PathBuf> {
        self.world().removals.clone()
    }

    /// Every wait leaktop asked for with [`Host::sleep`].
    pub fn sleeps(&self) -> Vec<Duration> {
        self.world().sleeps.clone()
    }

    /// Each call leaktop makes to the host (or through a pinned handle) takes this
    /// long in fake time; default zero.
    pub fn set_call_cost(&self, cost: Duration) {
        self.world().call_cost = cost;
    }

    /// Orphans go to `pid` (a subreaper) instead of init.
    pub fn set_reparent_to(&self, pid: u32) {
        self.world().reparent_to = pid;
    }

    /// Makes the process at `pid` exit now with `code`.
    pub fn exit(&self, pid: u32, code: u8) {
        self.world().die(pid, Exit::Code(code));
    }

    /// Makes the process at `pid` end `after` this much fake time, as `how` says (a
    /// signal from elsewhere, a crash, an exit).
    pub fn end_after(&self, pid: u32, after: Duration, how: Exit) {
        let mut w = self.world();
        let at = w.now + after;
        if let Some(live) = w.procs.get_mut(&pid) {
            live.dies_at = Some(at);
            live.exit = Some(how);
        }
    }

    /// Makes the process at `pid` fork a child now; returns the child's pid.
    pub fn fork(&self, pid: u32) -> u32 {
        self.world().fork(pid)
    }

    /// The next [`Host::reap`] also returns `(pid, exit)`.
    pub fn push_reap(&self, pid: u32, exit: Exit) {
        self.world().scripted_reaps.push_back((pid, exit));
    }

    /// The identities [`Host::memory`] was asked about, in order.
    pub fn memory_reads(&self) -> Vec<Identity> {
        self.world().memory_reads.clone()
    }

    /// Signals to `pid` fail with [`SignalError::Denied`] (another user's process).
    pub fn deny(&self, pid: u32) {
        self.world().denied.insert(pid);
    }

    /// `pid` exists but cannot be read or pinned (hidden `/proc`).
    pub fn hide(&self, pid: u32) {
        self.world().hidden.insert(pid);
    }

    /// The next [`Host::create`] fails with `kind`.
    pub fn fail_next_create(&self, kind: io::ErrorKind) {
        self.world().create_errors.push_back(kind);
    }

    /// Every file leaktop asked to create, in order, and how.
    pub fn creates(&self) -> Vec<(PathBuf, Create)> {
        self.world().creates.clone()
    }

    /// [`Host::owner`] says `uid` owns `path` (someone else's directory).
    pub fn set_owner(&self, path: &Path, uid: u32) {
        self.world().owners.insert(path.to_path_buf(), uid);
    }

    /// Every directory leaktop asked to make, in order.
    pub fn made_dirs(&self) -> Vec<PathBuf> {
        self.world().made_dirs.clone()
    }

    /// Every [`Host::spawn`] fails with `kind` (NotFound, PermissionDenied, other).
    pub fn fail_spawns(&self, kind: io::ErrorKind) {
        self.world().spawn_error = Some(kind);
    }

    /// The argv of everything leaktop spawned, in order.
    pub fn spawns(&self) -> Vec<Vec<OsString>> {
        self.world().spawns.clone()
    }

    /// How many times [`Host::scan`] listed every process.
    pub fn scans(&self) -> usize {
        self.world().scans
    }

    /// How many times a [`FakeSampler`] has sampled.
    pub fn samples_taken(&self) -> usize {
        self.world().samples
    }

    /// Holds the first thread that sends `signal`, before it reaches its process.
    pub fn hold_signal(&self, signal: Signal) -> Hold {
        self.hold(Point::Signal(signal))
    }

    /// Holds the first thread that creates a file, before it does.
    pub fn hold_create(&self) -> Hold {
        self.hold(Point::Create)
    }

    /// Holds the first thread that sleeps, before its wait.
    pub fn hold_sleep(&self) -> Hold {
        self.hold(Point::Sleep)
    }

    /// A sampler over this table.
    pub fn sampler(&self) -> FakeSampler {
        FakeSampler {
            host: self.clone(),
            seen: HashSet::new(),
        }
    }

    /// How the fake's start times map to wall time.
    pub fn start_clock(&self) -> StartClock {
        StartClock {
            boot_ms: BOOT_MS,
            per_sec: START_PER_SEC,
        }
    }
}

/// Wakes the threads waiting on these alarms to look at the clock again.
fn nudge(alarms: &[Alarm]) {
    for a in alarms {
        a.nudge();
    }
}

/// A handle on one process of the fake table, as a pidfd is: it reaches that process
/// or nothing.
struct FakePin {
    id: Identity,
    host: FakeHost,
}

impl Pinned for FakePin {
    fn id(&self) -> Identity {
        self.id
    }

    fn signal(&self, signal: Signal) -> Result<(), SignalError> {
        self.host.checkpoint(Point::Signal(signal));
        let mut w = self.host.call();
        let result = match w.procs.get(&self.id.pid) {
            Some(l) if l.p.start == self.id.start => {
                if w.denied.contains(&self.id.pid) {
                    Err(SignalError::Denied)
                } else {
                    Ok(())
                }
            }
            _ => Err(SignalError::Gone),
        };
        w.attempts.push((self.id, signal, result.clone()));
        if result.is_ok() {
            w.signals.push((self.id.pid, signal));
            w.deliver(self.id.pid, signal);
        }
        result
    }
}

impl Host for FakeHost {
    fn sampler(&self, _backend: Backend) -> Result<Box<dyn Sampler + Send>, SampleError> {
        Ok(Box::new(FakeHost::sampler(self)))
    }

    fn probe(&self, pid: u32) -> Option<ProcSample> {
        let w = self.call();
        if w.hidden.contains(&pid) {
            return None;
        }
        w.procs.get(&pid).map(|l| l.p.sample())
    }

    fn scan(&self) -> Vec<ProcSample> {
        let mut w = self.call();
        w.scans += 1;
        w.procs
            .values()
            .filter(|l| !w.hidden.contains(&l.p.pid))
            .map(|l| l.p.sample())
            .collect()
    }

    fn children_of(&self, pid: u32, out: &mut Vec<u32>) {
        let w = self.call();
        out.extend(
            w.procs
                .values()
                .filter(|l| l.p.ppid == pid && l.p.pid != pid)
                .map(|l| l.p.pid),
        );
    }

    fn own_pid(&self) -> u32 {
        self.world().own_pid
    }

    fn exe_id(&self, pid: u32) -> Option<(u64, u64)> {
        let w = self.call();
        if w.hidden.contains(&pid) || w.denied.contains(&pid) {
            return None;
        }
        w.procs.get(&pid).and_then(|l| l.p.exe)
    }

    fn stdio_on_terminal(&self, pid: u32) -> Option<bool> {
        let w = self.call();
        if w.hidden.contains(&pid) || w.denied.contains(&pid) {
            return None;
        }
        let stdio = w.procs.get(&pid)?.p.facts.stdio?;
        Some(stdio.contains(&StdioKind::Terminal))
    }

    fn exists(&self, pid: u32) -> bool {
        self.call().procs.contains_key(&pid)
    }

    fn now(&self) -> Instant {
        self.shared.base + self.call().now
    }

    fn wall_clock(&self) -> SystemTime {
        let w = self.call();
        SystemTime::UNIX_EPOCH + Duration::from_millis(w.wall_start) + w.now
    }

    fn hostname(&self) -> String {
        self.call().hostname.clone()
    }

    fn sleep(&self, duration: Duration) {
        self.checkpoint(Point::Sleep);
        self.world().sleeps.push(duration);
        self.pass(duration);
    }

    fn wait(&self, deadline: Option<Instant>, alarm: &Alarm) -> bool {
        self.checkpoint(Point::Wait);
        let base = self.shared.base;
        let due = deadline.map(|d| d.saturating_duration_since(base));
        let me = {
            let mut w = self.world();
            let me = w.next_waiter;
            w.next_waiter += 1;
            w.waiting.push((me, due, alarm.clone()));
            w.note(match due {
                Some(d) => format!("wait until {d:?}"),
                None => "wait".into(),
            });
            me
        };
        // The clock moves only when someone moves it: until then, wait for a nudge.
        let rang = alarm.wait_while(|| match due {
            Some(d) if self.world().now >= d => Some(Duration::ZERO),
            _ => None,
        });
        self.world().waiting.retain(|(id, ..)| *id != me);
        rang
    }

    fn events(&self, request: EventRequest) -> Box<dyn EventSource> {
        self.event_source(request)
    }

    fn pin(&self, id: Identity) -> Result<Box<dyn Pinned>, PinError> {
        let w = self.call();
        if w.hidden.contains(&id.pid) {
            return Err(PinError::Inaccessible("hidden by the fake".into()));
        }
        match w.procs.get(&id.pid) {
            None => Err(PinError::Gone),
            Some(l) if l.p.start != id.start => Err(PinError::Reused),
            Some(_) => Ok(Box::new(FakePin {
                id,
                host: self.clone(),
            })),
        }
    }

    fn reap(&self) -> Vec<(u32, Exit)> {
        let mut w = self.call();
        let me = w.own_pid;
        let zombies: Vec<(u32, Exit)> = w
            .procs
            .values()
            .filter(|l| l.p.ppid == me && l.p.state == b'Z')
            .map(|l| (l.p.pid, l.exit.unwrap_or(Exit::Code(0))))
            .collect();
        for (pid, _) in &zombies {
            w.procs.remove(pid);
        }
        let mut reaped: Vec<(u32, Exit)> = w.scripted_reaps.drain(..).collect();
        reaped.extend(zombies);
        reaped
    }

    fn spawn(&self, spec: &SpawnSpec) -> Result<Spawned, SpawnError> {
        let mut w = self.call();
        w.spawns.push(spec.argv.clone());
        let program = spec
            .argv
            .first()
            .map(|a| a.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(kind) = w.spawn_error {
            return Err(match kind {
                io::ErrorKind::NotFound => SpawnError::NotFound(program),
                io::ErrorKind::PermissionDenied => SpawnError::NotExecutable(program),
                kind => SpawnError::Other(program, kind.into()),
            });
        }
        let me = w.own_pid;
        let mut pid = w.next_pid;
        while w.procs.contains_key(&pid) {
            pid += 1;
        }
        let name = Path::new(&program)
            .file_name()
            .map_or(program.clone(), |n| n.to_string_lossy().into_owned());
        let args: Vec<String> = spec
            .argv
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let start = w.start_now();
        w.add(Proc::new(pid, me, &name).cmd(&args.join(" ")).start(start));
        let id = Identity { pid, start };
        Ok(Spawned {
            pid,
            pinned: Box::new(FakePin {
                id,
                host: self.clone(),
            }),
        })
    }

    fn listen_signals(&self, signals: &[i32], deliver: Deliver) -> io::Result<Listening> {
        let id = {
            let mut w = self.call();
            let id = w.next_listener;
            w.next_listener += 1;
            w.listeners
                .push((id, signals.to_vec(), Arc::new(Mutex::new(deliver))));
            id
        };
        let fake = self.clone();
        Ok(Listening::new(move || {
            fake.world().listeners.retain(|(l, ..)| *l != id);
        }))
    }

    fn die_of(&self, signal: i32) {
        self.call().died_of.push(signal);
    }

    fn set_process_name(&self, name: &str) {
        self.call().process_names.push(name.into());
    }

    fn create(&self, path: &Path, how: Create) -> io::Result<File> {
        self.checkpoint(Point::Create);
        let scripted = {
            let mut w = self.call();
            w.creates.push((path.to_path_buf(), how));
            w.note(format!("create {}", path.display()));
            w.create_errors.pop_front()
        };
        if let Some(kind) = scripted {
            return Err(kind.into());
        }
        // The real thing, with the Unix hosts' flags.
        leaktop::host::create_file(path, how)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.call()
            .renames
            .push((from.to_path_buf(), to.to_path_buf()));
        std::fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.call().removals.push(path.to_path_buf());
        std::fs::remove_file(path)
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.call().made_dirs.push(path.to_path_buf());
        // The real thing, as the Unix hosts make them.
        leaktop::host::create_dir_all(path)
    }

    fn owner(&self, path: &Path) -> io::Result<u32> {
        match self.call().owners.get(path) {
            Some(&uid) => Ok(uid),
            None => leaktop::host::owner(path),
        }
    }

    fn mem_available_kb(&self) -> Option<u64> {
        // Not scripted: the kill's second opinion is left out.
        None
    }

    fn facts(&self, id: Identity) -> Option<ProcFacts> {
        let w = self.call();
        if w.hidden.contains(&id.pid) {
            return None;
        }
        let p = &w.procs.get(&id.pid).filter(|l| l.p.start == id.start)?.p;
        if w.denied.contains(&id.pid) {
            return Some(ProcFacts {
                tty_nr: p.facts.tty_nr,
                exiting: p.facts.exiting,
                denied: true,
                ..ProcFacts::default()
            });
        }
        Some(p.facts.clone())
    }

    fn uid(&self, id: Identity) -> Option<u32> {
        self.facts(id)?.uid
    }

    fn service_main_pid(&self, unit: &str) -> Option<u32> {
        self.call().units.get(unit).copied()
    }

    fn thread_group(&self, pid: u32) -> Option<u32> {
        let w = self.call();
        if let Some(&process) = w.threads.get(&pid) {
            return Some(process);
        }
        (w.procs.contains_key(&pid) && !w.hidden.contains(&pid)).then_some(pid)
    }

    fn become_subreaper(&self) -> io::Result<bool> {
        let mut w = self.call();
        match w.subreaper {
            Ok(true) => {
                w.reparent_to = w.own_pid;
                Ok(true)
            }
            Ok(false) => Ok(false),
            Err(kind) => Err(kind.into()),
        }
    }

    fn user_id(&self, name: &str) -> Option<u32> {
        self.call().users.get(name).copied()
    }

    fn now_start(&self) -> Option<u64> {
        Some(self.call().start_now())
    }

    fn idle_ms(&self, ids: &[Identity]) -> Vec<Option<u64>> {
        let w = self.call();
        ids.iter()
            .map(|id| {
                let p = &w.procs.get(&id.pid)?.p;
                let at = p
                    .last_ran
                    .filter(|_| p.start == id.start && !w.hidden.contains(&id.pid))?;
                u64::try_from(w.now.saturating_sub(at).as_millis()).ok()
            })
            .collect()
    }

    fn gpu(&self) -> Option<&dyn leaktop::host::gpu::Gpu> {
        self.gpu_port()
    }

    fn memory(&self, id: Identity) -> Option<Memory> {
        let mut w = self.call();
        w.memory_reads.push(id);
        if w.hidden.contains(&id.pid) {
            return None;
        }
        let p = &w.procs.get(&id.pid)?.p;
        (p.start == id.start && p.state != b'Z')
            .then_some(p.memory)
            .flatten()
    }
}

/// A [`Sampler`] over a [`FakeHost`]'s table: each call returns the members still
/// there (or whoever has their pid now) and every process it has not returned before.
pub struct FakeSampler {
    host: FakeHost,
    seen: HashSet<Identity>,
}

impl Sampler for FakeSampler {
    fn sample(
        &mut self,
        members: &[Identity],
        out: &mut Vec<ProcSample>,
    ) -> Result<(), SampleError> {
        let mut w = self.host.world();
        w.samples += 1;
        w.note("sample".into());
        let wanted: HashSet<u32> = members.iter().map(|m| m.pid).collect();
        for l in w.procs.values() {
            if w.hidden.contains(&l.p.pid) {
                continue;
            }
            if wanted.contains(&l.p.pid) || self.seen.insert(l.p.id()) {
                out.push(l.p.sample());
            }
        }
        Ok(())
    }

    fn command(&mut self, id: Identity) -> Option<Command> {
        let w = self.host.world();
        let l = w.procs.get(&id.pid).filter(|l| l.p.start == id.start)?;
        Some(Command {
            name: l.p.comm.clone(),
            cmd: l.p.cmd.clone(),
        })
    }

    fn probe(&mut self, pid: u32) -> Option<ProcSample> {
        let w = self.host.world();
        if w.hidden.contains(&pid) {
            return None;
        }
        w.procs.get(&pid).map(|l| l.p.sample())
    }

    fn start_clock(&self) -> Option<StartClock> {
        Some(self.host.start_clock())
    }
}

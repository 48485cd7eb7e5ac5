//! What a watcher's journal adds to `leaktop orphans`: the stories of the processes
//! still alive, and whether a watcher is running. (The configuration file's
//! `[[ignore]]` rules join `--allow`'s in [`super::orphans::ScanOptions::allowed`].)

use std::path::{Path, PathBuf};

use crate::format::journal::{self, WatcherFile};
use crate::host::Host;
use crate::model::watch::record::Record;
use crate::model::watch::story::Stories;
use crate::sample::{IdSet, Identity};

/// What `leaktop orphans` is told besides its options.
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// The configuration file used, if any (named in `--json`).
    pub config: Option<PathBuf>,
    /// The journal directories to read stories from, and look for a watcher in.
    pub journals: Vec<PathBuf>,
}

/// A watcher's pid file, and whether that watcher is alive now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watcher {
    pub dir: PathBuf,
    pub file: WatcherFile,
    /// The process of the pid file is alive (same pid and start time).
    pub running: bool,
}

/// The system's journal directory (a watcher run as root).
pub const SYSTEM_JOURNAL: &str = "/var/lib/leaktop";

/// The journal directory of leaktop's user: `/var/lib/leaktop` as root, else
/// `$XDG_STATE_HOME/leaktop` (or `~/.local/state/leaktop`); `env` reads the
/// environment.
pub fn own_journal(host: &dyn Host, env: &dyn Fn(&str) -> Option<std::ffi::OsString>) -> PathBuf {
    let own = host.own_pid();
    if host.probe(own).and_then(|s| host.uid(s.id())) == Some(0) {
        return PathBuf::from(SYSTEM_JOURNAL);
    }
    let state = env("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("."));
    state.join("leaktop")
}

/// The journals to read stories from: `LEAKTOP_JOURNAL` if set (the tests point it
/// away from this machine's), else this user's and the system's.
pub fn journals(host: &dyn Host, env: &dyn Fn(&str) -> Option<std::ffi::OsString>) -> Vec<PathBuf> {
    if let Some(dir) = env("LEAKTOP_JOURNAL").filter(|v| !v.is_empty()) {
        return vec![PathBuf::from(dir)];
    }
    let own = own_journal(host, env);
    let system = PathBuf::from(SYSTEM_JOURNAL);
    if own == system {
        vec![own]
    } else {
        vec![own, system]
    }
}

/// The watchers of `dirs` that left a pid file.
pub fn watchers(host: &dyn Host, dirs: &[PathBuf]) -> Vec<Watcher> {
    dirs.iter()
        .filter_map(|dir| {
            let file = WatcherFile::read(dir)?;
            let running = host
                .probe(file.pid)
                .is_some_and(|s| s.start == file.start && !s.has_exited());
            Some(Watcher {
                dir: dir.clone(),
                file,
                running,
            })
        })
        .collect()
}

/// The stories the journals of `dirs` tell of the processes in `alive`, and the
/// warnings reading them gave (damaged or foreign files). Memory is bounded by
/// `alive`: a story of a process no longer there is not kept.
pub fn stories(dirs: &[PathBuf], alive: &IdSet<Identity>) -> (Stories, Vec<String>) {
    let mut stories = Stories::new();
    let mut warnings = Vec::new();
    for dir in dirs {
        read_stories(dir, &mut stories, &mut |id| alive.contains(&id), &mut |w| {
            warnings.push(w)
        });
    }
    (stories, warnings)
}

/// Reads the stories of `dir` into `stories`, keeping the processes `keep` accepts;
/// a fate forgets its process.
pub fn read_stories(
    dir: &Path,
    stories: &mut Stories,
    keep: &mut dyn FnMut(Identity) -> bool,
    warn: &mut dyn FnMut(String),
) -> journal::ReadSummary {
    journal::read(
        dir,
        &mut |r| match r {
            Record::Orphaned(o) => stories.add(&o, keep),
            Record::Fate(f) => stories.forget(Identity {
                pid: f.pid,
                start: f.start,
            }),
            _ => {}
        },
        warn,
    )
}

/// A watcher in one line, for stderr: "a watcher has been running for 2h13m (pid
/// 4242, events from the connector; journal /var/lib/leaktop)", or why there is none.
pub fn watcher_line(watchers: &[Watcher], journals: &[PathBuf], now_ms: u64) -> String {
    let since = |w: &Watcher| crate::human::age(now_ms.saturating_sub(w.file.since_ms));
    if let Some(w) = watchers.iter().find(|w| w.running) {
        return format!(
            "leaktop: a watcher has been running for {} (pid {}, events from {}; journal {})",
            since(w),
            w.file.pid,
            w.file.source,
            crate::human::shown_path(&w.dir)
        );
    }
    match watchers.first() {
        Some(w) => format!(
            "leaktop: no watcher is running (the last one, pid {}, started {} ago); stories up to its end from {}",
            w.file.pid,
            since(w),
            crate::human::shown_path(&w.dir)
        ),
        None => {
            let dir = journals.first().map_or_else(String::new, |d| {
                format!(" (journal {})", crate::human::shown_path(d))
            });
            format!(
                "leaktop: no watcher is running{dir}: with `leaktop watch` left running, each orphan comes with its story (see the README's Deployments)"
            )
        }
    }
}

/// One scan judged with what is known besides `/proc`.
pub struct Judged {
    pub scan: super::orphans::Scan,
    pub stories: Stories,
}

/// Classifies `samples` (a whole scan) with `stories`: each watched process listed,
/// its story as evidence, groups with strong stories first.
pub fn judge(
    scanner: &mut super::orphans::Scanner,
    samples: Vec<crate::sample::ProcSample>,
    opts: &super::orphans::ScanOptions,
    stories: Stories,
    now_ms: u64,
) -> Judged {
    scanner.set_watched(stories.strong_ids());
    let mut scan = scanner.classify(samples, opts);
    crate::model::watch::story::attach(&mut scan.classified, &stories, now_ms);
    Judged { scan, stories }
}

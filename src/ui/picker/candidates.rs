//! The processes the picker lists, with what each is sorted by: its own RSS, its
//! family's, its CPU time, its age, its family's size or its name.

use std::cmp::Ordering;
use std::collections::HashMap;

use crate::sample::{Command, ProcSample, StartClock};

/// A process the picker lists.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Candidate {
    pub pid: u32,
    /// Its parent's pid (`/proc/PID/stat` field 4).
    pub ppid: u32,
    pub name: String,
    pub cmd: String,
    /// Its own resident memory, KiB (`/proc/PID/stat` rss, in pages, as KiB).
    pub rss_kb: u64,
    /// The resident memory of it and all its descendants, summed, KiB (shared pages
    /// counted once per process, as RSS does).
    pub subtree_rss_kb: u64,
    /// The process itself and all its descendants.
    pub subtree_len: usize,
    /// CPU time used so far, user and system, ms (`/proc/PID/stat` utime + stime).
    pub cpu_ms: u64,
    /// When it started, in the sampler's units since boot (`/proc/PID/stat` starttime).
    pub start: u64,
    /// How long it has run, ms; `None` where the sampler cannot say when it started
    /// in wall time.
    pub age_ms: Option<u64>,
    /// GPU memory it holds, KiB (NVML, DRM fdinfo), read for the rows shown first on a
    /// machine with a GPU ([`crate::ui::picker::fill_gpu`]); `None`: unknown or not
    /// read.
    pub gpu_kb: Option<u64>,
}

/// What the list is sorted by (htop's and btop's sort keys); `<`, `>` and `F6` cycle
/// through them in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// Its own RSS, largest first: ancestors whose only weight is their children's
    /// do not fill the top.
    #[default]
    Rss,
    /// Its family's summed RSS, largest first.
    FamilyRss,
    /// CPU time used so far, most first.
    Cpu,
    /// Age, oldest first.
    Age,
    /// Processes in its family, most first.
    Procs,
    /// Name, A to Z.
    Name,
}

impl SortKey {
    const ALL: [SortKey; 6] = [
        SortKey::Rss,
        SortKey::FamilyRss,
        SortKey::Cpu,
        SortKey::Age,
        SortKey::Procs,
        SortKey::Name,
    ];

    /// The key after this one (`by` = 1) or before it (`by` = -1), round the list.
    pub fn step(self, by: isize) -> SortKey {
        let n = Self::ALL.len() as isize;
        let at = Self::ALL.iter().position(|&k| k == self).unwrap_or(0) as isize;
        Self::ALL[(at + by).rem_euclid(n) as usize]
    }

    /// The header's words for it: `RSS (largest first)`.
    pub fn label(self) -> &'static str {
        match self {
            SortKey::Rss => "RSS, largest first",
            SortKey::FamilyRss => "family RSS, largest first",
            SortKey::Cpu => "CPU time, most first",
            SortKey::Age => "age, oldest first",
            SortKey::Procs => "processes in the family, most first",
            SortKey::Name => "name, A to Z",
        }
    }

    /// `a` before `b` under this key; ties go by pid.
    pub fn order(self, a: &Candidate, b: &Candidate) -> Ordering {
        match self {
            SortKey::Rss => b.rss_kb.cmp(&a.rss_kb),
            SortKey::FamilyRss => b.subtree_rss_kb.cmp(&a.subtree_rss_kb),
            SortKey::Cpu => b.cpu_ms.cmp(&a.cpu_ms),
            SortKey::Age => a.start.cmp(&b.start),
            SortKey::Procs => b.subtree_len.cmp(&a.subtree_len),
            SortKey::Name => a.name.to_lowercase().cmp(&b.name.to_lowercase()),
        }
        .then(a.pid.cmp(&b.pid))
    }
}

/// Every process worth watching, largest family first. Kernel threads, PID 1 (its
/// subtree is the whole machine) and `exclude` (leaktop itself) are left out. With
/// `clock` and `now_ms` (ms since the Unix epoch), each one's age is known.
pub fn candidates(
    samples: &[ProcSample],
    mut command: impl FnMut(&ProcSample) -> Command,
    exclude: u32,
    clock: Option<(StartClock, u64)>,
) -> Vec<Candidate> {
    let index: HashMap<u32, usize> = samples
        .iter()
        .enumerate()
        .map(|(i, s)| (s.pid, i))
        .collect();
    let mut rss: Vec<u64> = samples.iter().map(|s| s.rss_kb).collect();
    let mut len = vec![1usize; samples.len()];
    // Add each process to all its ancestors.
    for (i, s) in samples.iter().enumerate() {
        let mut seen = 0;
        let mut p = s.ppid;
        while let Some(&a) = index.get(&p) {
            rss[a] += samples[i].rss_kb;
            len[a] += 1;
            p = samples[a].ppid;
            seen += 1;
            if seen > samples.len() {
                break; // a cycle from a torn read
            }
        }
    }
    let kernel = |s: &ProcSample| s.pid == 2 || s.ppid == 2;
    let mut out: Vec<Candidate> = samples
        .iter()
        .enumerate()
        .filter(|(_, s)| s.pid > 1 && !kernel(s) && s.pid != exclude && !s.has_exited())
        .map(|(i, s)| {
            let c = command(s);
            Candidate {
                pid: s.pid,
                ppid: s.ppid,
                name: c.name,
                cmd: c.cmd,
                rss_kb: s.rss_kb,
                subtree_rss_kb: rss[i],
                subtree_len: len[i],
                cpu_ms: s.cpu_ms,
                start: s.start,
                age_ms: clock.map(|(c, now)| now.saturating_sub(c.started_ms(s.start))),
                gpu_kb: None,
            }
        })
        .collect();
    out.sort_by(|a, b| SortKey::FamilyRss.order(a, b));
    out
}

//! `--name PATTERN`: the one lookup of the processes a pattern names, for `record` and
//! the view alike.

use std::collections::HashMap;

use crate::host::Host;
use crate::sample::{self, Backend, Command, ProcSample, SampleError};

/// `--name PATTERN`: every process whose command matches, oldest first, from one scan
/// with a sampler of `backend`'s kind (leaktop itself and its ancestors left out).
pub fn find_all_by_name(
    host: &dyn Host,
    backend: Backend,
    pattern: &str,
) -> Result<NameMatches, SampleError> {
    let mut sampler = host.sampler(backend)?;
    let all = sample::scan(sampler.as_mut())?;
    let command = |s: &ProcSample| sampler.command(s.id()).unwrap_or_default();
    Ok(all_matching(&all, command, pattern, host.own_pid()))
}

/// What `--name PATTERN` found: the matching processes, oldest first, and the pids
/// of the descendants of the oldest among all processes.
#[derive(Debug, Clone, Default)]
pub struct NameMatches {
    /// The `--name` pattern.
    pub pattern: String,
    /// Oldest first (start time, then pid).
    pub matches: Vec<(ProcSample, Command)>,
    /// How many of the later matches are descendants of the first.
    pub under_first: usize,
}

impl NameMatches {
    /// The process `--name` watches: the oldest match.
    pub fn picked(&self) -> Option<u32> {
        self.matches.first().map(|(s, _)| s.pid)
    }

    /// The pids of every match, oldest first.
    pub fn pids(&self) -> Vec<u32> {
        self.matches.iter().map(|(s, _)| s.pid).collect()
    }

    /// With several matches, one line saying how many, which one is watched and why;
    /// `None` with one match or none.
    pub fn choice(&self) -> Option<String> {
        let [(first, command), rest @ ..] = self.matches.as_slice() else {
            return None;
        };
        if rest.is_empty() {
            return None;
        }
        let shown: Vec<String> = rest
            .iter()
            .take(5)
            .map(|(s, _)| s.pid.to_string())
            .collect();
        let more = if rest.len() > 5 {
            format!(" and {} more", rest.len() - 5)
        } else {
            String::new()
        };
        let why = if self.under_first == rest.len() {
            "the oldest; the others are its descendants, in its family".to_string()
        } else if self.under_first > 0 {
            format!(
                "the oldest; {} of the others are its descendants, the rest are not watched",
                self.under_first
            )
        } else {
            "the oldest; the others are not watched".to_string()
        };
        let cmd: String = command.cmd.chars().take(60).collect();
        Some(format!(
            "--name '{}' matches {} processes: watching {} ({cmd}), {why} ({}{more}); use --pid to choose another",
            self.pattern,
            self.matches.len(),
            first.pid,
            shown.join(", "),
        ))
    }
}

/// Every process whose name or command line contains `pattern`, oldest first, other
/// than leaktop itself and its ancestors (whose command lines contain the pattern
/// too).
pub fn all_matching(
    samples: &[ProcSample],
    mut command: impl FnMut(&ProcSample) -> Command,
    pattern: &str,
    me: u32,
) -> NameMatches {
    let by_pid: HashMap<u32, &ProcSample> = samples.iter().map(|s| (s.pid, s)).collect();
    let mut mine = vec![me];
    let mut p = me;
    while let Some(s) = by_pid.get(&p) {
        if s.ppid == 0 || mine.contains(&s.ppid) {
            break;
        }
        mine.push(s.ppid);
        p = s.ppid;
    }
    let mut matches: Vec<(ProcSample, Command)> = samples
        .iter()
        .filter(|s| !mine.contains(&s.pid) && !s.has_exited() && s.pid > 1)
        .filter_map(|s| {
            let c = command(s);
            c.matches(pattern).then_some((*s, c))
        })
        .collect();
    matches.sort_by_key(|(s, _)| (s.start, s.pid));
    let under_first = match matches.first() {
        Some((first, _)) => matches[1..]
            .iter()
            .filter(|(s, _)| {
                let mut p = s.ppid;
                for _ in 0..samples.len() {
                    if p == first.pid {
                        return true;
                    }
                    match by_pid.get(&p) {
                        Some(a) if p > 1 => p = a.ppid,
                        _ => return false,
                    }
                }
                false
            })
            .count(),
        None => 0,
    };
    NameMatches {
        pattern: pattern.to_string(),
        matches,
        under_first,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::Comm;

    fn s(pid: u32, ppid: u32, start: u64) -> ProcSample {
        ProcSample {
            pid,
            ppid,
            state: b'S',
            rss_kb: 0,
            pgrp: pid,
            session: pid,
            start,
            cpu_ms: 0,
            comm: Comm::new(format!("p{pid}").as_bytes()),
        }
    }

    #[test]
    fn oldest_match_skips_leaktop_and_its_ancestors() {
        let mut samples = vec![
            s(10, 1, 10),
            s(20, 10, 20),
            s(30, 1, 30),
            s(40, 1, 40),
            s(50, 1, 50),
        ];
        samples[2].start = 5; // 30 is the oldest but one
        samples[4].start = 1; // 50, another leaktop watching "serve", is the oldest
        let cmd = |p: &ProcSample| Command {
            name: if p.pid == 50 {
                "leaktop".into()
            } else {
                format!("p{}", p.pid)
            },
            cmd: match p.pid {
                10 => "sh -c leaktop --name serve".into(),
                20 | 50 => "leaktop --name serve".into(),
                _ => format!("cce serve {}", p.pid),
            },
        };
        assert_eq!(all_matching(&samples, cmd, "serve", 20).picked(), Some(30));
        assert_eq!(all_matching(&samples, cmd, "nothing", 20).picked(), None);
    }

    #[test]
    fn several_matches_are_counted_and_the_choice_explained() {
        let mut samples = vec![s(10, 1, 10), s(11, 10, 11), s(30, 1, 30), s(40, 2, 40)];
        samples[3].start = 5; // 40 is the oldest, and no relation of the others
        let cmd = |p: &ProcSample| Command {
            name: "python3".into(),
            cmd: format!("python3 -m cce serve {}", p.pid),
        };
        let found = all_matching(&samples, cmd, "cce serve", 999);
        assert_eq!(found.pids(), [40, 10, 11, 30]);
        assert_eq!(found.picked(), Some(40));
        let line = found.choice().unwrap();
        assert!(line.contains("matches 4 processes"), "{line}");
        assert!(
            line.contains("watching 40 (python3 -m cce serve 40), the oldest"),
            "{line}"
        );
        assert!(line.contains("(10, 11, 30)"), "{line}");
        assert!(line.contains("use --pid"), "{line}");
        // A daemon and its own workers: they are in its family, and it says so.
        let family = all_matching(&samples[..2], cmd, "cce serve", 999);
        let line = family.choice().unwrap();
        assert!(line.contains("the others are its descendants"), "{line}");
        // One match: nothing to say.
        assert_eq!(
            all_matching(&samples[..1], cmd, "cce serve", 999).choice(),
            None
        );
    }
}

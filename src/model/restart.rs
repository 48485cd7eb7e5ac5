//! `--follow`'s rule for a restart: which process, first seen after the root exited,
//! is that root started again. Pure: what the processes run and who their parents are
//! comes in [`RootMarks`] and [`Candidate`]s.

use crate::sample::{Comm, Command, ExeId};

/// What a restarted root must share with the root that exited (see
/// [`plausible_restart`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RootMarks {
    /// The root's executable, if it could be read.
    pub exe: Option<ExeId>,
    /// The base name of the root's argv\[0\].
    pub argv0: String,
    /// The root's name when `exe` and `argv0` were read: a new name means an `exec`.
    pub comm: Comm,
    /// The root's parent at its last live tick: the supervisor, if it has one.
    pub parent: u32,
    /// The root's command line beyond argv\[0\] (its script or module and their
    /// arguments; see [`args_of`]), read with `argv0`.
    pub args: String,
    /// When the root was last seen alive (ms since the monitor started).
    pub seen_ms: u64,
}

/// A root that `--follow` moved, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restart {
    /// The new root.
    pub pid: u32,
    /// The root that had exited.
    pub previous: u32,
    /// The rule that made it a plausible restart, in words.
    pub rule: String,
}

/// What [`plausible_restart`] looks at in a candidate for the new root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Its parent.
    pub ppid: u32,
    /// Its executable, if it could be read.
    pub exe: Option<ExeId>,
    /// The base name of its argv\[0\].
    pub argv0: String,
    /// Its command line beyond argv\[0\] ([`args_of`]).
    pub args: String,
    /// It was already there, not of the family, while the old root lived (first seen
    /// at or before the old root's last live tick): an orphan of the old generation
    /// more likely than a restart, which a supervisor starts once the root is gone.
    pub old_generation: bool,
}

/// How good a plausible restart is; smaller is better: a child of the old root's
/// parent (its supervisor) first, then the same command line beyond argv\[0\] (the
/// same script or module), then one not of the old generation, then the same
/// executable over the same argv\[0\].
pub type Rank = (bool, bool, bool, bool);

/// Whether a restart of this rank is taken as soon as it is seen: it runs the old
/// root's command line and was not there while the old root lived. Any other is taken
/// only once a better one has had time to appear (an orphaned look-alike, the same
/// interpreter with the pattern among its arguments, often shows before the real
/// restart does when the supervisor is init).
pub fn is_sure(rank: Rank) -> bool {
    !rank.1 && !rank.2
}

/// Whether `c` is a plausible restart of the root that exited (`old`, whose marks are
/// `marks`), and if so how good a one and by which rule, in words. A plausible
/// restart runs the same executable as the old root (the file's device and inode), or
/// has the same argv\[0\] base name (an executable that cannot be read, or a binary
/// upgraded in place): a process that only mentions the pattern among its arguments
/// (`grep PATTERN`, an editor on a file so named, `watch pgrep -af PATTERN`) runs
/// something else. While the old root's parent (not init) is still alive, it is the
/// supervisor that restarts it, and only its children qualify.
pub fn plausible_restart(
    marks: &RootMarks,
    old: u32,
    supervisor_alive: bool,
    c: &Candidate,
) -> Option<(Rank, String)> {
    let same_exe = c.exe.is_some() && c.exe == marks.exe;
    let same_argv0 = !c.argv0.is_empty() && c.argv0 == marks.argv0;
    let what = if same_exe {
        format!("runs the same executable as root {old}")
    } else if same_argv0 && (c.exe.is_none() || marks.exe.is_none()) {
        format!(
            "its argv[0] is {:?} as root {old}'s was (the executable cannot be read)",
            c.argv0
        )
    } else if same_argv0 {
        // Both executables were read and differ: an upgraded binary, say.
        format!(
            "its argv[0] is {:?} as root {old}'s was (another executable file)",
            c.argv0
        )
    } else {
        return None;
    };
    let supervised = marks.parent > 1 && c.ppid == marks.parent;
    if !supervised && marks.parent > 1 && supervisor_alive {
        return None;
    }
    let whose = if supervised {
        format!(
            "a child of {}, the old root's parent (its supervisor)",
            c.ppid
        )
    } else {
        format!(
            "a child of {}; the old root's parent {} is gone or is init",
            c.ppid, marks.parent
        )
    };
    let same_args = c.args == marks.args;
    let args = if same_args {
        "the same command line beyond argv[0]".to_string()
    } else {
        format!("its arguments differ from root {old}'s")
    };
    let generation = if c.old_generation {
        format!("; it lived alongside root {old} (an orphan of the old generation?)")
    } else {
        String::new()
    };
    Some((
        (!supervised, !same_args, c.old_generation, !same_exe),
        format!("{what}; {whose}; {args}{generation}"),
    ))
}

/// A command line beyond its argv\[0\] (`/usr/bin/python3 -m x serve` → `-m x serve`),
/// empty for a bare name.
pub fn args_of(command: &Command) -> String {
    if command.is_bare() {
        return String::new();
    }
    command
        .cmd
        .split_once(' ')
        .map(|(_, rest)| rest.to_string())
        .unwrap_or_default()
}

/// The base name of a command's argv\[0\] (`/usr/bin/python3 -m x` → `python3`), or its
/// name when it has no command line.
pub fn argv0_base(command: &Command) -> String {
    if command.is_bare() {
        return command.name.clone();
    }
    let argv0 = command.cmd.split(' ').next().unwrap_or_default();
    argv0.rsplit('/').next().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marks() -> RootMarks {
        RootMarks {
            exe: Some((8, 1001)),
            argv0: "python3".into(),
            comm: Comm::new(b"python3"),
            parent: 50,
            args: "-m cced serve".into(),
            seen_ms: 0,
        }
    }

    fn cand(ppid: u32, exe: Option<ExeId>, argv0: &str) -> Candidate {
        Candidate {
            ppid,
            exe,
            argv0: argv0.into(),
            args: "-m cced serve".into(),
            old_generation: false,
        }
    }

    #[test]
    fn a_restart_runs_what_the_old_root_ran() {
        // Issue 13, fault 4: `watch pgrep -af serve`, `grep serve`, `tail -f log |
        // grep serve`, `vim serve.log` and another leaktop all mention the pattern in
        // their arguments; none of them runs the daemon's executable.
        for (exe, argv0) in [
            ((8, 2001), "watch"),
            ((8, 2002), "grep"),
            ((8, 2003), "vim"),
            ((8, 2004), "leaktop"),
            ((8, 2005), "sh"),
        ] {
            assert_eq!(
                plausible_restart(&marks(), 100, true, &cand(50, Some(exe), argv0)),
                None,
                "{argv0}"
            );
        }
        let (rank, rule) =
            plausible_restart(&marks(), 100, true, &cand(50, Some((8, 1001)), "python3"))
                .expect("the supervisor's new python3 is a restart");
        assert_eq!(rank, (false, false, false, false));
        assert!(is_sure(rank));
        assert!(rule.contains("same executable as root 100"), "{rule}");
        assert!(
            rule.contains("child of 50, the old root's parent"),
            "{rule}"
        );
    }

    #[test]
    fn a_child_of_the_supervisor_and_the_same_file_rank_first() {
        let m = marks();
        let supervised = plausible_restart(&m, 100, true, &cand(50, Some((8, 1001)), "python3"));
        // While the supervisor lives, a python3 started elsewhere is not its restart.
        assert_eq!(
            plausible_restart(&m, 100, true, &cand(77, Some((8, 1001)), "python3")),
            None
        );
        let elsewhere = plausible_restart(&m, 100, false, &cand(77, Some((8, 1001)), "python3"));
        let unreadable = plausible_restart(&m, 100, true, &cand(50, None, "python3"));
        let upgraded = plausible_restart(&m, 100, true, &cand(50, Some((8, 9999)), "python3"));
        let (a, b, c, d) = (
            supervised.unwrap(),
            elsewhere.unwrap(),
            unreadable.unwrap(),
            upgraded.unwrap(),
        );
        assert!(a.0 < c.0 && c.0 < b.0, "{a:?} {b:?} {c:?}");
        assert!(b.1.contains("parent 50 is gone"), "{}", b.1);
        assert!(c.1.contains("cannot be read"), "{}", c.1);
        assert!(d.1.contains("another executable file"), "{}", d.1);
        // Init is no supervisor: its children get no preference.
        let orphan = RootMarks {
            parent: 1,
            ..marks()
        };
        let r =
            plausible_restart(&orphan, 100, true, &cand(1, Some((8, 1001)), "python3")).unwrap();
        assert_eq!(r.0, (true, false, false, false));
    }

    #[test]
    fn the_same_script_then_a_newcomer_rank_before_an_orphaned_look_alike() {
        // Issue 27, fault 6: init supervises; an orphan of the old generation runs the
        // same interpreter with the pattern among other arguments.
        let m = RootMarks {
            parent: 1,
            ..marks()
        };
        let look_alike = Candidate {
            args: "-c import cced; cced.worker()".into(),
            old_generation: true,
            ..cand(1, Some((8, 1001)), "python3")
        };
        let restart = cand(1, Some((8, 1001)), "python3");
        let newcomer_other_args = Candidate {
            old_generation: false,
            ..look_alike.clone()
        };
        let orphan_same_args = Candidate {
            old_generation: true,
            ..restart.clone()
        };
        let rank = |c: &Candidate| plausible_restart(&m, 100, false, c).unwrap();
        let (a, b, c, d) = (
            rank(&restart),
            rank(&orphan_same_args),
            rank(&newcomer_other_args),
            rank(&look_alike),
        );
        assert!(
            a.0 < b.0 && b.0 < c.0 && c.0 < d.0,
            "{a:?} {b:?} {c:?} {d:?}"
        );
        assert!(is_sure(a.0) && !is_sure(b.0) && !is_sure(c.0) && !is_sure(d.0));
        assert!(
            d.1.contains("arguments differ") && d.1.contains("old generation"),
            "{}",
            d.1
        );
        assert!(a.1.contains("the same command line"), "{}", a.1);
    }

    #[test]
    fn args_are_what_follows_argv0() {
        let c = |name: &str, cmd: &str| Command {
            name: name.into(),
            cmd: cmd.into(),
        };
        assert_eq!(
            args_of(&c("python3", "/usr/bin/python3 -m cce serve")),
            "-m cce serve"
        );
        assert_eq!(args_of(&c("node", "node")), "");
        assert_eq!(args_of(&c("kworker/0", "[kworker/0]")), "");
    }

    #[test]
    fn argv0_is_the_base_name_of_the_first_word() {
        let c = |name: &str, cmd: &str| Command {
            name: name.into(),
            cmd: cmd.into(),
        };
        assert_eq!(
            argv0_base(&c("python3", "/usr/bin/python3 -m cce serve")),
            "python3"
        );
        assert_eq!(
            argv0_base(&c("sh", "sh -c while :; do sleep 1; done serve")),
            "sh"
        );
        assert_eq!(argv0_base(&c("kworker/0", "[kworker/0]")), "kworker/0");
    }
}

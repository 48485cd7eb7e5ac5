//! `[[policy]]`: what `leaktop watch` does about an orphan group a rule names, once
//! it has been orphaned long enough. Report-only by default.
//!
//! - `report` (the default): a `policy` record on standard output and in the journal,
//!   and a count in the metrics; once per group.
//! - `kill`: the safe kill (freeze, pidfd, identity re-check, signal, grace, SIGKILL)
//!   of a group with **strong** evidence only (a watched story of a killed or failed
//!   job, a gone leader with no live shell holding the session, …). A weak group is
//!   reported as not ended; an ignored one is left alone; PID 1, an adopter, leaktop
//!   and its ancestors are never signalled (the kill itself refuses them).
//!
//! Pure: [`decide`] takes what the caller knows of a group.

use crate::model::allow::AllowRule;

/// The signal a kill policy sends first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillWith {
    Term,
    Int,
    Hup,
    Kill,
}

impl KillWith {
    /// `TERM`, `SIGTERM`, `term`: the signal of that name.
    pub fn from_name(name: &str) -> Option<KillWith> {
        let n = name.trim().to_ascii_uppercase();
        Some(match n.strip_prefix("SIG").unwrap_or(&n) {
            "TERM" => KillWith::Term,
            "INT" => KillWith::Int,
            "HUP" => KillWith::Hup,
            "KILL" => KillWith::Kill,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            KillWith::Term => "SIGTERM",
            KillWith::Int => "SIGINT",
            KillWith::Hup => "SIGHUP",
            KillWith::Kill => "SIGKILL",
        }
    }
}

/// What a policy does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Report,
    /// End the group: `signal`, then SIGKILL after `grace_ms`.
    Kill {
        signal: KillWith,
        grace_ms: u64,
    },
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Report => "report",
            Action::Kill { .. } => "kill",
        }
    }
}

/// One `[[policy]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub name: String,
    /// The groups it applies to (the rule type of `--allow` and `[[ignore]]`): a
    /// group matches through any of its processes.
    pub rule: AllowRule,
    pub action: Action,
    /// How long a group must have been orphaned first, ms.
    pub after_ms: u64,
}

/// What the caller knows of a group the policy's rule matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupState {
    /// Some evidence is strong (a strong watched story counts).
    pub strong: bool,
    /// An `[[ignore]]` rule names it.
    pub ignored: bool,
    /// How long it has been orphaned, ms: from its watched story, else since the
    /// watcher first saw it (never more than it was).
    pub orphaned_for_ms: u64,
}

/// What to do about a group now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Nothing: ignored.
    Leave,
    /// Not yet: orphaned for less than the policy's `after`.
    Wait,
    Report,
    Kill {
        signal: KillWith,
        grace_ms: u64,
    },
    /// The policy would kill it, and may not: why.
    Refuse(&'static str),
}

/// What `policy` does now about a group its rule matched.
pub fn decide(policy: &Policy, g: GroupState) -> Decision {
    if g.ignored {
        return Decision::Leave;
    }
    if g.orphaned_for_ms < policy.after_ms {
        return Decision::Wait;
    }
    match policy.action {
        Action::Report => Decision::Report,
        Action::Kill { .. } if !g.strong => Decision::Refuse(
            "weak evidence: nothing says its job is gone (end it by hand: leaktop orphans --group ID --kill)",
        ),
        Action::Kill { signal, grace_ms } => Decision::Kill { signal, grace_ms },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(action: Action) -> Policy {
        Policy {
            name: "mcp".into(),
            rule: AllowRule::command("mcp-server"),
            action,
            after_ms: 600_000,
        }
    }

    const KILL: Action = Action::Kill {
        signal: KillWith::Term,
        grace_ms: 3000,
    };

    #[test]
    fn a_kill_policy_waits_its_duration_and_ends_only_strong_groups() {
        let strong = GroupState {
            strong: true,
            ignored: false,
            orphaned_for_ms: 600_000,
        };
        assert_eq!(
            decide(&policy(KILL), strong),
            Decision::Kill {
                signal: KillWith::Term,
                grace_ms: 3000
            }
        );
        let young = GroupState {
            orphaned_for_ms: 599_999,
            ..strong
        };
        assert_eq!(decide(&policy(KILL), young), Decision::Wait);
        let weak = GroupState {
            strong: false,
            ..strong
        };
        assert!(
            matches!(decide(&policy(KILL), weak), Decision::Refuse(why) if why.starts_with("weak evidence"))
        );
        let ignored = GroupState {
            ignored: true,
            ..strong
        };
        assert_eq!(decide(&policy(KILL), ignored), Decision::Leave);
    }

    #[test]
    fn a_report_policy_reports_weak_and_strong_alike() {
        for strong in [true, false] {
            let g = GroupState {
                strong,
                ignored: false,
                orphaned_for_ms: 700_000,
            };
            assert_eq!(decide(&policy(Action::Report), g), Decision::Report);
        }
    }

    #[test]
    fn signals_by_name() {
        assert_eq!(KillWith::from_name("term"), Some(KillWith::Term));
        assert_eq!(KillWith::from_name("SIGKILL"), Some(KillWith::Kill));
        assert_eq!(
            KillWith::from_name("hup").map(KillWith::name),
            Some("SIGHUP")
        );
        assert_eq!(KillWith::from_name("STOP"), None);
    }
}

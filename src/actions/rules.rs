//! Rules ([`AllowRule`], the type of `--allow`, `[[ignore]]` and a `[[policy]]`'s
//! `match`) judged on whole orphan groups: a group matches when one of its processes
//! does. The facts a rule asks for (the executable, the cgroup) are read through the
//! [`Host`] only when some rule asks.

use crate::host::Host;
use crate::model::allow::{AllowRule, Subject};
use crate::model::orphans::OrphanGroup;
use crate::sample::Command;

/// What a rule may look at in one process, read once.
struct Owned {
    command: Command,
    exe: Option<String>,
    uid: Option<u32>,
    cgroup: Option<String>,
}

/// The facts of a group's processes that some rules need.
pub struct GroupSubjects {
    members: Vec<Owned>,
}

impl GroupSubjects {
    /// Reads what `rules` need of `g`'s processes (executables and cgroups only if a
    /// rule names one).
    pub fn read<'a>(
        host: &dyn Host,
        g: &OrphanGroup,
        rules: impl Iterator<Item = &'a AllowRule> + Clone,
    ) -> GroupSubjects {
        let need_exe = rules.clone().any(|r| r.exe.is_some());
        let need_cgroup = rules
            .clone()
            .any(|r| r.cgroup.is_some() || r.unit.is_some());
        let members = g
            .processes
            .iter()
            .map(|o| {
                let id = o.sample.id();
                Owned {
                    command: o.command.clone(),
                    exe: if need_exe { host.exe_path(id) } else { None },
                    uid: o.uid,
                    cgroup: if need_cgroup {
                        host.facts(id).and_then(|f| f.cgroup)
                    } else {
                        None
                    },
                }
            })
            .collect();
        GroupSubjects { members }
    }

    /// Whether `rule` matches one of the processes.
    pub fn matches(&self, rule: &AllowRule) -> bool {
        self.members.iter().any(|m| {
            rule.matches(&Subject {
                command: &m.command,
                exe: m.exe.as_deref(),
                uid: m.uid,
                cgroup: m.cgroup.as_deref(),
            })
        })
    }
}

//! Rules ([`crate::model::rules`]) judged on orphan groups: the facts a rule asks for
//! (the executable, the cgroup) read through the [`Host`] only when some rule asks.

use crate::format::config::Ignore;
use crate::host::Host;
use crate::model::orphans::OrphanGroup;
use crate::model::rules::{Rule, Subject};

/// What the rules may look at in one process, read once.
struct Owned {
    cmd: String,
    name: String,
    exe: Option<String>,
    uid: Option<u32>,
    cgroup: Option<String>,
}

/// The facts of a group's processes that `rules` need.
pub struct GroupSubjects {
    members: Vec<Owned>,
}

impl GroupSubjects {
    /// Reads what `rules` need of `g`'s processes (executables and cgroups only if a
    /// rule names one).
    pub fn read<'a>(
        host: &dyn Host,
        g: &OrphanGroup,
        rules: impl Iterator<Item = &'a Rule> + Clone,
    ) -> GroupSubjects {
        let need_exe = rules.clone().any(Rule::needs_exe);
        let need_cgroup = rules
            .clone()
            .any(|r| r.cgroup.is_some() || r.unit.is_some());
        let members = g
            .processes
            .iter()
            .map(|o| {
                let id = o.sample.id();
                Owned {
                    cmd: o.command.cmd.clone(),
                    name: o.command.name.clone(),
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

    /// Whether `rule` (its user resolved to `uid`) matches one of the processes.
    pub fn matches(&self, rule: &Rule, uid: Option<u32>) -> bool {
        rule.matches_any(
            uid,
            self.members.iter().map(|m| Subject {
                cmd: &m.cmd,
                name: &m.name,
                exe: m.exe.as_deref(),
                uid: m.uid,
                cgroup: m.cgroup.as_deref(),
            }),
        )
    }

    /// The first `[[ignore]]` rule that matches, if any.
    pub fn ignored_by<'a>(&self, rules: &'a [Ignore]) -> Option<&'a Ignore> {
        rules.iter().find(|i| self.matches(&i.rule, i.uid))
    }
}

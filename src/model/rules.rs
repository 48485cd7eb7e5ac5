//! Rules that name processes: what `[[ignore]]` hides ("meant to outlive its
//! parent") and what a `[[policy]]` applies to, in the configuration file. One rule
//! type, so an `--allow PATTERN` on the command line can be one more rule.
//!
//! A [`Rule`] gives one or more of: a command-line pattern, an executable, a user, a
//! cgroup, a systemd unit. A process matches when every field given matches it
//! ([`Rule::matches`]); a group of processes matches when one of its processes does
//! ([`Rule::matches_any`]). Unknown facts never match: a rule about user `alice` does
//! not match a process whose owner could not be read.
//!
//! Pure: the facts of a process come as a [`Subject`].

use serde::Deserialize;

/// One rule. Every field given must match; a rule with none is refused by
/// [`Rule::check`] (it would match everything).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// A name for reports, metrics (`origin`) and `--dry-run`: "jupyter", "mcp".
    #[serde(default)]
    pub name: Option<String>,
    /// A plain substring of the command line (`/proc/PID/cmdline`, arguments joined
    /// by spaces) or of the process name.
    #[serde(default)]
    pub command: Option<String>,
    /// The executable (`/proc/PID/exe`): a whole path when it starts with `/`, else a
    /// file name (`node` matches `/usr/bin/node`).
    #[serde(default)]
    pub exe: Option<String>,
    /// The real user: a name (resolved to a uid when the rules are loaded) or a uid.
    #[serde(default)]
    pub user: Option<String>,
    /// A substring of the cgroup path (`/proc/PID/cgroup`), e.g. `app-tmux.slice`.
    #[serde(default)]
    pub cgroup: Option<String>,
    /// A systemd unit (service or scope) the cgroup path is in, e.g.
    /// `postgresql.service`, or one ending in the given name.
    #[serde(default)]
    pub unit: Option<String>,
}

/// What a rule looks at in one process; `None` where it could not be read.
#[derive(Debug, Clone, Copy, Default)]
pub struct Subject<'a> {
    /// The full command line.
    pub cmd: &'a str,
    /// The process name (`comm`, or the name leaktop shows).
    pub name: &'a str,
    /// The executable's path, where readable.
    pub exe: Option<&'a str>,
    /// The real uid, where readable.
    pub uid: Option<u32>,
    /// The cgroup path, where readable.
    pub cgroup: Option<&'a str>,
}

/// Why a rule cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("a rule needs at least one of command, exe, user, cgroup, unit")]
    Empty,
    #[error("`{0}` is empty: it would match every process")]
    EmptyField(&'static str),
    #[error("user '{0}': no such user")]
    NoSuchUser(String),
}

impl Rule {
    /// A rule that matches a command-line substring (`--allow PATTERN`, `--match`).
    pub fn command(pattern: &str) -> Rule {
        Rule {
            command: Some(pattern.to_string()),
            ..Rule::default()
        }
    }

    /// Refuses a rule that would match every process: one with no field, or with an
    /// empty one.
    pub fn check(&self) -> Result<(), RuleError> {
        let fields = [
            ("command", &self.command),
            ("exe", &self.exe),
            ("user", &self.user),
            ("cgroup", &self.cgroup),
            ("unit", &self.unit),
        ];
        if fields.iter().all(|(_, v)| v.is_none()) {
            return Err(RuleError::Empty);
        }
        match fields
            .iter()
            .find(|(_, v)| v.as_deref().is_some_and(|s| s.trim().is_empty()))
        {
            Some((name, _)) => Err(RuleError::EmptyField(name)),
            None => Ok(()),
        }
    }

    /// The uid `user` names: a number, or a name `resolve` knows. `None` when the
    /// rule names no user.
    pub fn uid(&self, resolve: &dyn Fn(&str) -> Option<u32>) -> Result<Option<u32>, RuleError> {
        let Some(user) = &self.user else {
            return Ok(None);
        };
        user.trim()
            .parse::<u32>()
            .ok()
            .or_else(|| resolve(user.trim()))
            .map(Some)
            .ok_or_else(|| RuleError::NoSuchUser(user.clone()))
    }

    /// Whether `s` matches every field given. `uid` is the user field resolved
    /// ([`Rule::uid`]).
    pub fn matches(&self, uid: Option<u32>, s: &Subject) -> bool {
        let command = self
            .command
            .as_deref()
            .is_none_or(|p| s.cmd.contains(p) || s.name.contains(p));
        let exe = self
            .exe
            .as_deref()
            .is_none_or(|want| s.exe.is_some_and(|exe| exe_matches(want, exe)));
        let user = self.user.is_none() || (uid.is_some() && s.uid == uid);
        let cgroup = self
            .cgroup
            .as_deref()
            .is_none_or(|want| s.cgroup.is_some_and(|cg| cg.contains(want)));
        let unit = self
            .unit
            .as_deref()
            .is_none_or(|want| s.cgroup.is_some_and(|cg| in_unit(cg, want)));
        command && exe && user && cgroup && unit
    }

    /// Whether one of `subjects` matches (a group matches through any member).
    pub fn matches_any<'a>(
        &self,
        uid: Option<u32>,
        mut subjects: impl Iterator<Item = Subject<'a>>,
    ) -> bool {
        subjects.any(|s| self.matches(uid, &s))
    }

    /// Whether matching needs the executable's path (read only then).
    pub fn needs_exe(&self) -> bool {
        self.exe.is_some()
    }

    /// The rule in words, for reports: `"jupyter" (command ~ 'jupyter-lab', user 1000)`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (key, v) in [
            ("command ~", &self.command),
            ("exe", &self.exe),
            ("user", &self.user),
            ("cgroup ~", &self.cgroup),
            ("unit", &self.unit),
        ] {
            if let Some(v) = v {
                parts.push(format!("{key} '{}'", crate::text::printable(v)));
            }
        }
        match &self.name {
            Some(n) => format!("\"{}\" ({})", crate::text::printable(n), parts.join(", ")),
            None => parts.join(", "),
        }
    }
}

/// `want` is a path (`/usr/bin/node`) or a file name (`node`); `exe` is the target of
/// `/proc/PID/exe`, perhaps with the kernel's ` (deleted)` suffix.
fn exe_matches(want: &str, exe: &str) -> bool {
    let exe = exe.strip_suffix(" (deleted)").unwrap_or(exe);
    if want.starts_with('/') {
        exe == want
    } else {
        exe.rsplit('/').next() == Some(want)
    }
}

/// Whether the cgroup path `cg` lies in the unit `want` (a component equal to it, or,
/// for a name without a suffix, `want.service` or `want.scope`).
fn in_unit(cg: &str, want: &str) -> bool {
    cg.split('/').any(|c| {
        c == want
            || c.strip_suffix(".service") == Some(want)
            || c.strip_suffix(".scope") == Some(want)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject<'a>(
        cmd: &'a str,
        exe: Option<&'a str>,
        uid: Option<u32>,
        cg: Option<&'a str>,
    ) -> Subject<'a> {
        Subject {
            cmd,
            name: cmd.split(' ').next().unwrap_or(""),
            exe,
            uid,
            cgroup: cg,
        }
    }

    #[test]
    fn every_given_field_must_match() {
        let rule = Rule {
            command: Some("jupyter-lab".into()),
            user: Some("1000".into()),
            ..Rule::default()
        };
        let uid = rule.uid(&|_| None).unwrap();
        assert_eq!(uid, Some(1000));
        let lab = subject("python3 -m jupyter-lab --port 8888", None, Some(1000), None);
        assert!(rule.matches(uid, &lab));
        let other_user = subject("python3 -m jupyter-lab", None, Some(1001), None);
        assert!(!rule.matches(uid, &other_user));
        // An owner that could not be read never matches a rule about a user.
        let unknown = subject("python3 -m jupyter-lab", None, None, None);
        assert!(!rule.matches(uid, &unknown));
        let other_cmd = subject("python3 pool.py", None, Some(1000), None);
        assert!(!rule.matches(uid, &other_cmd));
    }

    #[test]
    fn executables_by_path_or_file_name() {
        let by_name = Rule {
            exe: Some("node".into()),
            ..Rule::default()
        };
        let by_path = Rule {
            exe: Some("/usr/bin/node".into()),
            ..Rule::default()
        };
        let node = subject("node server.js", Some("/usr/bin/node"), None, None);
        let upgraded = subject(
            "node server.js",
            Some("/usr/bin/node (deleted)"),
            None,
            None,
        );
        let nodejs = subject("nodejs x", Some("/usr/bin/nodejs"), None, None);
        let unreadable = subject("node server.js", None, None, None);
        for s in [&node, &upgraded] {
            assert!(by_name.matches(None, s));
            assert!(by_path.matches(None, s));
        }
        assert!(!by_name.matches(None, &nodejs));
        assert!(!by_name.matches(None, &unreadable));
        assert!(by_name.needs_exe() && !Rule::command("x").needs_exe());
    }

    #[test]
    fn cgroups_and_units() {
        let cg = "/user.slice/user-1000.slice/user@1000.service/app.slice/app-tmux-3.scope";
        let s = subject("sleep 1", None, None, Some(cg));
        let unit = |u: &str| Rule {
            unit: Some(u.into()),
            ..Rule::default()
        };
        assert!(unit("app-tmux-3.scope").matches(None, &s));
        assert!(unit("app-tmux-3").matches(None, &s));
        assert!(unit("user@1000.service").matches(None, &s));
        assert!(!unit("tmux").matches(None, &s));
        let cgroup = Rule {
            cgroup: Some("app-tmux".into()),
            ..Rule::default()
        };
        assert!(cgroup.matches(None, &s));
        assert!(!cgroup.matches(None, &subject("sleep 1", None, None, None)));
    }

    #[test]
    fn a_rule_that_matches_everything_is_refused() {
        assert_eq!(Rule::default().check(), Err(RuleError::Empty));
        let named_only = Rule {
            name: Some("x".into()),
            ..Rule::default()
        };
        assert_eq!(named_only.check(), Err(RuleError::Empty));
        assert_eq!(
            Rule::command("  ").check(),
            Err(RuleError::EmptyField("command"))
        );
        assert_eq!(Rule::command("mcp").check(), Ok(()));
        let user = Rule {
            user: Some("nobody-here".into()),
            ..Rule::default()
        };
        assert_eq!(
            user.uid(&|_| None),
            Err(RuleError::NoSuchUser("nobody-here".into()))
        );
        assert_eq!(
            user.uid(&|n| (n == "nobody-here").then_some(7)),
            Ok(Some(7))
        );
    }

    #[test]
    fn a_group_matches_through_any_member() {
        let rule = Rule::command("mcp-server");
        let members = [
            subject("node /usr/lib/npx", None, None, None),
            subject("node mcp-server.js", None, None, None),
        ];
        assert!(rule.matches_any(None, members.iter().copied()));
        assert!(!rule.matches_any(None, members[..1].iter().copied()));
        assert_eq!(
            Rule {
                name: Some("mcp".into()),
                ..Rule::command("mcp-server")
            }
            .describe(),
            "\"mcp\" (command ~ 'mcp-server')"
        );
    }
}

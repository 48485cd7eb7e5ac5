//! "Meant to outlive its parent": rules for processes that are orphans on purpose (a
//! deploy script's `nohup app &`, a double-forking daemon an init script starts), so
//! no verdict calls them leaked. `--allow PATTERN` makes one such rule on the command
//! line; a configuration file's `[[ignore]]` can reuse the same type, whose fields
//! deserialize as they are named here (`command`, `exe`, `uid`, `cgroup`, `unit`).
//!
//! A rule matches a process when every field it sets matches; a field the caller
//! cannot tell (an unreadable executable, a tick without cgroups) does not match, so
//! a rule never exempts on a guess. Pure.

use serde::Deserialize;

use crate::sample::Command;

/// One rule: every field given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowRule {
    /// A plain substring of the command line or name (as `--match` and
    /// [`Command::matches`]).
    #[serde(default)]
    pub command: Option<String>,
    /// The executable: its file name, or its whole path when this has a `/`.
    #[serde(default)]
    pub exe: Option<String>,
    /// The real uid.
    #[serde(default)]
    pub uid: Option<u32>,
    /// A substring of the cgroup path (`/proc/PID/cgroup`).
    #[serde(default)]
    pub cgroup: Option<String>,
    /// A systemd unit (`nginx.service`): a component of the cgroup path.
    #[serde(default)]
    pub unit: Option<String>,
}

/// What a rule is matched against; `None` where the caller does not know.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub command: &'a Command,
    /// The executable's path.
    pub exe: Option<&'a str>,
    pub uid: Option<u32>,
    pub cgroup: Option<&'a str>,
}

impl<'a> Subject<'a> {
    /// A process known by its command line alone.
    pub fn command(command: &'a Command) -> Self {
        Subject {
            command,
            exe: None,
            uid: None,
            cgroup: None,
        }
    }
}

impl AllowRule {
    /// The rule of `--allow PATTERN`: its command line contains PATTERN.
    pub fn command(pattern: &str) -> Self {
        AllowRule {
            command: Some(pattern.to_string()),
            ..AllowRule::default()
        }
    }

    /// A rule that sets no field matches everything: refused where rules are made.
    pub fn is_empty(&self) -> bool {
        self == &AllowRule::default()
    }

    /// Whether `s` matches every field this rule sets (and the rule sets one).
    pub fn matches(&self, s: &Subject) -> bool {
        let field =
            |want: &Option<String>, ok: &dyn Fn(&str) -> bool| want.as_deref().is_none_or(ok);
        !self.is_empty()
            && field(&self.command, &|p| s.command.matches(p))
            && field(&self.exe, &|e| {
                s.exe.is_some_and(|path| {
                    if e.contains('/') {
                        path == e
                    } else {
                        path.rsplit('/').next() == Some(e)
                    }
                })
            })
            && self.uid.is_none_or(|u| s.uid == Some(u))
            && field(&self.cgroup, &|c| s.cgroup.is_some_and(|cg| cg.contains(c)))
            && field(&self.unit, &|u| {
                s.cgroup
                    .is_some_and(|cg| cg.split('/').any(|part| part == u))
            })
    }

    /// What the rule says, for messages: `--allow 'PATTERN'` or its fields.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (key, value) in [
            ("command", self.command.clone()),
            ("exe", self.exe.clone()),
            ("uid", self.uid.map(|u| u.to_string())),
            ("cgroup", self.cgroup.clone()),
            ("unit", self.unit.clone()),
        ] {
            if let Some(v) = value {
                parts.push(format!("{key}={}", crate::human::printable(&v)));
            }
        }
        parts.join(" ")
    }
}

/// Whether any of `rules` matches `s`; the first that does.
pub fn allowed<'r>(rules: &'r [AllowRule], s: &Subject) -> Option<&'r AllowRule> {
    rules.iter().find(|r| r.matches(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(cmd: &str) -> Command {
        Command {
            name: cmd
                .split(' ')
                .next()
                .unwrap_or("")
                .rsplit('/')
                .next()
                .unwrap_or("")
                .into(),
            cmd: cmd.into(),
        }
    }

    #[test]
    fn every_field_given_must_match_and_unknown_matches_nothing() {
        let app = cmd("/opt/app/bin/app --serve");
        let s = Subject {
            command: &app,
            exe: Some("/opt/app/bin/app"),
            uid: Some(1000),
            cgroup: Some("/system.slice/app.service"),
        };
        assert!(AllowRule::command("app --serve").matches(&s));
        assert!(!AllowRule::command("other").matches(&s));
        let full = AllowRule {
            command: Some("--serve".into()),
            exe: Some("app".into()),
            uid: Some(1000),
            cgroup: Some("system.slice".into()),
            unit: Some("app.service".into()),
        };
        assert!(full.matches(&s));
        assert!(
            !AllowRule {
                uid: Some(0),
                ..full.clone()
            }
            .matches(&s)
        );
        assert!(
            !AllowRule {
                exe: Some("/usr/bin/app".into()),
                ..full.clone()
            }
            .matches(&s)
        );
        assert!(
            !AllowRule {
                unit: Some("app".into()),
                ..full.clone()
            }
            .matches(&s)
        );
        // Known by its command line alone: a rule on anything else does not match.
        let bare = Subject::command(&app);
        assert!(!full.matches(&bare));
        assert!(
            !AllowRule::default().matches(&bare),
            "an empty rule matches nothing"
        );
    }

    #[test]
    fn a_configuration_file_reads_the_same_fields() {
        let r: AllowRule =
            serde_json::from_str(r#"{"command": "nohup", "unit": "deploy.service"}"#).unwrap();
        assert_eq!(r.command.as_deref(), Some("nohup"));
        assert_eq!(r.unit.as_deref(), Some("deploy.service"));
        assert!(serde_json::from_str::<AllowRule>(r#"{"pattern": "x"}"#).is_err());
        assert_eq!(r.describe(), "command=nohup unit=deploy.service");
    }
}

//! The configuration file, `config.toml`: rules for intended background jobs
//! (`[[ignore]]`), what to do about orphans (`[[policy]]`), thresholds a user sets
//! once, and where `leaktop watch` keeps its journal. See `docs/config.md` and the
//! commented examples in `docs/config.example.toml`.
//!
//! Where it is: `--config FILE`, else `$XDG_CONFIG_HOME/leaktop/config.toml` (or
//! `~/.config/leaktop/config.toml`), else `/etc/leaktop/config.toml`; `--no-config`
//! (or `LEAKTOP_NO_CONFIG=1`, which the tests set) uses none. Options on the command
//! line win over the file.
//!
//! A bad file is one error line naming the file, the line and the key:
//! `/etc/leaktop/config.toml:12: after: 'soon' is not a duration like 30s or 10m`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::human::shown_path;
use crate::model::allow::AllowRule;
use crate::model::watch::policy::{Action, KillWith, Policy};

/// The largest configuration file read: a file this big is a mistake.
const MAX_BYTES: u64 = 1 << 20;

/// The variable that turns the configuration file off (as `--no-config`) when set to
/// anything but empty or `0`.
pub const NO_CONFIG_VAR: &str = "LEAKTOP_NO_CONFIG";

/// `[watch]`: the defaults of `leaktop watch`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchSettings {
    /// Time between scans of `/proc`.
    pub interval: Option<Duration>,
    /// The journal's directory.
    pub journal: Option<PathBuf>,
    /// The journal's cap, bytes.
    pub journal_max: Option<u64>,
    /// Where to write `leaktop.prom` for a textfile collector.
    pub textfile: Option<PathBuf>,
}

/// What a configuration file says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// The file it came from; `None`: no file (defaults).
    pub path: Option<PathBuf>,
    /// `[[ignore]]`: meant to outlive its parent, as `--allow` (the same rule type).
    pub ignore: Vec<AllowRule>,
    pub policies: Vec<Policy>,
    /// `[thresholds] older_than`: how long an orphan must have lived to be listed.
    pub older_than: Option<Duration>,
    /// `[thresholds] min_rss`: the least RSS of a group listed, KiB.
    pub min_rss_kb: Option<u64>,
    pub watch: WatchSettings,
}

/// Why a configuration file cannot be used: one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: {}", shown_path(.0), .1)]
    Read(PathBuf, String),
    /// The file, the line (1-based), the key, and what is wrong.
    #[error("{}:{}: {}: {}", shown_path(.0), .1, .2, .3)]
    Bad(PathBuf, usize, String, String),
}

/// The file to use: `explicit` (which must exist), none with `no_config`, else the
/// user's (`$XDG_CONFIG_HOME`, `$HOME/.config`), else the system's, where one exists.
/// `env` reads the environment.
pub fn discover(
    explicit: Option<&Path>,
    no_config: bool,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    let off = env(NO_CONFIG_VAR).is_some_and(|v| !v.is_empty() && v != "0");
    if no_config || off {
        return None;
    }
    let user = env("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|d| d.join("leaktop/config.toml"));
    user.into_iter()
        .chain(std::iter::once(PathBuf::from("/etc/leaktop/config.toml")))
        .find(|p| p.is_file())
}

/// Reads and checks the file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let read_err =
        |e: std::io::Error| ConfigError::Read(path.to_path_buf(), crate::human::io_message(&e));
    let meta = std::fs::metadata(path).map_err(read_err)?;
    // A FIFO would wait for a writer and a device (/dev/zero) never ends: only a
    // regular file is read, and never past the cap even if it grows meanwhile.
    if !meta.is_file() {
        return Err(ConfigError::Read(
            path.to_path_buf(),
            "not a regular file".to_string(),
        ));
    }
    if meta.len() > MAX_BYTES {
        return Err(ConfigError::Read(
            path.to_path_buf(),
            format!(
                "larger than {} KiB: not a configuration file",
                MAX_BYTES >> 10
            ),
        ));
    }
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(std::fs::File::open(path).map_err(read_err)?, MAX_BYTES + 1),
        &mut bytes,
    )
    .map_err(read_err)?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(ConfigError::Read(
            path.to_path_buf(),
            format!(
                "larger than {} KiB: not a configuration file",
                MAX_BYTES >> 10
            ),
        ));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| ConfigError::Read(path.to_path_buf(), "not UTF-8 text".to_string()))?;
    let mut config = parse(&text, path)?;
    config.path = Some(path.to_path_buf());
    Ok(config)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    ignore: Vec<Spanned<AllowRule>>,
    #[serde(default)]
    policy: Vec<Spanned<PolicySpec>>,
    #[serde(default)]
    thresholds: Thresholds,
    #[serde(default)]
    watch: WatchSpec,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Thresholds {
    older_than: Option<Dur>,
    min_rss: Option<Size>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct WatchSpec {
    interval: Option<Dur>,
    journal: Option<PathBuf>,
    journal_max: Option<Size>,
    textfile: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicySpec {
    name: String,
    #[serde(rename = "match")]
    rule: AllowRule,
    #[serde(default)]
    action: ActionName,
    after: Option<Dur>,
    signal: Option<Signal>,
    grace: Option<Dur>,
}

#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum ActionName {
    #[default]
    Report,
    Kill,
}

/// A duration as text: `30s`, `10m`, `1h 30m`; at most a year.
struct Dur(Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Dur, D::Error> {
        let s = String::deserialize(d)?;
        match humantime::parse_duration(s.trim()) {
            Ok(v) if v <= Duration::from_secs(31_557_600) => Ok(Dur(v)),
            Ok(_) => Err(serde::de::Error::custom(format!(
                "'{s}' is too long (at most 1year)"
            ))),
            Err(_) => Err(serde::de::Error::custom(format!(
                "'{s}' is not a duration like 30s or 10m"
            ))),
        }
    }
}

/// A size as text, in KiB: `100MB`, `64MiB`.
struct Size(u64);

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Size, D::Error> {
        let s = String::deserialize(d)?;
        crate::human::parse_size_kb(&s)
            .map(Size)
            .map_err(serde::de::Error::custom)
    }
}

/// A signal's name: `TERM`, `SIGKILL`.
struct Signal(KillWith);

impl<'de> Deserialize<'de> for Signal {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Signal, D::Error> {
        let s = String::deserialize(d)?;
        KillWith::from_name(&s).map(Signal).ok_or_else(|| {
            serde::de::Error::custom(format!("'{s}' is not one of TERM, INT, HUP, KILL"))
        })
    }
}

/// Parses the text of a configuration file (`path` names it in errors).
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let bad = |span: Option<std::ops::Range<usize>>, fallback_key: &str, message: String| {
        let at = span.as_ref().map_or(0, |s| s.start.min(text.len()));
        let line = text[..at].matches('\n').count() + 1;
        let key = span
            .and_then(|s| key_at(text, s))
            .unwrap_or_else(|| fallback_key.to_string());
        ConfigError::Bad(path.to_path_buf(), line, key, message)
    };
    let file: File = toml::from_str(text).map_err(|e| {
        let message = one_line(e.message());
        let fallback = backticked(&message).unwrap_or_else(|| "(file)".to_string());
        bad(e.span(), &fallback, message)
    })?;
    let at_key = |span: std::ops::Range<usize>, key: &str, message: String| {
        let at = span.start.min(text.len());
        let line = text[..at].matches('\n').count() + 1;
        ConfigError::Bad(path.to_path_buf(), line, key.to_string(), message)
    };
    let mut config = Config::default();
    for r in file.ignore {
        let span = r.span();
        let rule = r.into_inner();
        if let Some((key, why)) = refused(&rule) {
            return Err(at_key(span, key.unwrap_or("ignore"), why));
        }
        config.ignore.push(rule);
    }
    for p in file.policy {
        let span = p.span();
        let spec = p.into_inner();
        if let Some((key, why)) = refused(&spec.rule) {
            return Err(at_key(span, key.unwrap_or("match"), why));
        }
        if spec.name.trim().is_empty() {
            return Err(at_key(span, "name", "a policy needs a name".to_string()));
        }
        if config.policies.iter().any(|q| q.name == spec.name) {
            return Err(at_key(
                span,
                "name",
                format!("a second policy named '{}'", spec.name),
            ));
        }
        let action = match spec.action {
            ActionName::Report => {
                if spec.signal.is_some() || spec.grace.is_some() {
                    return Err(at_key(
                        span,
                        "action",
                        "signal and grace are for action = \"kill\"".to_string(),
                    ));
                }
                Action::Report
            }
            ActionName::Kill => {
                if spec.after.is_none() {
                    return Err(at_key(
                        span,
                        "after",
                        "a kill policy needs `after`: how long a group must have been orphaned (e.g. after = \"30m\")".to_string(),
                    ));
                }
                Action::Kill {
                    signal: spec.signal.map_or(KillWith::Term, |s| s.0),
                    grace_ms: millis(spec.grace.map_or(Duration::from_secs(3), |g| g.0)),
                }
            }
        };
        config.policies.push(Policy {
            name: spec.name,
            rule: spec.rule,
            action,
            after_ms: spec.after.map_or(0, |a| millis(a.0)),
        });
    }
    config.older_than = file.thresholds.older_than.map(|d| d.0);
    config.min_rss_kb = file.thresholds.min_rss.map(|s| s.0);
    config.watch = WatchSettings {
        interval: file.watch.interval.map(|d| d.0),
        journal: file.watch.journal,
        journal_max: file.watch.journal_max.map(|s| s.0.saturating_mul(1024)),
        textfile: file.watch.textfile,
    };
    Ok(config)
}

/// Why a rule would match every process, and the key to blame (`None`: the table):
/// it gives no field, or an empty one.
fn refused(rule: &AllowRule) -> Option<(Option<&'static str>, String)> {
    if rule.is_empty() {
        return Some((
            None,
            "a rule needs at least one of command, exe, uid, cgroup, unit".to_string(),
        ));
    }
    [
        ("command", &rule.command),
        ("exe", &rule.exe),
        ("cgroup", &rule.cgroup),
        ("unit", &rule.unit),
    ]
    .into_iter()
    .find(|(_, v)| v.as_deref().is_some_and(|s| s.trim().is_empty()))
    .map(|(key, _)| {
        (
            Some(key),
            format!("`{key}` is empty: it would match every process"),
        )
    })
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A message on one line.
fn one_line(m: &str) -> String {
    m.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The first `name` in backticks in a message (`unknown field `x``).
fn backticked(m: &str) -> Option<String> {
    let rest = m.split_once('`')?.1;
    Some(rest.split_once('`')?.0.to_string())
}

/// The key an error's span points at or into: the span itself when it is a bare
/// key, else the key before the last `=` on its line before the span.
fn key_at(text: &str, span: std::ops::Range<usize>) -> Option<String> {
    let is_key = |s: &str| {
        s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    let inside = text.get(span.clone())?.trim();
    let inside = inside.trim_matches(|c| c == '[' || c == ']').trim();
    if is_key(inside) {
        return Some(inside.to_string());
    }
    let start = span.start.min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let before = &text[line_start..start];
    let (lhs, _) = before.rsplit_once('=')?;
    let key = lhs
        .rsplit(|c: char| c == '{' || c == ',' || c.is_whitespace())
        .find(|s| !s.is_empty())?
        .trim_matches('"');
    is_key(key).then(|| key.to_string())
}

#[cfg(test)]
mod tests;

//! The configuration file: what it says, and one line naming file, line and key when
//! it is wrong.

use super::*;

fn parse_ok(text: &str) -> Config {
    parse(text, Path::new("/etc/leaktop/config.toml")).unwrap_or_else(|e| panic!("{e}"))
}

fn parse_err(text: &str) -> String {
    let e = parse(text, Path::new("/etc/leaktop/config.toml")).unwrap_err();
    let s = e.to_string();
    assert_eq!(s.lines().count(), 1, "{s}");
    s
}

#[test]
fn a_full_file_says_what_it_means() {
    let c = parse_ok(
        r#"
# Intended background jobs.
[[ignore]]
command = "jupyter-lab"
uid = 1000

[[ignore]]
unit = "postgresql.service"

[[policy]]
name = "old mcp servers"
match = { command = "mcp-server", uid = 1001 }
action = "kill"
after = "30m"
signal = "INT"
grace = "5s"

[[policy]]
name = "pools"
match = { command = "multiprocessing" }

[thresholds]
older_than = "10s"
min_rss = "100MB"

[watch]
interval = "5s"
journal = "/var/lib/leaktop"
journal_max = "16MiB"
textfile = "/var/lib/node_exporter/textfile"
"#,
    );
    assert_eq!(c.ignore.len(), 2);
    assert_eq!(c.ignore[0].uid, Some(1000));
    assert_eq!(c.ignore[0].command.as_deref(), Some("jupyter-lab"));
    assert_eq!(c.policies.len(), 2);
    let kill = &c.policies[0];
    assert_eq!(kill.rule.uid, Some(1001));
    assert_eq!(kill.after_ms, 30 * 60_000);
    assert_eq!(
        kill.action,
        Action::Kill {
            signal: KillWith::Int,
            grace_ms: 5000
        }
    );
    assert_eq!(c.policies[1].action, Action::Report);
    assert_eq!(c.policies[1].after_ms, 0);
    assert_eq!(c.older_than, Some(Duration::from_secs(10)));
    assert_eq!(c.min_rss_kb, Some(100 * 1024));
    assert_eq!(c.watch.interval, Some(Duration::from_secs(5)));
    assert_eq!(c.watch.journal_max, Some(16 << 20));
    assert_eq!(parse_ok(""), Config::default());
}

#[test]
fn a_bad_value_names_the_file_line_and_key() {
    let e = parse_err("[[policy]]\nname = \"x\"\nmatch = { command = \"a\" }\nafter = \"soon\"\n");
    assert_eq!(
        e,
        "/etc/leaktop/config.toml:4: after: 'soon' is not a duration like 30s or 10m"
    );
    let e = parse_err("[thresholds]\nmin_rss = \"100\"\n");
    assert_eq!(
        e,
        "/etc/leaktop/config.toml:2: min_rss: '100' needs a unit, like 100MB"
    );
    let e = parse_err("[[ignore]]\ncomand = \"x\"\n");
    assert!(
        e.starts_with("/etc/leaktop/config.toml:2: comand: unknown field"),
        "{e}"
    );
    let e = parse_err("[[policy]]\nname = \"x\"\nmatch = { command = 5 }\n");
    assert!(
        e.starts_with("/etc/leaktop/config.toml:3: command: "),
        "{e}"
    );
    let e = parse_err(
        "[[policy]]\nname = \"x\"\nmatch = { command = \"a\" }\nsignal = \"STOP\"\naction = \"kill\"\nafter = \"1m\"\n",
    );
    assert!(
        e.starts_with("/etc/leaktop/config.toml:4: signal: 'STOP' is not one of"),
        "{e}"
    );
    let e = parse_err("[watch]\ninterval = 5\n");
    assert!(
        e.starts_with("/etc/leaktop/config.toml:2: interval: "),
        "{e}"
    );
    let e = parse_err("[[policy]]\nname = \"x\"\nmatch = { command = \"a\" }\naction = \"nuke\"\n");
    assert!(e.starts_with("/etc/leaktop/config.toml:4: action: "), "{e}");
    let e = parse_err("this is not toml\n");
    assert!(e.starts_with("/etc/leaktop/config.toml:1: "), "{e}");
}

#[test]
fn rules_that_match_everything_or_no_one_are_refused() {
    let e = parse_err("\n[[ignore]]\n\n[[ignore]]\ncommand = \"x\"\n");
    assert!(
        e.starts_with("/etc/leaktop/config.toml:2: ignore: a rule needs at least one of"),
        "{e}"
    );
    let e = parse_err("[[ignore]]\ncommand = \"\"\n");
    assert!(e.contains("command: `command` is empty"), "{e}");
    let e = parse_err("[[ignore]]\nuser = \"alice\"\n");
    assert!(
        e.starts_with("/etc/leaktop/config.toml:2: user: unknown field"),
        "{e}"
    );
    let e = parse_err("[[policy]]\nname = \"p\"\nmatch = {}\n");
    assert!(e.contains("match: a rule needs at least one of"), "{e}");
    let e = parse_err("[[policy]]\nname = \"k\"\nmatch = { command = \"a\" }\naction = \"kill\"\n");
    assert!(e.contains("after: a kill policy needs `after`"), "{e}");
    let e = parse_err(
        "[[policy]]\nname = \"k\"\nmatch = { command = \"a\" }\n[[policy]]\nname = \"k\"\nmatch = { command = \"b\" }\n",
    );
    assert!(e.contains("a second policy named 'k'"), "{e}");
    let e = parse_err("[[policy]]\nname = \"r\"\nmatch = { command = \"a\" }\ngrace = \"1s\"\n");
    assert!(
        e.contains("signal and grace are for action = \"kill\""),
        "{e}"
    );
}

#[test]
fn the_file_is_found_where_the_user_keeps_it_or_not_at_all() {
    let tmp = tempfile::tempdir().unwrap();
    let conf = tmp.path().join("leaktop/config.toml");
    std::fs::create_dir_all(conf.parent().unwrap()).unwrap();
    std::fs::write(&conf, "").unwrap();
    let home = tmp.path().to_path_buf();
    let env = |k: &str| match k {
        "XDG_CONFIG_HOME" => Some(home.clone().into_os_string()),
        _ => None,
    };
    assert_eq!(discover(None, false, &env), Some(conf.clone()));
    assert_eq!(discover(None, true, &env), None);
    let off = |k: &str| match k {
        NO_CONFIG_VAR => Some(OsString::from("1")),
        other => env(other),
    };
    assert_eq!(discover(None, false, &off), None);
    // An explicit file wins, even over the variable.
    let given = Path::new("/x/y.toml");
    assert_eq!(
        discover(Some(given), false, &off),
        Some(given.to_path_buf())
    );
    let e = load(Path::new("/nonexistent-zq/config.toml")).unwrap_err();
    assert!(
        e.to_string().starts_with("/nonexistent-zq/config.toml: "),
        "{e}"
    );
    assert_eq!(load(&conf).unwrap().path, Some(conf));
}

#[test]
fn the_documented_examples_parse_once_uncommented() {
    let doc = include_str!("../../../docs/config.example.toml");
    assert!(parse_ok(doc).policies.is_empty(), "all commented out");
    let is_toml = |l: &str| {
        l.starts_with('[')
            || l.split_once(" = ").is_some_and(|(k, _)| {
                !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            })
    };
    let uncommented: String = doc
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(rest) if is_toml(rest) => format!("{rest}\n"),
            _ => format!("{l}\n"),
        })
        .collect();
    let c = parse_ok(&uncommented);
    assert_eq!(c.ignore.len(), 3, "{uncommented}");
    let names: Vec<&str> = c.policies.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "python pools",
            "mcp",
            "agent cli",
            "js test and dev workers"
        ]
    );
    assert_eq!(c.watch.journal_max, Some(64 << 20));
}

#[test]
fn only_a_regular_file_is_read_never_a_device_a_fifo_or_a_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("c.toml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    // Each would hang (a FIFO with no writer) or read without end (/dev/zero).
    for p in [Path::new("/dev/zero"), fifo.as_path(), tmp.path()] {
        let e = load(p).unwrap_err().to_string();
        assert!(e.ends_with(": not a regular file"), "{e}");
        assert_eq!(e.lines().count(), 1);
    }
}

//! `leaktop watch --print-unit`: a systemd unit (system or user) or a launchd
//! LaunchAgent that runs the watcher, for a user to install as is. `.ci/run`
//! checks the systemd units with `systemd-analyze verify` against the built binary
//! and parses the plist with Python's `plistlib`.

/// Which service manager the unit is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UnitKind {
    /// A systemd user unit (`~/.config/systemd/user/leaktop-watch.service`): the
    /// user's own processes.
    SystemdUser,
    /// A systemd system unit (`/etc/systemd/system/leaktop-watch.service`): every
    /// process, as root.
    Systemd,
    /// A launchd LaunchAgent (`~/Library/LaunchAgents/io.leaktop.watch.plist`).
    Launchd,
}

/// Where the unit's file goes, and how to start it, as a comment or a line to say.
pub fn install_hint(kind: UnitKind) -> &'static str {
    match kind {
        UnitKind::SystemdUser => {
            "leaktop watch --print-unit systemd-user > ~/.config/systemd/user/leaktop-watch.service && systemctl --user daemon-reload && systemctl --user enable --now leaktop-watch"
        }
        UnitKind::Systemd => {
            "leaktop watch --print-unit systemd | sudo tee /etc/systemd/system/leaktop-watch.service && sudo systemctl daemon-reload && sudo systemctl enable --now leaktop-watch"
        }
        UnitKind::Launchd => {
            "leaktop watch --print-unit launchd > ~/Library/LaunchAgents/io.leaktop.watch.plist && launchctl load ~/Library/LaunchAgents/io.leaktop.watch.plist"
        }
    }
}

/// A command line's words as systemd's `ExecStart=` reads them: a word with a space,
/// quote, backslash, `%` or `$` quoted, and `%` doubled (a specifier otherwise).
fn systemd_word(w: &str) -> String {
    let w = w.replace('%', "%%").replace('$', "$$");
    if w.is_empty() || w.contains([' ', '"', '\'', '\\', '\t']) {
        format!("\"{}\"", w.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        w
    }
}

/// The options of `leaktop watch ARGS` a unit runs the watcher with: `raw` (the words
/// after `watch`) without `--print-unit`, and each path option (`--journal`,
/// `--textfile`, `--config`) made absolute against `cwd`, since a service starts
/// elsewhere. Errors: a word with a control character (a newline would end
/// `ExecStart=` and start a line of the unit's own), named escaped.
pub fn service_args(
    raw: impl IntoIterator<Item = String>,
    cwd: &std::path::Path,
) -> Result<Vec<String>, String> {
    const PATHS: [&str; 3] = ["--journal", "--textfile", "--config"];
    let absolute = |p: &str| cwd.join(p).display().to_string();
    let mut out: Vec<String> = Vec::new();
    let mut raw = raw.into_iter();
    while let Some(a) = raw.next() {
        if a.chars().any(crate::human::is_hidden) {
            return Err(format!(
                "'{}' holds a control character, which a unit cannot carry",
                crate::human::printable(&a)
            ));
        }
        if a == "--print-unit" {
            raw.next();
            continue;
        }
        if a.starts_with("--print-unit=") {
            continue;
        }
        match a.split_once('=') {
            Some((opt, path)) if PATHS.contains(&opt) => {
                out.push(format!("{opt}={}", absolute(path)))
            }
            _ if out
                .last()
                .is_some_and(|prev| PATHS.contains(&prev.as_str())) =>
            {
                out.push(absolute(&a))
            }
            _ => out.push(a),
        }
    }
    Ok(out)
}

/// XML text escaped.
fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The unit of `kind` running `exe watch ARGS`. `home`: the user's home directory,
/// for the LaunchAgent's log files.
pub fn unit(kind: UnitKind, exe: &str, args: &[String], home: &str) -> String {
    let mut argv = vec![exe.to_string(), "watch".to_string()];
    argv.extend(args.iter().cloned());
    match kind {
        UnitKind::SystemdUser | UnitKind::Systemd => {
            let exec: Vec<String> = argv.iter().map(|w| systemd_word(w)).collect();
            let system = kind == UnitKind::Systemd;
            let mut s = String::new();
            s.push_str("# leaktop watch: the story of every orphaned process.\n");
            s.push_str(&format!("# Install: {}\n", install_hint(kind)));
            s.push_str("[Unit]\n");
            s.push_str("Description=leaktop watch: the lineage of every process and the story of every orphan\n");
            s.push_str("Documentation=https://github.com/leaktop/leaktop#deployments\n");
            if system {
                s.push_str("After=local-fs.target\n");
            }
            s.push_str("\n[Service]\nType=simple\n");
            s.push_str(&format!("ExecStart={}\n", exec.join(" ")));
            s.push_str("Restart=on-failure\nRestartSec=5s\n");
            s.push_str("# Records are NDJSON on standard output: journald keeps them.\n");
            s.push_str("StandardOutput=journal\n");
            s.push_str("Nice=10\n");
            if system {
                // Directories it writes besides its state directory: a --journal or
                // --textfile given (ProtectSystem=strict makes the rest read-only).
                let written: Vec<String> = args
                    .windows(2)
                    .filter(|w| w[0] == "--journal" || w[0] == "--textfile")
                    .map(|w| w[1].clone())
                    .chain(args.iter().filter_map(|a| {
                        a.strip_prefix("--journal=")
                            .or_else(|| a.strip_prefix("--textfile="))
                            .map(str::to_string)
                    }))
                    .collect();
                for dir in written {
                    s.push_str(&format!("ReadWritePaths={}\n", systemd_word(&dir)));
                }
                s.push_str(concat!(
                    "# The journal and the pid file: /var/lib/leaktop.\n",
                    "StateDirectory=leaktop\n",
                    "# What it needs, and no more: process events (CAP_NET_ADMIN, the kernel's\n",
                    "# connector), reading every process's exe, fd and smaps (CAP_SYS_PTRACE,\n",
                    "# CAP_DAC_READ_SEARCH), and ending groups for kill policies (CAP_KILL).\n",
                    "CapabilityBoundingSet=CAP_NET_ADMIN CAP_SYS_PTRACE CAP_DAC_READ_SEARCH CAP_KILL\n",
                    "NoNewPrivileges=yes\n",
                    "ProtectSystem=strict\n",
                    "ProtectHome=read-only\n",
                    "PrivateTmp=yes\n",
                    "RestrictAddressFamilies=AF_NETLINK AF_UNIX AF_INET AF_INET6\n",
                ));
            }
            s.push_str("\n[Install]\n");
            s.push_str(if system {
                "WantedBy=multi-user.target\n"
            } else {
                "WantedBy=default.target\n"
            });
            s
        }
        UnitKind::Launchd => {
            let args: String = argv
                .iter()
                .map(|a| format!("    <string>{}</string>\n", xml(a)))
                .collect();
            let log = format!("{}/Library/Logs/leaktop-watch", xml(home));
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<!-- leaktop watch: the story of every orphaned process (see the README, Deployments). -->
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>io.leaktop.watch</string>
  <key>ProgramArguments</key>
  <array>
{args}  </array>
  <key>RunAtLoad</key>
  <true/>
  <key>KeepAlive</key>
  <dict>
    <key>SuccessfulExit</key>
    <false/>
  </dict>
  <key>ProcessType</key>
  <string>Background</string>
  <key>Nice</key>
  <integer>10</integer>
  <key>StandardOutPath</key>
  <string>{log}.ndjson</string>
  <key>StandardErrorPath</key>
  <string>{log}.log</string>
</dict>
</plist>
"#
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_units_options_are_absolute_and_carry_no_control_character() {
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let cwd = std::path::Path::new("/home/u");
        assert_eq!(
            service_args(
                words(&[
                    "--print-unit",
                    "systemd",
                    "--journal",
                    "j",
                    "--textfile=/t",
                    "--config=c.toml",
                    "--allow",
                    "x"
                ]),
                cwd
            ),
            Ok(words(&[
                "--journal",
                "/home/u/j",
                "--textfile=/t",
                "--config=/home/u/c.toml",
                "--allow",
                "x"
            ]))
        );
        let e = service_args(
            words(&["--allow", "x\nExecStartPre=/bin/touch /tmp/p"]),
            cwd,
        )
        .unwrap_err();
        assert!(e.starts_with("'x\\nExecStartPre"), "{e}");
        assert!(service_args(words(&["--allow", "\u{1b}]0;x\u{7}"]), cwd).is_err());
    }

    #[test]
    fn exec_start_quotes_what_systemd_would_split_or_expand() {
        let u = unit(
            UnitKind::Systemd,
            "/opt/my tools/leaktop",
            &["--journal".into(), "/var/lib/leak%top".into()],
            "/root",
        );
        assert!(
            u.contains("ExecStart=\"/opt/my tools/leaktop\" watch --journal /var/lib/leak%%top\n"),
            "{u}"
        );
        assert!(u.contains("CapabilityBoundingSet=CAP_NET_ADMIN"));
        assert!(u.contains("ReadWritePaths=/var/lib/leak%%top\n"), "{u}");
        assert!(u.contains("WantedBy=multi-user.target"));
        let user = unit(UnitKind::SystemdUser, "/usr/bin/leaktop", &[], "/home/a");
        assert!(
            user.contains("ExecStart=/usr/bin/leaktop watch\n"),
            "{user}"
        );
        assert!(user.contains("WantedBy=default.target"));
        assert!(!user.contains("CapabilityBoundingSet"));
    }

    #[test]
    fn the_launch_agent_escapes_its_strings() {
        let p = unit(
            UnitKind::Launchd,
            "/usr/local/bin/leaktop",
            &["--config".into(), "a&b<c>".into()],
            "/Users/a",
        );
        assert!(p.contains("<string>a&amp;b&lt;c&gt;</string>"), "{p}");
        assert!(p.contains("<string>/Users/a/Library/Logs/leaktop-watch.ndjson</string>"));
        // An XML comment may not hold `--`.
        let comment = p.split("<!--").nth(1).unwrap().split("-->").next().unwrap();
        assert!(!comment.contains("--"), "{comment}");
    }
}

//! `leaktop orphans` under a one-child init (issue 26, fault 2): tini, as a
//! subreaper with a supervisor below it, adopts the components a killed launcher
//! left; its own child (the healthy supervisor) and that child's tree are no orphans,
//! never grouped with the ones it adopted and never reached by a kill.
//!
//! tini is PID 1 of a PID namespace of its own, as in a container, and leaktop runs in
//! it (`nsenter`). No tini is installed here: the stand-in is python3's own binary
//! copied to `/usr/local/sbin/tini` on a tmpfs of that namespace's private mounts (a
//! system file of that name, as leaktop requires of a subreaper), running a script
//! that does what tini does: start one child in a group of its own, reap everything,
//! and exit when that child exits. Root only (nsenter); skipped with a note elsewhere.

use crate::common;

use std::process::Stdio;

use common::{Tag, alive, children_of, ppid, wait_until};
use serde_json::Value;

/// The stand-in for tini: start one child in a group of its own, reap everything,
/// exit when that child exits.
pub(crate) const TINI: &str = r#"
import os, sys
child = os.fork()
if child == 0:
    os.setpgid(0, 0)
    os.execvp(sys.argv[1], sys.argv[1:])
while True:
    pid, _ = os.wait()
    if pid == child:
        sys.exit(0)
"#;

/// A supervisor that keeps one launcher running; each launcher starts a component
/// and waits for it.
const SUPERVISOR: &str = "while :; do sh -c 'sleep 3600 & wait'; done";

#[test]
fn a_one_child_init_keeps_its_own_child_out_of_the_orphans_it_adopted() {
    let ready = std::process::Command::new("nsenter")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ready || !rustix::process::geteuid().is_root() {
        eprintln!("skipped: needs root and nsenter to run leaktop in a container's namespace");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("tini.py");
    std::fs::write(&script, TINI).unwrap();
    let python = std::fs::canonicalize("/usr/bin/python3").unwrap();
    let tag = Tag::new();
    // The namespace's first shell places tini and becomes it: PID 1.
    let boot = format!(
        "mount -t tmpfs tmpfs /usr/local/sbin && cp {} /usr/local/sbin/tini && exec /usr/local/sbin/tini {} sh -c \"$0\"",
        python.display(),
        script.display()
    );
    let mut unshare = tag
        .command("unshare")
        .args([
            "--pid",
            "--fork",
            "--mount-proc",
            "sh",
            "-c",
            &boot,
            SUPERVISOR,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let tini = only_child(unshare.id());
    assert!(
        wait_until(common::PATIENCE, || comm(tini) == "tini"),
        "{tini} became tini: {}",
        comm(tini)
    );
    let supervisor = only_child(tini);
    // Twice: the launcher is killed, tini adopts its component, the supervisor starts
    // another launcher.
    let mut adopted = Vec::new();
    for _ in 0..2 {
        let launcher = only_child(supervisor);
        let component = only_child(launcher);
        common::signal(launcher, rustix::process::Signal::KILL);
        assert!(wait_until(common::PATIENCE, || ppid(component) == Some(tini)));
        adopted.push(component);
    }
    let launcher = only_child(supervisor);
    let component = only_child(launcher);
    let healthy = [supervisor, launcher, component];
    // Pids as the namespace sees them, which leaktop reports there.
    let inner = |pids: &[u32]| -> Vec<u32> {
        let mut v: Vec<u32> = pids.iter().map(|&p| ns_pid(p)).collect();
        v.sort_unstable();
        v
    };

    let v = in_container(tini, &["--all"]);
    let groups = v["groups"].as_array().unwrap();
    let of = |pid: u32| groups.iter().find(|g| group_pids(g).contains(&pid));
    let g =
        of(ns_pid(adopted[0])).unwrap_or_else(|| panic!("{adopted:?} are listed with --all: {v}"));
    let mut members = group_pids(g);
    members.sort_unstable();
    assert_eq!(
        members,
        inner(&adopted),
        "the adopted components, and only they: {g}"
    );
    for pid in inner(&healthy) {
        assert!(
            of(pid).is_none(),
            "{pid} of tini's own tree is in no group: {v}"
        );
    }

    // Named and killed, the group ends the components; the supervisor lives on.
    let id = g["id"].as_str().unwrap();
    crate::orphans::orphans_stdout(
        leaktop_in(tini),
        &[
            "--all", "--no-pss", "--group", id, "--kill", "--yes", "--grace", "1s",
        ],
    );
    assert!(wait_until(common::PATIENCE, || !adopted
        .iter()
        .any(|&p| alive(p))));
    assert!(healthy.iter().all(|&p| alive(p)), "tini's own tree lives");
    // Ending PID 1 ends its namespace.
    common::signal(tini, rustix::process::Signal::KILL);
    let _ = unshare.wait();
}

/// The one live child of `pid` once there is exactly one.
pub(crate) fn only_child(pid: u32) -> u32 {
    let mut kids = Vec::new();
    assert!(
        wait_until(common::PATIENCE, || {
            kids = children_of(pid);
            kids.len() == 1
        }),
        "{pid} has one child: {kids:?}"
    );
    kids[0]
}

fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// The pid of `pid` in its own (innermost) PID namespace: the last of `NSpid`.
fn ns_pid(pid: u32) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("NSpid:")).unwrap();
    line.split_whitespace().last().unwrap().parse().unwrap()
}

/// `leaktop` in the PID and mount namespaces of `pid`.
fn leaktop_in(pid: u32) -> std::process::Command {
    let mut c = std::process::Command::new("nsenter");
    c.args(["-t", &pid.to_string(), "-p", "-m", "--"])
        .arg(env!("CARGO_BIN_EXE_leaktop"));
    common::isolate(&mut c);
    c
}

/// `leaktop orphans --json --older-than 0s --no-pss ARGS` in the namespaces of `pid`.
fn in_container(pid: u32, args: &[&str]) -> Value {
    let mut all = vec!["--no-pss"];
    all.extend_from_slice(args);
    crate::orphans::orphans_json_with(leaktop_in(pid), &all)
}

fn group_pids(g: &Value) -> Vec<u32> {
    g["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].as_u64().unwrap() as u32)
        .collect()
}

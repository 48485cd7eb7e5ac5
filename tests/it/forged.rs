//! Evidence nobody can forge (issue 27, fault 5), on real processes in a PID namespace
//! of their own (`unshare --pid --fork --mount-proc`), where `orphans --kill --yes`
//! can end every strong group without touching the other tests' orphans:
//!
//! - daemons by design whose environment carries a forged `LEAKTOP_RUN` (`garbage`,
//!   `1.1`, and a real run's marker copied after that run died) are neither listed
//!   nor killed, while the real survivor of that `leaktop run` (SIGKILLed) is;
//! - a live parent that merely names itself `init` adopts nothing: its child, whose
//!   process group's leader exited, is neither listed nor killed.
//!
//! Skipped where the namespace cannot be made (no root and no user namespaces).

use crate::common;

use std::process::{Command, Stdio};

use serde_json::Value;

/// Runs as the namespace's PID 1. argv: leaktop. Starts the forged daemons and the
/// fake init's family, runs `leaktop orphans --json --all`, then `leaktop orphans
/// --kill --yes`, and prints one JSON object: the pids, both outputs, who is alive.
const NAMESPACE: &str = r#"
import ctypes, json, os, signal, subprocess, sys, time
leaktop = sys.argv[1]

def daemon(marker):
    r, w = os.pipe()
    if os.fork() == 0:
        os.close(r)
        if os.fork(): os._exit(0)
        os.setsid()
        if os.fork(): os._exit(0)
        fd = os.open("/dev/null", os.O_RDWR)
        for i in range(3): os.dup2(fd, i)
        os.environ["LEAKTOP_RUN"] = marker
        os.write(w, str(os.getpid()).encode()); os.close(w)
        os.execvpe("sleep", ["sleep", "3600"], dict(os.environ, LEAKTOP_RUN=marker))
    os.close(w)
    pid = int(os.read(r, 32)); os.close(r)
    os.wait()
    return pid

def fake_init():
    # P names itself init and keeps a child C in the group of L, which exits.
    r, w = os.pipe()
    p = os.fork()
    if p == 0:
        os.close(r)
        ctypes.CDLL(None).prctl(15, b"init", 0, 0, 0)
        out_r, out_w = os.pipe()  # C's stdout: a pipe P reads, as a job's
        l = os.fork()
        if l == 0:
            os.setpgid(0, 0); time.sleep(3600); os._exit(0)
        os.setpgid(l, l)
        c = os.fork()
        if c == 0:
            os.setpgid(0, l); os.dup2(out_w, 1)
            os.execvp("sleep", ["sleep", "3600"])
        try: os.setpgid(c, l)
        except OSError: pass
        os.kill(l, signal.SIGKILL); os.waitpid(l, 0)
        os.write(w, f"{os.getpid()} {c} {l}".encode()); os.close(w)
        while True: time.sleep(3600)
    os.close(w)
    pids = [int(x) for x in os.read(r, 64).split()]
    os.close(r)
    return pids

def ppid(pid):
    try: return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
    except OSError: return None

# A real run, SIGKILLed: its survivor carries a marker its record vouches for.
run = subprocess.Popen([leaktop, "run", "--", "python3", "-c",
                        "import subprocess, time; c = subprocess.Popen(['sleep', '3600']); print(c.pid, flush=True); time.sleep(3600)"],
                       stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
survivor = int(run.stdout.readline())
run.kill(); run.wait()
while ppid(survivor) != 1: time.sleep(0.02)
marker = dict(kv.split("=", 1) for kv in open(f"/proc/{survivor}/environ").read().split("\0") if "=" in kv)["LEAKTOP_RUN"]
# The same marker copied into a daemon started well after that run died (its record
# bounds its death by its last heartbeat and two more).
time.sleep(3.5)
copied = daemon(marker)
forged = [daemon("garbage"), daemon("1.1"), copied]
parent, child, leader = fake_init()
time.sleep(0.3)
listing = subprocess.run([leaktop, "orphans", "--json", "--all", "--older-than", "0s", "--no-pss"],
                         capture_output=True, text=True, stdin=subprocess.DEVNULL)
kill = subprocess.run([leaktop, "orphans", "--kill", "--yes", "--older-than", "0s", "--grace", "1s", "--no-pss"],
                      capture_output=True, text=True, stdin=subprocess.DEVNULL)
time.sleep(0.5)
def alive(pid):
    try: return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError: return False
print(json.dumps(dict(forged=forged, parent=parent, child=child, leader=leader, survivor=survivor,
                      listing=listing.stdout, listing_err=listing.stderr,
                      kill=kill.stdout + kill.stderr, kill_code=kill.returncode,
                      alive={str(p): alive(p) for p in forged + [parent, child, survivor]})))
"#;

/// The namespace's report, or `None` (skipped) where it cannot be made.
fn in_namespace() -> Option<Value> {
    // The run's record goes here, not into the machine's /run/leaktop.
    let runtime = tempfile::tempdir().unwrap();
    let out = Command::new("unshare")
        .env("XDG_RUNTIME_DIR", runtime.path())
        .args(["--pid", "--fork", "--mount-proc"])
        .args(if rustix::process::geteuid().is_root() {
            &[][..]
        } else {
            &["--map-root-user"][..]
        })
        .args(["python3", "-c", NAMESPACE, env!("CARGO_BIN_EXE_leaktop")])
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let Some(line) = text.lines().last().filter(|l| l.starts_with('{')) else {
        eprintln!(
            "skipped: no PID namespace here: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    };
    Some(serde_json::from_str(line).unwrap())
}

fn groups_with(listing: &Value, pid: u64) -> Vec<&Value> {
    listing["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| {
            g["processes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["pid"] == pid)
        })
        .collect()
}

#[test]
fn forged_markers_and_a_self_named_init_are_no_evidence() {
    let Some(r) = in_namespace() else { return };
    let listing: Value =
        serde_json::from_str(r["listing"].as_str().unwrap()).unwrap_or_else(|e| panic!("{e}: {r}"));
    for pid in r["forged"].as_array().unwrap() {
        let pid = pid.as_u64().unwrap();
        assert_eq!(r["alive"][pid.to_string()], true, "{pid} was killed: {r}");
        let groups = groups_with(&listing, pid);
        assert_eq!(groups.len(), 1, "--all lists {pid} once: {listing}");
        let g = groups[0];
        assert_eq!(g["strength"], "weak", "a forged marker is weak: {g}");
        assert!(
            !g["id"].as_str().unwrap().starts_with("run-"),
            "no group is named after a forged marker: {g}"
        );
        let marker = g["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == "run_marker")
            .unwrap_or_else(|| panic!("the marker is shown: {g}"));
        assert_eq!(marker["strength"], "weak", "{g}");
        assert!(
            marker["text"].as_str().unwrap().contains("unverified"),
            "{g}"
        );
    }
    let child = r["child"].as_u64().unwrap();
    let parent = r["parent"].as_u64().unwrap();
    assert_eq!(
        r["alive"][child.to_string()],
        true,
        "{child} was killed: {r}"
    );
    assert_eq!(r["alive"][parent.to_string()], true, "{r}");
    // With --all the fake init itself is listed (the namespace's init adopted it),
    // its child in its tree; the child is nobody's adoptee.
    for g in groups_with(&listing, child) {
        let p = g["processes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["pid"] == child)
            .unwrap();
        assert_eq!(
            p["adopted"], false,
            "a live parent named init adopts nothing: {g}"
        );
        assert_eq!(g["strength"], "weak", "{g}");
    }
    // The real run's survivor: strong, ended by the kill.
    let survivor = r["survivor"].as_u64().unwrap();
    let g = groups_with(&listing, survivor);
    assert_eq!(g.len(), 1, "{listing}");
    assert_eq!(g[0]["strength"], "strong", "{}", g[0]);
    assert!(g[0]["id"].as_str().unwrap().starts_with("run-"), "{}", g[0]);
    assert_eq!(r["alive"][survivor.to_string()], false, "{r}");
    let _ = common::alive; // the namespace's end takes every process with it
}

//! Issue 13 with real processes: `--follow` follows the real restart and not a decoy
//! (fault 4), `--name` says which of several matches it took and when its root is an
//! orphan (fault 6), and another leaktop in the watched tree is never a member.

use crate::common;

use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use common::{Family, Reaped, Recorder, Signal, Tag, leaktop, signal, wait_until};
use leaktop::format::{self, Recording};
use leaktop::model::Event;

fn read(path: &Path) -> Recording {
    format::read(path).unwrap_or_else(|e| panic!("{e}"))
}

/// A pattern no other process on the machine holds.
fn unique(what: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{what}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .unwrap_or_default()
}

/// The live tagged process whose command line starts with `prefix`, if one.
fn find(family: &Family, prefix: &str, not: &[u32]) -> Option<u32> {
    family
        .tagged_pids()
        .into_iter()
        .find(|&p| !not.contains(&p) && cmdline(p).starts_with(prefix))
}

/// Fault 4: during the supervisor's back-off a process that mentions the pattern (a
/// shell loop with it among its arguments, the same `sleep` started by someone else)
/// appears first; the root must go to the supervisor's restart all the same.
#[test]
fn follow_takes_the_supervisor_s_restart_not_a_decoy_naming_the_pattern() {
    let dir = tempfile::tempdir().unwrap();
    let name = unique("leakfol");
    // The daemon: sleep, under a name that holds the pattern (its argv[0]).
    let daemon = dir.path().join(&name);
    std::os::unix::fs::symlink(which("sleep").expect("sleep on PATH"), &daemon).unwrap();
    let daemon = daemon.to_str().unwrap().to_string();
    // From a file: the supervisor's own command line must not hold the pattern.
    let sup = dir.path().join("supervise.sh");
    std::fs::write(&sup, format!("while :; do '{daemon}' 600; sleep 1; done\n")).unwrap();
    let family = Family::spawn("sh", &[sup.to_str().unwrap()]);
    let mut first = None;
    assert!(wait_until(Duration::from_secs(5), || {
        first = find(&family, &daemon, &[]);
        first.is_some()
    }));
    let first = first.unwrap();

    let out = dir.path().join("follow.ticklog");
    let rec = start_recording(&name, "100ms", "20s", &out);

    // The daemon crashes; in the back-off, the decoys start.
    signal(first, Signal::KILL);
    let decoys = Tag::new();
    let loop_decoy = Reaped(
        decoys
            .command("sh")
            .args(["-c", "while :; do sleep 0.1; done", &name])
            .spawn()
            .unwrap(),
    );
    let sleep_decoy = Reaped(decoys.command(&daemon).arg("601").spawn().unwrap());
    let mut second = None;
    assert!(wait_until(Duration::from_secs(10), || {
        second = find(&family, &format!("{daemon} 600"), &[first]);
        second.is_some()
    }));
    let second = second.unwrap();
    assert_eq!(common::ppid(second), Some(family.pid()));

    let restarted = wait_until(Duration::from_secs(10), || !restarts(&out).is_empty());
    // A little more, so a wrong second move would show too.
    std::thread::sleep(Duration::from_millis(500));
    let err = stop_recording(rec);
    assert!(restarted, "no restart followed: {err}");
    let restarts = restarts(&out);
    assert_eq!(
        restarts,
        [(second, first)],
        "decoys {} and {}: {err}",
        loop_decoy.id(),
        sleep_decoy.id()
    );
    assert!(
        err.contains(&format!(
            "--follow: root {first} exited; {second} is its restart: runs the same executable as root {first}; a child of {}",
            family.pid()
        )),
        "{err}"
    );
}

/// The root moves a recording holds so far (new root, previous root); none while it
/// cannot be read yet.
fn restarts(out: &Path) -> Vec<(u32, u32)> {
    format::read(out)
        .map(|r| {
            r.ticks
                .iter()
                .flat_map(|t| &t.events)
                .filter_map(|e| match e {
                    Event::RootRestarted { pid, previous, .. } => Some((*pid, *previous)),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `leaktop record --name NAME --follow` every `interval` for at most `duration` into
/// `out`, once it has written 3 ticks; its stderr piped.
fn start_recording(name: &str, interval: &str, duration: &str, out: &Path) -> Reaped {
    let rec = Reaped(
        leaktop()
            .args(["record", "--name", name, "--follow", "--interval", interval])
            .args(["--duration", duration, "--out"])
            .arg(out)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    assert!(wait_until(Duration::from_secs(10), || {
        format::read(out).is_ok_and(|r| r.ticks.len() >= 3)
    }));
    rec
}

/// Ends a `leaktop record` with SIGINT, checks it exited 0, and returns its stderr.
fn stop_recording(mut rec: Reaped) -> String {
    signal(rec.id(), Signal::INT);
    let status = rec.0.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(rec.0.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(status.success(), "{err}");
    err
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}

/// Fault 6: two processes match; `record` says how many, which it took and why.
#[test]
fn record_by_name_says_which_of_several_matches_it_took() {
    let dir = tempfile::tempdir().unwrap();
    let name = unique("leakname");
    let older = Family::spawn("sh", &["-c", "sleep 600; exit 0", &name]);
    std::thread::sleep(Duration::from_millis(30));
    let newer = Family::spawn("sh", &["-c", "sleep 600; exit 0", &name]);
    let out = leaktop()
        .args([
            "record",
            "--name",
            &name,
            "--ticks",
            "2",
            "--interval",
            "100ms",
        ])
        .arg("--out")
        .arg(dir.path().join("two.ticklog"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let line = format!(
        "leaktop: --name '{name}' matches 2 processes: watching {} (sh -c sleep 600; exit 0 {name}), the oldest; the others are not watched ({}); use --pid to choose another",
        older.pid(),
        newer.pid()
    );
    assert!(err.contains(&line), "{err}");
    // --quiet keeps it quiet.
    let out = leaktop()
        .args(["record", "--quiet", "--name", &name, "--ticks", "1"])
        .arg("--out")
        .arg(dir.path().join("quiet.ticklog"))
        .output()
        .unwrap();
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Fault 6: a root whose parent is gone (adopted by init) is said once on stderr; a
/// daemon by design (its own session, stdio off the terminal) is not.
#[test]
fn record_says_once_that_the_root_is_an_orphan_but_not_of_a_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let orphan_name = unique("leakorphan");
    let daemon_name = unique("leakdaemon");
    let tag = Tag::new();
    // `( cmd & )`: the subshell exits at once, and init adopts cmd.
    let script = format!(
        "(sh -c 'sleep 600; exit 0' {orphan_name} &); setsid -f sh -c 'sleep 600; exit 0' {daemon_name} </dev/null >/dev/null 2>&1"
    );
    let status = tag
        .command("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let mut orphan = None;
    let mut daemon = None;
    assert!(wait_until(Duration::from_secs(5), || {
        for p in tag.live() {
            // `setsid -f` itself carries the same arguments for a moment: only the
            // shells they start are the orphan and the daemon.
            if std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() != "sh") {
                continue;
            }
            let c = cmdline(p);
            if c.ends_with(&format!("{orphan_name} ")) {
                orphan = Some(p);
            } else if c.ends_with(&format!("{daemon_name} ")) {
                daemon = Some(p);
            }
        }
        orphan.is_some() && daemon.is_some()
    }));
    let (orphan, daemon) = (orphan.unwrap(), daemon.unwrap());
    // Once the subshell and setsid's fork have exited.
    let adopted = wait_until(Duration::from_secs(5), || {
        common::ppid(orphan) == Some(1) && common::ppid(daemon) == Some(1)
    });
    assert!(adopted, "this test needs init as the adopter");

    let record = |name: &str, file: &str| {
        let out = leaktop()
            .args([
                "record",
                "--name",
                name,
                "--ticks",
                "3",
                "--interval",
                "100ms",
            ])
            .arg("--out")
            .arg(dir.path().join(file))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{err}");
        err
    };
    let err = record(&orphan_name, "orphan.ticklog");
    let note = format!("leaktop: root {orphan}: root's parent is gone: adopted by PID 1\n");
    assert_eq!(err.matches(&note).count(), 1, "{err}");
    let err = record(&daemon_name, "daemon.ticklog");
    assert!(!err.contains("parent is gone"), "{err}");
}

/// Another `leaktop record --pid ROOT` started inside the root's tree (as a child,
/// and double-forked into the root's process group) is never a member of the family
/// the first recorder writes; by its executable, whatever its name.
#[test]
fn a_second_recorder_inside_the_tree_is_not_a_member() {
    let dir = tempfile::tempdir().unwrap();
    let lt = env!("CARGO_BIN_EXE_leaktop");
    let (f2, f3) = (
        dir.path().join("child.ticklog"),
        dir.path().join("escaped.ticklog"),
    );
    let script = format!(
        "sleep 600 & sleep 0.6; \
         '{lt}' record --quiet --pid $$ --interval 100ms --duration 2s --out '{}' & \
         ('{lt}' record --quiet --pid $$ --interval 100ms --duration 2s --out '{}' &); \
         echo started; wait",
        f2.display(),
        f3.display()
    );
    let mut root = Family::spawn("sh", &["-c", &script]);
    let out = dir.path().join("first.ticklog");
    let first = Recorder::start(
        root.pid(),
        &out,
        &["--interval", "100ms", "--duration", "2500ms"],
    );
    assert_eq!(root.read_line(), "started");
    let (code, err) = first.finish();
    assert_eq!(code, Some(0), "{err}");
    let rec = read(&out);
    assert!(rec.ticks.len() >= 15, "{} ticks", rec.ticks.len());
    let recorders = |rec: &Recording| -> Vec<String> {
        rec.ticks
            .iter()
            .flat_map(|t| &t.processes)
            .filter(|p| p.name == "leaktop" || p.cmd.starts_with(&format!("{lt} record")))
            .map(|p| format!("{} {} {}", p.pid, p.name, p.cmd))
            .collect()
    };
    assert_eq!(recorders(&rec), Vec::<String>::new());
    // The sleep is family, so the family was really watched.
    assert!(
        rec.ticks
            .last()
            .unwrap()
            .processes
            .iter()
            .any(|p| p.cmd == "sleep 600")
    );
    // The inner recorders ran, and did not take each other in either.
    for f in [&f2, &f3] {
        assert!(wait_until(Duration::from_secs(10), || {
            format::read(f).is_ok_and(|r| r.ticks.len() >= 10)
        }));
        assert_eq!(recorders(&read(f)), Vec::<String>::new(), "{}", f.display());
    }
}

/// Issue 27, fault 6, with real processes: the root is an orphan (init, or whichever
/// subreaper the tests run under, is its supervisor); an orphaned look-alike (the
/// same `sh`, the pattern among its arguments) is there as the root dies, and the
/// restart, by a stand-in for init after a back-off, comes later. The restart, the
/// same script again, is followed; the look-alike never is.
#[test]
fn an_orphaned_look_alike_does_not_hijack_a_restart_by_init() {
    let dir = tempfile::tempdir().unwrap();
    let name = unique("hijack");
    let script = dir.path().join(format!("{name}.sh"));
    std::fs::write(&script, "while :; do sleep 1; done\n").unwrap();
    let script = script.to_str().unwrap().to_string();
    // Its command line holds neither the pattern nor the script.
    let restarter = dir.path().join("restarter.sh");
    std::fs::write(
        &restarter,
        format!(
            "while kill -0 $1 2>/dev/null; do sleep 0.1; done\nsleep 0.5\nsh '{script}' serve &\n"
        ),
    )
    .unwrap();
    let tag = Tag::new();
    // Each started by a shell that exits at once: orphans from the start.
    let orphan = |command: String| {
        let status = tag
            .command("sh")
            .args(["-c", &format!("{command} &")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
    };
    let live = |prefix: &str, not: &[u32]| -> Option<u32> {
        tag.live()
            .into_iter()
            .find(|&p| !not.contains(&p) && cmdline(p).starts_with(prefix))
    };
    orphan(format!("sh '{script}' serve"));
    let mut root = None;
    assert!(wait_until(Duration::from_secs(10), || {
        root = live(&format!("sh {script} serve"), &[]);
        root.is_some()
    }));
    let root = root.unwrap();

    let out = dir.path().join("follow.ticklog");
    let rec = start_recording(&name, "200ms", "60s", &out);
    orphan(format!("sh '{}' {root}", restarter.display()));
    orphan(format!("sh -c 'while :; do sleep 1; done' {name}-worker"));
    let mut look_alike = None;
    assert!(wait_until(Duration::from_secs(10), || {
        look_alike = live("sh -c while", &[]);
        look_alike.is_some()
    }));
    signal(root, Signal::KILL);

    let mut restart = None;
    assert!(wait_until(Duration::from_secs(20), || {
        restart = live(&format!("sh {script} serve"), &[root]);
        restart.is_some()
    }));
    let restarted = wait_until(Duration::from_secs(20), || !restarts(&out).is_empty());
    let err = stop_recording(rec);
    assert!(restarted, "no restart followed: {err}");
    let restarts = restarts(&out);
    assert_eq!(
        restarts,
        [(restart.unwrap(), root)],
        "look-alike {look_alike:?}: {err}"
    );
    assert!(
        err.contains("the same command line beyond argv[0]"),
        "{err}"
    );
}

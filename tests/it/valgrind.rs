//! leaktop runs under valgrind, so people can profile it and check it for memory
//! errors: rustix read the vDSO's ELF header itself to find the page size, which
//! valgrind does not map, and leaktop died of SIGSEGV before its first tick. Needs
//! valgrind (.ci/run installs it); skipped without it, except under CI (CI=true).

use crate::common::{Family, leaktop};

use std::io::Write;
use std::process::{Command, Stdio};

/// `valgrind` on PATH; `false` (the test skips) unless CI requires it.
fn valgrind() -> bool {
    let found = Command::new("valgrind")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "valgrind is not installed, and CI must run this test: apt-get install -y valgrind"
        );
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED record_runs_under_valgrind: valgrind is not installed \
             (apt-get install -y valgrind); CI runs this test"
        );
    }
    found
}

#[test]
fn record_runs_under_valgrind() {
    if !valgrind() {
        return;
    }
    let family = Family::spawn("sh", &["-c", "sleep 600 & exec sleep 600"]);
    let leaktop = leaktop();
    let out = Command::new("valgrind")
        .args(["-q", "--tool=none"])
        .arg(leaktop.get_program())
        .envs(leaktop.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .args([
            "record",
            "--ticks",
            "2",
            "--interval",
            "100ms",
            "--out",
            "/dev/null",
        ])
        .args(["--pid", &family.root.id().to_string()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert!(stderr.contains("recorded 2 ticks"), "{stderr}");
}

//! The files leaktop is told to write, on real commands: a FIFO with and without a
//! reader, a full filesystem, `-` for every path option, and `$GITHUB_STEP_SUMMARY`,
//! each checked before anything starts and opened once.

use crate::common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Reaped, Signal, leaktop, signal, wait_until};

/// Makes a FIFO at `path`.
pub(crate) fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

/// `cat FIFO > copy`, reaped on drop.
fn reader(fifo: &Path, copy: &Path) -> Reaped {
    Reaped(
        Command::new("sh")
            .args(["-c", "exec cat \"$1\" > \"$2\"", "sh"])
            .arg(fifo)
            .arg(copy)
            .spawn()
            .unwrap(),
    )
}

/// Waits for `child` to exit within `limit`; its exit code (`None`: killed by a
/// signal) and stderr. A child still running then is killed and the test fails.
fn finish(child: &mut Child, limit: Duration, what: &str) -> (Option<i32>, String) {
    let exited = wait_until(limit, || matches!(child.try_wait(), Ok(Some(_))));
    if !exited {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{what} did not end within {limit:?}");
    }
    let status = child.wait().unwrap();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    (status.code(), err)
}

fn sleeper() -> Reaped {
    Reaped(Command::new("sleep").arg("60").spawn().unwrap())
}

/// `leaktop ARGS FIFO MORE` with `cat` reading the FIFO: leaktop ends by itself, and
/// the reader gets a whole recording, which is returned.
fn through_a_fifo(args: &[&str], more: &[&str]) -> leaktop::format::Recording {
    let dir = tempfile::tempdir().unwrap();
    let (fifo, copy) = (dir.path().join("ticks"), dir.path().join("copy"));
    mkfifo(&fifo);
    let mut cat = reader(&fifo, &copy);
    let mut leaktop = leaktop()
        .args(args)
        .arg(&fifo)
        .args(more)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (code, err) = finish(&mut leaktop, Duration::from_secs(20), args[0]);
    assert_eq!(code, Some(0), "{args:?}: {err}");
    finish(&mut cat.0, Duration::from_secs(20), "the FIFO's reader");
    leaktop::format::read(&copy).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

#[test]
fn record_into_a_fifo_hands_its_reader_every_tick() {
    let root = sleeper();
    let pid = root.id().to_string();
    let read = through_a_fifo(
        &[
            "record",
            "--quiet",
            "--interval",
            "50ms",
            "--ticks",
            "3",
            "--pid",
            &pid,
            "--out",
        ],
        &[],
    );
    assert_eq!(read.ticks.len(), 3, "the reader got the whole recording");
}

#[test]
fn run_records_into_a_fifo_with_a_reader() {
    let read = through_a_fifo(
        &[
            "run",
            "--interval",
            "50ms",
            "--settle",
            "100ms",
            "--format",
            "ndjson",
            "--record",
        ],
        &["--", "sh", "-c", "sleep 0.3"],
    );
    assert!(read.ticks.len() >= 2, "{} ticks", read.ticks.len());
}

/// A FIFO nobody reads: leaktop says it waits, and SIGTERM or SIGINT ends the wait
/// with one line (and, under `run`, before CMD ever starts).
#[test]
fn a_signal_ends_the_wait_for_a_fifo_reader_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("nobody");
    mkfifo(&fifo);
    let started = dir.path().join("cmd-started");
    let root = sleeper();
    let record = |sig| {
        let mut c = leaktop();
        c.args(["record", "--pid", &root.id().to_string(), "--out"])
            .arg(&fifo);
        (c, sig, "record")
    };
    let run = |sig| {
        let mut c = leaktop();
        c.arg("run")
            .arg("--record")
            .arg(&fifo)
            .args(["--", "sh", "-c", "touch \"$1\"", "sh"])
            .arg(&started);
        (c, sig, "run")
    };
    for (mut command, sig, what) in [
        record(Signal::TERM),
        record(Signal::INT),
        run(Signal::TERM),
        run(Signal::HUP),
    ] {
        let mut child = command.stderr(Stdio::piped()).spawn().unwrap();
        let lines = stderr_lines(&mut child);
        // Told that it waits, then signalled.
        let mut err = String::new();
        let waiting = wait_until(Duration::from_secs(20), || {
            err.extend(lines.try_iter().map(|l| l + "\n"));
            err.contains("waiting for a reader")
        });
        signal(child.id(), sig);
        let (code, _) = finish(&mut child, Duration::from_secs(20), what);
        err.extend(lines.iter().map(|l| l + "\n"));
        assert!(
            waiting,
            "{what} {sig:?}: never said it waits for a reader: {err}"
        );
        assert_eq!(code, Some(1), "{what} {sig:?}: {err}");
        let last = err.trim().lines().last().unwrap_or_default();
        assert!(
            last.starts_with("leaktop: error: ")
                && last.contains("nobody")
                && last.contains("while waiting for a reader"),
            "{what} {sig:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        assert!(!started.exists(), "CMD never starts");
    }
}

/// `child`'s stderr, line by line, from a thread of its own.
fn stderr_lines(child: &mut Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// A tmpfs of 64 KiB, filled up, unmounted on drop. `None` where this test may not
/// mount (not root, no mount(8)).
struct FullDisk {
    dir: tempfile::TempDir,
}

impl FullDisk {
    fn mount() -> Option<FullDisk> {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipped: mounting a full tmpfs needs root");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "leaktop-test-full"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("skipped: cannot mount a tmpfs here");
            return None;
        }
        let disk = FullDisk { dir };
        // Fill it: write until ENOSPC.
        let fill = disk.path().join("filler");
        let mut f = std::fs::File::create(&fill).unwrap();
        let block = vec![0u8; 4096];
        while std::io::Write::write_all(&mut f, &block).is_ok() {}
        Some(disk)
    }

    fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// What the filesystem holds besides the filler.
    fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "filler")
            .collect();
        names.sort();
        names
    }
}

impl Drop for FullDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Writing onto a full filesystem fails with one line, and leaves no file of
/// leaktop's making behind (no 0-byte recording, JUnit or JSON in place of nothing).
#[test]
fn a_full_filesystem_leaves_no_empty_file_behind() {
    let Some(disk) = FullDisk::mount() else {
        return;
    };
    let root = sleeper();
    let out = leaktop()
        .args([
            "record",
            "--pid",
            &root.id().to_string(),
            "--ticks",
            "2",
            "--out",
        ])
        .arg(disk.path().join("rec.ticklog"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert_eq!(disk.files(), Vec::<String>::new(), "{err}");

    let out = leaktop()
        .args(["run", "--settle", "0s", "--junit"])
        .arg(disk.path().join("leaks.xml"))
        .arg("--json")
        .arg(disk.path().join("run.json"))
        .arg("--record")
        .arg(disk.path().join("run.ticklog"))
        .args(["--", "true"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert_eq!(disk.files(), Vec::<String>::new(), "{err}");

    // A chart and a conversion of a recording too.
    let recording = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/forkserver-pool.ndjson");
    for args in [
        vec![
            "--svg".to_string(),
            disk.path().join("chart.svg").display().to_string(),
        ],
        vec![
            "--convert".into(),
            "text".into(),
            "--out".into(),
            disk.path().join("conv.ticklog").display().to_string(),
        ],
    ] {
        let out = leaktop()
            .arg("report")
            .arg(&recording)
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("No space left on device"), "{args:?}: {err}");
        assert_eq!(disk.files(), Vec::<String>::new(), "{args:?}: {err}");
    }
}

/// `-` is standard output where leaktop's standard output is its own (record --out,
/// report --out and --svg), and refused in one line where it is CMD's (run --record,
/// --json, --junit): never a file named `-`.
#[test]
fn a_dash_is_standard_output_or_refused_never_a_file_named_dash() {
    let dir = tempfile::tempdir().unwrap();
    let started = dir.path().join("cmd-started");
    for option in ["--json", "--junit", "--record"] {
        let out = leaktop()
            .current_dir(dir.path())
            .args(["run", option, "-", "--", "touch"])
            .arg(&started)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{option}: {err}");
        assert!(
            err.starts_with(&format!("leaktop: error: {option} - ")),
            "{option}: {err}"
        );
        assert!(err.contains("standard output"), "{option}: {err}");
        assert!(!started.exists(), "{option}: CMD never starts");
    }
    let root = sleeper();
    let out = leaktop()
        .current_dir(dir.path())
        .args(["record", "--quiet", "--ticks", "1", "--out", "-", "--pid"])
        .arg(root.id().to_string())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("tick 1"));
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(names.is_empty(), "no file named '-': {names:?}");
}

/// `$GITHUB_STEP_SUMMARY` in a directory that does not exist is found before CMD
/// starts, as `--junit` and `--json` are.
#[test]
fn a_step_summary_that_cannot_be_written_stops_the_run_before_cmd() {
    let dir = tempfile::tempdir().unwrap();
    let started = dir.path().join("cmd-started");
    let summary = dir.path().join("missing/summary.md");
    let out = leaktop()
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .args(["run", "--settle", "0s", "--", "touch"])
        .arg(&started)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("summary.md"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!started.exists(), "CMD never starts: {err}");

    // A writable one is appended to, and one leaktop had to create holds the summary.
    let summary = dir.path().join("summary.md");
    let out = leaktop()
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .args(["run", "--settle", "0s", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        std::fs::read_to_string(&summary)
            .unwrap()
            .contains("leaktop")
    );
}

//! Helpers for tests that run real process trees.
#![allow(dead_code)]

pub mod watch;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub use rustix::process::Signal;

/// A multiprocessing forkserver pool as in the field report: the parent prints its pid
/// once its three workers are up, each holding some memory.
pub const POOL: &str = r#"
import multiprocessing as mp, os, sys, time
def work(_):
    blob = bytearray(20 * 1024 * 1024)
    time.sleep(3600)
if __name__ == "__main__":
    mp.set_start_method("forkserver")
    pool = mp.Pool(3)
    pool.map_async(work, range(3))
    time.sleep(0.5)
    print(os.getpid(), flush=True)
    time.sleep(3600)
"#;

/// The environment variable every spawned tree carries, so cleanup can find all of
/// its processes even after they were orphaned, double-forked or setsid'd.
const TAG_VAR: &str = "LEAKTOP_TEST_TAG";

/// A spawned process tree that is killed, every last member, when dropped.
pub struct Family {
    pub root: Child,
    tag: String,
}

impl Family {
    /// Spawns `program args` in its own process group with a unique tag.
    pub fn spawn(program: &str, args: &[&str]) -> Family {
        static N: AtomicU32 = AtomicU32::new(0);
        let tag = format!(
            "{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let root = Command::new(program)
            .args(args)
            .env(TAG_VAR, &tag)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {program}: {e}"));
        Family { root, tag }
    }

    /// Starts [`POOL`] from a script in `dir` (forkserver workers import their target
    /// from `__main__`, so it must be a real file) and waits until its workers are up.
    pub fn spawn_pool(dir: &Path) -> Family {
        let script = dir.join("pool.py");
        std::fs::write(&script, POOL).unwrap();
        let mut pool = Family::spawn("python3", &[script.to_str().unwrap()]);
        assert_eq!(pool.read_line(), pool.pid().to_string());
        pool
    }

    pub fn pid(&self) -> u32 {
        self.root.id()
    }

    /// Every live process carrying this family's tag.
    pub fn tagged_pids(&self) -> Vec<u32> {
        tagged(&self.tag)
    }

    /// Reads one line the root printed on stdout (scripts announce readiness so).
    pub fn read_line(&mut self) -> String {
        use std::io::BufRead;
        let out = self.root.stdout.as_mut().expect("stdout piped");
        let mut reader = std::io::BufReader::new(out);
        let mut line = String::new();
        reader.read_line(&mut line).expect("read from root");
        line.trim().to_string()
    }

    pub fn kill_root(&mut self) {
        let _ = self.root.kill();
        let _ = self.root.wait();
    }
}

impl Drop for Family {
    fn drop(&mut self) {
        for _ in 0..10 {
            let pids = tagged(&self.tag);
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                signal(pid, Signal::KILL);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.root.kill();
        let _ = self.root.wait();
    }
}

pub fn signal(pid: u32, sig: Signal) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process(pid, sig);
    }
}

/// A unique tag for processes started through [`Tag::command`]: everything carrying it
/// is killed when the tag is dropped.
pub struct Tag(String);

impl Tag {
    pub fn new() -> Tag {
        static N: AtomicU32 = AtomicU32::new(1000);
        Tag(format!(
            "{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ))
    }

    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.env(TAG_VAR, &self.0);
        isolate(&mut c);
        c
    }

    pub fn live(&self) -> Vec<u32> {
        tagged(&self.0)
    }

    /// `VAR=value`, to tag what a shell script starts.
    pub fn assignment(&self) -> String {
        format!("{TAG_VAR}={}", self.0)
    }
}

impl Drop for Tag {
    fn drop(&mut self) {
        for _ in 0..10 {
            let pids = tagged(&self.0);
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                signal(pid, Signal::KILL);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn tagged(tag: &str) -> Vec<u32> {
    let needle = format!("{TAG_VAR}={tag}\0");
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(env) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if env.windows(needle.len()).any(|w| w == needle.as_bytes()) {
            // Zombies keep no environment, so anything found here is alive.
            pids.push(pid);
        }
    }
    pids
}

/// The live (not zombie) children of `pid`, whichever of its threads forked them.
pub fn children_of(pid: u32) -> Vec<u32> {
    let mut children = Vec::new();
    leaktop::sample::children_of(pid, &mut children);
    children.retain(|&c| alive(c));
    children
}

/// The parent of `pid` (`/proc/PID/stat`), `None` if gone.
pub fn ppid(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')')
        .next()?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Is this process alive (and not a zombie)?
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// Held by every test that steers the kernel's pid allocator (`ns_last_pid`), so two
/// never fight over it in this binary under `cargo test`. Under nextest, where each
/// test is a process of its own, the `pid-allocator` test group of
/// `.config/nextest.toml` runs them one at a time instead.
pub fn steering_pids() -> std::sync::MutexGuard<'static, ()> {
    static ALLOCATOR: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ALLOCATOR
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// leaktop as the tests run it: with no configuration file and no watcher's journal
/// of this machine (a `config.toml` in /etc or a journal in /var/lib/leaktop must not
/// change a verdict here); a test names its own with `--config` and `--journal`.
pub fn leaktop() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_leaktop"));
    isolate(&mut c);
    c
}

/// The environment that keeps leaktop off this machine's configuration and journal,
/// and its output whole in a pipe whatever `COLUMNS` the suite was started with.
pub fn isolate(c: &mut Command) {
    c.env("LEAKTOP_NO_CONFIG", "1")
        .env("LEAKTOP_JOURNAL", "/nonexistent/leaktop-tests/journal")
        .env_remove("COLUMNS");
}

/// How long a test waits for what must happen: long, so that the suite passes on a
/// machine whose every core is busy; a test that passes waits only as long as it must.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Polls `cond` until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    cond()
}

/// A running `leaktop record`, killed on drop if still running.
pub struct Recorder {
    pub child: Child,
    pub out: PathBuf,
}

impl Recorder {
    pub fn start(pid: u32, out: &Path, extra: &[&str]) -> Recorder {
        Self::start_with(pid, out, extra, &[])
    }

    /// As [`Recorder::start`], with `env` set for leaktop.
    pub fn start_with(pid: u32, out: &Path, extra: &[&str], env: &[(&str, &str)]) -> Recorder {
        Self::spawn(pid, out, &[&["--quiet"], extra].concat(), env)
    }

    /// As [`Recorder::start_with`], without `--quiet`: its summary is on stderr
    /// ([`Recorder::finish`]).
    pub fn spawn(pid: u32, out: &Path, extra: &[&str], env: &[(&str, &str)]) -> Recorder {
        let mut leaktop = leaktop();
        leaktop.envs(env.iter().copied());
        Self::spawn_as(leaktop, pid, out, extra)
    }

    /// `leaktop record --pid PID --out OUT EXTRA` through `command` (leaktop, or a
    /// program that runs it, such as `setpriv ... leaktop`).
    pub fn spawn_as(mut command: Command, pid: u32, out: &Path, extra: &[&str]) -> Recorder {
        let child = command
            .args(["record", "--pid", &pid.to_string(), "--out"])
            .arg(out)
            .args(extra)
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn leaktop record");
        Recorder {
            child,
            out: out.to_path_buf(),
        }
    }

    /// Waits until the output holds at least `n` complete ticks.
    pub fn wait_ticks(&self, n: usize) {
        let ok = wait_until(PATIENCE, || {
            leaktop::format::read(&self.out).is_ok_and(|r| r.ticks.len() >= n)
        });
        assert!(
            ok,
            "recorder did not write {n} ticks to {}",
            self.out.display()
        );
    }

    pub fn signal(&self, sig: Signal) {
        signal(self.child.id(), sig);
    }

    /// Waits for the recorder to exit; returns its exit code and stderr.
    pub fn finish(mut self) -> (Option<i32>, String) {
        use std::io::Read;
        let done = wait_until(PATIENCE, || matches!(self.child.try_wait(), Ok(Some(_))));
        assert!(done, "recorder did not stop");
        let status = self.child.wait().unwrap();
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        (status.code(), err)
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A child process that is killed and reaped when dropped.
pub struct Reaped(pub Child);

impl Reaped {
    pub fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The variable that tells a re-executed test binary which test it runs alone.
const ISOLATED_VAR: &str = "LEAKTOP_TEST_ISOLATED";

/// Runs `body` in a process of its own: the test binary re-executed for test `name`
/// (its full path, `module::test`) alone.
///
/// For tests that change process-wide state that the other tests in this one binary
/// would feel: becoming a subreaper (every orphan of every concurrent test would be
/// adopted here instead of by init) or reaping any child (`waitpid(-1)` takes other
/// tests' children). The parent only checks that the child passed; the child's own
/// output is passed through when it did not.
pub fn isolated(name: &str, body: impl FnOnce()) {
    isolated_under(&[], &[], name, body)
}

/// As [`isolated`], the process of its own started through `wrapper` (a command
/// and its arguments that runs the rest, e.g. `setpriv --reuid=65534`) with `env`
/// added to its environment: for tests of what leaktop does as another user,
/// without a capability, or with a variable set.
pub fn isolated_under(wrapper: &[&str], env: &[(&str, &str)], name: &str, body: impl FnOnce()) {
    if std::env::var(ISOLATED_VAR).as_deref() == Ok(name) {
        body();
        return;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut command = match wrapper {
        [] => Command::new(&exe),
        [program, args @ ..] => {
            let mut c = Command::new(program);
            c.args(args).arg(&exe);
            c
        }
    };
    let out = command
        .envs(env.iter().copied())
        .args([
            name,
            "--exact",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ISOLATED_VAR, name)
        .stdin(Stdio::null())
        .output()
        .expect("re-execute the test binary");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{name}, run in a process of its own, failed:\n{text}"
    );
    assert!(
        text.contains("1 passed"),
        "{name} did not run in its own process:\n{text}"
    );
}

/// How to make a PID namespace of one's own: as root, or in a user namespace of
/// one's own where the kernel lets anyone make one.
const UNSHARE: [&[&str]; 2] = [
    &["--pid", "--fork", "--mount-proc"],
    &[
        "--user",
        "--map-root-user",
        "--pid",
        "--fork",
        "--mount-proc",
    ],
];

/// The `unshare` arguments that make a PID namespace here (as root, or in a user
/// namespace of one's own), or `None` where none can be made.
pub fn unshare_pid() -> Option<&'static [&'static str]> {
    UNSHARE.into_iter().find(|how| {
        Command::new("unshare")
            .args(*how)
            .arg("true")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// Runs `body` as PID 1 of a PID namespace of its own (as [`isolated_under`]
/// `unshare --pid --fork --mount-proc`), for a test that needs init as the adopter:
/// every process it orphans is adopted by PID 1, the test itself, whatever subreapers
/// the machine has above it, and every process left in the namespace ends with it.
/// Where no PID namespace can be made (no `unshare`, not root and no user
/// namespaces), the test is skipped with a note.
pub fn in_pid_namespace(name: &str, body: impl FnOnce()) {
    let inside = std::env::var(ISOLATED_VAR).as_deref() == Ok(name);
    let how = if inside {
        Some(UNSHARE[0])
    } else {
        unshare_pid()
    };
    let Some(how) = how else {
        eprintln!("skipped: {name} needs a PID namespace of its own (unshare)");
        return;
    };
    let wrapper: Vec<&str> = std::iter::once("unshare")
        .chain(how.iter().copied())
        .collect();
    isolated_under(&wrapper, &[], name, || {
        assert_eq!(
            std::process::id(),
            1,
            "{name} runs as PID 1 of its namespace"
        );
        // And /proc is the namespace's, where pids and parents are as it sees them.
        let seen = std::fs::read_link("/proc/self").unwrap_or_default();
        assert_eq!(seen, Path::new("1"), "{name}: /proc is the namespace's");
        body();
    });
}

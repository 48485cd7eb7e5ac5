//! The interactive view driven as a person would: in a real terminal (tmux), by keys,
//! against real process trees.

#![cfg(target_os = "linux")]

use crate::common;

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use common::{Family, Reaped, Signal, Tag, alive, children_of, signal, wait_until};

/// A tmux server of its own running one command in a 120x40 window; killed on drop.
struct Screen {
    socket: String,
}

impl Screen {
    fn start(command: &str) -> Screen {
        static N: AtomicU32 = AtomicU32::new(0);
        let socket = format!(
            "leaktop-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let status = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-x",
                "120",
                "-y",
                "40",
            ])
            .arg(command)
            .status()
            .expect("tmux is needed for the interactive tests (apt-get install tmux)");
        assert!(status.success(), "tmux failed to start `{command}`");
        Screen { socket }
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("run tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn text(&self) -> String {
        self.tmux(&["capture-pane", "-p"])
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.tmux(&["send-keys", k]);
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for `needle` on screen; fails with the screen as it is.
    fn wait_for(&self, needle: &str, limit: Duration) -> String {
        let mut last = String::new();
        let found = wait_until(limit, || {
            last = self.text();
            last.contains(needle)
        });
        assert!(
            found,
            "waited {limit:?} for {needle:?}; the screen shows:\n{last}"
        );
        last
    }

    /// The pid of the command the pane runs.
    fn pane_pid(&self) -> u32 {
        self.tmux(&["list-panes", "-F", "#{pane_pid}"])
            .trim()
            .parse()
            .expect("pane pid")
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
    }
}

impl Screen {
    /// `leaktop run ARGS` from a shell in tmux, tagged, that then prints `exit=CODE`
    /// and stays; `dir` holds the script.
    fn run_leaktop(tag: &Tag, dir: &std::path::Path, args: &str) -> Screen {
        let script = dir.join("run.sh");
        std::fs::write(
            &script,
            format!(
                "ulimit -c 0\n{} {} run {args}\necho exit=$?\nsleep 60\n",
                tag.assignment(),
                leaktop()
            ),
        )
        .unwrap();
        Screen::start(&format!("sh {}", script.display()))
    }

    /// Sends `signal` to the pane's one child (leaktop), pinned with a pidfd and then
    /// re-identified as that child before it is signalled.
    fn signal_leaktop(&self, signal: Signal) {
        let view = children_of(self.pane_pid());
        assert_eq!(view.len(), 1, "{view:?}");
        let pinned = rustix::process::pidfd_open(
            rustix::process::Pid::from_raw(view[0] as i32).unwrap(),
            rustix::process::PidfdFlags::empty(),
        )
        .unwrap();
        assert_eq!(children_of(self.pane_pid()), view);
        rustix::process::pidfd_send_signal(&pinned, signal).unwrap();
    }
}

fn leaktop() -> &'static str {
    env!("CARGO_BIN_EXE_leaktop")
}

/// The issue's acceptance scenario: a forkserver pool whose parent is SIGKILLed shows
/// its tracker, forkserver and workers as leaked; `K`, `y` ends them all, and a
/// process with the same command name outside the family survives.
#[test]
fn forkserver_pool_leak_is_shown_and_killed_from_the_view() {
    let dir = tempfile::tempdir().unwrap();
    let mut pool = Family::spawn_pool(dir.path());
    let root = pool.pid();
    let decoys = Tag::new();
    let decoy = Reaped(
        decoys
            .command("python3")
            .args(["-c", "import time; time.sleep(3600)"])
            .spawn()
            .unwrap(),
    );

    let screen = Screen::start(&format!("{} --pid {root} --interval 200ms", leaktop()));
    screen.wait_for("no leaks", Duration::from_secs(30));
    let members = pool.tagged_pids().len();
    assert_eq!(members, 6, "root, tracker, forkserver and three workers");

    pool.kill_root();
    let shown = screen.wait_for("LEAKED 5 processes", Duration::from_secs(30));
    assert!(shown.contains("EXITED"), "{shown}");
    assert!(
        shown.contains(&format!("reparented from {root}")),
        "{shown}"
    );
    let marked = shown
        .lines()
        .filter(|l| l.chars().skip(1).take(5).collect::<String>() == "LEAK ")
        .count();
    assert_eq!(marked, 5, "{shown}");

    screen.keys(&["K"]);
    screen.wait_for("Send SIGTERM to 5 processes", Duration::from_secs(30));
    screen.keys(&["y"]);
    let done = screen.wait_for("5 ended · 0 survived", Duration::from_secs(30));
    // What came back is the PSS of what ended (the RSS only beside it).
    assert!(done.contains("freed (PSS)"), "{done}");
    assert!(
        wait_until(common::PATIENCE, || pool.tagged_pids().is_empty()),
        "still alive: {:?}",
        pool.tagged_pids()
    );
    assert!(
        alive(decoy.id()),
        "the same-named decoy outside the family must survive"
    );
    screen.keys(&["Escape", "q"]);
}

#[test]
fn demo_leaks_on_schedule_and_cleans_up_every_helper_on_quit() {
    let screen = Screen::start(&format!("{} demo --interval 250ms", leaktop()));
    let shown = screen.wait_for("LEAKED 2 processes", Duration::from_secs(15));
    assert!(shown.contains("demo-worker"), "{shown}");
    let owner = screen.pane_pid();
    let helpers = || demo_helpers(owner);
    assert!(
        helpers().len() >= 3,
        "server and leaked workers: {:?}",
        helpers()
    );
    screen.keys(&["q"]);
    assert!(
        wait_until(common::PATIENCE, || helpers().is_empty()),
        "helpers left behind: {:?}",
        helpers()
    );
}

/// Issue 19: the demo shows its point at once. Until the first leak the screen says
/// what is about to happen; the leak itself is on screen within 3 s of the view
/// opening, by the view's own clock (the header's elapsed time at the first screen
/// showing it), with the demo's default settings.
#[test]
fn demo_shows_its_first_leak_within_three_seconds_and_says_it_is_coming() {
    let screen = Screen::start(&format!("{} demo", leaktop()));
    let opened = screen.wait_for("every 250ms · tick", Duration::from_secs(30));
    let seen_open = std::time::Instant::now();
    assert!(
        opened.contains("next: a session will be orphaned in"),
        "{opened}"
    );
    let mut last = String::new();
    let found = wait_until(common::PATIENCE, || {
        last = screen.text();
        last.contains("LEAKED 2 processes")
    });
    let waited = seen_open.elapsed();
    assert!(found, "no leak after 10 s:\n{last}");
    // ` · tick 10 · 2.3s · `: the header's elapsed time since the view opened.
    let elapsed: f64 = last
        .lines()
        .next()
        .and_then(|l| l.split(" · ").find(|f| f.ends_with('s') && f.contains('.')))
        .and_then(|f| f.trim_end_matches('s').parse().ok())
        .unwrap_or_else(|| panic!("no elapsed time in the header:\n{last}"));
    assert!(elapsed <= 3.0, "first leak at {elapsed} s:\n{last}");
    assert!(waited < Duration::from_secs(4), "seen after {waited:?}");
    screen.keys(&["q"]);
}

#[test]
fn demo_helpers_end_by_themselves_when_leaktop_is_sigkilled() {
    let screen = Screen::start(&format!("{} demo --interval 250ms", leaktop()));
    screen.wait_for("demo-worker", Duration::from_secs(30));
    let owner = screen.pane_pid();
    assert!(!demo_helpers(owner).is_empty());
    signal(owner, Signal::KILL);
    assert!(
        wait_until(common::PATIENCE, || demo_helpers(owner).is_empty()),
        "helpers left behind: {:?}",
        demo_helpers(owner)
    );
}

/// Live helpers of the demo run by `owner`.
fn demo_helpers(owner: u32) -> Vec<u32> {
    let needle = format!("LEAKTOP_DEMO_OWNER={owner}\0");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.windows(needle.len()).any(|w| w == needle.as_bytes()))
                && alive(*pid)
        })
        .collect()
}

/// SIGTERM ends the view and the terminal is back in its normal (canonical) mode.
#[test]
fn terminal_is_restored_after_sigterm() {
    let sleeper = Tag::new();
    let child = Reaped(sleeper.command("sleep").arg("300").spawn().unwrap());
    signal_the_view_and_check_the_terminal(child.id(), Signal::TERM, 0);
}

/// SIGQUIT and SIGUSR1 (signals whose default action ends a process, which leaktop
/// does not take as a quit) give the terminal back too, then end leaktop as the
/// signal would have: the shell sees 128 + the signal's number.
#[test]
fn terminal_is_restored_before_leaktop_dies_of_sigquit_or_sigusr1() {
    let sleeper = Tag::new();
    let child = Reaped(sleeper.command("sleep").arg("300").spawn().unwrap());
    for (signal, code) in [(Signal::QUIT, 131), (Signal::USR1, 138)] {
        signal_the_view_and_check_the_terminal(child.id(), signal, code);
    }
}

/// Runs the view on `pid` from a shell in tmux, sends it `signal`, and checks that the
/// shell sees exit code `code` and a terminal out of raw mode and the alternate screen.
fn signal_the_view_and_check_the_terminal(pid: u32, signal: Signal, code: i32) {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("view.sh");
    // No core file for SIGQUIT.
    std::fs::write(
        &script,
        format!(
            "ulimit -c 0\n{} --pid {pid}\necho exit=$?\nstty -a | tr ' ' '\\n' | grep -x -e icanon -e -icanon\nsleep 60\n",
            leaktop(),
        ),
    )
    .unwrap();
    let screen = Screen::start(&format!("sh {}", script.display()));
    screen.wait_for("no leaks", Duration::from_secs(30));
    screen.signal_leaktop(signal);
    let after = screen.wait_for("exit=", Duration::from_secs(30));
    assert!(
        after.contains(&format!("exit={code}")),
        "{signal:?}: {after}"
    );
    let restored = screen.wait_for("icanon", Duration::from_secs(30));
    assert!(
        !restored.contains("-icanon"),
        "{signal:?}: raw mode left on:\n{restored}"
    );
    assert!(
        !restored.contains("processes"),
        "{signal:?}: alternate screen left on:\n{restored}"
    );
}

/// SIGKILLs a process on drop, if the pid still names the same process.
struct KillOnDrop(u32, Option<String>);

impl KillOnDrop {
    fn new(pid: u32) -> KillOnDrop {
        KillOnDrop(pid, start_time(pid))
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if self.1.is_some() && start_time(self.0) == self.1 {
            signal(self.0, Signal::KILL);
        }
    }
}

/// Field 22 of /proc/PID/stat, counted after the command's closing parenthesis.
fn start_time(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')')
        .next()?
        .split_whitespace()
        .nth(19)
        .map(String::from)
}

/// Closing the terminal under the view (tmux kill-server: SIGHUP, then a tty that
/// reads EOF forever) ends leaktop; it must not linger, spinning, without a terminal.
#[test]
fn leaktop_exits_when_its_terminal_goes_away() {
    let tag = Tag::new();
    let child = Reaped(tag.command("sleep").arg("300").spawn().unwrap());
    for command in [
        format!("exec {} --pid {}", leaktop(), child.id()),
        format!("exec {}", leaktop()),
    ] {
        let screen = Screen::start(&command);
        screen.wait_for("leaktop", Duration::from_secs(30));
        let view = screen.pane_pid();
        // Killed even if the assertion fails: a lingering view spins on a CPU.
        let _guard = KillOnDrop::new(view);
        drop(screen);
        assert!(
            wait_until(common::PATIENCE, || !alive(view)),
            "`{command}` still running after its terminal closed"
        );
    }
}

#[test]
fn picker_chooses_a_root_by_typing_and_name_finds_the_oldest_match() {
    let tag = Tag::new();
    let marker = format!("leaktop-picker-{}", std::process::id());
    // `exec -a` names the sleep so the filter can find it.
    let target = Reaped(
        tag.command("bash")
            .args(["-c", &format!("exec -a {marker} sleep 300")])
            .spawn()
            .unwrap(),
    );
    let screen = Screen::start(leaktop());
    screen.wait_for("choose the process", Duration::from_secs(30));
    // Letters filter only after `/` (as in htop): `q` would quit.
    screen.keys(&["/"]);
    for c in marker.chars() {
        screen.tmux(&["send-keys", "-l", &c.to_string()]);
    }
    screen.wait_for(&format!("{:>8}", target.id()), Duration::from_secs(30));
    // Enter keeps the filter and gives the keys back to the list; Enter again picks.
    screen.keys(&["Enter"]);
    screen.wait_for("Esc clears", Duration::from_secs(30));
    screen.keys(&["Enter"]);
    screen.wait_for(
        &format!("root {} alive", target.id()),
        Duration::from_secs(30),
    );
    // The header shows the root before the first sample; the verdict comes with it.
    screen.wait_for("no leaks", Duration::from_secs(30));
    screen.keys(&["q"]);

    let by_name = Screen::start(&format!("{} --name {marker}", leaktop()));
    by_name.wait_for(
        &format!("root {} alive", target.id()),
        Duration::from_secs(30),
    );
}

/// Issue 13, fault 6: `--name` matching several processes opens the picker on the
/// matches, oldest first, instead of silently taking one.
#[test]
fn name_with_several_matches_opens_the_picker_on_them() {
    let tag = Tag::new();
    let marker = format!("leaktop-twice-{}", std::process::id());
    let spawn = || {
        Reaped(
            tag.command("bash")
                .args(["-c", &format!("exec -a {marker} sleep 300")])
                .spawn()
                .unwrap(),
        )
    };
    let older = spawn();
    std::thread::sleep(Duration::from_millis(50));
    let newer = spawn();
    let screen = Screen::start(&format!("{} --name {marker}", leaktop()));
    let shown = screen.wait_for(
        &format!("2 processes match --name '{marker}'"),
        Duration::from_secs(30),
    );
    let at = |pid: u32| shown.find(&format!("{pid:>8} ")).unwrap_or(usize::MAX);
    assert!(at(older.id()) < at(newer.id()), "{shown}");
    assert!(at(newer.id()) < usize::MAX, "{shown}");
    screen.keys(&["Down", "Enter"]);
    screen.wait_for(
        &format!("root {} alive", newer.id()),
        Duration::from_secs(30),
    );
}

/// `run --tui`: the view shows the escapee, and closing it gives the usual report,
/// the --check exit code and the --kill-leaks cleanup.
#[test]
fn run_with_the_view_reports_and_gates_after_it_closes() {
    let tag = Tag::new();
    let dir = tempfile::tempdir().unwrap();
    let screen = Screen::run_leaktop(
        &tag,
        dir.path(),
        "--tui --check --kill-leaks --interval 200ms -- sh -c '(setsid sleep 300 &); sleep 1'",
    );
    let shown = screen.wait_for("LEAKED 1 process", Duration::from_secs(30));
    assert!(shown.contains("ESC"), "{shown}");
    screen.wait_for("EXITED", Duration::from_secs(30));
    assert_eq!(tag.live().len(), 2, "leaktop and the escaped sleep");
    screen.keys(&["q"]);
    let after = screen.wait_for("exit=", Duration::from_secs(30));
    assert!(after.contains("exit=3"), "{after}");
    assert!(after.contains("1 process leaked"), "{after}");
    assert!(after.contains("ended 1 leaked process"), "{after}");
    assert!(tag.live().is_empty(), "left behind: {:?}", tag.live());
}

/// `leaktop record` of `pid`'s family, three ticks at 100 ms, into `file`.
fn record_three_ticks(pid: u32, file: &std::path::Path) {
    let status = std::process::Command::new(leaktop())
        .args(["record", "--quiet", "--interval", "100ms", "--ticks", "3"])
        .arg("--pid")
        .arg(pid.to_string())
        .arg("--out")
        .arg(file)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn replay_steps_through_a_recording_and_refuses_to_kill() {
    let tag = Tag::new();
    let sleeper = Reaped(tag.command("sleep").arg("300").spawn().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("three.ticklog");
    record_three_ticks(sleeper.id(), &file);
    let screen = Screen::start(&format!("{} replay {}", leaktop(), file.display()));
    screen.wait_for("tick 3 of 3", Duration::from_secs(30));
    screen.keys(&["Left"]);
    screen.wait_for("tick 2 of 3", Duration::from_secs(30));
    screen.keys(&["x"]);
    screen.wait_for("killing is disabled in a replay", Duration::from_secs(30));
    assert!(alive(sleeper.id()));
}

/// A recording made by `record` and replayed in a real terminal shows each process's
/// AGE (issue 28: it was blank in replays); `e` says where it would write, in the XDG
/// data directory (not the working directory), and writes there only on Enter,
/// making the directory for the user alone; `--export-dir` names another.
#[test]
fn replay_shows_age_and_export_asks_before_writing_into_the_data_directory() {
    use std::os::unix::fs::PermissionsExt;
    let tag = Tag::new();
    let sleeper = Reaped(tag.command("sleep").arg("300").spawn().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("three.ndjson");
    record_three_ticks(sleeper.id(), &file);
    let data = dir.path().join("data");
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let screen = Screen::start(&format!(
        "cd {} && XDG_DATA_HOME={} {} replay {}",
        work.display(),
        data.display(),
        leaktop(),
        file.display()
    ));
    let shown = screen.wait_for("tick 3 of 3", Duration::from_secs(30));
    let row = shown
        .lines()
        .skip_while(|l| !l.contains("AGE  COMMAND"))
        .find(|l| {
            l.split_whitespace()
                .take(3)
                .any(|w| w == sleeper.id().to_string())
        })
        .unwrap_or_else(|| panic!("no row of the sleeper:\n{shown}"));
    let age = row.split_whitespace().rev().nth(2).unwrap_or("");
    assert!(
        age.ends_with('s') && age.starts_with(|c: char| c.is_ascii_digit()),
        "AGE {age:?} in {row:?}"
    );
    screen.keys(&["e"]);
    let asked = screen.wait_for("Enter writes", Duration::from_secs(30));
    assert!(
        asked.contains(&format!("{}/leaktop/", data.display())),
        "{asked}"
    );
    assert!(asked.contains("(new directory)"), "{asked}");
    screen.keys(&["Escape"]);
    screen.wait_for("export cancelled", Duration::from_secs(30));
    assert!(!data.exists(), "nothing made before Enter");
    screen.keys(&["e"]);
    screen.wait_for("Enter writes", Duration::from_secs(30));
    screen.keys(&["Enter"]);
    screen.wait_for("exported 3 ticks to", Duration::from_secs(30));
    let exported: Vec<_> = std::fs::read_dir(data.join("leaktop"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(exported.len(), 1, "{exported:?}");
    assert_eq!(leaktop::format::read(&exported[0]).unwrap().ticks.len(), 3);
    let mode = std::fs::metadata(data.join("leaktop"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "{mode:o}");
    assert_eq!(
        std::fs::read_dir(&work).unwrap().count(),
        0,
        "the working directory"
    );
    screen.keys(&["q"]);
    drop(screen);

    let other = dir.path().join("other");
    let screen = Screen::start(&format!(
        "{} replay --export-dir {} {}",
        leaktop(),
        other.display(),
        file.display()
    ));
    screen.wait_for("tick 3 of 3", Duration::from_secs(30));
    screen.keys(&["e"]);
    let asked = screen.wait_for("Enter writes", Duration::from_secs(30));
    assert!(asked.contains(&format!("{}/", other.display())), "{asked}");
}

/// Issue 27, fault 3: a damaged line in the middle of a recording stopped the replay
/// there. Now it skips that tick, shows the rest, says what it skipped in the view,
/// and once closed says it on stderr; `--strict` stops before it, as it did.
#[test]
fn replay_skips_a_damaged_tick_and_shows_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let asset =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/forkserver-pool.ticklog");
    let text = std::fs::read_to_string(asset).unwrap();
    let file = dir.path().join("damaged.ticklog");
    std::fs::write(&file, text.replacen("tick 20 ", "tick x ", 1)).unwrap();
    let err = dir.path().join("err");
    let command = |extra: &str| {
        format!(
            "sh -c '{} replay {extra}{} 2>{}; echo exit=$?; sleep 60'",
            leaktop(),
            file.display(),
            err.display()
        )
    };
    let screen = Screen::start(&command(""));
    // It opens at the first leak (issue 28); > goes to the last tick.
    screen.wait_for("the first leak", Duration::from_secs(30));
    screen.keys(&[">"]);
    let shown = screen.wait_for("tick 39 of 39", Duration::from_secs(30));
    assert!(shown.contains("skipped"), "{shown}");
    screen.keys(&["<"]);
    screen.wait_for("tick 1 of 39", Duration::from_secs(30));
    screen.keys(&["q"]);
    screen.wait_for("exit=0", Duration::from_secs(30));
    let said = std::fs::read_to_string(&err).unwrap();
    assert!(
        said.starts_with(&format!("leaktop: warning: {}: skipped ", file.display()))
            && said.contains("expected a tick number"),
        "{said}"
    );
    let strict = Screen::start(&command("--strict "));
    strict.wait_for("the first leak", Duration::from_secs(30));
    strict.keys(&[">"]);
    let shown = strict.wait_for("tick 19 of 19", Duration::from_secs(30));
    assert!(shown.contains("the rest of it"), "{shown}");
    strict.keys(&["q"]);
    strict.wait_for("exit=0", Duration::from_secs(30));
}

/// Issue 19: a recording crossed with the history keys in a real terminal. A shell
/// leaves two sleeps behind and exits: the root's exit and the leak are the events
/// `n`/`N` stop at; `<` goes to the first tick, `}`/`{` a tenth on and back, `>` to the
/// last.
#[test]
fn replay_is_crossed_with_first_last_tenths_and_events() {
    let tag = Tag::new();
    let dir = tempfile::tempdir().unwrap();
    let root = Reaped(
        tag.command("sh")
            .args(["-c", "sleep 300 & sleep 300 & sleep 1"])
            .spawn()
            .unwrap(),
    );
    let file = dir.path().join("leak.ticklog");
    let status = Command::new(leaktop())
        .args(["record", "--quiet", "--interval", "100ms", "--ticks", "60"])
        .args(["--leak-grace", "1s"])
        .arg("--pid")
        .arg(root.id().to_string())
        .arg("--out")
        .arg(&file)
        .status()
        .unwrap();
    assert!(status.success());
    drop(root);
    let screen = Screen::start(&format!("{} replay {}", leaktop(), file.display()));
    // It opens at the first leak, and says so (issue 28).
    let opened = screen.wait_for("the first leak · n next event", Duration::from_secs(30));
    assert!(opened.contains("LEAKED 2 processes"), "{opened}");
    let press = |key: &str, shown: &str| -> String {
        screen.keys(&[key]);
        screen.wait_for(shown, Duration::from_secs(10))
    };
    press("<", "tick 1 of 60");
    press("}", "tick 7 of 60");
    let exit = press("n", ": exit · n next · N previous");
    assert!(exit.contains("EXITED"), "{exit}");
    let leak = press("n", ": leak · n next · N previous");
    assert!(leak.contains("LEAKED 2 processes"), "{leak}");
    assert!(
        leak.contains("⣿ viewing tick"),
        "the chart marks it: {leak}"
    );
    press("n", "no later event");
    press("N", ": exit · N previous · n next");
    press("N", "no earlier event");
    press(">", "tick 60 of 60");
    press("{", "tick 54 of 60");
    screen.keys(&["q"]);
}

/// `--name --follow` across a supervisor's restart: the new daemon becomes the root and
/// the old one's orphan stays listed as leaked.
#[test]
fn follow_survives_a_root_restart_and_keeps_the_old_orphans() {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("leakd-gen-{}", std::process::id());
    let daemon = dir.path().join(format!("{name}.sh"));
    std::fs::write(&daemon, "sleep 3001 &\nwait\n").unwrap();
    let supervisor = dir.path().join("supervise.sh");
    std::fs::write(
        &supervisor,
        format!("while :; do sh {}; sleep 0.3; done\n", daemon.display()),
    )
    .unwrap();
    let tag = Tag::new();
    let _sup = Reaped(
        tag.command("sh")
            .arg(&supervisor)
            .stdin(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    // The running generation: the daemon and its sleep.
    let generation = || -> Option<(u32, u32)> {
        tag.live().into_iter().find_map(|pid| {
            let cmd = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).ok()?;
            let sleep = children_of(pid).into_iter().next()?;
            cmd.contains(&name).then_some((pid, sleep))
        })
    };
    let mut first = None;
    assert!(wait_until(common::PATIENCE, || {
        first = generation();
        first.is_some()
    }));
    let (gen1, orphan) = first.unwrap();

    let screen = Screen::start(&format!(
        "{} --name {name} --follow --interval 200ms",
        leaktop()
    ));
    screen.wait_for(&format!("root {gen1} alive"), Duration::from_secs(30));
    // The header says "alive" before the first tick: wait until a tick has seen the
    // daemon's sleep in its family, or it would be orphaned before it was a member.
    screen.wait_for(&format!(" {orphan} "), Duration::from_secs(30));

    signal(gen1, Signal::KILL);
    let mut second = None;
    assert!(wait_until(common::PATIENCE, || {
        second = generation().filter(|g| g.0 != gen1);
        second.is_some()
    }));
    let (gen2, gen2_sleep) = second.unwrap();
    let shown = screen.wait_for(
        &format!("root {gen2} alive (restarted at tick"),
        Duration::from_secs(30),
    );
    let shown = if shown.contains("LEAKED 1 process") {
        shown
    } else {
        screen.wait_for("LEAKED 1 process", Duration::from_secs(10))
    };
    assert!(shown.contains(&format!("was {gen1}")), "{shown}");
    let orphan_row = shown
        .lines()
        .find(|l| l.contains(&format!(" {orphan} ")))
        .unwrap_or_else(|| panic!("orphan {orphan} not listed:\n{shown}"));
    assert!(orphan_row.contains("LEAK"), "{shown}");
    let shown = screen.wait_for(&format!(" {gen2_sleep} "), Duration::from_secs(30));
    let live_row = shown
        .lines()
        .find(|l| l.contains(&format!(" {gen2_sleep} ")))
        .unwrap();
    assert!(!live_row.contains("LEAK"), "{shown}");
    assert!(alive(orphan));
}

/// Issue 17, fault 1: a kill from `run --tui` used to reap CMD inside the kill's wait
/// loop, so `run` never learned that CMD had exited, hung after the view closed, and
/// forwarded later signals to CMD's old pid. The supervisor now owns reaping: the run
/// ends and reports CMD's death by SIGTERM.
#[test]
fn run_with_the_view_exits_after_the_root_is_killed_from_the_view() {
    let tag = Tag::new();
    let dir = tempfile::tempdir().unwrap();
    let screen = Screen::run_leaktop(
        &tag,
        dir.path(),
        "--tui --interval 200ms --grace 1s -- sh -c 'sleep 300 & sleep 300'",
    );
    screen.wait_for("family 3 processes", Duration::from_secs(30));
    screen.keys(&["g", "x"]);
    screen.wait_for("Send SIGTERM to 3 processes", Duration::from_secs(30));
    screen.keys(&["y"]);
    screen.wait_for("3 ended", Duration::from_secs(30));
    screen.keys(&["Escape", "q"]);
    let after = screen.wait_for("exit=", Duration::from_secs(30));
    assert!(after.contains("exit=143"), "CMD died of SIGTERM: {after}");
    assert!(
        wait_until(common::PATIENCE, || tag.live().is_empty()),
        "left behind: {:?}",
        tag.live()
    );
}

/// `run --tui` on SIGQUIT: the view gives the terminal back, the run still reports and
/// ends its leaks (--kill-leaks), and only then leaktop dies of the signal (131).
#[test]
fn run_with_the_view_cleans_up_before_it_dies_of_sigquit() {
    let tag = Tag::new();
    let dir = tempfile::tempdir().unwrap();
    let screen = Screen::run_leaktop(
        &tag,
        dir.path(),
        "--tui --kill-leaks --grace 1s --interval 200ms -- sh -c '(setsid sleep 300 &); sleep 300'",
    );
    screen.wait_for("LEAKED 1 process", Duration::from_secs(30));
    screen.signal_leaktop(Signal::QUIT);
    let after = screen.wait_for("exit=", Duration::from_secs(15));
    assert!(after.contains("exit=131"), "{after}");
    // The escapee, and the `sleep` that CMD left when the view's close sent it SIGTERM.
    assert!(after.contains("ended 2 leaked processes"), "{after}");
    assert!(
        wait_until(common::PATIENCE, || tag.live().is_empty()),
        "left behind: {:?}",
        tag.live()
    );
}

/// A script for a pane: `leaktop ARGS` with no core dumps, whose exit status goes to
/// `dir/code` once it ends. The shell traps HUP (so it outlives its closed terminal to
/// write the status) while leaktop, exec'd with default dispositions, gets the HUP.
fn leaktop_then_code(tag: &Tag, dir: &std::path::Path, args: &str) -> Screen {
    let script = dir.join("lost.sh");
    std::fs::write(
        &script,
        format!(
            "trap : HUP\nulimit -c 0\n{} {} {args}\necho $? > {}/code\n",
            tag.assignment(),
            leaktop(),
            dir.display()
        ),
    )
    .unwrap();
    Screen::start(&format!("sh {}", script.display()))
}

/// The exit status `leaktop_then_code` wrote, once it is there.
fn code_written(dir: &std::path::Path) -> String {
    let path = dir.join("code");
    let mut code = String::new();
    let written = wait_until(Duration::from_secs(30), || {
        code = std::fs::read_to_string(&path).unwrap_or_default();
        code.ends_with('\n')
    });
    assert!(written, "no exit status written: leaktop never ended");
    code.trim().to_string()
}

/// Closing the pane under `run --tui --kill-leaks --junit` (SIGHUP, then a terminal
/// whose writes fail) is an ordinary end: the view stops drawing, and the run still
/// reports, writes its JUnit file, ends the `setsid` leak and exits with CMD's status
/// (it died of the same SIGHUP), never aborting (134) in the terminal's restore.
#[test]
fn run_with_the_view_does_its_duties_when_the_pane_closes() {
    let tag = Tag::new();
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let screen = leaktop_then_code(
        &tag,
        dir.path(),
        &format!(
            "run --tui --kill-leaks --junit {} --grace 1s --interval 200ms -- \
             sh -c '(setsid sleep 300 &); sleep 300'",
            junit.display()
        ),
    );
    screen.wait_for("LEAKED 1 process", Duration::from_secs(15));
    screen.tmux(&["kill-pane"]);
    let code = code_written(dir.path());
    assert!(
        code == "129" || code == "143",
        "exit {code}, not CMD's death by SIGHUP (or the view's SIGTERM)"
    );
    let report = std::fs::read_to_string(&junit).expect("the JUnit file is written");
    assert!(report.contains("sleep 300"), "{report}");
    assert!(
        wait_until(Duration::from_secs(10), || tag.live().is_empty()),
        "left behind: {:?}",
        tag.live()
    );
}

/// The plain view and the picker in a pane that is closed end quietly, with 0, never
/// aborting in the terminal's restore (134), panicking (101) or lingering: whether a
/// draw fails first (ticks every 200 ms) or nothing is drawn (one tick a minute, the
/// picker) and no SIGHUP comes (the pane's shell traps it).
#[test]
fn view_exits_cleanly_when_its_pane_closes() {
    let tag = Tag::new();
    let child = Reaped(tag.command("sleep").arg("300").spawn().unwrap());
    for (args, shows) in [
        (format!("--pid {} --interval 200ms", child.id()), "sleep"),
        (format!("--pid {} --interval 60s", child.id()), "sleep"),
        // The picker, which draws nothing new until a key or its scan.
        (String::new(), "choose the process"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let screen = leaktop_then_code(&tag, dir.path(), &args);
        screen.wait_for(shows, Duration::from_secs(15));
        screen.tmux(&["kill-pane"]);
        assert_eq!(code_written(dir.path()), "0", "`leaktop {args}`");
    }
}

/// CMD for the wrapper tests: starts a `setsid sleep 300` leak (`LEAK PID`), prints its
/// window size on SIGWINCH (`SIZE COLSxROWS`); `raw` puts the terminal in raw mode and
/// echoes each byte read as `KEY b'x'` (`q` restores the terminal and exits 0; a
/// terminal gone, EOF or EIO, exits 7), `cooked`
/// echoes each line as `LINE text` and dies of SIGINT.
const WRAPPED: &str = r#"
import os, signal, subprocess, sys, termios, tty

def say(line):
    os.write(1, (line + "\r\n").encode())

def size(*_):
    c, r = os.get_terminal_size(0)
    say(f"SIZE {c}x{r}")

mode = sys.argv[1]
leak = subprocess.Popen(["setsid", "sleep", "300"])
say(f"LEAK {leak.pid}")
signal.signal(signal.SIGWINCH, size)
if mode == "raw":
    saved = termios.tcgetattr(0)
    tty.setraw(0)
    say("READY raw")
    while True:
        try:
            key = os.read(0, 1)
        except OSError:
            key = b""
        if key == b"":
            # The terminal is gone (EOF or EIO): nothing to restore.
            os._exit(7)
        say(f"KEY {key!r}")
        if key == b"q":
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
            sys.exit(0)
else:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    say("READY cooked")
    for line in sys.stdin:
        say(f"LINE {line.strip()}")
"#;

/// `--kill-leaks --quiet -- python3 WRAPPED MODE`, the wrapper's `run` arguments, with
/// `WRAPPED` written into `dir`.
fn wrapper_command(dir: &std::path::Path, mode: &str) -> String {
    let script = dir.join("wrapped.py");
    std::fs::write(&script, WRAPPED).unwrap();
    format!(
        "--kill-leaks --quiet --grace 1s -- python3 {} {mode}",
        script.display()
    )
}

/// The pid of the leak CMD printed (`LEAK PID`), once it is on screen.
fn leak_pid(screen: &Screen) -> u32 {
    let text = screen.wait_for("LEAK ", Duration::from_secs(30));
    text.lines()
        .find_map(|l| l.trim().strip_prefix("LEAK "))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no leak pid on screen:\n{text}"))
}

/// The state letter of /proc/PID/stat (`T` stopped), if the process exists.
fn state_of(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')').next()?.trim_start().chars().next()
}

/// Waits until no process carrying `tag` is left; fails naming those that are.
fn nothing_left(tag: &Tag) {
    assert!(
        wait_until(common::PATIENCE, || tag.live().is_empty()),
        "left behind: {:?}",
        tag.live()
    );
}

impl Screen {
    /// An interactive bash with job control (no rc files, no history, prompt `$ `),
    /// once its prompt is shown.
    fn job_control_shell() -> Screen {
        let screen = Screen::start("env HISTFILE=/dev/null PS1='$ ' bash --norc --noprofile -i");
        screen.wait_for("$", Duration::from_secs(30));
        screen
    }
}

/// Issue 28, `run` as the wrapper around an interactive command: raw mode set by CMD
/// reaches it (a key arrives without Enter), a resize reaches it (SIGWINCH, the new
/// size), Ctrl-C in raw mode is the byte 0x03 and no signal (CMD and leaktop live on);
/// when CMD exits, only the kill's result and the verdict are said, the `setsid` leak
/// is ended and the exit code is CMD's.
#[test]
fn run_as_a_wrapper_passes_raw_mode_a_resize_and_ctrl_c_through() {
    let tag = Tag::new();
    let dir = tempfile::tempdir().unwrap();
    let screen = Screen::run_leaktop(&tag, dir.path(), &wrapper_command(dir.path(), "raw"));
    let leak = leak_pid(&screen);
    screen.wait_for("READY raw", Duration::from_secs(30));
    screen.keys(&["x"]);
    screen.wait_for("KEY b'x'", Duration::from_secs(30));
    screen.tmux(&["resize-window", "-x", "100", "-y", "30"]);
    screen.wait_for("SIZE 100x30", Duration::from_secs(30));
    screen.keys(&["C-c"]);
    let text = screen.wait_for(r"KEY b'\x03'", Duration::from_secs(30));
    // Nothing said while CMD runs, and Ctrl-C ended nothing.
    assert!(!text.contains("leaktop"), "{text}");
    assert!(!text.contains("exit="), "{text}");
    assert!(alive(leak), "the leak is not ended while CMD runs");
    screen.keys(&["q"]);
    let text = screen.wait_for("exit=", Duration::from_secs(60));
    assert!(text.contains("exit=0"), "{text}");
    assert!(text.contains("leaktop: ended 1 leaked process"), "{text}");
    assert!(text.contains("1 process leaked"), "{text}");
    nothing_left(&tag);
}

/// The wrapper typed at an interactive shell with job control: Ctrl-Z stops CMD and
/// leaktop, `fg` resumes them and CMD reads input again; Ctrl-C in cooked mode ends
/// CMD (SIGINT), and leaktop ends the leak and exits with CMD's status (130).
#[test]
fn run_as_a_wrapper_suspends_resumes_and_ends_on_ctrl_c_at_a_shell() {
    let tag = Tag::new();
    let dir = tempfile::tempdir().unwrap();
    let screen = Screen::job_control_shell();
    screen.tmux(&[
        "send-keys",
        &format!(
            "{} {} run {}",
            tag.assignment(),
            leaktop(),
            wrapper_command(dir.path(), "cooked")
        ),
        "Enter",
    ]);
    let leak = leak_pid(&screen);
    screen.wait_for("READY cooked", Duration::from_secs(30));
    screen.keys(&["C-z"]);
    screen.wait_for("Stopped", Duration::from_secs(30));
    let stopped: Vec<u32> = tag.live().into_iter().filter(|&p| p != leak).collect();
    assert_eq!(stopped.len(), 2, "leaktop and CMD: {stopped:?}");
    assert!(
        wait_until(Duration::from_secs(30), || stopped
            .iter()
            .all(|&p| state_of(p) == Some('T'))),
        "not stopped: {:?}",
        stopped.iter().map(|&p| state_of(p)).collect::<Vec<_>>()
    );
    // `exit:CODE` on screen only once the job has ended (not in the echoed input).
    screen.tmux(&["send-keys", "fg; echo exit=$? | tr = :", "Enter"]);
    // Typed only once resumed: the shell may flush the input as it hands CMD the
    // terminal.
    assert!(
        wait_until(Duration::from_secs(30), || stopped
            .iter()
            .all(|&p| state_of(p).is_some_and(|s| s != 'T'))),
        "not resumed: {:?}",
        stopped.iter().map(|&p| state_of(p)).collect::<Vec<_>>()
    );
    screen.tmux(&["send-keys", "hello", "Enter"]);
    screen.wait_for("LINE hello", Duration::from_secs(30));
    assert!(alive(leak), "the leak is not ended while CMD runs");
    screen.keys(&["C-c"]);
    let text = screen.wait_for("exit:", Duration::from_secs(60));
    assert!(text.contains("exit:130"), "{text}");
    assert!(text.contains("leaktop: ended 1 leaked process"), "{text}");
    nothing_left(&tag);
}

/// Closing the pane under the wrapper ends the `setsid` leak whichever way CMD learns
/// of it. From an interactive shell, which dies of the SIGHUP and passes it on to its
/// jobs: CMD and leaktop get SIGHUP. Under a shell that traps HUP (so it outlives the
/// pane to write leaktop's status), no SIGHUP reaches them: CMD reads a terminal gone
/// and exits 7, and leaktop exits with CMD's status.
#[test]
fn run_as_a_wrapper_ends_the_leak_when_its_pane_closes() {
    let tag = Tag::new();
    let dir = tempfile::tempdir().unwrap();
    let args = format!("run {}", wrapper_command(dir.path(), "raw"));
    let shell = Screen::job_control_shell();
    shell.tmux(&[
        "send-keys",
        &format!("{} {} {args}", tag.assignment(), leaktop()),
        "Enter",
    ]);
    let leak = leak_pid(&shell);
    shell.wait_for("READY raw", Duration::from_secs(30));
    shell.tmux(&["kill-pane"]);
    assert!(
        wait_until(common::PATIENCE, || !alive(leak)),
        "the leak {leak} outlived the closed pane of a shell"
    );
    nothing_left(&tag);

    let screen = leaktop_then_code(&tag, dir.path(), &args);
    let leak = leak_pid(&screen);
    screen.wait_for("READY raw", Duration::from_secs(30));
    screen.tmux(&["kill-pane"]);
    assert_eq!(code_written(dir.path()), "7", "CMD's status");
    assert!(
        wait_until(common::PATIENCE, || !alive(leak)),
        "the leak {leak} outlived the closed pane"
    );
    nothing_left(&tag);
}

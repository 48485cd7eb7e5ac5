//! The picker (`leaktop` with no root), event loop included, on ratatui's
//! `TestBackend` with the fake host: orphan groups listed first with their evidence,
//! `x` on one opening the view's kill dialog, `y` ending exactly that group, and the
//! refusals (weak evidence, a process line).

use crate::fakes;
use crate::screen;

use std::collections::HashSet;
use std::sync::mpsc::{self, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use fakes::host::{FakeHost, Proc};
use insta::assert_snapshot;
use leaktop::host::Signal;
use leaktop::monitor::{Monitor, TickSource};
use leaktop::sample::Sampler;
use leaktop::ui::group::GroupSource;
use leaktop::ui::picker::{self, Picked, Picker};
use leaktop::ui::terminal::{Ending, Msg, pick_loop};
use ratatui::Terminal;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use screen::Screens;

const ME: u32 = 50;
/// Generous: these tests must pass on a machine whose cores are all busy.
const LIMIT: Duration = crate::common::PATIENCE;

/// A live shell (500) with a dead job (600) whose pool sits under init (weak: the
/// shell holds the session), a dead terminal's job (700) whose session leader is gone
/// too (strong), and a healthy daemon family (800).
fn machine() -> FakeHost {
    let fake = FakeHost::new(ME);
    fake.add(Proc::new(500, 1, "bash").group(500, 500));
    for pid in [601, 602] {
        fake.add(Proc::new(pid, 1, "python3").group(600, 500).rss_mb(50));
    }
    fake.add(Proc::new(603, 602, "python3").group(600, 500).rss_mb(200));
    fake.add(
        Proc::new(701, 1, "node")
            .group(700, 690)
            .cmd("node mcp-server.js")
            .rss_mb(40)
            .mem_mb(30, 20, 0),
    );
    fake.add(
        Proc::new(702, 701, "node")
            .group(700, 690)
            .cmd("node mcp-server.js --child")
            .rss_mb(30)
            .mem_mb(25, 15, 0),
    );
    fake.add(Proc::new(800, 500, "vim").group(800, 500).rss_mb(20));
    fake
}

/// The picker running on its own thread, as `Tui::pick` runs it, fed by the test.
struct Running {
    input: Sender<Msg>,
    screens: std::sync::Arc<Screens>,
    handle: JoinHandle<(Option<Picked>, Ending)>,
}

impl Running {
    fn start(fake: &FakeHost) -> Running {
        Running::start_sized(fake, 100, 24)
    }

    /// On a terminal of `width` by `height`.
    fn start_sized(fake: &FakeHost, width: u16, height: u16) -> Running {
        let host = fake.host();
        let mut sampler = fake.sampler();
        let mut list = picker::candidates(
            &host.scan(),
            |s| sampler.command(s.id()).unwrap_or_default(),
            ME,
            None,
        );
        let gpu = picker::fill_gpu(host.as_ref(), &mut list);
        let protected: HashSet<u32> = leaktop::host::protected(host.as_ref())
            .into_iter()
            .collect();
        let mut picker = Picker::new(list, false)
            .with_gpu(gpu)
            .with_orphans(protected, Duration::from_secs(3));
        let (backend, screens) = screen::recorder(width, height);
        let (tx, rx) = mpsc::channel();
        let handle = thread::spawn(move || {
            let mut terminal = Terminal::new(backend).unwrap();
            pick_loop(&mut terminal, &mut picker, rx, host)
        });
        Running {
            input: tx,
            screens,
            handle,
        }
    }

    fn keys(&self, codes: &[KeyCode]) {
        for &c in codes {
            self.input.send(Msg::Key(KeyEvent::from(c))).unwrap();
        }
    }

    fn end(self) -> (Option<Picked>, Ending) {
        let started = Instant::now();
        while !self.handle.is_finished() {
            assert!(
                started.elapsed() < LIMIT,
                "the picker did not end; the screen shows:\n{}",
                self.screens.last()
            );
            thread::sleep(Duration::from_millis(5));
        }
        self.handle.join().expect("the loop panicked")
    }
}

/// The signals that end processes (the kill also stops and resumes them).
fn ending_signals(fake: &FakeHost) -> Vec<(u32, Signal)> {
    fake.signals()
        .into_iter()
        .filter(|(_, s)| *s == Signal::TERM || *s == Signal::KILL)
        .collect()
}

#[test]
fn orphan_groups_come_first_marked_with_their_evidence() {
    let fake = machine();
    let p = Running::start(&fake);
    let screen = p.screens.wait_for("ORPHAN", LIMIT);
    let first_group = screen.lines().position(|l| l.contains("ORPHAN")).unwrap();
    let first_process = screen
        .lines()
        .position(|l| l.contains(" vim") || l.contains(" bash"))
        .unwrap();
    assert!(first_group < first_process, "{screen}");
    assert!(screen.contains("ORPHAN pg-600 (weak)"), "{screen}");
    assert!(
        screen.contains("ORPHAN sid-690") || screen.contains("ORPHAN pg-700"),
        "{screen}"
    );
    assert_snapshot!("orphans_first", screen);
    p.keys(&[KeyCode::Char('q')]);
    assert_eq!(p.end(), (None, Ending::Quit));
    assert!(fake.signals().is_empty(), "{:?}", fake.signals());
}

#[test]
fn x_then_y_ends_exactly_that_groups_processes() {
    let fake = machine();
    let p = Running::start(&fake);
    p.screens.wait_for("ORPHAN", LIMIT);
    // The second line is the strong group (the first, larger, is the weak one).
    p.keys(&[KeyCode::Char('j'), KeyCode::Char('x')]);
    p.screens.wait_for("Send SIGTERM to 2 processes", LIMIT);
    // Once the PSS/USS the dialog asked for have been read.
    let confirm = p.screens.wait_for("Frees ~55 MiB", LIMIT);
    assert!(confirm.contains("kill orphan group"), "{confirm}");
    assert_snapshot!("orphan_kill_confirm", confirm);
    p.keys(&[KeyCode::Char('y')]);
    let done = p.screens.wait_for("2 ended · 0 survived", LIMIT);
    assert_snapshot!("orphan_kill_result", done);
    let mut ended = ending_signals(&fake);
    ended.sort_by_key(|(pid, _)| *pid);
    assert_eq!(ended, [(701, Signal::TERM), (702, Signal::TERM)]);
    for pid in [500, 601, 602, 603, 800] {
        assert!(
            fake.signals_to(pid).is_empty(),
            "{pid}: {:?}",
            fake.signals_to(pid)
        );
        assert!(fake.alive(pid), "{pid}");
    }
    // q closes the result and says the next q quits; the group has left the list.
    p.keys(&[KeyCode::Char('q')]);
    let after = p
        .screens
        .wait_for("closed the kill's result · q again quits", LIMIT);
    assert!(
        !after.contains("mcp-server") && after.contains("pg-600"),
        "{after}"
    );
    p.keys(&[KeyCode::Char('q')]);
    assert_eq!(p.end(), (None, Ending::Quit));
}

#[test]
fn x_on_a_weak_group_or_a_process_signals_nothing_and_says_why() {
    let fake = machine();
    let p = Running::start(&fake);
    p.screens.wait_for("ORPHAN", LIMIT);
    p.keys(&[KeyCode::Char('x')]);
    let weak = p.screens.wait_for(
        "end it by name: leaktop orphans --group pg-600 --kill",
        LIMIT,
    );
    assert!(!weak.contains("Send SIGTERM"), "{weak}");
    p.keys(&[KeyCode::Char('G'), KeyCode::Char('x')]);
    p.screens.wait_for("x here kills orphan groups", LIMIT);
    // n cancels a dialog without a signal.
    p.keys(&[KeyCode::Char('g'), KeyCode::Char('j'), KeyCode::Char('x')]);
    p.screens.wait_for("Send SIGTERM", LIMIT);
    p.keys(&[KeyCode::Char('n')]);
    p.keys(&[KeyCode::Enter]);
    // Enter on a group that adopted one process watches it: its family is the group.
    assert_eq!(p.end(), (Some(Picked::Process(701)), Ending::Quit));
    assert!(fake.signals().is_empty(), "{:?}", fake.signals());
}

/// Issue 28: the picker as a process browser. `t` lays the processes out as a tree
/// (each under its parent), `>` sorts by family RSS (marked in the header and the
/// column), and a filter kept with Enter leaves the list's keys to act on what it
/// shows: `x` opens the kill dialog of the group the filter found (before, `x` was
/// typed into the filter).
#[test]
fn tree_sort_and_a_kept_filter_that_x_acts_on() {
    let fake = machine();
    let p = Running::start(&fake);
    p.screens.wait_for("ORPHAN", LIMIT);
    p.keys(&[KeyCode::Char('t')]);
    let tree = p.screens.wait_for("tree (t: list", LIMIT);
    let at = |screen: &str, text: &str| {
        screen
            .lines()
            .position(|l| l.contains(text))
            .unwrap_or_else(|| panic!("no {text:?} in\n{screen}"))
    };
    // Each child right under its parent, indented; a parent marked ▾.
    assert_eq!(at(&tree, "▾ bash") + 1, at(&tree, "    vim"), "{tree}");
    assert_eq!(at(&tree, "▾ node mcp-server.js") + 1, at(&tree, "--child"));
    assert_snapshot!("picker_tree", tree);
    p.keys(&[KeyCode::Char('>')]);
    let by_family = p.screens.wait_for("sorted by family RSS", LIMIT);
    assert!(by_family.contains("FAMILY▼"), "{by_family}");
    // 602's family (250 MiB) before 701's (70 MiB), 601 (50 MiB) and bash (30 MiB).
    assert!(
        at(&by_family, "▾ python3") < at(&by_family, "▾ node"),
        "{by_family}"
    );
    assert!(
        at(&by_family, "▾ node") < at(&by_family, "▾ bash"),
        "{by_family}"
    );
    assert_snapshot!("picker_tree_by_family", by_family);
    // `/mcp`, Enter: the filter stays, the keys are the list's again.
    p.keys(&[KeyCode::Char('/')]);
    for c in "mcp".chars() {
        p.keys(&[KeyCode::Char(c)]);
    }
    p.keys(&[KeyCode::Enter]);
    let filtered = p.screens.wait_for("/ edits · Esc clears", LIMIT);
    assert!(filtered.contains("filter: mcp"), "{filtered}");
    assert!(!filtered.contains("vim"), "{filtered}");
    p.keys(&[KeyCode::Char('x')]);
    let dialog = p.screens.wait_for("Send SIGTERM to 2 processes", LIMIT);
    assert!(dialog.contains("kill orphan group"), "{dialog}");
    p.keys(&[KeyCode::Char('n')]);
    // Esc clears the kept filter; the next Esc quits.
    p.keys(&[KeyCode::Esc]);
    p.screens.wait_for("/ filters by pid", LIMIT);
    p.keys(&[KeyCode::Esc]);
    assert_eq!(p.end(), (None, Ending::Quit));
    assert!(fake.signals().is_empty(), "{:?}", fake.signals());
}

/// Enter on a group that adopted several processes watches every one of them (issue
/// 28: it watched only the oldest, and the other worker was nowhere in the view).
#[test]
fn enter_on_a_group_of_several_watches_the_whole_group() {
    let fake = machine();
    let p = Running::start(&fake);
    p.screens.wait_for("ORPHAN pg-600", LIMIT);
    p.keys(&[KeyCode::Char('g'), KeyCode::Enter]);
    let (picked, ending) = p.end();
    assert_eq!(ending, Ending::Quit);
    let Some(picked) = picked else {
        panic!("nothing picked")
    };
    assert_eq!(
        picked,
        Picked::Group {
            id: "pg-600".into(),
            roots: vec![601, 602],
        }
    );
    // Each root watched with its family, as one source: all three processes.
    let sources: Vec<Box<dyn TickSource>> = picked
        .roots()
        .iter()
        .map(|&pid| {
            let m = Monitor::attach_on(
                fake.host(),
                Box::new(fake.sampler()),
                pid,
                Duration::from_secs(1),
                Vec::new(),
            )
            .unwrap();
            Box::new(m) as Box<dyn TickSource>
        })
        .collect();
    let mut group = GroupSource::new(sources);
    let tick = group.step().unwrap();
    let mut pids: Vec<u32> = tick.processes.iter().map(|r| r.pid).collect();
    pids.sort_unstable();
    assert_eq!(pids, [601, 602, 603]);
    assert!(tick.processes.iter().all(|r| !r.leaked));
    assert!(fake.signals().is_empty(), "{:?}", fake.signals());
}

/// F1's box holds every key's line whole (issue 28: it cut one at "(strong ev"), and
/// a process whose command line starts with its name is not named twice
/// ("python3 python3").
#[test]
fn the_help_box_cuts_no_line_and_names_are_not_said_twice() {
    // The smallest terminal leaktop is made for, and a wide one.
    for (width, height) in [(80, 24), (100, 24)] {
        let fake = machine();
        let p = Running::start_sized(&fake, width, height);
        let list = p.screens.wait_for("ORPHAN", LIMIT);
        assert!(!list.contains("python3 python3"), "{list}");
        p.keys(&[KeyCode::F(1)]);
        let help = p.screens.wait_for("any key closes this help", LIMIT);
        for (keys, what) in picker::PICKER_KEYS {
            let line = help
                .lines()
                .find(|l| l.contains(keys.trim()) && l.contains(what))
                .unwrap_or_else(|| panic!("{width}x{height}: {what:?} cut in\n{help}"));
            assert!(line.contains('│'), "{line}");
        }
        p.keys(&[KeyCode::Char('q'), KeyCode::Char('q')]);
        assert_eq!(p.end(), (None, Ending::Quit));
    }
    let fake = machine();
    let p = Running::start(&fake);
    let list = p.screens.wait_for("ORPHAN", LIMIT);
    assert!(list.contains("node mcp-server.js --child"), "{list}");
    p.keys(&[KeyCode::Char('q')]);
    assert_eq!(p.end(), (None, Ending::Quit));
}

/// On a machine with a GPU the picker has a GPU column: what NVML reports for a
/// process, `?` where it is unknown (never 0); without one, no column at all.
#[test]
fn the_gpu_column_shows_what_a_process_holds_and_only_where_there_is_a_gpu() {
    let fake = machine();
    let p = Running::start(&fake);
    let before = p.screens.wait_for("vim", LIMIT);
    assert!(!before.contains(" GPU "), "no GPU, no column:\n{before}");
    p.keys(&[KeyCode::F(10)]);
    p.end();

    let fake = machine();
    // NVIDIA (NVML says what each process holds) and a DRM node (only a process's
    // descriptors say): unreadable descriptors leave the DRM part unknown.
    fake.set_gpu(leaktop::model::gpu::GpuPresence {
        nvidia: true,
        drm: true,
    });
    fake.nvml_lists(603, Some(2 * 1024 * 1024));
    fake.fds_unreadable(800);
    let p = Running::start(&fake);
    let shown = p.screens.wait_for("vim", LIMIT);
    assert!(shown.contains(" GPU "), "{shown}");
    let row = |pid: &str| {
        shown
            .lines()
            .find(|l| l.trim_start_matches(['"', ' ']).starts_with(pid))
            .unwrap_or_else(|| panic!("no row {pid}:\n{shown}"))
            .to_string()
    };
    assert!(row("603").contains("2 GiB"), "{shown}");
    // AGE is `?` here (no clock), then GPU: unknown for a process whose descriptors
    // could not be read, where one known to hold nothing shows 0 B.
    assert!(
        row("800").contains(&format!("{:>7}{:>11}  vim", "?", "?")),
        "unknown, not 0: {shown}"
    );
    assert!(row("500").contains("0 B  bash"), "{shown}");
    p.keys(&[KeyCode::F(10)]);
    p.end();
}

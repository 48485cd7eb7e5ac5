//! The whole view, event loop included, on ratatui's `TestBackend` with the fake host:
//! keys, ticks, signals and a closing terminal go in as messages, every frame drawn is
//! kept, and the fake says what was signalled. Every way out of the view is here.

use crate::fakes;
use crate::screen;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use fakes::host::{BOOT_MS, FakeHost, Proc, Reaction};
use insta::assert_snapshot;
use leaktop::host::{Create, Signal};
use leaktop::model::{AlertConfig, Tick};
use leaktop::monitor::Monitor;
use leaktop::ui::app::{App, Source, ViewOptions};
use leaktop::ui::terminal::{Ending, LoopOptions, Msg, Outcome, TickSource, export_name, run_loop};
use ratatui::Terminal;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use screen::{Screens, recorder};
use signal_hook::consts::signal::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1};

/// Generous: these tests must pass on a machine whose cores are all busy.
const LIMIT: Duration = crate::common::PATIENCE;
/// The wall time of the first tick: ten minutes after the fake's boot.
const T0: u64 = BOOT_MS + 600_000;

/// The view running on its own thread, as `Tui::run` runs it, but fed by the test.
struct View {
    input: Option<Sender<Msg>>,
    frames: Arc<Screens>,
    handle: Option<JoinHandle<Outcome>>,
}

impl View {
    fn start(app: App, source: Option<Box<dyn TickSource>>, options: LoopOptions) -> View {
        let (backend, frames) = recorder(100, 30);
        let (tx, rx) = mpsc::channel();
        let handle = thread::spawn(move || {
            let mut terminal = Terminal::new(backend).unwrap();
            let source = source.map(|s| (s, Duration::from_millis(5)));
            run_loop(&mut terminal, app, source, rx, options)
        });
        View {
            input: Some(tx),
            frames,
            handle: Some(handle),
        }
    }

    fn send(&self, msg: Msg) {
        self.input.as_ref().unwrap().send(msg).unwrap();
    }

    fn key(&self, code: KeyCode) {
        self.send(Msg::Key(KeyEvent::from(code)));
    }

    fn keys(&self, codes: &[KeyCode]) {
        for &c in codes {
            self.key(c);
        }
    }

    fn ctrl_c(&self) {
        self.send(Msg::Key(KeyEvent::new(
            KeyCode::Char('c'),
            KeyModifiers::CONTROL,
        )));
    }

    /// The screen as last drawn.
    fn screen(&self) -> String {
        self.frames.last()
    }

    /// Waits until the screen shows `needle`; fails with the screen as it is.
    fn wait_for(&self, needle: &str) -> String {
        self.frames.wait_for(needle, LIMIT)
    }

    fn running(&self) -> bool {
        !self.handle.as_ref().unwrap().is_finished()
    }

    /// Waits for the loop to end (it must, within [`LIMIT`]).
    fn end(mut self) -> Outcome {
        let handle = self.handle.take().unwrap();
        let started = Instant::now();
        while !handle.is_finished() {
            assert!(
                started.elapsed() < LIMIT,
                "the view did not end; the screen shows:\n{}",
                self.screen()
            );
            thread::sleep(Duration::from_millis(5));
        }
        handle.join().expect("the loop panicked")
    }

    /// Says the terminal has gone the way a dead input thread does: its channel closes.
    fn close_input(&mut self) {
        self.input = None;
    }
}

/// A daemon (4100) with an indexer, whose session process (4130) has two workers; a
/// second worker (4132) ignores SIGTERM. leaktop is pid 50.
fn family() -> FakeHost {
    let fake = FakeHost::new(50);
    fake.ticks_only();
    for (pid, ppid, comm, cmd, mb) in [
        (4100, 1, "cce", "python3 -m cce serve --port 8080", 300),
        (4120, 4100, "indexer", "python3 -m cce index", 120),
        (4130, 4100, "session", "cce session 7", 40),
        (4131, 4130, "claude", "claude --session 7 --print", 900),
    ] {
        // Their pages partly shared: PSS a third of RSS, a tenth private.
        fake.add(
            Proc::new(pid, ppid, comm)
                .cmd(cmd)
                .rss_mb(mb)
                .mem_mb(mb / 3, mb / 10, 0),
        );
    }
    fake.add(
        Proc::new(4132, 4130, "claude")
            .cmd("claude --session 7 --print --stubborn")
            .rss_mb(1400)
            .on(Signal::TERM, Reaction::Ignore),
    );
    fake
}

/// The family's monitor, whose ticks carry fixed times (for snapshots). Each step
/// first moves the fake clock on by the interval, as real sampling does, so that the
/// leak grace passes. Its processes use no CPU, and the fake's wall clock moves with
/// its clock: `idle` alerts are off, these tests being about the view.
struct Fixed(Monitor, FakeHost);

impl TickSource for Fixed {
    fn step(&mut self) -> Result<Tick, String> {
        if self.0.tracker().tick() > 0 {
            self.1.advance(Duration::from_secs(1));
        }
        let mut tick = TickSource::step(&mut self.0)?;
        tick.elapsed_ms = u64::from(tick.tick - 1) * 1000;
        tick.time_ms = T0 + tick.elapsed_ms;
        Ok(tick)
    }

    fn finished(&self) -> Option<String> {
        self.0.finished()
    }
}

fn monitor(fake: &FakeHost) -> Fixed {
    Fixed(
        Monitor::attach_on(
            fake.host(),
            Box::new(fake.sampler()),
            4100,
            Duration::from_secs(1),
            Vec::new(),
        )
        .unwrap()
        .with_leak_grace(Duration::from_secs(1))
        .with_alerts(AlertConfig {
            idle_after_ms: u64::MAX,
            ..AlertConfig::default()
        }),
        fake.clone(),
    )
}

fn app(fake: &FakeHost, monitor: &Fixed) -> App {
    let mut header = monitor.0.header().clone();
    header.started_ms = T0;
    header.host = "devbox".into();
    App::new(
        header,
        Source::Live,
        ViewOptions {
            color: false,
            grace: Duration::from_secs(3),
            protected: leaktop::host::protected(fake.host().as_ref()),
        },
    )
}

/// The loop's options on the fake host, exporting into `dir`; the wall clock (which
/// names exports) reads 2026-11-29 20:13:09 UTC.
fn options(fake: &FakeHost, dir: PathBuf) -> LoopOptions {
    fake.set_wall_clock(SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_983_189));
    LoopOptions {
        host: fake.host(),
        export_dir: dir,
    }
}

/// Five ticks of the family; the session process exits after the second, leaving its
/// workers leaked.
fn five_ticks(fake: &FakeHost, monitor: &mut Fixed) -> Vec<Tick> {
    (1..=5)
        .map(|t| {
            if t == 3 {
                fake.exit(4130, 0);
            }
            monitor.step().unwrap()
        })
        .collect()
}

/// A view of the family after five ticks, sent as messages.
fn view_of(fake: &FakeHost) -> View {
    let mut m = monitor(fake);
    let app = app(fake, &m);
    let ticks = five_ticks(fake, &mut m);
    let view = View::start(app, None, options(fake, std::env::temp_dir()));
    for t in ticks {
        view.send(Msg::Tick(t));
    }
    view.wait_for("LEAKED 2 processes");
    view
}

/// Waits until `ok`, up to [`LIMIT`].
fn wait_until(mut ok: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ok() {
        assert!(started.elapsed() < LIMIT, "waited {LIMIT:?} in vain");
        thread::sleep(Duration::from_millis(2));
    }
}

/// Whether every process that got SIGSTOP got a SIGCONT after it (or is gone).
fn all_resumed(fake: &FakeHost) -> Result<(), String> {
    let mut stopped = std::collections::BTreeSet::new();
    for (pid, s) in fake.signals() {
        if s == Signal::STOP {
            stopped.insert(pid);
        } else if s == Signal::CONT {
            stopped.remove(&pid);
        }
    }
    stopped.retain(|&pid| fake.alive(pid));
    let still = fake.stopped();
    if stopped.is_empty() && still.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "left frozen: {stopped:?} (state T: {still:?}); signals: {:?}",
            fake.signals()
        ))
    }
}

#[test]
fn q_quits() {
    let fake = family();
    let view = view_of(&fake);
    let screen = view.screen();
    assert!(
        screen.contains("leaked at tick 4: reparented from 4130"),
        "{screen}"
    );
    assert_snapshot!("live_family", screen);
    view.key(KeyCode::Char('q'));
    let outcome = view.end();
    assert_eq!(outcome.ending, Ending::Quit);
    assert_eq!(outcome.app.history.len(), 5);
    assert!(fake.signals().is_empty(), "{:?}", fake.signals());
}

#[test]
fn quit_after_a_kill() {
    let fake = family();
    let view = view_of(&fake);
    // The last row but one is worker 4131 (the one that dies on TERM).
    view.keys(&[KeyCode::Char('G'), KeyCode::Up, KeyCode::Char('x')]);
    let confirm = view.wait_for("Send SIGTERM to 1 process");
    assert!(confirm.contains("kill the tree of 4131"), "{confirm}");
    view.key(KeyCode::Char('y'));
    let done = view.wait_for("1 ended · 0 survived");
    assert_snapshot!("kill_result", done);
    assert!(!fake.alive(4131));
    assert_eq!(
        fake.signals_to(4131),
        [Signal::STOP, Signal::TERM, Signal::CONT]
    );
    assert!(fake.alive(4132), "only the tree asked for");
    // q closes the result, and says so, as htop does: the next q quits.
    view.key(KeyCode::Char('q'));
    view.wait_for("closed the kill's result · q again quits");
    assert!(view.running());
    view.key(KeyCode::Char('q'));
    let outcome = view.end();
    assert_eq!(outcome.ending, Ending::Quit);
    all_resumed(&fake).unwrap();
}

/// Quitting while a kill is in flight (`q` or Ctrl-C, which work in the dialog while
/// the kill runs, or a signal): the kill stops waiting out its grace, but the view
/// ends only once it has resumed everything it froze. Held twice: mid-freeze (both
/// workers stopped, the TERM not yet sent) and in the grace period.
#[test]
fn quitting_during_a_kill_is_prompt_and_resumes_what_the_kill_froze() {
    type Quit = fn(&View);
    let quits: [(&str, Quit, Ending); 4] = [
        ("q", |v| v.key(KeyCode::Char('q')), Ending::Quit),
        ("ctrl-c", View::ctrl_c, Ending::Quit),
        (
            "SIGTERM",
            |v| v.send(Msg::Signal(SIGTERM)),
            Ending::Signal(SIGTERM),
        ),
        (
            "SIGQUIT",
            |v| v.send(Msg::Signal(SIGQUIT)),
            Ending::Signal(SIGQUIT),
        ),
    ];
    for (name, quit, ending) in quits {
        for during_grace in [false, true] {
            let fake = family();
            let hold = if during_grace {
                fake.hold_sleep()
            } else {
                fake.hold_signal(Signal::TERM)
            };
            let view = view_of(&fake);
            let before = fake.elapsed();
            view.keys(&[KeyCode::Char('K'), KeyCode::Char('y')]);
            assert!(hold.wait_reached(LIMIT), "{name}: the kill never got there");
            if !during_grace {
                assert_eq!(fake.stopped(), [4131, 4132], "{name}: frozen mid-kill");
            }
            quit(&view);
            view.wait_for("quitting once the kill or export under way has finished");
            thread::sleep(Duration::from_millis(100));
            assert!(
                view.running(),
                "{name}: the view ended while its kill was in flight"
            );
            hold.release();
            let outcome = view.end();
            assert_eq!(outcome.ending, ending, "{name}");
            all_resumed(&fake).unwrap_or_else(|e| panic!("{name}, grace {during_grace}: {e}"));
            // The TERM went out (it was confirmed): 4131 went on it; 4132 ignored it
            // and is left running (the view never escalates by itself), and the 3 s
            // grace was not waited out.
            assert!(!fake.alive(4131), "{name}");
            assert!(fake.alive(4132), "{name}");
            let waited = fake.elapsed() - before;
            assert!(
                waited < Duration::from_secs(1),
                "{name}: waited {waited:?} of the grace"
            );
        }
    }
}

#[test]
fn stop_signals_end_the_view_and_only_fatal_ones_are_raised_again() {
    for (signal, fatal) in [
        (SIGTERM, false),
        (SIGINT, false),
        (SIGHUP, false),
        (SIGQUIT, true),
        (SIGUSR1, true),
    ] {
        let fake = family();
        let view = view_of(&fake);
        view.send(Msg::Signal(signal));
        let outcome = view.end();
        assert_eq!(outcome.ending, Ending::Signal(signal));
        assert_eq!(
            outcome.ending.fatal_signal(),
            fatal.then_some(signal),
            "signal {signal}"
        );
    }
}

#[test]
fn a_closed_terminal_ends_the_view_and_stops_sampling() {
    // The input thread says the read failed.
    let fake = family();
    let view = view_of(&fake);
    view.send(Msg::Closed);
    assert_eq!(view.end().ending, Ending::Closed);

    // The input channel closes while the family is sampled every 5 ms of the fake
    // clock: the first tick at once, each later one when the test moves the clock to
    // the sampling thread's deadline.
    let fake = family();
    let fixed = monitor(&fake);
    let app = app(&fake, &fixed);
    let m = fixed.0;
    let mut view = View::start(app, Some(Box::new(m)), options(&fake, std::env::temp_dir()));
    wait_until(|| fake.samples_taken() >= 1);
    for n in 2..=3 {
        fake.wake_next(LIMIT)
            .expect("the sampler waits for its next tick");
        wait_until(|| fake.samples_taken() >= n);
    }
    // Paused, sampling stops: the thread waits for its alarm alone, and a minute of
    // the fake clock brings no tick; resumed, it samples at once and goes on.
    view.key(KeyCode::Char('p'));
    view.wait_for("PAUSED");
    wait_until(|| fake.waiting() == [None]);
    let paused_at = fake.samples_taken();
    fake.advance(Duration::from_secs(60));
    assert_eq!(fake.waiting(), [None]);
    assert_eq!(fake.samples_taken(), paused_at, "sampled while paused");
    view.key(KeyCode::Char('p'));
    wait_until(|| fake.samples_taken() > paused_at);
    fake.wake_next(LIMIT).expect("sampling goes on");
    wait_until(|| fake.samples_taken() >= paused_at + 2);
    view.close_input();
    let outcome = view.end();
    assert_eq!(outcome.ending, Ending::Closed);
    // The loop joined the sampling thread before it returned: nothing waits on the
    // clock any more, and moving it samples nothing.
    let at_end = fake.samples_taken();
    assert!(fake.waiting().is_empty(), "{:?}", fake.waiting());
    fake.advance(Duration::from_secs(60));
    assert_eq!(
        fake.samples_taken(),
        at_end,
        "the sampler outlived the view"
    );
    assert!(outcome.app.history.len() >= 3);
    // Each tick at its time on the fake clock: three 5 ms apart, none for the paused
    // minute, one on resuming and the next 5 ms later.
    let sampled: Vec<Duration> = fake
        .log()
        .into_iter()
        .filter(|(_, what)| what == "sample")
        .map(|(at, _)| at)
        .collect();
    let ms = Duration::from_millis;
    assert_eq!(
        sampled,
        [ms(0), ms(5), ms(10), ms(60_010), ms(60_015)],
        "{:?}",
        fake.log()
    );
}

#[test]
fn export_streams_with_progress_and_never_follows_a_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let fake = family();
    let mut m = monitor(&fake);
    let mut app = app(&fake, &m);
    for tick in five_ticks(&fake, &mut m) {
        app.push_tick(tick);
    }
    for _ in 5..2500 {
        app.push_tick(m.step().unwrap());
    }
    // Someone planted a symlink at the name the export will take, to a file of theirs.
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_983_189);
    let planted = dir.path().join(export_name(4100, time, 0));
    let precious = dir.path().join("precious");
    std::fs::write(&precious, "root only\n").unwrap();
    std::os::unix::fs::symlink(&precious, &planted).unwrap();

    let hold = fake.hold_create();
    let view = View::start(app, None, options(&fake, dir.path().to_path_buf()));
    view.wait_for("tick 2500");
    view.key(KeyCode::Char('e'));
    view.wait_for("Enter writes · Esc cancels");
    view.key(KeyCode::Enter);
    assert!(hold.wait_reached(LIMIT));
    let exporting = view.wait_for("exporting… 0/2,500 ticks");
    assert_snapshot!("exporting", exporting);
    // The view goes on meanwhile; a second export waits for the first.
    view.key(KeyCode::Char('e'));
    view.wait_for("an export is already under way");
    hold.release();
    let done = view.wait_for("exported 2500 ticks to");
    let written = dir.path().join(export_name(4100, time, 1));
    assert!(
        done.contains("-1.ticklog"),
        "the export took the next name: {done}"
    );
    view.key(KeyCode::Char('q'));
    view.end();

    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "root only\n");
    assert!(std::fs::symlink_metadata(&planted).unwrap().is_symlink());
    assert_eq!(
        fake.creates(),
        [(planted, Create::New), (written.clone(), Create::New)]
    );
    let recording = leaktop::format::read(&written).unwrap();
    assert_eq!(recording.ticks.len(), 2500);
    assert_eq!(recording.header.root_pid, 4100);
}

/// `e` says where it would write, and whose the directory is, before anything is
/// written (issue 28: it wrote into the working directory, whoever's it was, with no
/// word first): Esc writes nothing; Enter makes the directory (for the user alone)
/// and writes there; someone else's directory is named as such first.
#[test]
fn export_says_where_before_writing_and_esc_writes_nothing() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data").join("leaktop");
    let fake = family();
    let mut m = monitor(&fake);
    let app = app(&fake, &m);
    let ticks = five_ticks(&fake, &mut m);
    let view = View::start(app, None, options(&fake, dir.clone()));
    for t in ticks {
        view.send(Msg::Tick(t));
    }
    view.wait_for("LEAKED 2 processes");
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_983_189);
    let path = dir.join(export_name(4100, time, 0));
    view.key(KeyCode::Char('e'));
    let asked = view.wait_for("Enter writes · Esc cancels");
    // The footer, within 100 columns: the directory, whose it is, and the keys.
    let footer = asked.lines().last().unwrap().to_string();
    assert!(
        footer.contains("/data/leaktop/? (new directory)  Enter writes · Esc cancels"),
        "{footer}"
    );
    view.key(KeyCode::Esc);
    view.wait_for("export cancelled: nothing written");
    assert!(fake.creates().is_empty(), "{:?}", fake.creates());
    assert!(fake.made_dirs().is_empty());
    assert!(!dir.exists());

    view.key(KeyCode::Char('e'));
    view.wait_for("(new directory)");
    view.key(KeyCode::Enter);
    let done = view.wait_for("exported 5 ticks to");
    assert!(done.contains(&path.display().to_string()), "{done}");
    assert_eq!(fake.made_dirs(), std::slice::from_ref(&dir));
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "{mode:o}");
    assert_eq!(fake.creates(), [(path.clone(), Create::New)]);
    assert_eq!(leaktop::format::read(&path).unwrap().ticks.len(), 5);

    // Now the directory is the user's: nothing to say about it.
    view.key(KeyCode::Char('e'));
    let again = view.wait_for("Enter writes · Esc cancels");
    assert!(!again.contains("new directory"), "{again}");
    assert!(!again.contains("not you"), "{again}");
    view.key(KeyCode::Esc);
    view.wait_for("export cancelled");
    // Someone else's directory is named as such before anything is written.
    let other = fake.host().own_uid() + 1;
    fake.set_owner(&dir, other);
    view.key(KeyCode::Char('e'));
    let warned = view.wait_for("Enter writes · Esc cancels");
    assert!(
        warned.contains(&format!("(owned by uid {other}, not you)")),
        "{warned}"
    );
    view.key(KeyCode::Esc);
    view.key(KeyCode::Char('q'));
    assert_eq!(view.end().ending, Ending::Quit);
    assert_eq!(fake.creates().len(), 1, "only the one Enter wrote");
}

#[test]
fn an_export_that_cannot_be_written_says_why() {
    let fake = family();
    let view = view_of(&fake);
    fake.fail_next_create(std::io::ErrorKind::PermissionDenied);
    view.key(KeyCode::Char('e'));
    view.wait_for("Enter writes · Esc cancels");
    view.key(KeyCode::Enter);
    let screen = view.wait_for("export failed:");
    assert!(screen.contains("permission denied"), "{screen}");
    view.key(KeyCode::Char('q'));
    assert_eq!(view.end().ending, Ending::Quit);
    assert_eq!(fake.creates().len(), 1);
}

/// A replay of 1,000 ticks of the family: the session process exits at tick 300
/// (its workers leak a tick later) and the root at tick 900. It opens at the first
/// leak, saying so (issue 28: it opened at the last tick, where the family has
/// gone); `<` goes to the first tick, `}` and `{` a tenth of the history on and back, `n`/`N` to the next and
/// previous event, `>` back to the newest; the chart says which tick is viewed.
#[test]
fn a_long_replay_is_crossed_with_first_last_tenths_and_events() {
    let fake = family();
    let mut m = monitor(&fake);
    let ticks: Vec<Tick> = (1..=1000)
        .map(|t| {
            match t {
                300 => fake.exit(4130, 0),
                900 => fake.exit(4100, 0),
                _ => {}
            }
            m.step().unwrap()
        })
        .collect();
    let leak_at = ticks
        .iter()
        .find(|t| t.leaked_count() > 0)
        .map(|t| t.tick)
        .unwrap();
    assert!((300..310).contains(&leak_at), "leaked at {leak_at}");
    let mut app = App::new(
        m.0.header().clone(),
        Source::Replay {
            path: "day.ticklog".into(),
        },
        ViewOptions {
            color: false,
            ..ViewOptions::default()
        },
    );
    for t in ticks {
        app.push_tick(t);
    }
    let view = View::start(app, None, options(&fake, std::env::temp_dir()));
    let opened = view.wait_for(&format!(
        "opened at tick {leak_at}, the first leak · n next event"
    ));
    assert!(
        opened.contains(&format!("tick {leak_at} of 1000")),
        "{opened}"
    );
    let at = |key: char, shown: &str| {
        view.key(KeyCode::Char(key));
        view.wait_for(shown)
    };
    at('<', "REPLAY of day.ticklog: tick 1 of 1000");
    at('}', "tick 101 of 1000");
    at('}', "tick 201 of 1000");
    let leak = at('n', &format!("tick {leak_at}: leak · n next · N previous"));
    assert!(leak.contains(&format!("tick {leak_at} of 1000")), "{leak}");
    assert!(leak.contains(&format!("viewing tick {leak_at}")), "{leak}");
    assert_snapshot!("replay_at_the_first_leak", leak);
    // The root's exit, and the survivors outliving it leak once the grace has passed.
    at('n', "tick 900: exit");
    at('n', "tick 901: leak");
    at('n', "no later event");
    at('N', "tick 900: exit");
    at('N', &format!("tick {leak_at}: leak"));
    at('N', "no earlier event");
    at('{', &format!("tick {} of 1000", leak_at - 100));
    at('>', "tick 1000 of 1000");
    view.key(KeyCode::Char('q'));
    assert_eq!(view.end().ending, Ending::Quit);
}

/// The AGE of `pid`'s row on `screen` (the column before COMMAND): blank if unknown.
fn age_of(screen: &str, pid: u32) -> String {
    let titles = screen.lines().find(|l| l.contains("AGE  COMMAND")).unwrap();
    let end = titles.find("AGE").unwrap() + "AGE".len();
    let row = screen
        .lines()
        .find(|l| l.split_whitespace().take(3).any(|w| w == pid.to_string()))
        .unwrap_or_else(|| panic!("no row of {pid}:\n{screen}"));
    row.chars()
        .skip(end - 7)
        .take(7)
        .collect::<String>()
        .trim()
        .to_string()
}

/// A recording written (as `record` writes it, in both formats) and replayed shows
/// each process's AGE (issue 28: a replay's AGE column was empty, the recording not
/// saying how start times map to wall time); an older recording without its start
/// clock shows AGE unknown (blank), never 0.
#[test]
fn a_replay_shows_age_and_an_old_recording_leaves_it_unknown() {
    use leaktop::format::Format;
    let fake = family();
    let mut m = monitor(&fake);
    let header = m.0.header().clone();
    assert!(header.start_clock.is_some(), "the monitor knows its clock");
    let ticks = five_ticks(&fake, &mut m);
    let dir = tempfile::tempdir().unwrap();
    let replay = |path: PathBuf| {
        let recording = leaktop::format::read(&path).unwrap();
        let mut app = App::new(
            recording.header.clone(),
            Source::Replay {
                path: path.display().to_string(),
            },
            ViewOptions {
                color: false,
                ..ViewOptions::default()
            },
        );
        for t in recording.ticks {
            app.push_tick(t);
        }
        let view = View::start(app, None, options(&fake, dir.path().to_path_buf()));
        let screen = view.wait_for(" of 5 ");
        view.key(KeyCode::Char('q'));
        view.end();
        (recording.header, screen)
    };
    for format in [Format::Text, Format::Ndjson] {
        let mut out = String::new();
        format.write_header(&header, &mut out);
        for t in &ticks {
            format.write_tick(t, &mut out);
        }
        let path = dir.path().join(format!("family.{format:?}"));
        std::fs::write(&path, &out).unwrap();
        let (read, screen) = replay(path);
        assert_eq!(read.start_clock, header.start_clock, "{format:?}");
        // The fake's processes started at boot; the ticks are ten minutes after it.
        for pid in [4100, 4131] {
            let age = age_of(&screen, pid);
            assert!(
                age.ends_with('s') && age.starts_with(|c: char| c.is_ascii_digit()),
                "{format:?}: AGE of {pid} is {age:?}:\n{screen}"
            );
        }

        // The same recording as leaktop wrote it before it carried its clock.
        let old: String = match format {
            Format::Text => out
                .lines()
                .filter(|l| !l.starts_with("# start-clock:"))
                .map(|l| format!("{l}\n"))
                .collect(),
            Format::Ndjson => {
                let mut lines = out.lines();
                let mut head: serde_json::Value =
                    serde_json::from_str(lines.next().unwrap()).unwrap();
                head.as_object_mut().unwrap().remove("start_clock").unwrap();
                std::iter::once(head.to_string())
                    .chain(lines.map(str::to_string))
                    .map(|l| format!("{l}\n"))
                    .collect()
            }
        };
        let path = dir.path().join(format!("old.{format:?}"));
        std::fs::write(&path, old).unwrap();
        let (read, screen) = replay(path);
        assert_eq!(read.start_clock, None);
        for pid in [4100, 4131] {
            assert_eq!(age_of(&screen, pid), "", "{format:?}: unknown:\n{screen}");
        }
    }
}

/// A monitor that samples only when the test says so (one step per message), so that
/// the test knows which tick did what.
struct Gated(Monitor, mpsc::Receiver<()>);

impl TickSource for Gated {
    fn step(&mut self) -> Result<Tick, String> {
        self.1
            .recv()
            .map_err(|_| "the test has ended".to_string())?;
        TickSource::step(&mut self.0)
    }

    fn finished(&self) -> Option<String> {
        self.0.finished()
    }

    fn focus(&mut self, ids: Vec<leaktop::sample::Identity>) {
        TickSource::focus(&mut self.0, ids);
    }
}

/// Issue 16: the selected subtree's PSS is read right after the leaked processes',
/// before the round-robin over everyone else. A pool of 60 workers where a read costs
/// 30 ms of a 100 ms budget: the round-robin would reach the last worker after about
/// 20 ticks; selected, it is read at the first tick that starts after the selection.
#[test]
fn the_selected_subtree_is_measured_first() {
    let fake = FakeHost::new(50);
    fake.ticks_only();
    fake.add(Proc::new(4100, 1, "pool").mem_mb(50, 40, 0));
    for pid in 4101..=4160 {
        fake.add(Proc::new(pid, 4100, "worker").rss_mb(200).mem_mb(30, 2, 0));
    }
    let m = monitor(&fake);
    let app = app(&fake, &m);
    fake.set_call_cost(Duration::from_millis(30));
    let last = fake.target(4160).id;
    let (go, steps) = mpsc::channel();
    let source = Gated(m.0, steps);
    let view = View::start(
        app,
        Some(Box::new(source)),
        options(&fake, std::env::temp_dir()),
    );
    go.send(()).unwrap();
    view.wait_for("family 61 processes");
    view.key(KeyCode::Char('G'));
    view.wait_for("›        4160");
    let reads_then = fake.memory_reads().len();
    // The sampler was already waiting inside its next step: that one goes as it was.
    go.send(()).unwrap();
    view.wait_for("tick 2");
    go.send(()).unwrap();
    view.wait_for("tick 3");
    let reads = fake.memory_reads();
    assert!(reads_then <= 3, "{reads:?}");
    assert!(
        reads[reads_then..].contains(&last),
        "the selected worker was not read in the two ticks after it was selected: {reads:?}\n{}",
        view.screen()
    );
    assert!(
        !reads[..reads_then].contains(&last),
        "read before it was selected: {reads:?}"
    );
    view.key(KeyCode::Char('m'));
    let screen = view.wait_for("PSS  READ");
    let row = screen.lines().find(|l| l.contains(" 4160 ")).unwrap();
    assert!(row.contains("30 MiB"), "{screen}");
    drop(go);
    view.key(KeyCode::Char('q'));
    view.end();
}

/// Issue 16: the kill dialog reads its victims' PSS when it opens, on a worker thread,
/// rather than trusting figures that may be old or missing: here the ticks carry none,
/// the dialog first says so, then shows what the read found (4132's cannot be read:
/// it stays unknown, never 0).
#[test]
fn the_kill_dialog_reads_pss_when_it_opens() {
    let fake = family();
    let mut m = monitor(&fake);
    let app = app(&fake, &m);
    let ticks = five_ticks(&fake, &mut m);
    let view = View::start(app, None, options(&fake, std::env::temp_dir()));
    for mut t in ticks {
        for p in &mut t.processes {
            (p.pss_kb, p.uss_kb, p.swap_kb, p.mem_tick) = (None, None, None, None);
        }
        view.send(Msg::Tick(t));
    }
    view.wait_for("LEAKED 2 processes");
    let reads_before = fake.memory_reads().len();
    view.key(KeyCode::Char('K'));
    let screen = view.wait_for(
        "Frees ~300 MiB + ? (their PSS; 1 process not measured yet), at least 90 MiB (private)",
    );
    assert!(screen.contains("PSS    300 MiB"), "{screen}");
    let read: Vec<u32> = fake.memory_reads()[reads_before..]
        .iter()
        .map(|i| i.pid)
        .collect();
    assert_eq!(read, [4131, 4132]);
    view.key(KeyCode::Esc);
    view.key(KeyCode::Char('q'));
    assert_eq!(view.end().ending, Ending::Quit);
}

/// On a kernel that tells the PSS apart, the kill dialog reads each victim's
/// `smaps_rollup` through the host and says what comes back: anonymous + shmem +
/// swapped PSS, the private floor, and the file-backed PSS apart as page cache that
/// stays cached; the swapped-out workers get a SWAP column and the header's swap.
#[test]
fn the_kill_dialog_tells_the_pss_apart_and_leaves_the_page_cache_out() {
    let fake = FakeHost::new(50);
    fake.ticks_only();
    fake.add(
        Proc::new(4100, 1, "cce")
            .cmd("python3 -m cce serve")
            .rss_mb(300),
    );
    fake.add(
        Proc::new(4130, 4100, "session")
            .cmd("cce session 7")
            .rss_mb(40),
    );
    for pid in [4131, 4132] {
        // 210 MiB resident, mostly shared with its sibling; some swapped out.
        fake.add(
            Proc::new(pid, 4130, "worker")
                .cmd("python3 worker.py")
                .rss_mb(210)
                .mem_mb(110, 8, 24)
                .pss_parts_mb(90, 12, 8, 10),
        );
    }
    let mut m = monitor(&fake);
    let app = app(&fake, &m);
    let ticks = five_ticks(&fake, &mut m);
    let view = View::start(app, None, options(&fake, std::env::temp_dir()));
    for t in ticks {
        view.send(Msg::Tick(t));
    }
    let live = view.wait_for("LEAKED 2 processes");
    assert!(live.contains("· swap 48 MiB"), "{live}");
    assert!(live.contains("SWAP"), "{live}");
    view.key(KeyCode::Char('K'));
    let confirm = view.wait_for("Frees ~216 MiB (anon 180 MiB · shmem 16 MiB · swap 20 MiB)");
    assert!(confirm.contains("at least 16 MiB (private)"), "{confirm}");
    assert!(
        confirm
            .contains("Not counted: file-backed 24 MiB of their PSS, page cache that stays cached"),
        "{confirm}"
    );
    assert_snapshot!("kill_confirm_split", confirm);
    let read: Vec<u32> = fake.memory_reads().iter().map(|id| id.pid).collect();
    assert!(
        read.ends_with(&[4131, 4132]),
        "the dialog reads the victims' smaps_rollup: {read:?}"
    );
    view.key(KeyCode::Esc);
    view.key(KeyCode::Char('q'));
    assert_eq!(view.end().ending, Ending::Quit);
    assert!(fake.signals().is_empty(), "{:?}", fake.signals());
}

/// Issue 26, fault 9: once no member was alive the view stopped sampling, and kept
/// the `<defunct>` rows of its last tick after `ps` said they were reaped. It samples
/// on while a defunct row is shown, and finishes once it is gone.
#[test]
fn the_view_samples_until_its_defunct_rows_are_reaped() {
    let fake = family();
    let mut m = monitor(&fake);
    m.step().unwrap();
    // Every member exits; the indexer's corpse waits for a reaper (here leaktop's
    // fake, which reaps only when asked) as one waits for init.
    fake.set_reparent_to(50);
    for pid in [4131, 4132, 4130, 4100, 4120] {
        fake.exit(pid, 0);
    }
    let tick = m.step().unwrap();
    let defunct: Vec<u32> = tick
        .processes
        .iter()
        .filter(|p| p.state == 'Z')
        .map(|p| p.pid)
        .collect();
    assert!(!defunct.is_empty(), "{:?}", tick.processes);
    assert_eq!(m.finished(), None, "{defunct:?} are still shown");
    assert!(!fake.host().reap().is_empty());
    let tick = m.step().unwrap();
    assert!(tick.processes.is_empty(), "{:?}", tick.processes);
    assert!(m.finished().is_some());
}

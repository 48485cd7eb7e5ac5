//! Whole screens drawn into a `TestBackend` and compared with snapshots; keys are
//! injected the way a user presses them.

use std::time::Duration;

use insta::assert_snapshot;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::actions::kill::{KillReport, KillSignal};
use crate::model::{Header, MemSum, ProcRow, Tick};
use crate::sample::{Identity, StartClock};
use crate::ui::app::{App, Effect, KillStage, Overlay, Source, ViewOptions};

const T0: u64 = 1_795_000_000_000;

fn row(pid: u32, ppid: u32, name: &str, cmd: &str, rss_mb: u64) -> ProcRow {
    ProcRow {
        rss_kb: rss_mb * 1024,
        start: u64::from(pid) * 10,
        cpu_ms: 100,
        name: name.into(),
        cmd: cmd.into(),
        ..crate::testkit::row(pid, ppid)
    }
}

/// A daemon whose session process exits at tick 3, leaving its workers leaked, while
/// the daemon lives on and grows.
fn family_ticks(n: u32) -> Vec<Tick> {
    (1..=n)
        .map(|t| {
            let grow = u64::from(t) * 8;
            let mut procs = vec![
                row(
                    4100,
                    1,
                    "cce",
                    "python3 -m cce serve --port 8080",
                    300 + grow,
                ),
                row(
                    4120,
                    4100,
                    "indexer",
                    "python3 -m cce index --path src",
                    120,
                ),
                row(4121, 4120, "git", "git ls-files -z", 8),
            ];
            if t < 3 {
                procs.push(row(4130, 4100, "session", "cce session 7", 40));
            }
            for (pid, rss) in [(4131, 900), (4132, 1400)] {
                let mut w = row(
                    pid,
                    4130,
                    "claude",
                    "claude --session 7 --print",
                    rss + grow,
                );
                w.cpu_ms = 100 + u64::from(t) * 250;
                if t >= 3 {
                    w.ppid = 1;
                    w.leaked = true;
                    w.reparented_from = Some(4130);
                    w.leaked_since = Some(3);
                }
                procs.push(w);
            }
            Tick {
                tick: t,
                elapsed_ms: u64::from(t - 1) * 1000,
                time_ms: T0 + u64::from(t - 1) * 1000,
                root_alive: true,
                processes: procs,
                events: vec![],
                alerts: Vec::new(),
            }
        })
        .collect()
}

fn app_with(ticks: Vec<Tick>, source: Source) -> App {
    let header = Header {
        root_pid: 4100,
        root_start: 41000,
        root_cmd: "python3 -m cce serve --port 8080".into(),
        interval_ms: 1000,
        started_ms: T0,
        host: "devbox".into(),
        events: None,
        // Every process started 10 minutes before the first tick, give or take its pid.
        start_clock: Some(StartClock {
            boot_ms: T0 - 600_000 - 41_000 * 10,
            per_sec: 100,
        }),
    };
    let options = ViewOptions {
        color: false,
        grace: Duration::from_secs(3),
        protected: [1, 4100].into_iter().collect(),
    };
    let mut app = App::new(header, source, options);
    for t in ticks {
        app.push_tick(t);
    }
    app
}

fn live(n: u32) -> App {
    app_with(family_ticks(n), Source::Live)
}

fn draw(app: &App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| super::render(f, app)).unwrap();
    terminal.backend().to_string()
}

fn press(app: &mut App, keys: &[KeyCode]) -> Vec<Effect> {
    keys.iter()
        .filter_map(|&k| app.handle_key(KeyEvent::from(k)))
        .collect()
}

#[test]
fn live_tree_with_a_leaked_tree() {
    let app = live(5);
    let screen = draw(&app, 120, 40);
    // Independent of the snapshot: the leak is in the header and marked on its rows.
    assert!(screen.contains("LEAKED 2 processes"), "{screen}");
    assert!(
        screen.contains("leaked at tick 3: reparented from 4130"),
        "{screen}"
    );
    assert_eq!(screen.matches("LEAK ").count(), 2, "{screen}");
    assert_snapshot!(screen);
}

#[test]
fn the_header_names_where_events_come_from() {
    let mut app = live(3);
    assert!(
        !draw(&app, 140, 30).contains("events:"),
        "no source, no mention"
    );
    app.header.events = Some("pidfd (connector: turned off (LEAKTOP_NO_CONNECTOR))".into());
    let screen = draw(&app, 140, 30);
    assert!(screen.contains("· events: pidfd"), "{screen}");
}

/// The break-it review: a recording whose start clock put every start after its
/// ticks (`per-second=1`) showed AGE 0s; a clock that cannot be right leaves it blank.
#[test]
fn a_start_clock_that_cannot_be_right_leaves_age_blank() {
    let mut app = live(5);
    assert!(draw(&app, 120, 40).contains(" 10m"), "ages shown");
    app.header.start_clock = Some(StartClock {
        boot_ms: T0,
        per_sec: 1,
    });
    let screen = draw(&app, 120, 40);
    assert!(screen.contains("AGE"), "{screen}");
    assert!(!screen.contains(" 0s "), "{screen}");
}

#[test]
fn narrow_terminal_keeps_the_essentials() {
    let screen = draw(&live(5), 80, 24);
    assert!(screen.contains("LEAKED"), "{screen}");
    assert!(!screen.contains("AGE"), "narrow screens drop CPU% and AGE");
    assert_snapshot!(screen);
}

#[test]
fn every_size_draws_without_panicking() {
    let app = live(4);
    for w in [1, 2, 10, 40, 79, 80, 200] {
        for h in [1, 2, 3, 5, 10, 15, 16, 24, 60] {
            draw(&app, w, h);
        }
    }
}

#[test]
fn history_mode_says_so_and_shows_the_old_tick() {
    let mut app = live(5);
    press(&mut app, &[KeyCode::Left, KeyCode::Left, KeyCode::Left]);
    let screen = draw(&app, 120, 40);
    assert!(screen.contains("HISTORY: viewing tick 2 of 5"), "{screen}");
    assert!(
        screen.contains("session"),
        "tick 2 still has the session: {screen}"
    );
    assert!(!screen.contains("LEAKED"), "{screen}");
    assert_snapshot!(screen);
    // A new tick does not move the view; End returns to live.
    app.push_tick(family_ticks(6).pop().unwrap());
    assert!(draw(&app, 120, 40).contains("viewing tick 2 of 6"));
    press(&mut app, &[KeyCode::End]);
    assert!(!app.in_past());
    assert!(draw(&app, 120, 40).contains("LIVE"));
}

#[test]
fn help_screen() {
    let mut app = live(3);
    press(&mut app, &[KeyCode::Char('?')]);
    let screen = draw(&app, 100, 30);
    assert!(screen.contains("kill every leaked tree"), "{screen}");
    assert_snapshot!(screen);
    press(&mut app, &[KeyCode::Char('x')]);
    assert_eq!(app.overlay, Overlay::None, "any key closes help");
}

/// At 80 columns the header's verdict keeps what a kill would free (issue 28: `frees
/// ~N` was cut off); the other parts are shortened first. With a GPU and swap too.
#[test]
fn the_leaked_figures_fit_80_columns() {
    for extra in [false, true] {
        let mut ticks = family_ticks(5);
        for t in ticks.iter_mut() {
            for p in t.processes.iter_mut().filter(|p| p.leaked) {
                p.pss_kb = Some(300 * 1024);
                p.uss_kb = Some(90 * 1024);
                p.swap_kb = Some(if extra { 700 * 1024 } else { 0 });
                p.gpu_kb = extra.then_some(2 * 1024 * 1024);
                p.mem_tick = Some(t.tick);
            }
        }
        let app = app_with(ticks, Source::Live);
        let wide = draw(&app, 200, 30);
        let family = |screen: &str| screen.lines().nth(1).unwrap().to_string();
        assert!(family(&wide).contains("frees ~600 MiB"), "{wide}");
        let screen = draw(&app, 80, 24);
        let line = family(&screen);
        assert!(line.contains("LEAKED 2"), "{screen}");
        assert!(line.contains("frees ~600 MiB"), "{screen}");
        if extra {
            assert!(line.contains("GPU 4 GiB"), "{screen}");
        }
        assert!(!line.trim_end_matches('"').ends_with('…'), "{screen}");
    }
}

/// After `K` and `y`, once the leaked processes are gone, the header says what the
/// kill ended, not "no leaks" (issue 28: an all-clear beside the kill's result).
#[test]
fn after_a_kill_the_header_says_what_was_ended_not_no_leaks() {
    let mut app = live(5);
    press(&mut app, &[KeyCode::Char('K')]);
    let effects = press(&mut app, &[KeyCode::Char('y')]);
    let [Effect::Kill { targets, .. }] = effects.as_slice() else {
        panic!("{effects:?}")
    };
    app.kill_finished(KillReport {
        ended: targets.iter().map(|t| t.id).collect(),
        ..KillReport::default()
    });
    // The next tick: both workers are gone.
    let mut next = family_ticks(6).pop().unwrap();
    next.processes.retain(|p| !p.leaked);
    app.push_tick(next);
    for width in [80, 120] {
        let screen = draw(&app, width, 24);
        let header = screen.lines().nth(1).unwrap();
        assert!(header.contains("2 leaked processes ended"), "{screen}");
        assert!(!header.contains("no leaks"), "{screen}");
        // The dialog closed, the header still says so.
        press(&mut app, &[KeyCode::Esc]);
    }
    // A kill of a tree with nothing leaked in it ends no leak.
    let mut other = live(2);
    other.kill_finished(KillReport {
        ended: vec![crate::sample::Identity {
            pid: 4121,
            start: 41210,
        }],
        ..KillReport::default()
    });
    assert!(draw(&other, 120, 24).contains("no leaks"));
}

/// At 80x24, the smallest terminal leaktop is made for, the help holds every key's
/// line whole and says how it closes (issue 28: a help box cut its lines).
#[test]
fn the_help_fits_80_by_24_whole() {
    let mut app = live(3);
    press(&mut app, &[KeyCode::Char('?')]);
    let screen = draw(&app, 80, 24);
    for (keys, what) in super::help::HELP {
        assert!(
            screen
                .lines()
                .any(|l| l.contains(keys) && l.contains(what) && l.contains('│')),
            "{what:?} cut in\n{screen}"
        );
    }
    assert!(screen.contains("any key closes this help"), "{screen}");
}

#[test]
fn folding_and_filtering() {
    let mut app = live(5);
    // Select the indexer (second row) and fold it.
    press(&mut app, &[KeyCode::Down, KeyCode::Enter]);
    let screen = draw(&app, 120, 30);
    assert!(screen.contains("▸ [+1] indexer"), "{screen}");
    assert!(!screen.contains("git ls-files"), "{screen}");
    press(&mut app, &[KeyCode::Char('/')]);
    for c in "claude".chars() {
        press(&mut app, &[KeyCode::Char(c)]);
    }
    let screen = draw(&app, 120, 30);
    assert!(screen.contains("filter: claude█"), "{screen}");
    assert!(screen.contains("(2 of 5 shown)"), "{screen}");
    assert!(!screen.contains("indexer"), "{screen}");
    assert_snapshot!(screen);
    // Esc after typing keeps the filter (as Enter does); Esc again clears it.
    press(&mut app, &[KeyCode::Esc]);
    assert!(app.filter == "claude" && !app.editing_filter);
    press(&mut app, &[KeyCode::Esc]);
    assert!(app.filter.is_empty() && !app.editing_filter);
}

#[test]
fn kill_all_leaked_confirm_change_signal_and_survivors_get_sigkill() {
    let mut app = live(5);
    let opened = press(&mut app, &[KeyCode::Char('K')]);
    let screen = draw(&app, 120, 40);
    assert!(screen.contains("Send SIGTERM to 2 processes"), "{screen}");
    assert_snapshot!("kill_confirm", screen);
    // Opening asks for their PSS now; what is read replaces the unknown, what is not
    // stays unknown.
    let [Effect::MeasureMemory(ids)] = opened.as_slice() else {
        panic!("{opened:?}")
    };
    assert_eq!(ids.iter().map(|i| i.pid).collect::<Vec<_>>(), [4131, 4132]);
    let read = crate::host::Memory {
        pss_kb: 310 * 1024,
        uss_kb: 20 * 1024,
        swap_kb: 0,
        ..Default::default()
    };
    app.memory_measured(vec![(ids[0], Some(read)), (ids[1], None)]);
    let screen = draw(&app, 120, 40);
    assert!(
        screen.contains(
            "Frees ~310 MiB + ? (their PSS; 1 process not measured yet), at least 20 MiB (private)"
        ),
        "{screen}"
    );
    assert!(!screen.contains("reading PSS now"), "{screen}");

    press(&mut app, &[KeyCode::Tab, KeyCode::Tab]);
    let Overlay::Kill(d) = &app.overlay else {
        panic!("no dialog")
    };
    assert_eq!(d.signal, KillSignal::Hup);
    press(&mut app, &[KeyCode::BackTab, KeyCode::BackTab]);

    let effects = press(&mut app, &[KeyCode::Char('y')]);
    let [
        Effect::Kill {
            targets, signal, ..
        },
    ] = effects.as_slice()
    else {
        panic!("{effects:?}")
    };
    assert_eq!(*signal, KillSignal::Term);
    let pids: Vec<u32> = targets.iter().map(|t| t.id.pid).collect();
    assert_eq!(pids, [4131, 4132]);
    assert_eq!(
        targets[0].pss_kb,
        Some(310 * 1024),
        "the kill counts what was read"
    );
    assert!(draw(&app, 120, 40).contains("waiting up to 3s"));

    let survivor = targets[1].id;
    app.kill_finished(KillReport {
        ended: vec![targets[0].id],
        survived: vec![survivor],
        skipped: vec![],
        freed_rss_kb: targets[0].rss_kb,
        // Its pages shared with its siblings: far less comes back than its RSS.
        freed_pss: MemSum {
            kb: 120 * 1024,
            unknown: 0,
        },
        freed_uss: MemSum {
            kb: 90 * 1024,
            unknown: 0,
        },
        mem_available_change_kb: Some(118 * 1024),
        ..KillReport::default()
    });
    let screen = draw(&app, 120, 40);
    assert!(screen.contains("1 ended · 1 survived"), "{screen}");
    assert!(screen.contains("send SIGKILL to them"), "{screen}");
    assert_snapshot!("kill_survivors", screen);

    let effects = press(&mut app, &[KeyCode::Char('y')]);
    assert!(
        matches!(effects.as_slice(), [Effect::Kill { targets, signal: KillSignal::Kill, .. }] if targets.len() == 1 && targets[0].id == survivor),
        "{effects:?}"
    );
    app.kill_finished(KillReport {
        ended: vec![survivor],
        ..KillReport::default()
    });
    let Overlay::Kill(d) = &app.overlay else {
        panic!("no dialog")
    };
    assert!(
        d.tally.ended == 2
            && matches!(&d.stage, KillStage::Done { survivors } if survivors.is_empty()),
        "{:?}",
        d.stage
    );
    press(&mut app, &[KeyCode::Enter]);
    assert_eq!(app.overlay, Overlay::None);
}

#[test]
fn kill_tree_lists_the_subtree_and_can_be_cancelled() {
    let mut app = live(5);
    press(&mut app, &[KeyCode::Down]);
    press(&mut app, &[KeyCode::F(9)]);
    let Overlay::Kill(d) = &app.overlay else {
        panic!("no dialog")
    };
    let pids: Vec<u32> = d.victims.iter().map(|v| v.id.pid).collect();
    assert_eq!(pids, [4120, 4121]);
    assert!(press(&mut app, &[KeyCode::Esc]).is_empty());
    assert_eq!(app.overlay, Overlay::None);
}

#[test]
fn protected_processes_are_left_out_of_the_dialog_not_signalled_behind_its_back() {
    // As if leaktop watched its own parent shell: 4100 is protected.
    let mut app = live(5);
    press(&mut app, &[KeyCode::Char('x')]);
    let Overlay::Kill(d) = &app.overlay else {
        panic!("no dialog")
    };
    let pids: Vec<u32> = d.victims.iter().map(|v| v.id.pid).collect();
    assert_eq!(pids, [4120, 4121]);
    let screen = draw(&app, 120, 40);
    assert!(screen.contains("Send SIGTERM to 2 processes"), "{screen}");
    assert!(
        screen.contains("Left out, never signalled (init, leaktop or its ancestors): 4100 cce"),
        "{screen}"
    );
    let effects = press(&mut app, &[KeyCode::Char('y')]);
    let [Effect::Kill { targets, .. }] = &effects[..] else {
        panic!("{effects:?}")
    };
    assert!(targets.iter().all(|t| t.id.pid != 4100));

    // A selection that is protected itself has nothing to kill.
    let mut single = live(5);
    let mut tick = family_ticks(1).remove(0);
    tick.processes.truncate(1);
    single.push_tick(tick);
    press(&mut single, &[KeyCode::Char('x')]);
    assert_eq!(single.overlay, Overlay::None);
    assert!(draw(&single, 120, 40).contains("nothing to kill: 4100 is init, leaktop"));
}

#[test]
fn long_commands_in_the_dialog_end_in_an_ellipsis() {
    let mut ticks = family_ticks(5);
    for r in &mut ticks[4].processes {
        r.cmd = format!("{} {}", r.cmd, "--flag ".repeat(40));
    }
    let mut app = app_with(ticks, Source::Live);
    press(&mut app, &[KeyCode::Char('K')]);
    let screen = draw(&app, 100, 40);
    let row = screen
        .lines()
        .find(|l| l.contains("│") && l.contains("4131"))
        .unwrap();
    assert!(row.contains("--flag") && row.contains("…│"), "{row}");
}

#[test]
fn no_killing_in_the_past_or_in_a_replay() {
    let mut app = live(5);
    press(&mut app, &[KeyCode::Char('['), KeyCode::Char('K')]);
    assert_eq!(app.overlay, Overlay::None);
    assert!(draw(&app, 120, 40).contains("press End to return to live"));

    let mut replay = app_with(
        family_ticks(5),
        Source::Replay {
            path: "leak.ticklog".into(),
        },
    );
    press(&mut replay, &[KeyCode::Char('K')]);
    assert_eq!(replay.overlay, Overlay::None);
    let screen = draw(&replay, 120, 40);
    // A replay opens at its first leak (issue 28).
    assert!(
        screen.contains("REPLAY of leak.ticklog: tick 3 of 5"),
        "{screen}"
    );
    assert!(
        screen.contains("killing is disabled in a replay"),
        "{screen}"
    );
}

#[test]
fn selection_follows_its_process_and_quit_keys() {
    let mut app = live(2);
    // The first worker, which leaks at tick 3 and moves under a heading.
    press(
        &mut app,
        &[KeyCode::Down, KeyCode::Down, KeyCode::Down, KeyCode::Down],
    );
    let chosen = app.selected.unwrap();
    for t in family_ticks(4).into_iter().skip(2) {
        app.push_tick(t);
    }
    assert_eq!(
        app.selected,
        Some(chosen),
        "the same process stays selected"
    );
    assert_eq!(press(&mut app, &[KeyCode::Char('q')]), [Effect::Quit]);
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert_eq!(app.handle_key(ctrl_c), Some(Effect::Quit));
    assert_eq!(
        chosen,
        Identity {
            pid: 4131,
            start: 41310
        }
    );
}

#[test]
fn alerts_are_marked_on_rows_and_listed_in_a_panel() {
    let mut ticks = family_ticks(5);
    ticks[4].alerts = vec![crate::model::Alert {
        kind: crate::model::AlertKind::Idle,
        pid: 4120,
        start: 41200,
        since_tick: 4,
        reason: "no CPU used for 75s while holding 120 MiB".into(),
    }];
    let app = app_with(ticks, Source::Live);
    let screen = draw(&app, 120, 40);
    assert!(screen.contains("1 alert"), "{screen}");
    assert!(screen.contains(" alerts (1) "), "{screen}");
    assert!(screen.contains("IDLE"), "{screen}");
    assert_snapshot!(screen);
}

#[test]
fn a_followed_restart_names_the_new_root_and_marks_the_timeline() {
    let mut ticks = family_ticks(6);
    for t in &mut ticks[2..] {
        // Tick 3: the daemon is gone; from tick 4 a new one (4200) runs in its place.
        t.processes.retain(|p| p.pid != 4100);
        for p in &mut t.processes {
            if p.ppid == 4100 {
                p.ppid = 1;
                p.leaked = true;
                p.reparented_from = Some(4100);
                p.leaked_since = Some(3);
            }
        }
        t.root_alive = t.tick >= 4;
        if t.tick >= 4 {
            t.processes
                .push(row(4200, 1, "cce", "python3 -m cce serve --port 8081", 250));
        }
    }
    ticks[3].events.push(crate::model::Event::RootRestarted {
        pid: 4200,
        start: 42000,
        previous: 4100,
    });
    let mut app = app_with(ticks, Source::Live);
    let screen = draw(&app, 120, 40);
    assert!(
        screen.contains("root 4200 alive (restarted at tick 4, was 4100)"),
        "{screen}"
    );
    assert!(screen.contains("--port 8081"), "{screen}");
    assert!(screen.contains("restart"), "{screen}");
    assert_snapshot!(screen);

    // Back at tick 3 the old root is the one shown, and it had exited.
    press(&mut app, &[KeyCode::Left, KeyCode::Left, KeyCode::Left]);
    let past = draw(&app, 120, 40);
    assert!(past.contains("root 4100 EXITED"), "{past}");
    assert!(!past.contains("restarted at"), "{past}");
}

#[test]
fn the_header_names_the_root_by_its_command_after_exec() {
    let mut ticks = family_ticks(2);
    // The header was read while the root was still inside `exec`.
    ticks[1].processes[0].cmd = "python3 -m cce serve --port 9090".into();
    let mut app = app_with(ticks, Source::Live);
    app.header.root_cmd = "[leaktop]".into();
    let first_line = draw(&app, 120, 40).lines().next().unwrap().to_string();
    assert!(first_line.contains("cce serve --port 9090"), "{first_line}");
    assert!(!first_line.contains("[leaktop]"), "{first_line}");
}

/// A zombie child is a defunct row: shown as `ps` shows it, never leaked, and `x` on
/// it signals nothing (it has exited already).
#[test]
fn a_defunct_row_is_shown_and_is_no_kill_target() {
    let mut ticks = family_ticks(2);
    let mut zombie = row(4140, 4100, "sh", "sh -c make", 0);
    zombie.state = 'Z';
    ticks[1].processes.push(zombie);
    let mut app = app_with(ticks, Source::Live);
    let screen = draw(&app, 120, 40);
    let line = screen
        .lines()
        .find(|l| l.contains("4140"))
        .unwrap_or_else(|| panic!("{screen}"));
    assert!(
        line.contains(" Z ") && line.contains("sh <defunct>"),
        "{line}"
    );
    assert!(!line.contains("LEAK"), "{line}");
    // Select it and ask to kill its tree.
    press(&mut app, &[KeyCode::Char('G')]);
    assert_eq!(app.selected.map(|id| id.pid), Some(4140), "{screen}");
    press(&mut app, &[KeyCode::Char('x')]);
    assert!(matches!(app.overlay, Overlay::None));
    assert_eq!(
        app.status.as_deref(),
        Some("process 4140 has already exited")
    );
}

/// Issue 13, fault 6: a root whose parent was already gone at attach looked like a
/// healthy family; the header now says so, and keeps saying it.
#[test]
fn an_orphaned_root_is_marked_in_the_header() {
    let mut app = live(2);
    let plain = draw(&app, 80, 24);
    assert!(!plain.contains("parent is gone"), "{plain}");
    app.root_note = Some("root's parent is gone: adopted by PID 1".into());
    let screen = draw(&app, 80, 24);
    // Instead of "no leaks", which is what misled, and within 80 columns.
    let second = screen.lines().nth(1).unwrap();
    assert!(
        second.contains("GiB   root's parent is gone: adopted by PID 1"),
        "{screen}"
    );
    assert!(!second.contains("no leaks"), "{screen}");
    press(&mut app, &[KeyCode::Left]);
    let past = draw(&app, 80, 24);
    assert!(past.contains("root's parent is gone"), "{past}");
}

/// Orphans within the leak grace have no verdict yet: the header says so rather than
/// "no leaks", and does not call them leaked either.
#[test]
fn orphans_within_the_grace_are_neither_leaks_nor_all_clear() {
    let mut ticks = family_ticks(3);
    for r in &mut ticks[2].processes {
        if r.leaked {
            r.leaked = false;
            r.leaked_since = None;
        }
    }
    let app = app_with(ticks, Source::Live);
    let screen = draw(&app, 120, 40);
    let second = screen.lines().nth(1).unwrap();
    assert!(
        second.contains("2 processes orphaned · within the leak grace"),
        "{screen}"
    );
    assert!(
        !second.contains("no leaks") && !second.contains("LEAKED"),
        "{screen}"
    );
}

/// Orphans that exit by themselves within the grace are no leaks, but the view says
/// they happened.
#[test]
fn orphans_that_exited_by_themselves_are_counted_in_the_header() {
    let mut ticks = family_ticks(2);
    ticks[1].events.push(crate::model::Event::OrphanExited {
        pid: 4150,
        start: 41500,
        after_ms: 120,
    });
    let app = app_with(ticks, Source::Live);
    let screen = draw(&app, 120, 40);
    assert!(
        screen
            .lines()
            .nth(1)
            .unwrap()
            .contains("1 orphan exited by itself"),
        "{screen}"
    );
}

/// The forecasts of the demo's schedule (`demo::schedule(T0 - 200, 1 s)`, whose own
/// test says so): the header counts down to the next orphaning (rounded up to whole
/// seconds) and says nothing once every forecast has passed.
#[test]
fn the_header_counts_down_to_what_is_coming() {
    let mut app = app_with(family_ticks(1), Source::Live);
    app.forecast = [0u64, 12, 24]
        .map(|s| crate::ui::app::Forecast {
            at_ms: T0 - 200 + (s + 1) * 1000,
            what: "a session will be orphaned".into(),
            then: "its 2 workers leak 1s later".into(),
        })
        .to_vec();
    let line = |app: &App| {
        draw(app, 120, 40)
            .lines()
            .nth(2)
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        line(&app)
            .contains("LIVE  next: a session will be orphaned in 1 s; its 2 workers leak 1s later"),
        "{}",
        line(&app)
    );
    // Tick 2 is a second on: the first session has gone; the next in 11.8 s.
    app.push_tick(family_ticks(2).pop().unwrap());
    assert!(line(&app).contains("orphaned in 12 s"), "{}", line(&app));
    app.forecast.truncate(1);
    assert!(!line(&app).contains("next:"), "{}", line(&app));
}

/// `m` switches the memory column RSS → PSS → USS → RSS; the title says which; a
/// figure never measured is `?` (never 0); a measured one says how long before the
/// viewed tick it was read.
/// The line of the `claude` process `pid` on `screen` (empty if none).
fn claude_row(screen: &str, pid: &str) -> String {
    screen
        .lines()
        .find(|l| l.contains(pid) && l.contains("claude"))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn m_switches_the_memory_column_and_says_how_old_a_figure_is() {
    let mut ticks = family_ticks(5);
    for t in &mut ticks {
        for p in t.processes.iter_mut().filter(|p| p.pid == 4131) {
            p.pss_kb = Some(300 * 1024);
            p.uss_kb = Some(90 * 1024);
            p.mem_tick = Some(2);
        }
    }
    let mut app = app_with(ticks, Source::Live);
    let rss = draw(&app, 120, 40);
    assert!(rss.contains("PPID S        RSS       ΔRSS"), "{rss}");
    press(&mut app, &[KeyCode::Char('m')]);
    let pss = draw(&app, 120, 40);
    assert!(pss.contains("PPID S        PSS  READ       ΔRSS"), "{pss}");
    // Measured at tick 2, viewed at tick 5 of a 1 s interval.
    assert!(claude_row(&pss, "4131").contains("300 MiB    3s"), "{pss}");
    assert!(claude_row(&pss, "4132").contains("         ?"), "{pss}");
    assert!(!claude_row(&pss, "4132").contains(" 0 B"), "{pss}");
    press(&mut app, &[KeyCode::Char('m')]);
    let uss = draw(&app, 120, 40);
    assert!(uss.contains("USS  READ"), "{uss}");
    assert!(claude_row(&uss, "4131").contains("90 MiB    3s"), "{uss}");
    // Back at the tick it was read: `now`.
    press(&mut app, &[KeyCode::Left, KeyCode::Left, KeyCode::Left]);
    assert!(claude_row(&draw(&app, 120, 40), "4131").contains("90 MiB   now"));
    press(&mut app, &[KeyCode::Char('m')]);
    assert!(draw(&app, 120, 40).contains("PPID S        RSS       ΔRSS"));
}

/// Swapped-out memory, which RSS hides, gets a SWAP column while some process at the
/// viewed tick has any, and the header adds the leaked processes' swap; `?` for a
/// process whose swap was never read (never 0).
#[test]
fn swapped_out_leaks_show_a_swap_column_and_the_header_says_so() {
    let mut ticks = family_ticks(5);
    for t in ticks.iter_mut().skip(3) {
        for p in t.processes.iter_mut().filter(|p| p.pid == 4131) {
            p.pss_kb = Some(300 * 1024);
            p.uss_kb = Some(90 * 1024);
            p.swap_kb = Some(700 * 1024);
            p.mem_tick = Some(t.tick);
        }
    }
    let mut app = app_with(ticks, Source::Live);
    let screen = draw(&app, 120, 40);
    assert!(
        screen.contains("PPID S        RSS       SWAP       ΔRSS"),
        "{screen}"
    );
    assert!(claude_row(&screen, "4131").contains("700 MiB"), "{screen}");
    assert!(
        claude_row(&screen, "4132").contains("          ? "),
        "{screen}"
    );
    assert!(screen.contains("· swap 700 MiB"), "{screen}");
    assert_snapshot!(screen);
    // Back before anything was swapped: no column, no header figure.
    press(&mut app, &[KeyCode::Left, KeyCode::Left]);
    let before = draw(&app, 120, 40);
    assert!(
        !before.contains("SWAP") && !before.contains("· swap"),
        "{before}"
    );
}

#[test]
fn gpu_memory_shows_as_a_column_and_in_what_a_kill_frees_where_known() {
    let mut ticks = family_ticks(5);
    for t in ticks.iter_mut().skip(3) {
        for p in &mut t.processes {
            // 4131 holds 2 GiB on the GPU; the others hold none, but 4132, whose
            // descriptors could not be read: unknown.
            p.gpu_kb = match p.pid {
                4131 => Some(2 * 1024 * 1024),
                4132 => None,
                _ => Some(0),
            };
        }
    }
    let mut app = app_with(ticks, Source::Live);
    let screen = draw(&app, 120, 40);
    assert!(screen.contains("  GPU "), "{screen}");
    assert!(claude_row(&screen, "4131").contains("2 GiB"), "{screen}");
    assert!(
        claude_row(&screen, "4132").contains("          ? "),
        "{screen}"
    );
    assert!(screen.contains(", GPU 2 GiB + ?"), "{screen}");
    // Before any GPU figure (no GPU found, an old recording): no column, no figure.
    press(&mut app, &[KeyCode::Left, KeyCode::Left]);
    let before = draw(&app, 120, 40);
    assert!(!before.contains("GPU"), "{before}");
}

/// Issue 28: `q` in a view opened from the picker goes back to it; F10 and Ctrl-C
/// still quit, and a view not opened from it quits on `q` as before.
#[test]
fn q_in_a_view_opened_from_the_picker_goes_back_to_it() {
    let mut app = live(5);
    app.picker_behind = true;
    assert_eq!(press(&mut app, &[KeyCode::Char('q')]), [Effect::Back]);
    // From the help too: its q is the view's.
    press(&mut app, &[KeyCode::Char('?')]);
    assert_eq!(press(&mut app, &[KeyCode::Char('q')]), [Effect::Back]);
    assert_eq!(press(&mut app, &[KeyCode::F(10)]), [Effect::Quit]);
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert_eq!(app.handle_key(ctrl_c), Some(Effect::Quit));
}

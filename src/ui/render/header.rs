//! The three header lines: who is watched, how big the family is, what leaked, and
//! which moment the screen shows.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::text::{command_tail, elapsed, gpu_frees, interval, plural};
use super::theme::Theme;
use crate::format::human_kb;
use crate::model::Tick;
use crate::ui::app::{App, Source};

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let lines = vec![
        Line::from(root_line(app, theme)),
        Line::from(family_line(app, theme, usize::from(area.width))),
        mode_line(app, theme),
    ];
    frame.render_widget(Paragraph::new(lines), area);
}

/// The first line: the root, alive or exited (and restarted), the interval, the tick
/// shown and its time, where events come from, and the root's command.
fn root_line(app: &App, theme: Theme) -> Vec<Span<'static>> {
    let h = &app.header;
    let tick = app.viewed_tick();
    let alive = tick.is_none_or(|t| t.root_alive);
    let restart = app
        .viewed_index()
        .and_then(|i| app.history.restart_before(i));
    let root_pid = restart.map_or(h.root_pid, |r| r.pid);
    // The tick's own row while the root lives: it follows an `exec`, and after a
    // restart the recording's header names the old root.
    let root_cmd = tick
        .filter(|t| t.root_alive)
        .and_then(|t| t.processes.iter().find(|p| p.pid == root_pid && !p.leaked))
        .map_or(h.root_cmd.as_str(), |p| p.cmd.as_str());
    let mut first = vec![
        Span::styled(" leaktop ", theme.title()),
        Span::raw(format!(" root {root_pid} ")),
        if alive {
            Span::styled("alive", theme.ok())
        } else {
            Span::styled("EXITED", theme.leaked())
        },
    ];
    if let Some(r) = restart {
        first.push(Span::styled(
            format!(" (restarted at tick {}, was {})", r.tick, r.previous),
            theme.alert(),
        ));
    }
    first.push(Span::raw(format!(" · every {}", interval(h.interval_ms))));
    if let Some(t) = tick {
        first.push(Span::raw(format!(
            " · tick {} · {}",
            t.tick,
            elapsed(t.elapsed_ms)
        )));
    }
    // Where events come from, by its name (the recording's header says why a fallback).
    if let Some(source) = h
        .events
        .as_deref()
        .and_then(|e| e.split_whitespace().next())
    {
        first.push(Span::raw(format!(" · events: {source}")));
    }
    first.push(Span::styled(
        format!(" · {}", command_tail("", root_cmd)),
        theme.dim(),
    ));
    first
}

/// The second line: the family's size and RSS, then the verdict (leaked, orphans
/// within the grace, what the view's kills ended, or no leaks), a note on the root,
/// the alerts, and the orphans that exited by themselves. Within `width` columns
/// where it can be: the family's figures and the leaked RSS are shortened first, so
/// that what a kill would free stays on screen (80 columns cut it).
fn family_line(app: &App, theme: Theme, width: usize) -> Vec<Span<'static>> {
    // A badge's closing space may fall off the edge.
    let fits = |spans: &Vec<Span<'static>>| {
        let total: usize = spans.iter().map(Span::width).sum();
        let padding = spans.last().map_or(0, |s| {
            s.content.len() - s.content.trim_end_matches(' ').len()
        });
        total - padding <= width
    };
    let mut line = family_spans(app, theme, Brevity::Full);
    for brevity in [Brevity::Counts, Brevity::Verdict] {
        if fits(&line) {
            break;
        }
        line = family_spans(app, theme, brevity);
    }
    line
}

/// How much of the second line's figures is said, most first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Brevity {
    /// `family 5 processes · RSS 2.78 GiB   LEAKED 2 processes · RSS 2.32 GiB · frees ~600 MiB`
    Full,
    /// `family 5 · RSS 2.78 GiB   LEAKED 2 · RSS 2.32 GiB · frees ~600 MiB`
    Counts,
    /// `family 5   LEAKED 2 · frees ~600 MiB`: what a kill would free, and little else.
    Verdict,
}

fn family_spans(app: &App, theme: Theme, brevity: Brevity) -> Vec<Span<'static>> {
    let mut second = vec![Span::raw(" ")];
    let Some(t) = app.viewed_tick() else {
        second.push(Span::raw("waiting for the first sample…"));
        return second;
    };
    // Defunct rows (zombies) have exited: not counted as family.
    let living = t.processes.iter().filter(|p| p.state != 'Z').count();
    second.push(Span::raw(match brevity {
        Brevity::Full => format!(
            "family {} · RSS {}  ",
            plural(living, "process", "processes"),
            human_kb(t.total_rss_kb())
        ),
        Brevity::Counts => format!("family {living} · RSS {}  ", human_kb(t.total_rss_kb())),
        Brevity::Verdict => format!("family {living}  "),
    }));
    let leaked = t.leaked_count();
    if leaked > 0 {
        second.push(Span::styled(
            format!(" LEAKED {} ", leaked_figures(t, brevity)),
            theme.alarm(),
        ));
    } else if let n @ 1.. = orphans_in_grace(t) {
        // Orphaned, but not yet outliving the leak grace: no verdict either way.
        second.push(Span::styled(
            format!(
                " {} orphaned · within the leak grace ",
                plural(n, "process", "processes")
            ),
            theme.alert(),
        ));
    } else if let n @ 1.. = app.leaked_ended {
        // Not an all-clear: the leaks are gone because this view ended them.
        second.push(Span::styled(
            format!("{} ended", plural(n, "leaked process", "leaked processes")),
            theme.ok(),
        ));
    } else if app.root_note.is_none() {
        second.push(Span::styled("no leaks", theme.ok()));
    }
    // A root orphaned before leaktop attached: its family is no healthy one, even
    // with nothing leaked since.
    if let Some(note) = &app.root_note {
        second.push(Span::styled(format!(" {note} "), theme.alert()));
    }
    if !t.alerts.is_empty() {
        second.push(Span::styled(
            format!("  {} ", plural(t.alerts.len(), "alert", "alerts")),
            theme.alert(),
        ));
    }
    if app.orphans_exited > 0 {
        second.push(Span::styled(
            match app.orphans_exited {
                1 => "  1 orphan exited by itself".to_string(),
                n => format!("  {n} orphans exited by themselves"),
            },
            theme.dim(),
        ));
    }
    second
}

/// Processes orphaned (reparented, escaped, or outliving the root) that have no
/// verdict yet: the leak grace has not passed.
fn orphans_in_grace(t: &crate::model::Tick) -> usize {
    t.processes
        .iter()
        .filter(|p| {
            !p.leaked
                && p.state != 'Z'
                && (p.reparented_from.is_some() || p.escaped || !t.root_alive)
        })
        .count()
}

fn mode_line(app: &App, theme: Theme) -> Line<'static> {
    let len = app.history.len();
    let at = app.viewed_index().map_or(0, |i| i + 1);
    let mut spans = vec![Span::raw(" ")];
    match &app.source {
        Source::Replay { path } => spans.push(Span::styled(
            format!(" REPLAY of {path}: tick {at} of {len} "),
            theme.notice(),
        )),
        Source::Live if app.in_past() => spans.push(Span::styled(
            format!(
                " HISTORY: viewing tick {at} of {len} · → }} n forward · > or End returns to live "
            ),
            theme.notice(),
        )),
        Source::Live if app.paused => spans.push(Span::styled(
            " PAUSED: sampling stopped · p resumes ",
            theme.notice(),
        )),
        Source::Live => spans.push(Span::styled("LIVE", theme.ok())),
    }
    if let Some((f, secs)) = app.coming().filter(|_| app.finished.is_none()) {
        spans.push(Span::styled(
            format!("  next: {} in {secs} s; {}", f.what, f.then),
            theme.alert(),
        ));
    }
    if let Some(why) = &app.finished {
        spans.push(Span::styled(
            format!("  sampling stopped: {why}"),
            theme.dim(),
        ));
    }
    if !app.filter.is_empty() && !app.editing_filter {
        spans.push(Span::raw(format!("  filter: {}", app.filter)));
    }
    Line::from(spans)
}

/// `6 processes · RSS 1.26 GiB · frees ~211 MiB[, GPU 2 GiB][ · swap 12 MiB]`: the
/// leaked RSS (shared pages counted in every process) and what killing them all would
/// free (their last-known PSS summed, and their GPU memory where any is known; `?` for
/// the part not known, never 0); swap when there is any. Shorter as `brevity` asks:
/// `6 · RSS 1.26 GiB · frees ~211 MiB`, then `6 · frees ~211 MiB`.
fn leaked_figures(t: &Tick, brevity: Brevity) -> String {
    let pss = t.leaked_pss_kb();
    let frees = match (pss.known(), pss.unknown) {
        (None, _) => "?".to_string(),
        (Some(kb), 0) => format!("~{}", human_kb(kb)),
        (Some(kb), _) => format!("~{} + ?", human_kb(kb)),
    };
    let gpu = gpu_frees(t.leaked_gpu_kb());
    let n = t.leaked_count();
    let count = match brevity {
        Brevity::Full => plural(n, "process", "processes"),
        _ => n.to_string(),
    };
    let rss = match brevity {
        Brevity::Verdict => String::new(),
        _ => format!(" · RSS {}", human_kb(t.leaked_rss_kb())),
    };
    let mut s = format!("{count}{rss} · frees {frees}{gpu}");
    let swap = t.leaked_swap_kb().kb;
    if swap > 0 && brevity != Brevity::Verdict {
        s.push_str(&format!(" · swap {}", human_kb(swap)));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ProcRow;

    fn leaked(pid: u32, rss_mb: u64, pss_mb: Option<u64>, swap_mb: u64) -> ProcRow {
        ProcRow {
            rss_kb: rss_mb * 1024,
            pss_kb: pss_mb.map(|mb| mb * 1024),
            uss_kb: pss_mb.map(|_| 1024),
            swap_kb: pss_mb.map(|_| swap_mb * 1024),
            mem_tick: pss_mb.map(|_| 1),
            ..crate::testkit::leaked(pid, 1, 1)
        }
    }

    fn tick(rows: Vec<ProcRow>) -> Tick {
        Tick {
            tick: 2,
            elapsed_ms: 1000,
            time_ms: 0,
            root_alive: false,
            processes: rows,
            events: vec![],
            alerts: vec![],
        }
    }

    #[test]
    fn the_leaked_figure_says_what_a_kill_would_free() {
        let six = (1..=6).map(|pid| leaked(pid, 210, Some(35), 0)).collect();
        assert_eq!(
            leaked_figures(&tick(six), Brevity::Full),
            "6 processes · RSS 1.23 GiB · frees ~210 MiB"
        );
        let six = (1..=6).map(|pid| leaked(pid, 210, Some(35), 1)).collect();
        let six = tick(six);
        assert_eq!(
            leaked_figures(&six, Brevity::Counts),
            "6 · RSS 1.23 GiB · frees ~210 MiB · swap 6 MiB"
        );
        assert_eq!(leaked_figures(&six, Brevity::Verdict), "6 · frees ~210 MiB");
        let some = vec![leaked(1, 210, Some(35), 2), leaked(2, 210, None, 0)];
        assert_eq!(
            leaked_figures(&tick(some), Brevity::Full),
            "2 processes · RSS 420 MiB · frees ~35 MiB + ? · swap 2 MiB"
        );
        let none = vec![leaked(1, 210, None, 0)];
        assert_eq!(
            leaked_figures(&tick(none), Brevity::Full),
            "1 process · RSS 210 MiB · frees ?",
            "unknown, never 0"
        );
        let mut gpu = vec![leaked(1, 210, Some(35), 0), leaked(2, 210, Some(35), 0)];
        gpu[0].gpu_kb = Some(2 * 1024 * 1024);
        assert_eq!(
            leaked_figures(&tick(gpu.clone()), Brevity::Full),
            "2 processes · RSS 420 MiB · frees ~70 MiB, GPU 2 GiB + ?"
        );
        gpu[1].gpu_kb = Some(0);
        assert_eq!(
            leaked_figures(&tick(gpu), Brevity::Full),
            "2 processes · RSS 420 MiB · frees ~70 MiB, GPU 2 GiB"
        );
    }
}

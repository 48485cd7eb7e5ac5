//! The process table: one line per process, indented as trees, leaked trees under
//! headings. Laid out by hand rather than with `Table` so headings span the width.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::text::{age, command_tail, delta_kb};
use super::theme::Theme;
use crate::format::human_kb;
use crate::model::AlertKind;
use crate::model::ProcRow;
use crate::ui::app::App;
use crate::ui::app::MemColumn;
use crate::ui::table::{ProcLine, Row};

/// Columns left of the command, and whether narrow terminals drop them.
struct Columns {
    cpu_and_age: bool,
}

/// The memory column: which figure, and what its age is counted from.
struct Memory {
    column: MemColumn,
    /// The viewed tick, and the time between two (for the age of a PSS or USS figure).
    tick: u32,
    interval_ms: u64,
    /// A SWAP column too: some process at the viewed tick has swapped-out memory,
    /// which RSS, PSS and USS leave out.
    swap: bool,
    /// A GPU column too: some process at the viewed tick has a GPU memory figure
    /// (none does where no GPU was found, or in a recording from before GPU memory).
    gpu: bool,
}

impl Memory {
    /// The figure (`?` when unknown, never 0) and, for PSS and USS, how long before
    /// the viewed tick it was measured (`now` at this tick; empty when unknown).
    fn cells(&self, r: &ProcRow) -> (String, Option<String>) {
        let value = self.column.of(r).map_or_else(|| "?".to_string(), human_kb);
        if self.column == MemColumn::Rss {
            return (value, None);
        }
        let read = match r.mem_tick.filter(|_| self.column.of(r).is_some()) {
            None => String::new(),
            Some(at) if at >= self.tick => "now".to_string(),
            Some(at) => age(u64::from(self.tick - at) * self.interval_ms),
        };
        (value, Some(read))
    }

    /// The GPU cell, if the column is shown: GPU memory, `?` when unknown.
    fn gpu_cell(&self, r: &ProcRow) -> Option<String> {
        self.gpu
            .then(|| r.gpu_kb.map_or_else(|| "?".to_string(), human_kb))
    }

    /// The SWAP cell, if the column is shown: last-known swap, `?` when unknown.
    fn swap_cell(&self, r: &ProcRow) -> Option<String> {
        self.swap
            .then(|| r.swap_kb.map_or_else(|| "?".to_string(), human_kb))
    }
}

pub fn render(frame: &mut Frame, area: Rect, app: &App, rows: &[Row<'_>], theme: Theme) {
    let title = match app.viewed_tick() {
        Some(t) if rows.len() < t.processes.len() => {
            format!(
                " processes ({} of {} shown) ",
                count_procs(rows),
                t.processes.len()
            )
        }
        _ => " processes ".to_string(),
    };
    let block = Block::new()
        .borders(Borders::TOP)
        .title(Span::styled(title, theme.title()));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 {
        return;
    }
    let cols = Columns {
        cpu_and_age: inner.width >= 96,
    };
    let mem = Memory {
        column: app.mem_column,
        tick: app.viewed_tick().map_or(0, |t| t.tick),
        interval_ms: app.header.interval_ms,
        swap: app.viewed_tick().is_some_and(|t| {
            t.processes
                .iter()
                .any(|p| p.swap_kb.is_some_and(|kb| kb > 0))
        }),
        gpu: app
            .viewed_tick()
            .is_some_and(|t| t.processes.iter().any(|p| p.gpu_kb.is_some())),
    };
    let mut lines = vec![column_titles(&cols, &mem, theme)];
    let visible = inner.height.saturating_sub(1) as usize;
    let selected = app.selected_index(rows);
    let offset = selected.map_or(0, |s| (s + 1).saturating_sub(visible));
    let time_ms = app.viewed_tick().map_or(0, |t| t.time_ms);
    for (i, row) in rows.iter().enumerate().skip(offset).take(visible) {
        let line = match row {
            Row::Heading(h) => Line::from(Span::styled(format!(" {h}"), theme.heading())),
            Row::Proc(p) => {
                // Unknown (blank, never 0) where the recording does not say how its
                // start times map to wall time, or maps one after the tick (a clock
                // that cannot be right).
                let started = app
                    .header
                    .start_clock
                    .and_then(|c| time_ms.checked_sub(c.started_ms(p.row.start)));
                proc_line(p, started, &cols, &mem, theme)
            }
        };
        // The arrow marks the selection on terminals without reverse video, too.
        let mut line = line;
        if Some(i) == selected {
            line = line.patch_style(theme.selected());
            line.spans.insert(0, Span::styled("›", theme.selected()));
        } else {
            line.spans.insert(0, Span::raw(" "));
        }
        lines.push(line);
    }
    if rows.is_empty() {
        let why = if app.filter.is_empty() {
            "no processes at this tick"
        } else {
            "no process matches the filter (Esc clears it)"
        };
        lines.push(Line::from(Span::styled(format!(" {why}"), theme.dim())));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// Four letters for the mark column.
pub fn alert_mark(kind: AlertKind) -> &'static str {
    match kind {
        AlertKind::Accumulating => "ACCU",
        AlertKind::Idle => "IDLE",
        AlertKind::RssRatchet => "RTCH",
        AlertKind::Zombies => "ZOMB",
        AlertKind::Stopped => "STOP",
    }
}

fn count_procs(rows: &[Row<'_>]) -> usize {
    rows.iter().filter(|r| matches!(r, Row::Proc(_))).count()
}

fn column_titles(cols: &Columns, mem: &Memory, theme: Theme) -> Line<'static> {
    let mut s = format!(
        "{:<4} {:>7} {:>7} S {:>10}",
        "",
        "PID",
        "PPID",
        mem.column.name()
    );
    if mem.column != MemColumn::Rss {
        s.push_str(&format!(" {:>5}", "READ"));
    }
    if mem.swap {
        s.push_str(&format!(" {:>10}", "SWAP"));
    }
    if mem.gpu {
        s.push_str(&format!(" {:>10}", "GPU"));
    }
    s.push_str(&format!(" {:>10}", "ΔRSS"));
    if cols.cpu_and_age {
        s.push_str(&format!(" {:>5} {:>6}", "CPU%", "AGE"));
    }
    s.push_str("  COMMAND");
    Line::from(Span::styled(s, theme.title()))
}

fn proc_line(
    p: &ProcLine<'_>,
    age_ms: Option<u64>,
    cols: &Columns,
    mem: &Memory,
    theme: Theme,
) -> Line<'static> {
    let r = p.row;
    let (mark, mark_style) = if r.escaped {
        ("ESC", theme.leaked())
    } else if r.leaked {
        ("LEAK", theme.leaked())
    } else if let Some(kind) = p.alerts.first() {
        (alert_mark(*kind), theme.alert())
    } else {
        ("", Style::new())
    };
    let delta = p.rss_delta_kb.unwrap_or(0);
    let (figure, read) = mem.cells(r);
    let mut spans = vec![
        Span::styled(format!("{mark:<4}"), mark_style),
        Span::raw(format!(
            " {:>7} {:>7} {} {figure:>10} ",
            r.pid, r.ppid, r.state
        )),
    ];
    if let Some(read) = read {
        spans.push(Span::styled(format!("{read:>5} "), theme.dim()));
    }
    if let Some(swap) = mem.swap_cell(r) {
        spans.push(Span::raw(format!("{swap:>10} ")));
    }
    if let Some(gpu) = mem.gpu_cell(r) {
        spans.push(Span::raw(format!("{gpu:>10} ")));
    }
    spans.push(Span::styled(
        format!("{:>10}", delta_kb(delta)),
        theme.growth(delta),
    ));
    if cols.cpu_and_age {
        let cpu = p.cpu_pct.map_or(String::new(), |c| format!("{c:.0}%"));
        let age = age_ms.map_or(String::new(), age);
        spans.push(Span::raw(format!(" {cpu:>5} {age:>6}")));
    }
    let fold = if p.folded > 0 {
        format!("▸ [+{}] ", p.folded)
    } else {
        String::new()
    };
    let name_style = if r.leaked {
        theme.leaked()
    } else {
        Style::new()
    };
    spans.push(Span::raw(format!("  {}{fold}", p.prefix)));
    spans.push(Span::styled(r.name.clone(), name_style));
    // A zombie: exited, waiting for its parent to reap it (as ps says it).
    if r.state == 'Z' {
        spans.push(Span::styled(" <defunct>", theme.dim()));
        return Line::from(spans);
    }
    let tail = command_tail(&r.name, &r.cmd);
    if !tail.is_empty() {
        spans.push(Span::styled(format!(" {tail}"), theme.dim()));
    }
    Line::from(spans)
}

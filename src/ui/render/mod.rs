//! Drawing. Every function here takes the state by shared reference and only draws.

mod alerts;
pub mod dialog;
mod footer;
mod header;
mod help;
pub mod picker;
pub mod text;
pub mod theme;
mod timeline;
mod tree;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};

use super::app::{App, Overlay};
use theme::Theme;

/// Draws the whole screen:
///
/// ```text
/// ┌──────────────────────────────────────────────────────────────┐
/// │ header: root and its state, tick, family size and RSS,       │ 3 rows
/// │         LEAKED count and RSS, live / paused / history mode   │
/// ├─ processes ──────────────────────────────────────────────────┤
/// │ LEAK    PID   PPID S      RSS     ΔRSS  CPU%   AGE  COMMAND  │ as needed
/// │         100      1 S   30 MiB             0%    5s  server   │
/// │ leaked at tick 5: reparented from 101                        │
/// │ LEAK    102      1 S   60 MiB             0%    5s  worker   │
/// ├─ alerts (when any stand) ─────────────────────────────────────┤
/// │ idle  4100  since tick 61  no CPU used for 60s while ...     │ 2-5 rows
/// ├─ RSS over time ──────────────────────────────────────────────┤
/// │ total, leaked and selected RSS per tick                      │ 8+ rows
/// ├──────────────────────────────────────────────────────────────┤
/// │ footer: keys, the filter being typed, or a status message    │ 1 row
/// └──────────────────────────────────────────────────────────────┘
/// ```
///
/// The help screen and the kill dialog are drawn over it, centred.
pub fn render(frame: &mut Frame, app: &App) {
    let theme = Theme {
        color: app.options.color,
    };
    let area = frame.area();
    let chart_height = match area.height {
        0..16 => 0,
        16..30 => 8,
        _ => 10,
    };
    let standing = app.viewed_tick().map_or(&[][..], |t| &t.alerts[..]);
    let alerts_height = if area.height >= 20 {
        alerts::height(standing)
    } else {
        0
    };
    let rows = app.rows();
    // The table takes what its rows need (title, column names, rows), the chart the
    // rest: a small family leaves a tall chart rather than blank lines.
    let table_height = u16::try_from(rows.len() + 2).unwrap_or(u16::MAX).max(4);
    let chart_constraint = if chart_height == 0 {
        Constraint::Length(0)
    } else {
        Constraint::Min(chart_height)
    };
    let [top, table, panel, chart, bottom] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Max(table_height),
        Constraint::Length(alerts_height),
        chart_constraint,
        Constraint::Length(1),
    ])
    .areas(area);
    header::render(frame, top, app, theme);
    tree::render(frame, table, app, &rows, theme);
    if alerts_height > 0 {
        alerts::render(frame, panel, standing, theme);
    }
    if chart_height > 0 {
        timeline::render(frame, chart, app, theme);
    }
    footer::render(frame, bottom, app, theme);
    match &app.overlay {
        Overlay::None => {}
        Overlay::Help => help::render(frame, area, theme),
        Overlay::Kill(dialog) => dialog::render(frame, area, dialog, app.options.grace, theme),
    }
}

/// A rectangle of at most `width` x `height` in the middle of `area`.
pub(crate) fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

#[cfg(test)]
mod tests;

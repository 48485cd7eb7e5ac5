//! The `?` screen: every key.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::centered;
use super::theme::Theme;

/// Each key of the view and what it does.
pub(super) const HELP: &[(&str, &str)] = &[
    ("↑ ↓  j k", "move the selection"),
    ("PgUp PgDn  g G", "move by a page, to the top or bottom"),
    ("Enter  Space", "fold or unfold the selected subtree"),
    ("/", "filter by pid, name or command (Esc twice clears)"),
    (
        "← →  [ ]",
        "step back and forward through the recorded ticks",
    ),
    ("{ }", "move a tenth of the history back or forward"),
    (
        "n N",
        "next or previous event (a leak, alert, restart or exit)",
    ),
    ("<", "the first tick"),
    ("> End l", "return to the newest tick (live)"),
    ("m", "memory column: RSS, PSS, USS (READ: how old)"),
    ("p", "pause or resume sampling"),
    ("e", "export the timeline so far (says where; Enter writes)"),
    ("x  F9", "kill the selected process and its tree"),
    ("K", "kill every leaked tree"),
    ("?  F1", "this help"),
    ("q  F10  Ctrl-C", "quit"),
];

pub fn render(frame: &mut Frame, area: Rect, theme: Theme) {
    let mut lines: Vec<Line> = HELP
        .iter()
        .map(|(keys, what)| {
            Line::from(vec![
                Span::styled(format!(" {keys:<16}"), theme.title()),
                Span::raw(*what),
            ])
        })
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::from(Span::styled(
        " LEAK: reparented away from its family, or outliving the root.",
        theme.dim(),
    )));
    lines.push(Line::from(Span::styled(
        " ESC: orphaned before a sample saw its parent (a double fork, a",
        theme.dim(),
    )));
    lines.push(Line::from(Span::styled(
        "      quick `cmd &`), traced to the family all the same.",
        theme.dim(),
    )));
    lines.push(Line::from(Span::styled(
        " Kills freeze the tree, re-check each pid's start time, then signal.",
        theme.dim(),
    )));
    lines.push(Line::raw(""));
    lines.push(Line::from(Span::styled(
        " any key closes this help",
        theme.dim(),
    )));
    // On a short terminal (80x24) the blank lines go first, so that every key's line
    // and how to close the help stay on screen.
    if lines.len() + 2 > usize::from(area.height) {
        lines.retain(|l| l.width() > 0);
    }
    let box_area = centered(area, 74, lines.len() as u16 + 2);
    frame.render_widget(Clear, box_area);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::new()
                .borders(Borders::ALL)
                .title(Span::styled(" keys ", theme.title())),
        ),
        box_area,
    );
}

//! The bottom line: the filter being typed, a status message, or the main keys.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::theme::Theme;
use crate::ui::app::App;

const KEYS: &[(&str, &str)] = &[
    ("q", "quit"),
    ("↑↓", "move"),
    ("⏎", "fold"),
    ("/", "filter"),
    ("←→", "history"),
    ("p", "pause"),
    ("e", "export"),
    ("x", "kill tree"),
    ("K", "kill leaked"),
    ("?", "help"),
];

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let line = if app.editing_filter {
        Line::from(vec![
            Span::styled(" filter: ", theme.title()),
            Span::raw(format!("{}█", app.filter)),
            Span::styled("   Enter keeps it · Esc clears it", theme.dim()),
        ])
    } else if let Some(status) = &app.status {
        Line::from(Span::styled(format!(" {status}"), theme.notice()))
    } else {
        let mut spans = vec![Span::raw(" ")];
        for (key, what) in KEYS {
            if app.is_replay() && matches!(*key, "p" | "x" | "K") {
                continue;
            }
            spans.push(Span::styled(*key, theme.title()));
            spans.push(Span::styled(format!(" {what}  "), theme.dim()));
        }
        Line::from(spans)
    };
    frame.render_widget(Paragraph::new(line), area);
}

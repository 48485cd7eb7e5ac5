//! The alerts panel: every alert standing at the viewed tick, one line each.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::theme::Theme;
use crate::model::Alert;

/// Lines the panel needs for `alerts` (0 when there are none).
pub fn height(alerts: &[Alert]) -> u16 {
    if alerts.is_empty() {
        0
    } else {
        alerts.len().min(4) as u16 + 1
    }
}

pub fn render(frame: &mut Frame, area: Rect, alerts: &[Alert], theme: Theme) {
    let block = Block::new().borders(Borders::TOP).title(Span::styled(
        format!(" alerts ({}) ", alerts.len()),
        theme.alert(),
    ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let shown = inner.height as usize;
    let mut lines: Vec<Line> = alerts
        .iter()
        .take(if alerts.len() > shown {
            shown.saturating_sub(1)
        } else {
            shown
        })
        .map(|a| {
            Line::from(vec![
                Span::styled(format!(" {:<13}", a.kind.name()), theme.alert()),
                Span::raw(format!("{:>8}  since tick {:<5} ", a.pid, a.since_tick)),
                Span::styled(a.reason.clone(), theme.dim()),
            ])
        })
        .collect();
    if alerts.len() > shown {
        lines.push(Line::raw(format!(
            " … and {} more",
            alerts.len() - lines.len()
        )));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

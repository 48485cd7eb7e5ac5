//! The bottom line: the filter being typed, a status message, or the main keys.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::theme::Theme;
use crate::human::shown_path;
use crate::ui::app::{App, ExportPrompt};

/// The main keys, in the order shown, each with how early it gives way on a narrow
/// terminal (0: never; `?` lists them all anyway).
const KEYS: &[(&str, &str, u8)] = &[
    ("q", "quit", 0),
    ("↑↓", "move", 2),
    ("⏎", "fold", 2),
    ("/", "filter", 4),
    ("←→{}<>", "history", 5),
    ("nN", "events", 2),
    ("p", "pause", 3),
    ("m", "memory", 1),
    ("e", "export", 6),
    ("x", "kill tree", 0),
    ("K", "kill leaked", 0),
    ("?", "help", 0),
];

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let line = if app.editing_filter {
        Line::from(vec![
            Span::styled(" filter: ", theme.title()),
            Span::raw(format!("{}█", app.filter)),
            Span::styled(
                "   Enter or Esc keeps it · Esc again clears it",
                theme.dim(),
            ),
        ])
    } else if let Some(prompt) = &app.export_prompt {
        export_prompt(prompt, usize::from(area.width), theme)
    } else if let Some(status) = &app.status {
        Line::from(Span::styled(format!(" {status}"), theme.notice()))
    } else if let Some((done, total)) = app.exporting {
        Line::from(Span::styled(
            format!(" exporting… {}/{} ticks", grouped(done), grouped(total)),
            theme.notice(),
        ))
    } else {
        keys_line(app.is_replay(), usize::from(area.width), theme)
    };
    frame.render_widget(Paragraph::new(line), area);
}

/// ` export to PATH? (whose)  Enter writes · Esc cancels`, within `width`: where the
/// file's name does not fit, the directory alone (`into DIR/`), losing its head first
/// (`…/share/leaktop/`); never the keys or what is said about the directory.
fn export_prompt(prompt: &ExportPrompt, width: usize, theme: Theme) -> Line<'static> {
    const KEYS: &str = "  Enter writes · Esc cancels";
    let whose = prompt
        .whose
        .as_ref()
        .map_or(String::new(), |w| format!(" ({w})"));
    let room = width.saturating_sub(whose.chars().count() + KEYS.chars().count() + 2);
    let file = format!("export to {}", shown_path(&prompt.path));
    let dir = prompt
        .path
        .parent()
        .map_or_else(String::new, |d| format!("{}/", shown_path(d)));
    let what = if file.chars().count() < room {
        file
    } else {
        let len = dir.chars().count();
        if len + "export into ".len() < room {
            format!("export into {dir}")
        } else {
            // "export into …" and the '?' after it take 14 columns; the directory's
            // own name stays, whatever the width.
            let last = prompt
                .path
                .parent()
                .and_then(|d| d.file_name())
                .map_or(0, |n| shown_path(n.as_ref()).chars().count() + 1);
            let keep = room.saturating_sub(14).max(last);
            let tail: String = dir.chars().skip(len.saturating_sub(keep)).collect();
            format!("export into …{tail}")
        }
    };
    let mut spans = vec![Span::styled(format!(" {what}?"), theme.notice())];
    if !whose.is_empty() {
        spans.push(Span::styled(whose, theme.alert()));
    }
    spans.push(Span::styled(KEYS, theme.dim()));
    Line::from(spans)
}

/// `n` with a comma every three digits: 10,000.
fn grouped(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// As many of [`KEYS`] as fit in `width`.
fn keys_line(replay: bool, width: usize, theme: Theme) -> Line<'static> {
    let mut keys: Vec<&(&str, &str, u8)> = KEYS
        .iter()
        .filter(|(key, ..)| !(replay && matches!(*key, "p" | "x" | "K")))
        .collect();
    let shown_width = |keys: &[&(&str, &str, u8)]| -> usize {
        1 + keys
            .iter()
            .map(|(k, what, _)| k.chars().count() + what.len() + 3)
            .sum::<usize>()
    };
    while shown_width(&keys) > width + 2 {
        let Some(drop) = keys
            .iter()
            .enumerate()
            .filter(|(_, k)| k.2 > 0)
            .min_by_key(|(_, k)| k.2)
            .map(|(i, _)| i)
        else {
            break;
        };
        keys.remove(drop);
    }
    let mut spans = vec![Span::raw(" ")];
    for (key, what, _) in keys {
        spans.push(Span::styled(*key, theme.title()));
        spans.push(Span::styled(format!(" {what}  "), theme.dim()));
    }
    Line::from(spans)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(line: &Line<'_>) -> String {
        line.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(4000), "4,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
    }

    #[test]
    fn narrow_footers_keep_the_keys_that_kill_and_help() {
        let theme = Theme { color: false };
        let wide = text(&keys_line(false, 120, theme));
        assert!(
            wide.contains("↑↓ move") && wide.contains("e export"),
            "{wide}"
        );
        let narrow = text(&keys_line(false, 80, theme));
        assert!(narrow.trim_end().chars().count() <= 80, "{narrow}");
        for key in ["q quit", "x kill tree", "K kill leaked", "? help"] {
            assert!(narrow.contains(key), "{narrow}");
        }
        let tiny = text(&keys_line(false, 50, theme));
        assert!(tiny.contains("? help"), "{tiny}");
        let replay = text(&keys_line(true, 80, theme));
        assert!(!replay.contains("kill"), "{replay}");
    }

    #[test]
    fn the_export_prompt_names_the_place_and_keeps_the_keys_at_any_width() {
        let theme = Theme { color: false };
        let prompt = ExportPrompt {
            path: "/home/ada/.local/share/leaktop/leaktop-4100-20261129-201309.ticklog".into(),
            whose: Some("owned by uid 0, not you".into()),
            at: std::time::SystemTime::UNIX_EPOCH,
        };
        let wide = text(&export_prompt(&prompt, 200, theme));
        assert_eq!(
            wide,
            " export to /home/ada/.local/share/leaktop/leaktop-4100-20261129-201309.ticklog? \
             (owned by uid 0, not you)  Enter writes · Esc cancels"
        );
        let narrower = text(&export_prompt(&prompt, 100, theme));
        assert_eq!(
            narrower,
            " export into /home/ada/.local/share/leaktop/? (owned by uid 0, not you)  \
             Enter writes · Esc cancels"
        );
        assert_eq!(
            text(&export_prompt(&prompt, 80, theme)),
            " export into …e/leaktop/? (owned by uid 0, not you)  \
             Enter writes · Esc cancels"
        );
        for width in [40, 60, 80, 90, 100, 120, 200] {
            let line = text(&export_prompt(&prompt, width, theme));
            assert!(
                line.ends_with("not you)  Enter writes · Esc cancels"),
                "{line}"
            );
            assert!(line.contains("leaktop/"), "{width}: {line}");
            if width >= 80 {
                assert!(line.chars().count() <= width, "{width}: {line}");
            }
        }
    }
}

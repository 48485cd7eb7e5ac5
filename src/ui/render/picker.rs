//! Drawing the picker ([`Picker`]): its title and filter, the list (orphan groups
//! first), the footer, and the help or the kill dialog over them.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::theme::Theme;
use crate::human::{age, elapsed, human_kb, printable};
use crate::model::orphans::OrphanGroup;
use crate::ui::picker::{Entry, PICKER_KEYS, Picker, ProcLine, SortKey};

/// Draws the picker:
///
/// ```text
/// ┌──────────────────────────────────────────────────────────────┐
/// │ leaktop  what the list is for                                │ 2 rows
/// │ / filters by pid, name or command  (or the filter typed)     │
/// │   sorted by RSS, largest first (< > F6) · list (t: tree)     │
/// ├──────────────────────────────────────────────────────────────┤
/// │    PID      RSS▼   FAMILY  PROCS    CPU    AGE  COMMAND      │ as needed
/// │    601            300 MiB      3                ORPHAN pg-600 │
/// │    500   20 MiB    20 MiB      2   1.2s  3m02s  bash         │
/// ├──────────────────────────────────────────────────────────────┤
/// │ footer: keys, the orphan scan's state, or a status message   │ 1 row
/// └──────────────────────────────────────────────────────────────┘
/// ```
///
/// The help and the kill dialog are drawn over it, centred.
pub fn render(frame: &mut Frame, picker: &Picker) {
    let [top, list, bottom] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    frame.render_widget(Paragraph::new(title(picker)), top);
    entries(frame, list, picker);
    frame.render_widget(Paragraph::new(footer(picker)), bottom);
    if picker.help {
        help(frame, picker.theme);
    }
    if let (Some(dialog), Some(o)) = (&picker.dialog, &picker.orphans) {
        super::dialog::render(frame, frame.area(), dialog, o.grace, picker.theme);
    }
}

/// What the list is for, and the filter: being typed, set, or how to set one.
fn title(picker: &Picker) -> Vec<Line<'static>> {
    let theme = picker.theme;
    vec![
        Line::from(vec![
            Span::styled(" leaktop ", theme.title()),
            Span::raw(format!(" {}", picker.title)),
        ]),
        if picker.editing {
            Line::from(vec![
                Span::styled(" filter: ", theme.title()),
                Span::raw(format!("{}█", picker.filter)),
                Span::styled("   Enter or Esc keeps it · Esc again clears", theme.dim()),
            ])
        } else if picker.filter.is_empty() {
            Line::from(Span::styled(
                " / filters by pid, name or command",
                theme.dim(),
            ))
        } else {
            Line::from(vec![
                Span::styled(" filter: ", theme.title()),
                Span::raw(picker.filter.clone()),
                Span::styled("   / edits · Esc clears", theme.dim()),
            ])
        },
        Line::from(vec![
            Span::styled(" sorted by ", theme.dim()),
            Span::raw(picker.sort.label()),
            Span::styled(" (< > F6)", theme.dim()),
            Span::styled(" · ", theme.dim()),
            Span::raw(if picker.tree { "tree" } else { "list" }),
            Span::styled(
                if picker.tree {
                    " (t: list · Space folds)"
                } else {
                    " (t: tree)"
                },
                theme.dim(),
            ),
        ]),
    ]
}

/// The column titles, the sort key's marked `▼` (`▲` for A to Z).
fn columns(key: SortKey, gpu: bool) -> String {
    let mark = |k: SortKey, title: &str| {
        if k == key {
            format!("{title}{}", if k == SortKey::Name { "▲" } else { "▼" })
        } else {
            title.to_string()
        }
    };
    format!(
        "{:>8} {:>10} {:>10} {:>6} {:>8} {:>7}{}  {}",
        "PID",
        mark(SortKey::Rss, "RSS"),
        mark(SortKey::FamilyRss, "FAMILY"),
        mark(SortKey::Procs, "PROCS"),
        mark(SortKey::Cpu, "CPU"),
        mark(SortKey::Age, "AGE"),
        if gpu {
            format!(" {:>10}", "GPU")
        } else {
            String::new()
        },
        mark(SortKey::Name, "COMMAND"),
    )
}

/// A process's line: its figures, then (in a tree, indented under its parent, `▾`
/// before one with children, `▸` before a folded one) its name and command.
fn process_line(p: &ProcLine, tree: bool, gpu: bool, theme: Theme) -> Line<'static> {
    let c = p.candidate;
    let branch = match (tree, p.folded, p.children > 0) {
        (false, ..) => String::new(),
        (true, true, _) => format!("{}▸ ", "  ".repeat(p.depth)),
        (true, false, true) => format!("{}▾ ", "  ".repeat(p.depth)),
        (true, false, false) => format!("{}  ", "  ".repeat(p.depth)),
    };
    Line::from(vec![
        Span::raw(format!(
            "{:>8} {:>10} {:>10} {:>6} {:>8} {:>7}{}  {branch}",
            c.pid,
            human_kb(c.rss_kb),
            human_kb(c.subtree_rss_kb),
            c.subtree_len,
            elapsed(c.cpu_ms),
            c.age_ms.map_or_else(|| "?".to_string(), age),
            // Unknown (or not read: past the first rows) is `?`, never 0.
            if gpu {
                format!(
                    " {:>10}",
                    c.gpu_kb.map_or_else(|| "?".to_string(), human_kb)
                )
            } else {
                String::new()
            },
        )),
        Span::styled(c.name.clone(), theme.title()),
        Span::styled(command_after_name(&c.name, &c.cmd), theme.dim()),
    ])
}

/// What the COMMAND column shows after the name: the command line, less its first
/// word when that word is the name or a path to it (`python3 python3 -c …`,
/// `python3 /usr/bin/python3 -c …` say the name twice).
fn command_after_name(name: &str, cmd: &str) -> String {
    let (first, rest) = cmd.split_once(' ').unwrap_or((cmd, ""));
    let base = first.rsplit('/').next().unwrap_or(first);
    if !name.is_empty() && base == name {
        if rest.is_empty() {
            String::new()
        } else {
            format!(" {rest}")
        }
    } else if cmd.is_empty() {
        String::new()
    } else {
        format!(" {cmd}")
    }
}

/// The list under its column titles, scrolled to keep the selection in view.
fn entries(frame: &mut Frame, area: Rect, picker: &Picker) {
    let theme = picker.theme;
    let shown = picker.shown();
    let block = Block::new().borders(Borders::TOP);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let visible = inner.height.saturating_sub(1) as usize;
    let offset = (picker.selected + 1).saturating_sub(visible);
    let mut lines = vec![Line::from(Span::styled(
        columns(picker.sort, picker.gpu),
        theme.title(),
    ))];
    for (i, entry) in shown.iter().enumerate().skip(offset).take(visible) {
        let line = match entry {
            Entry::Group(g) => group_line(g, theme),
            Entry::Process(p) => process_line(p, picker.tree, picker.gpu, theme),
        };
        lines.push(if i == picker.selected {
            line.patch_style(theme.selected())
        } else {
            line
        });
    }
    if shown.is_empty() {
        lines.push(Line::from(Span::styled(" no process matches", theme.dim())));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The footer: a status message, or the keys (and where the orphan scan is).
fn footer(picker: &Picker) -> Line<'static> {
    let theme = picker.theme;
    match (&picker.status, &picker.orphans) {
        (Some(status), _) => Line::from(Span::styled(format!(" {status}"), theme.notice())),
        (None, Some(o)) => Line::from(Span::styled(
            match (&o.groups, &o.failed) {
                (None, _) => {
                    " looking for orphan groups… · / filter · Enter watch · q quit · F1 help"
                        .to_string()
                }
                (Some(_), Some(why)) => {
                    format!(" no orphan scan: {why} · / filter · Enter watch · q quit")
                }
                (Some(_), None) => {
                    " / filter · ↑↓ move · Enter watch · x kill orphan group · q quit · F1 help"
                        .to_string()
                }
            },
            theme.dim(),
        )),
        (None, None) => Line::from(Span::styled(
            " / filter · ↑↓ move · Enter watch · q quit · F1 help",
            theme.dim(),
        )),
    }
}

/// The picker's keys, over the list.
fn help(frame: &mut Frame, theme: Theme) {
    let lines: Vec<Line> = PICKER_KEYS
        .iter()
        .map(|(keys, what)| {
            Line::from(vec![
                Span::styled(format!(" {keys:<16}"), theme.title()),
                Span::raw(*what),
            ])
        })
        .chain([
            Line::raw(""),
            Line::from(Span::styled(" any key closes this help", theme.dim())),
        ])
        .collect();
    // As wide as its longest line, borders included: no line is cut short of the
    // terminal's width.
    let width = lines.iter().map(Line::width).max().unwrap_or(0) + 3;
    let area = super::centered(
        frame.area(),
        u16::try_from(width).unwrap_or(u16::MAX),
        lines.len() as u16 + 2,
    );
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::new()
                .borders(Borders::ALL)
                .title(Span::styled(" keys ", theme.title())),
        ),
        area,
    );
}

/// An orphan group's line: its oldest process, its summed RSS and size (under FAMILY
/// and PROCS), `ORPHAN`, its id and its strongest evidence.
fn group_line(g: &OrphanGroup, theme: Theme) -> Line<'static> {
    let oldest = g.processes.first().map_or(0, |p| p.sample.pid);
    let evidence = g.evidence.first().map_or("", |e| e.text.as_str());
    let weak = if g.strong() { "" } else { " (weak)" };
    // The empty RSS column is left blank; CPU and AGE, which a group has no one
    // figure for, give their room to the evidence.
    Line::from(vec![
        Span::raw(format!(
            "{:>8} {:>10} {:>10} {:>6}  ",
            oldest,
            "",
            human_kb(g.rss_kb),
            g.processes.len(),
        )),
        Span::styled("ORPHAN", theme.leaked()),
        Span::styled(format!(" {}{weak}", g.id), theme.title()),
        Span::raw(format!(" {}", printable(evidence))),
    ])
}

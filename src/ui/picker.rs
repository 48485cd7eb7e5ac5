//! Choosing a root when none was given: every process, sorted by the RSS of its whole
//! subtree, narrowed by typing.

use std::collections::HashMap;

use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::render::theme::Theme;
use crate::format::human_kb;
use crate::sample::{Command, ProcSample};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub pid: u32,
    pub name: String,
    pub cmd: String,
    pub subtree_rss_kb: u64,
    /// The process itself and all its descendants.
    pub subtree_len: usize,
}

/// Every process worth watching, largest subtree first. Kernel threads, PID 1 (its
/// subtree is the whole machine) and `exclude` (leaktop itself) are left out.
pub fn candidates(
    samples: &[ProcSample],
    mut command: impl FnMut(&ProcSample) -> Command,
    exclude: u32,
) -> Vec<Candidate> {
    let index: HashMap<u32, usize> = samples
        .iter()
        .enumerate()
        .map(|(i, s)| (s.pid, i))
        .collect();
    let mut rss: Vec<u64> = samples.iter().map(|s| s.rss_kb).collect();
    let mut len = vec![1usize; samples.len()];
    // Add each process to all its ancestors.
    for (i, s) in samples.iter().enumerate() {
        let mut seen = 0;
        let mut p = s.ppid;
        while let Some(&a) = index.get(&p) {
            rss[a] += samples[i].rss_kb;
            len[a] += 1;
            p = samples[a].ppid;
            seen += 1;
            if seen > samples.len() {
                break; // a cycle from a torn read
            }
        }
    }
    let kernel = |s: &ProcSample| s.pid == 2 || s.ppid == 2;
    let mut out: Vec<Candidate> = samples
        .iter()
        .enumerate()
        .filter(|(_, s)| s.pid > 1 && !kernel(s) && s.pid != exclude && !s.has_exited())
        .map(|(i, s)| {
            let c = command(s);
            Candidate {
                pid: s.pid,
                name: c.name,
                cmd: c.cmd,
                subtree_rss_kb: rss[i],
                subtree_len: len[i],
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.subtree_rss_kb
            .cmp(&a.subtree_rss_kb)
            .then(a.pid.cmp(&b.pid))
    });
    out
}

/// The picker's keys, as its help lists them.
const PICKER_KEYS: &[(&str, &str)] = &[
    ("↑ ↓  j k", "move the selection"),
    ("PgUp PgDn", "move by a page"),
    ("Home End  g G", "to the top or bottom"),
    ("/", "filter by pid, name or command"),
    ("Enter", "watch the selected process's family"),
    ("Esc", "clear the filter; without one, quit"),
    ("q  F10  Ctrl-C", "quit"),
    ("F1  ?", "this help"),
];

pub enum PickerOutcome {
    Continue,
    Pick(u32),
    Quit,
}

pub struct Picker {
    all: Vec<Candidate>,
    filter: String,
    /// Typing goes into the filter (after `/`, until Enter or Esc).
    editing: bool,
    /// The key help is shown (F1 or `?`; any key closes it).
    help: bool,
    selected: usize,
    theme: Theme,
    /// What the list is for, above it.
    title: String,
}

impl Picker {
    pub fn new(all: Vec<Candidate>, color: bool) -> Picker {
        Picker {
            all,
            filter: String::new(),
            editing: false,
            help: false,
            selected: 0,
            theme: Theme { color },
            title: "choose the process whose family to watch (largest subtree first)".into(),
        }
    }

    /// Says `title` above the list instead of the default (say, that it holds only
    /// the processes `--name` matched).
    pub fn with_title(mut self, title: String) -> Picker {
        self.title = title;
        self
    }

    pub fn shown(&self) -> Vec<&Candidate> {
        let needle = self.filter.to_lowercase();
        self.all
            .iter()
            .filter(|c| {
                needle.is_empty()
                    || c.pid.to_string().contains(&needle)
                    || c.cmd.to_lowercase().contains(&needle)
                    || c.name.to_lowercase().contains(&needle)
            })
            .collect()
    }

    /// The keys of htop, btop and bottom: `q`, `Esc` and `F10` quit (`Esc` first
    /// clears a filter), `/` starts typing a filter (Enter watches the selected process,
    /// Esc clears it), `F1` or `?` shows the keys.
    pub fn handle_key(&mut self, key: KeyEvent) -> PickerOutcome {
        if key.kind == KeyEventKind::Release {
            return PickerOutcome::Continue;
        }
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return PickerOutcome::Quit;
        }
        if self.help {
            self.help = false;
            return PickerOutcome::Continue;
        }
        let count = self.shown().len();
        let last = count.saturating_sub(1);
        match key.code {
            KeyCode::F(1) => {
                self.editing = false;
                self.help = true;
            }
            KeyCode::F(10) => return PickerOutcome::Quit,
            KeyCode::Enter => {
                if let Some(c) = self.shown().get(self.selected) {
                    return PickerOutcome::Pick(c.pid);
                }
                self.editing = false;
            }
            KeyCode::Up => self.selected = self.selected.saturating_sub(1),
            KeyCode::Down => self.selected = (self.selected + 1).min(last),
            KeyCode::PageUp => self.selected = self.selected.saturating_sub(10),
            KeyCode::PageDown => self.selected = (self.selected + 10).min(last),
            KeyCode::Home => self.selected = 0,
            KeyCode::End => self.selected = last,
            KeyCode::Esc if self.editing || !self.filter.is_empty() => {
                self.editing = false;
                self.filter.clear();
            }
            KeyCode::Esc => return PickerOutcome::Quit,
            KeyCode::Backspace if self.editing => {
                self.filter.pop();
            }
            KeyCode::Char(c) if self.editing => self.filter.push(c),
            KeyCode::Char('/') => self.editing = true,
            KeyCode::Char('q') => return PickerOutcome::Quit,
            KeyCode::Char('?') => self.help = true,
            KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::Char('j') => self.selected = (self.selected + 1).min(last),
            KeyCode::Char('g') => self.selected = 0,
            KeyCode::Char('G') => self.selected = last,
            _ => {}
        }
        self.selected = self.selected.min(self.shown().len().saturating_sub(1));
        PickerOutcome::Continue
    }

    pub fn render(&self, frame: &mut Frame) {
        let theme = self.theme;
        let [top, list, bottom] = Layout::vertical([
            Constraint::Length(2),
            Constraint::Min(1),
            Constraint::Length(1),
        ])
        .areas(frame.area());
        frame.render_widget(
            Paragraph::new(vec![
                Line::from(vec![
                    Span::styled(" leaktop ", theme.title()),
                    Span::raw(format!(" {}", self.title)),
                ]),
                if self.editing {
                    Line::from(vec![
                        Span::styled(" filter: ", theme.title()),
                        Span::raw(format!("{}█", self.filter)),
                        Span::styled("   Enter watches · Esc clears", theme.dim()),
                    ])
                } else if self.filter.is_empty() {
                    Line::from(Span::styled(
                        " / filters by pid, name or command",
                        theme.dim(),
                    ))
                } else {
                    Line::from(vec![
                        Span::styled(" filter: ", theme.title()),
                        Span::raw(self.filter.clone()),
                        Span::styled("   / edits · Esc clears", theme.dim()),
                    ])
                },
            ]),
            top,
        );
        let shown = self.shown();
        let block = Block::new().borders(Borders::TOP);
        let inner = block.inner(list);
        frame.render_widget(block, list);
        let visible = inner.height.saturating_sub(1) as usize;
        let offset = (self.selected + 1).saturating_sub(visible);
        let mut lines = vec![Line::from(Span::styled(
            format!("{:>8} {:>12} {:>6}  COMMAND", "PID", "SUBTREE RSS", "PROCS"),
            theme.title(),
        ))];
        for (i, c) in shown.iter().enumerate().skip(offset).take(visible) {
            let line = Line::from(vec![
                Span::raw(format!(
                    "{:>8} {:>12} {:>6}  ",
                    c.pid,
                    human_kb(c.subtree_rss_kb),
                    c.subtree_len
                )),
                Span::styled(c.name.clone(), theme.title()),
                Span::styled(format!(" {}", c.cmd), theme.dim()),
            ]);
            lines.push(if i == self.selected {
                line.patch_style(theme.selected())
            } else {
                line
            });
        }
        if shown.is_empty() {
            lines.push(Line::from(Span::styled(" no process matches", theme.dim())));
        }
        frame.render_widget(Paragraph::new(lines), inner);
        frame.render_widget(
            Paragraph::new(Line::from(Span::styled(
                " / filter · ↑↓ move · Enter watch · q quit · F1 help",
                theme.dim(),
            ))),
            bottom,
        );
        if self.help {
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
            let area = super::render::centered(frame.area(), 60, lines.len() as u16 + 2);
            frame.render_widget(ratatui::widgets::Clear, area);
            frame.render_widget(
                Paragraph::new(lines).block(
                    Block::new()
                        .borders(Borders::ALL)
                        .title(Span::styled(" keys ", theme.title())),
                ),
                area,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::Comm;

    fn s(pid: u32, ppid: u32, rss_kb: u64) -> ProcSample {
        ProcSample {
            pid,
            ppid,
            state: b'S',
            rss_kb,
            pgrp: pid,
            session: pid,
            start: u64::from(pid),
            cpu_ms: 0,
            comm: Comm::new(format!("p{pid}").as_bytes()),
        }
    }

    #[test]
    fn sorted_by_subtree_rss_without_init_kernel_threads_or_self() {
        let samples = [
            s(1, 0, 10),
            s(2, 0, 0),
            s(3, 2, 0),
            s(100, 1, 5),
            s(101, 100, 50),
            s(102, 101, 50),
            s(200, 1, 80),
            s(300, 1, 1),
        ];
        let got = candidates(
            &samples,
            |p| Command {
                name: p.comm.to_string_lossy(),
                cmd: String::new(),
            },
            300,
        );
        let order: Vec<(u32, u64, usize)> = got
            .iter()
            .map(|c| (c.pid, c.subtree_rss_kb, c.subtree_len))
            .collect();
        assert_eq!(
            order,
            [(100, 105, 3), (101, 100, 2), (200, 80, 1), (102, 50, 1)]
        );
    }

    #[test]
    fn typing_after_a_slash_filters_and_enter_picks() {
        let all = vec![
            Candidate {
                pid: 10,
                name: "node".into(),
                cmd: "node server.js".into(),
                subtree_rss_kb: 100,
                subtree_len: 1,
            },
            Candidate {
                pid: 20,
                name: "python3".into(),
                cmd: "python3 -m cce serve".into(),
                subtree_rss_kb: 50,
                subtree_len: 4,
            },
        ];
        let mut p = Picker::new(all, false);
        p.handle_key(KeyEvent::from(KeyCode::Char('/')));
        for c in "CCE".chars() {
            p.handle_key(KeyEvent::from(KeyCode::Char(c)));
        }
        assert_eq!(p.shown().len(), 1);
        assert!(matches!(
            p.handle_key(KeyEvent::from(KeyCode::Enter)),
            PickerOutcome::Pick(20)
        ));
        p.handle_key(KeyEvent::from(KeyCode::Esc));
        assert_eq!(p.shown().len(), 2);
        assert!(matches!(
            p.handle_key(KeyEvent::from(KeyCode::Esc)),
            PickerOutcome::Quit
        ));
    }

    #[test]
    fn q_esc_and_f10_quit_and_letters_filter_only_after_a_slash() {
        let all = || {
            vec![Candidate {
                pid: 10,
                name: "quux".into(),
                cmd: "quux".into(),
                subtree_rss_kb: 100,
                subtree_len: 1,
            }]
        };
        let quits = |p: &mut Picker, code| {
            matches!(p.handle_key(KeyEvent::from(code)), PickerOutcome::Quit)
        };
        for code in [KeyCode::Char('q'), KeyCode::Esc, KeyCode::F(10)] {
            assert!(quits(&mut Picker::new(all(), false), code), "{code:?}");
        }
        // After `/`, q is typed into the filter; Esc clears it and stops typing; then
        // q quits.
        let mut p = Picker::new(all(), false);
        assert!(!quits(&mut p, KeyCode::Char('/')));
        assert!(!quits(&mut p, KeyCode::Char('q')));
        assert_eq!(p.filter, "q");
        assert_eq!(p.shown().len(), 1);
        assert!(!quits(&mut p, KeyCode::Esc));
        assert_eq!(p.filter, "");
        // F1 shows the keys; any key closes them without acting.
        assert!(!quits(&mut p, KeyCode::F(1)));
        assert!(p.help);
        assert!(!quits(&mut p, KeyCode::Char('q')));
        assert!(!p.help);
        assert!(quits(&mut p, KeyCode::Char('q')));
        // Without `/`, letters move or do nothing: they never filter.
        let mut p = Picker::new(all(), false);
        p.handle_key(KeyEvent::from(KeyCode::Char('x')));
        assert_eq!(p.filter, "");
    }
}

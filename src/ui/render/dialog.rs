//! The kill dialog: what will be signalled, with which signal; then what happened,
//! with SIGKILL offered to survivors.

use std::time::Duration;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::centered;
use super::text::{command_tail, fit, gpu_frees, interval, plural};
use super::theme::Theme;
use crate::actions::kill::KillSignal;
use crate::format::freed::{freed_text, mem_available_text};
use crate::format::human_kb;
use crate::model::MemSum;
use crate::ui::app::{KillDialog, KillScope, KillStage, Victim};

/// What the keys do on a result with nothing more to offer (`q` closes it, and the
/// next `q` quits, as the footer then says).
const CLOSE_KEYS: &[(&str, &str)] = &[("any key", "closes"), ("q", "closes, and a second q quits")];

/// Processes listed before "… and N more".
const LISTED: usize = 12;

/// Draws `dialog` over `area`; `grace` is how long a kill waits before it reports.
pub fn render(frame: &mut Frame, area: Rect, dialog: &KillDialog, grace: Duration, theme: Theme) {
    let title = match dialog.scope {
        KillScope::Tree(pid) => format!(" kill the tree of {pid} "),
        KillScope::AllLeaked => " kill every leaked tree ".to_string(),
        KillScope::Orphans(ref id) => format!(" kill orphan group {id} "),
    };
    let width = area.width.saturating_sub(4).min(100);
    // Inside the border, less the leading space of every line.
    let room = usize::from(width.saturating_sub(3));
    let lines = match &dialog.stage {
        KillStage::Confirm => confirm(dialog, room, theme),
        KillStage::Running => vec![Line::raw(format!(
            " Sent {}; waiting up to {} for {} to end…",
            dialog.signal.name(),
            interval(grace.as_millis() as u64),
            plural(dialog.victims.len(), "process", "processes"),
        ))],
        KillStage::Done { survivors } => done(dialog, survivors, room, theme),
    };
    let height = lines.len() as u16 + 2;
    let box_area = centered(area, width, height);
    frame.render_widget(Clear, box_area);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::new()
                .borders(Borders::ALL)
                .border_style(theme.leaked())
                .title(Span::styled(title, theme.title())),
        ),
        box_area,
    );
}

/// Before the kill: the victims and what killing them frees, who is left out, the
/// signal to choose, and the keys.
fn confirm(dialog: &KillDialog, room: usize, theme: Theme) -> Vec<Line<'static>> {
    let rss: u64 = dialog.victims.iter().map(|v| v.rss_kb).sum();
    let mut lines = vec![Line::raw(format!(
        " Send {} to {} holding {}:",
        dialog.signal.name(),
        plural(dialog.victims.len(), "process", "processes"),
        human_kb(rss)
    ))];
    let measuring = if dialog.measuring {
        " · reading PSS now…"
    } else {
        ""
    };
    let expected = expected_free(&dialog.victims);
    for (i, line) in expected.iter().enumerate() {
        let tail = if i == 0 { measuring } else { "" };
        lines.push(Line::from(Span::styled(
            format!(" {}", fit(&format!("{line}{tail}"), room)),
            theme.dim(),
        )));
    }
    list(&mut lines, &dialog.victims, room, theme);
    if !dialog.spared.is_empty() {
        let pids: Vec<String> = dialog
            .spared
            .iter()
            .map(|v| format!("{} {}", v.id.pid, v.name))
            .collect();
        let note = format!(
            "Left out, never signalled (init, leaktop or its ancestors): {}",
            pids.join(", ")
        );
        lines.push(Line::from(Span::styled(
            format!(" {}", fit(&note, room)),
            theme.dim(),
        )));
    }
    lines.push(Line::raw(""));
    lines.push(signal_choice(dialog.signal, theme));
    lines.push(Line::from(Span::styled(
        " Children that appear meanwhile are frozen and included; each pid is",
        theme.dim(),
    )));
    lines.push(Line::from(Span::styled(
        " re-checked against its start time before it is signalled.",
        theme.dim(),
    )));
    lines.push(Line::raw(""));
    lines.push(keys(&[("y/Enter", "kill"), ("n/Esc", "cancel")], theme));
    lines
}

/// `signal: [SIGTERM]  SIGINT  ...`, the chosen one marked.
fn signal_choice(chosen: KillSignal, theme: Theme) -> Line<'static> {
    let mut signals = vec![Span::raw(" signal: ")];
    for s in KillSignal::ALL {
        let style = if s == chosen {
            theme.selected()
        } else {
            theme.dim()
        };
        // Brackets mark the choice where reverse video does not show.
        let shown = if s == chosen {
            format!("[{}]", s.name())
        } else {
            format!(" {} ", s.name())
        };
        signals.push(Span::styled(shown, style));
        signals.push(Span::raw(" "));
    }
    signals.push(Span::styled(" (Tab changes)", theme.dim()));
    Line::from(signals)
}

/// After the kill: what ended and what it freed, what was not signalled and why, and
/// the survivors, with SIGKILL offered unless that was the signal.
fn done(
    dialog: &KillDialog,
    survivors: &[Victim],
    room: usize,
    theme: Theme,
) -> Vec<Line<'static>> {
    let tally = &dialog.tally;
    let mut lines = vec![Line::from(Span::styled(
        format!(
            " {} ended · {} survived · {}",
            tally.ended,
            survivors.len(),
            freed_text(tally.freed_rss_kb, tally.freed_pss, tally.freed_uss)
        ),
        theme.title(),
    ))];
    if let Some(change) = tally.mem_available_change_kb.filter(|_| tally.ended > 0) {
        lines.push(Line::from(Span::styled(
            format!(" {}", mem_available_text(change)),
            theme.dim(),
        )));
    }
    for (pid, why) in tally.skipped.iter().take(LISTED) {
        lines.push(Line::raw(format!(" not signalled {pid}: {why}")));
    }
    if survivors.is_empty() {
        lines.push(Line::raw(""));
        lines.push(keys(CLOSE_KEYS, theme));
        return lines;
    }
    lines.push(Line::raw(format!(
        " Still alive after {}:",
        dialog.signal.name()
    )));
    list(&mut lines, survivors, room, theme);
    lines.push(Line::raw(""));
    if dialog.signal == KillSignal::Kill {
        lines.push(Line::raw(
            " They survived SIGKILL: stuck in the kernel (state D) or not ours to kill.",
        ));
        lines.push(keys(CLOSE_KEYS, theme));
    } else {
        lines.push(keys(
            &[("y", "send SIGKILL to them"), ("n/Esc", "leave them")],
            theme,
        ));
    }
    lines
}

/// One line per process, its command cut with `…` to `room` characters.
fn list(lines: &mut Vec<Line<'static>>, victims: &[Victim], room: usize, theme: Theme) {
    for v in victims.iter().take(LISTED) {
        let pss = v.pss_kb.map_or_else(|| "?".to_string(), human_kb);
        let figures = format!(
            "{:>8}  RSS {:>10}  PSS {:>10}  ",
            v.id.pid,
            human_kb(v.rss_kb),
            pss
        );
        let name = fit(&v.name, room.saturating_sub(figures.len()));
        let tail = fit(
            &command_tail(&v.name, &v.cmd),
            room.saturating_sub(figures.len() + name.chars().count() + 1),
        );
        lines.push(Line::from(vec![
            Span::raw(format!(" {figures}")),
            Span::styled(name, theme.title()),
            Span::styled(format!(" {tail}"), theme.dim()),
        ]));
    }
    if victims.len() > LISTED {
        lines.push(Line::raw(format!(" … and {} more", victims.len() - LISTED)));
    }
}

fn keys(pairs: &[(&str, &str)], theme: Theme) -> Line<'static> {
    let mut spans = vec![Span::raw(" ")];
    for (k, what) in pairs {
        spans.push(Span::styled(k.to_string(), theme.title()));
        spans.push(Span::raw(format!(" {what}   ")));
    }
    Line::from(spans)
}

/// What killing `victims` should give back, one or two lines. About their PSS sum when
/// they are all the sharers of their pages, at least their USS sum when only part of
/// them are; unknown figures said so, never 0. Where the kernel gave every measured
/// victim's PSS apart ([`crate::host::PssParts`]), the estimate is anonymous + shmem
/// PSS + swapped PSS, and the file-backed PSS, page cache that stays cached after the
/// kill, is said apart on a second line instead of being counted.
fn expected_free(victims: &[Victim]) -> Vec<String> {
    let mut pss = MemSum::default();
    let mut uss = MemSum::default();
    // Anonymous, shmem, swapped and file-backed PSS summed, while every measured victim
    // has all four.
    let mut split = Some([0u64; 4]);
    for v in victims {
        pss.add(v.pss_kb);
        uss.add(v.uss_kb);
        if v.pss_kb.is_none() {
            continue;
        }
        let p = v.parts;
        split = match (split, p.anon_kb, p.shmem_kb, p.swap_pss_kb, p.file_kb) {
            (Some(sum), Some(anon), Some(shmem), Some(swap), Some(file)) => {
                let mut sum = sum;
                for (total, kb) in sum.iter_mut().zip([anon, shmem, swap, file]) {
                    *total = total.saturating_add(kb);
                }
                Some(sum)
            }
            _ => None,
        };
    }
    let mut gpu = MemSum::default();
    for v in victims {
        gpu.add(v.gpu_kb);
    }
    let gpu = gpu_frees(gpu);
    let Some(pss_kb) = pss.known() else {
        return vec![format!("Frees: unknown (no PSS measured yet){gpu}")];
    };
    let (upper, what) = match split {
        Some([anon, shmem, swap, _]) => {
            let mut parts = vec![format!("anon {}", human_kb(anon))];
            if shmem > 0 {
                parts.push(format!("shmem {}", human_kb(shmem)));
            }
            if swap > 0 {
                parts.push(format!("swap {}", human_kb(swap)));
            }
            (anon + shmem + swap, parts.join(" · "))
        }
        None => (pss_kb, "their PSS".to_string()),
    };
    let mut first = match pss.unknown {
        0 => format!("Frees ~{} ({what})", human_kb(upper)),
        n => format!(
            "Frees ~{} + ? ({what}; {} not measured yet)",
            human_kb(upper),
            plural(n, "process", "processes")
        ),
    };
    if let Some(kb) = uss.known() {
        // USS counts private file-backed pages too: never a floor above the estimate.
        let floor = if split.is_some() { kb.min(upper) } else { kb };
        first.push_str(&format!(", at least {} (private)", human_kb(floor)));
    }
    first.push_str(&gpu);
    let mut lines = vec![first];
    if let Some([.., file]) = split.filter(|s| s[3] > 0) {
        lines.push(format!(
            "Not counted: file-backed {} of their PSS, page cache that stays cached",
            human_kb(file)
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::PssParts;
    use crate::sample::Identity;

    fn victim(pid: u32, pss_mb: Option<u64>) -> Victim {
        Victim {
            id: Identity { pid, start: 1 },
            name: "w".into(),
            cmd: "w".into(),
            rss_kb: 210 * 1024,
            pss_kb: pss_mb.map(|mb| mb * 1024),
            uss_kb: pss_mb.map(|_| 1024),
            parts: PssParts::default(),
            gpu_kb: None,
        }
    }

    /// Measured, with the PSS told apart as Linux 5.7+ gives it (MiB).
    fn split_victim(pid: u32, [anon, file, shmem, swap]: [u64; 4]) -> Victim {
        let mut v = victim(pid, Some(anon + file + shmem));
        v.parts = PssParts {
            anon_kb: Some(anon * 1024),
            file_kb: Some(file * 1024),
            shmem_kb: Some(shmem * 1024),
            swap_pss_kb: Some(swap * 1024),
        };
        v
    }

    #[test]
    fn the_split_counts_anon_shmem_and_swap_and_leaves_the_page_cache_out() {
        let pool: Vec<Victim> = (1..=6)
            .map(|pid| split_victim(pid, [30, 2, 3, 2]))
            .collect();
        assert_eq!(
            expected_free(&pool),
            [
                "Frees ~210 MiB (anon 180 MiB · shmem 18 MiB · swap 12 MiB), at least 6 MiB (private)",
                "Not counted: file-backed 12 MiB of their PSS, page cache that stays cached",
            ]
        );
        // No shmem, no swap, no page cache: only what there is.
        assert_eq!(
            expected_free(&[split_victim(1, [35, 0, 0, 0])]),
            ["Frees ~35 MiB (anon 35 MiB), at least 1 MiB (private)"]
        );
        // One not measured: its share unknown, the rest still told apart.
        assert_eq!(
            expected_free(&[split_victim(1, [35, 0, 0, 4]), victim(2, None)]),
            [
                "Frees ~39 MiB + ? (anon 35 MiB · swap 4 MiB; 1 process not measured yet), at least 1 MiB (private)"
            ]
        );
    }

    #[test]
    fn the_gpu_memory_a_kill_returns_is_in_what_it_frees_where_known() {
        let mut holder = victim(1, Some(35));
        holder.gpu_kb = Some(2 * 1024 * 1024);
        let mut unknown = victim(2, Some(35));
        unknown.gpu_kb = None;
        assert_eq!(
            expected_free(&[holder.clone(), unknown.clone()]),
            ["Frees ~70 MiB (their PSS), at least 2 MiB (private), GPU 2 GiB + ?"]
        );
        assert_eq!(
            expected_free(&[holder.clone()]),
            ["Frees ~35 MiB (their PSS), at least 1 MiB (private), GPU 2 GiB"]
        );
        // Before PSS is read, the GPU memory is still said.
        holder.pss_kb = None;
        assert_eq!(
            expected_free(&[holder]),
            ["Frees: unknown (no PSS measured yet), GPU 2 GiB"]
        );
        // No GPU memory known (no GPU found): nothing about GPUs.
        assert_eq!(
            expected_free(&[unknown]),
            ["Frees ~35 MiB (their PSS), at least 1 MiB (private)"]
        );
    }

    #[test]
    fn a_victim_without_the_split_falls_back_to_their_pss() {
        // One read on a kernel that does not tell the PSS apart: the split of the
        // others is not summed as if it were all of it.
        let mixed = [split_victim(1, [30, 2, 3, 0]), victim(2, Some(35))];
        assert_eq!(
            expected_free(&mixed),
            ["Frees ~70 MiB (their PSS), at least 2 MiB (private)"]
        );
    }

    #[test]
    fn the_confirmation_says_what_the_kill_should_free() {
        let all: Vec<Victim> = (1..=6).map(|pid| victim(pid, Some(35))).collect();
        assert_eq!(
            expected_free(&all),
            ["Frees ~210 MiB (their PSS), at least 6 MiB (private)"]
        );
        let some = [victim(1, Some(35)), victim(2, None)];
        assert_eq!(
            expected_free(&some),
            ["Frees ~35 MiB + ? (their PSS; 1 process not measured yet), at least 1 MiB (private)"]
        );
        assert_eq!(
            expected_free(&[victim(1, None)]),
            ["Frees: unknown (no PSS measured yet)"]
        );
    }
}

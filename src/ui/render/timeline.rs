//! RSS over the recorded ticks: the family's total, the leaked part, and the selected
//! process, with the viewed tick marked when looking at the past and each root restart
//! (`--follow`) marked where it happened.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::symbols::Marker;
use ratatui::text::Span;
use ratatui::widgets::{Axis, Block, Borders, Chart, Dataset, GraphType, LegendPosition};

use super::theme::{Series, Theme};
use crate::format::human_kb;
use crate::ui::app::App;
use crate::ui::history::History;

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let block = Block::new()
        .borders(Borders::TOP)
        .title(Span::styled(" RSS over time ", theme.title()));
    let history = &app.history;
    if history.is_empty() {
        frame.render_widget(block, area);
        return;
    }
    // A braille cell holds two points across: more would only be drawn over.
    let picks = pick_indexes(history.len(), usize::from(area.width.max(1)) * 2);
    let total = bucket_max(history, &picks, |t| t.total_rss_kb);
    let leaked = bucket_max(history, &picks, |t| t.leaked_rss_kb);
    let selected = bucket_series(history, &picks, app.selected_series());
    let top = total.iter().map(|p| p.1).fold(1.0, f64::max) * 1.1;
    let first = f64::from(history.totals()[0].tick);
    let last = f64::from(history.totals()[history.len() - 1].tick).max(first + 1.0);
    let cursor: Vec<(f64, f64)> = match (app.in_past() || app.is_replay(), app.viewed_tick()) {
        (true, Some(t)) => vec![(f64::from(t.tick), 0.0), (f64::from(t.tick), top)],
        _ => Vec::new(),
    };

    // `--follow`: a vertical line where each new root took over.
    let restarts: Vec<[(f64, f64); 2]> = history
        .restarts()
        .iter()
        .map(|r| [(f64::from(r.tick), 0.0), (f64::from(r.tick), top)])
        .collect();

    let selected_name = app
        .selected_row()
        .map(|r| format!("pid {}", r.pid))
        .unwrap_or_default();
    // ratatui leaves the rest of a short legend row uncleared, and the chart shows
    // through it: every name is padded to the longest.
    let width = selected_name.len().max("restart".len());
    let name = |n: &str| format!("{n:<width$}");

    let mut sets = vec![
        Dataset::default()
            .name(name("total"))
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(theme.series(Series::Total))
            .data(&total),
        Dataset::default()
            .name(name("leaked"))
            .marker(if theme.color {
                Marker::Braille
            } else {
                Marker::Dot
            })
            .graph_type(GraphType::Line)
            .style(theme.series(Series::Leaked))
            .data(&leaked),
    ];
    if !selected.is_empty() {
        sets.push(
            Dataset::default()
                .name(name(&selected_name))
                .marker(if theme.color {
                    Marker::Braille
                } else {
                    Marker::Block
                })
                .graph_type(GraphType::Line)
                .style(theme.series(Series::Selected))
                .data(&selected),
        );
    }
    for (i, line) in restarts.iter().enumerate() {
        let set = Dataset::default()
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(theme.alert())
            .data(line);
        sets.push(if i == 0 {
            set.name(name("restart"))
        } else {
            set
        });
    }
    if !cursor.is_empty() {
        sets.push(
            Dataset::default()
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(theme.series(Series::Cursor))
                .data(&cursor),
        );
    }
    let chart = Chart::new(sets)
        .block(block)
        .legend_position(Some(LegendPosition::TopLeft))
        .hidden_legend_constraints((
            ratatui::layout::Constraint::Percentage(50),
            ratatui::layout::Constraint::Percentage(80),
        ))
        .x_axis(
            Axis::default()
                .bounds([first, last])
                .labels([format!("tick {first}"), format!("tick {last}")])
                .style(theme.dim()),
        )
        .y_axis(
            Axis::default()
                .bounds([0.0, top])
                .labels(["0".to_string(), human_kb(top as u64)])
                .style(theme.dim()),
        );
    frame.render_widget(chart, area);
}

/// At most `max` evenly spread history indexes, each with the end of its bucket.
fn pick_indexes(len: usize, max: usize) -> Vec<(usize, usize)> {
    let n = len.min(max.max(1));
    (0..n)
        .map(|k| {
            let start = k * len / n;
            let end = ((k + 1) * len / n).max(start + 1);
            (start, end)
        })
        .collect()
}

/// A process's RSS series (`(tick, rss_kb)`, ascending) as the largest value in each
/// bucket it has points in.
fn bucket_series(
    history: &History,
    picks: &[(usize, usize)],
    series: &[(u32, u64)],
) -> Vec<(f64, f64)> {
    let totals = history.totals();
    picks
        .iter()
        .filter_map(|&(start, end)| {
            let (first, last) = (totals[start].tick, totals[end - 1].tick);
            let from = series.partition_point(|p| p.0 < first);
            let to = series.partition_point(|p| p.0 <= last);
            let peak = series[from..to].iter().map(|p| p.1).max()?;
            Some((f64::from(first), peak as f64))
        })
        .collect()
}

/// The largest value in each bucket, so a short peak is never averaged away.
fn bucket_max(
    history: &History,
    picks: &[(usize, usize)],
    value: impl Fn(&crate::ui::history::Totals) -> u64,
) -> Vec<(f64, f64)> {
    let totals = history.totals();
    picks
        .iter()
        .map(|&(start, end)| {
            let peak = totals[start..end].iter().map(&value).max().unwrap_or(0);
            (f64::from(totals[start].tick), peak as f64)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::pick_indexes;

    #[test]
    fn picks_cover_the_history_without_gaps() {
        for (len, max) in [(1, 10), (10, 10), (100, 7), (86_400, 240)] {
            let picks = pick_indexes(len, max);
            assert!(picks.len() <= max);
            assert_eq!(picks[0].0, 0);
            assert_eq!(picks.last().unwrap().1, len);
            for w in picks.windows(2) {
                assert_eq!(w[0].1, w[1].0, "len {len} max {max}");
            }
        }
    }
}

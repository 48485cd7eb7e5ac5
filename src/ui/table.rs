//! The process table as the view shows it: a tick laid out as trees, folded subtrees
//! hidden, the filter applied, and each row's change since the tick before.

use std::collections::{HashMap, HashSet};

use crate::model::layout::{self, Line};
use crate::model::{AlertKind, ProcRow, Tick};
use crate::sample::Identity;

pub fn identity(row: &ProcRow) -> Identity {
    row.id()
}

#[derive(Debug)]
pub enum Row<'a> {
    Heading(String),
    Proc(ProcLine<'a>),
}

#[derive(Debug)]
pub struct ProcLine<'a> {
    pub row: &'a ProcRow,
    /// Tree prefix: `├── `, `│   └── `, ...
    pub prefix: String,
    /// How many descendants are hidden because this row is folded (0 if open).
    pub folded: usize,
    /// Whether the row has children at all (so it can be folded).
    pub has_children: bool,
    pub rss_delta_kb: Option<i64>,
    /// CPU use since the previous tick, in percent of one core.
    pub cpu_pct: Option<f64>,
    /// Alerts standing on this process at this tick.
    pub alerts: Vec<AlertKind>,
}

/// The rows of `tick` as shown, given the tick before it (for deltas), the folded
/// processes and a case-insensitive filter on pid, name and command.
pub fn build<'a>(
    tick: &'a Tick,
    prev: Option<&Tick>,
    folded: &HashSet<Identity>,
    filter: &str,
) -> Vec<Row<'a>> {
    let before: HashMap<Identity, (u64, u64)> = prev
        .map(|p| {
            p.processes
                .iter()
                .map(|r| (identity(r), (r.rss_kb, r.cpu_ms)))
                .collect()
        })
        .unwrap_or_default();
    let dt_ms = prev.map_or(0, |p| tick.elapsed_ms.saturating_sub(p.elapsed_ms));
    let needle = filter.to_lowercase();
    let lines = layout::layout(&tick.processes);

    let mut rows = Vec::with_capacity(lines.len());
    // While inside a folded subtree: the depth of its top and its row's position.
    let mut fold: Option<(usize, Option<usize>)> = None;
    for (n, line) in lines.iter().enumerate() {
        let (index, depth, prefix) = match line {
            Line::Heading(h) => {
                fold = None;
                rows.push(Row::Heading(h.clone()));
                continue;
            }
            Line::Proc {
                index,
                depth,
                prefix,
            } => (*index, *depth, prefix),
        };
        if let Some((top, at)) = fold {
            if depth > top {
                if let Some(Row::Proc(p)) = at.and_then(|i| rows.get_mut(i)) {
                    p.folded += 1;
                }
                continue;
            }
            fold = None;
        }
        let row = &tick.processes[index];
        let has_children =
            matches!(lines.get(n + 1), Some(Line::Proc { depth: d, .. }) if *d > depth);
        let shown = needle.is_empty() || matches(row, &needle);
        if has_children && folded.contains(&identity(row)) {
            fold = Some((depth, shown.then_some(rows.len())));
        }
        if !shown {
            continue;
        }
        let was = before.get(&identity(row));
        let alerts = tick
            .alerts
            .iter()
            .filter(|a| a.pid == row.pid && a.start == row.start)
            .map(|a| a.kind)
            .collect();
        rows.push(Row::Proc(ProcLine {
            row,
            prefix: prefix.clone(),
            folded: 0,
            has_children,
            rss_delta_kb: was.map(|&(rss, _)| row.rss_kb as i64 - rss as i64),
            cpu_pct: was
                .filter(|_| dt_ms > 0)
                .map(|&(_, cpu)| row.cpu_ms.saturating_sub(cpu) as f64 * 100.0 / dt_ms as f64),
            alerts,
        }));
    }
    drop_empty_headings(&mut rows);
    rows
}

fn matches(row: &ProcRow, needle: &str) -> bool {
    row.pid.to_string().contains(needle)
        || row.name.to_lowercase().contains(needle)
        || row.cmd.to_lowercase().contains(needle)
}

fn drop_empty_headings(rows: &mut Vec<Row<'_>>) {
    let mut keep = vec![true; rows.len()];
    for i in 0..rows.len() {
        if matches!(rows[i], Row::Heading(_)) {
            keep[i] = matches!(rows.get(i + 1), Some(Row::Proc(_)));
        }
    }
    let mut i = 0;
    rows.retain(|_| {
        i += 1;
        keep[i - 1]
    });
}

/// `id` and every process under it in `tick`, top-down.
pub fn subtree(tick: &Tick, id: Identity) -> Vec<&ProcRow> {
    let lines = layout::layout(&tick.processes);
    let mut out = Vec::new();
    let mut top: Option<usize> = None;
    for line in &lines {
        let Line::Proc { index, depth, .. } = line else {
            if top.is_some() {
                break;
            }
            continue;
        };
        let row = &tick.processes[*index];
        match top {
            None if identity(row) == id => {
                top = Some(*depth);
                out.push(row);
            }
            Some(d) if *depth > d => out.push(row),
            Some(_) => break,
            None => {}
        }
    }
    out
}

/// Every leaked process in `tick`, top-down.
pub fn leaked(tick: &Tick) -> Vec<&ProcRow> {
    layout::tree_order(&tick.processes)
        .map(|i| &tick.processes[i])
        .filter(|r| r.leaked)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pids(rows: &[Row<'_>]) -> Vec<String> {
        rows.iter()
            .map(|r| match r {
                Row::Heading(h) => h.clone(),
                Row::Proc(p) => format!("{}{}+{}", p.prefix, p.row.pid, p.folded),
            })
            .collect()
    }

    #[test]
    fn folding_hides_descendants_and_counts_them() {
        let rec = crate::testkit::forkserver_recording();
        let tick = rec.ticks.last().unwrap();
        let all = build(tick, None, &HashSet::new(), "");
        let forkserver = tick.processes.iter().find(|p| p.pid == 214863);
        let open = pids(&all);
        let folded: HashSet<Identity> = forkserver.into_iter().map(identity).collect();
        let shut = pids(&build(tick, None, &folded, ""));
        let hidden = open.len() - shut.len();
        assert!(hidden > 0, "{open:?}");
        assert!(
            shut.iter().any(|s| s.ends_with(&format!("+{hidden}"))),
            "{shut:?}"
        );
        // Other trees stay, with their headings.
        assert!(shut.iter().any(|s| s.contains("escaped")), "{shut:?}");
    }

    #[test]
    fn filter_keeps_matches_and_their_headings_only() {
        let rec = crate::testkit::forkserver_recording();
        let tick = rec.ticks.last().unwrap();
        let leaked_name = &tick.processes.iter().find(|p| p.leaked).unwrap().name;
        let rows = build(tick, None, &HashSet::new(), &leaked_name.to_uppercase());
        assert!(
            matches!(rows.first(), Some(Row::Heading(_))),
            "{:?}",
            pids(&rows)
        );
        for r in &rows {
            if let Row::Proc(p) = r {
                assert!(
                    p.row.name.contains(leaked_name.as_str())
                        || p.row.cmd.contains(leaked_name.as_str())
                );
            }
        }
        assert!(build(tick, None, &HashSet::new(), "no such thing").is_empty());
    }

    #[test]
    fn deltas_come_from_the_previous_tick() {
        let rec = crate::testkit::forkserver_recording();
        let (prev, tick) = (&rec.ticks[rec.ticks.len() - 2], rec.ticks.last().unwrap());
        let rows = build(tick, Some(prev), &HashSet::new(), "");
        for r in &rows {
            let Row::Proc(p) = r else { continue };
            let before = prev
                .processes
                .iter()
                .find(|q| identity(q) == identity(p.row));
            assert_eq!(
                p.rss_delta_kb,
                before.map(|b| p.row.rss_kb as i64 - b.rss_kb as i64)
            );
        }
    }

    #[test]
    fn subtree_is_the_row_and_everything_under_it() {
        let rec = crate::testkit::forkserver_recording();
        let tick = rec.ticks.last().unwrap();
        let forkserver = tick.processes.iter().find(|p| p.pid == 214863).unwrap();
        let tree: Vec<u32> = subtree(tick, identity(forkserver))
            .iter()
            .map(|p| p.pid)
            .collect();
        assert_eq!(tree, [214863, 214864]);
        let leaked_rows = leaked(tick);
        assert_eq!(leaked_rows.len(), tick.leaked_count());
    }
}

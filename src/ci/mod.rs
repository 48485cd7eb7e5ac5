//! `run --check` in CI's own language: JUnit XML ([`junit`]), GitHub Actions
//! annotations and a step summary ([`github`]). Pure functions from a [`CiReport`] to
//! text; `cmd/run.rs` writes them.

pub mod github;
pub mod junit;
pub mod output;

use crate::format::{human_kb, plural, printable, text};
use crate::model::{Alert, AlertKind, ProcRow, layout};

/// What a finished `leaktop run` found, as CI outputs report it.
#[derive(Debug, Clone, Default)]
pub struct CiReport {
    /// CMD as shown: its arguments joined, control characters escaped.
    pub command: String,
    /// CMD's exit code (128 + N if signal N ended it).
    pub cmd_code: u8,
    /// The leaked processes as trees, in the order the tick-log lists them.
    pub trees: Vec<LeakedTree>,
    /// Processes adopted by leaktop whose `/proc` entry cannot be read: leaked, but
    /// with nothing more to say about them.
    pub hidden: Vec<u32>,
    /// The alert kinds named in `--fail-on`, each with its alerts that fail the run
    /// (raised at any time; with `--fail-after`, standing when CMD exited or for that
    /// long; empty: it passed).
    pub fail_on: Vec<(AlertKind, Vec<Alert>)>,
}

impl CiReport {
    /// The report of a run of `command` that exited with `cmd_code` and left `leaked`
    /// and `hidden` behind; `failing` are its alerts that fail `--check` (see
    /// `RunOutcome::failing` of `leaktop run`), reported by the kinds of `fail_on`.
    pub fn new(
        command: &[std::ffi::OsString],
        cmd_code: u8,
        leaked: &[ProcRow],
        hidden: &[u32],
        failing: &[Alert],
        fail_on: &[AlertKind],
    ) -> CiReport {
        let shown: Vec<String> = command
            .iter()
            .map(|a| printable(&a.to_string_lossy()).into_owned())
            .collect();
        let mut kinds = fail_on.to_vec();
        kinds.sort();
        kinds.dedup();
        CiReport {
            command: shown.join(" "),
            cmd_code,
            trees: leaked_trees(leaked),
            hidden: hidden.to_vec(),
            fail_on: kinds
                .into_iter()
                .map(|k| (k, failing.iter().filter(|a| a.kind == k).cloned().collect()))
                .collect(),
        }
    }

    /// Whether anything failed: a leaked tree, a hidden adoptee, or a `--fail-on` alert.
    pub fn failed(&self) -> bool {
        !self.trees.is_empty()
            || !self.hidden.is_empty()
            || self.fail_on.iter().any(|(_, a)| !a.is_empty())
    }
}

/// One leaked tree: its top process (leaked on its own account) and everything under
/// it that leaked with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeakedTree {
    /// Top first, then its descendants in tree order.
    pub rows: Vec<ProcRow>,
}

impl LeakedTree {
    pub fn top(&self) -> &ProcRow {
        &self.rows[0]
    }

    /// The tree's RSS summed, KiB.
    pub fn rss_kb(&self) -> u64 {
        self.rows.iter().fold(0, |s, p| s.saturating_add(p.rss_kb))
    }

    /// How the top leaked, in words: `reparented from 812`, `escaped the family`,
    /// `outlived the root`.
    pub fn how(&self) -> String {
        let heading = layout::heading(self.top());
        match heading.split_once(": ") {
            Some((_, how)) => how.to_string(),
            None => heading,
        }
    }

    /// One line: `4242 python3: reparented from 812, 3 processes holding 61.2 MiB`.
    pub fn title(&self) -> String {
        let top = self.top();
        format!(
            "{} {}: {}, {} holding {}",
            top.pid,
            printable(&top.name),
            self.how(),
            plural(self.rows.len(), "process", "processes"),
            human_kb(self.rss_kb())
        )
    }

    /// The tree as the tick-log writes it: a heading saying when and how it leaked,
    /// then a line per process with its pid, parent, RSS and command.
    pub fn text(&self) -> String {
        let mut out = String::new();
        text::write_tree(&self.rows, &mut out, &|_| String::new());
        out
    }
}

/// Splits leaked rows into trees: each row whose parent is not among them starts one.
pub fn leaked_trees(rows: &[ProcRow]) -> Vec<LeakedTree> {
    let mut trees: Vec<LeakedTree> = Vec::new();
    for line in layout::layout(rows) {
        if let layout::Line::Proc { index, depth, .. } = line {
            let row = rows[index].clone();
            match trees.last_mut() {
                Some(tree) if depth > 0 => tree.rows.push(row),
                _ => trees.push(LeakedTree { rows: vec![row] }),
            }
        }
    }
    trees
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Two leaked trees (a pool reparented from 10, and an escaped daemon) and a live
    /// row that is not leaked.
    pub(crate) fn rows() -> Vec<ProcRow> {
        let leaked = |pid, ppid, from: Option<u32>, escaped| ProcRow {
            leaked: true,
            leaked_since: Some(4),
            reparented_from: from,
            escaped,
            rss_kb: 2048,
            ..ProcRow::for_test(pid, ppid)
        };
        vec![
            leaked(20, 1, Some(10), false),
            leaked(21, 20, None, false),
            leaked(22, 20, None, false),
            leaked(30, 1, None, true),
        ]
    }

    #[test]
    fn rows_split_into_trees_with_their_story() {
        let trees = leaked_trees(&rows());
        assert_eq!(trees.len(), 2);
        let pids: Vec<Vec<u32>> = trees
            .iter()
            .map(|t| t.rows.iter().map(|r| r.pid).collect())
            .collect();
        assert_eq!(pids, vec![vec![20, 21, 22], vec![30]]);
        assert_eq!(
            trees[0].title(),
            "20 p20: reparented from 10, 3 processes holding 6 MiB"
        );
        assert_eq!(trees[1].how(), "escaped the family");
        let text = trees[0].text();
        assert!(
            text.starts_with("leaked at tick 4: reparented from 10\n"),
            "{text}"
        );
        assert!(text.contains("├── 21 p21 PPID=20"), "{text}");
        assert!(text.contains("RSS=2 MiB (2048 KiB)"), "{text}");
        assert_eq!(text.lines().count(), 4, "{text}");
    }
}

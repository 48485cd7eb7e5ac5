//! Orders a tick's processes as trees: the live tree first, then each leaked tree
//! under a heading that says where it came from. A pure function of the rows, so the
//! text writer, the parser's round trip and the TUI always agree.

use std::collections::HashMap;

use super::ProcRow;

/// One line of a laid-out tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// Starts a group of leaked trees that share an origin.
    Heading(String),
    /// A process: `index` into the rows, and its tree prefix (`├── `, `│   └── `, ...).
    Proc {
        index: usize,
        depth: usize,
        prefix: String,
    },
}

/// The heading a leaked tree's top process gets: when it leaked, and how. The two
/// can differ: a tree that outlived the root at tick 5 may be reparented at tick 9.
pub fn heading(top: &ProcRow) -> String {
    let when = top
        .leaked_since
        .map_or("leaked".to_string(), |t| format!("leaked at tick {t}"));
    if let Some(from) = top.reparented_from {
        format!("{when}: reparented from {from}")
    } else if top.escaped {
        format!("{when}: escaped the family")
    } else {
        format!("{when}: outlived the root")
    }
}

/// Whether a line of a text tick-log is a [`heading`] (or an older version's).
pub fn is_heading(line: &str) -> bool {
    line.starts_with("leaked at tick ") || line.starts_with("leaked:")
}

/// The rows' indexes in tree order (the order [`layout`] lists them, without headings):
/// parents before their children, the live tree before leaked trees.
pub fn tree_order(rows: &[ProcRow]) -> impl Iterator<Item = usize> {
    layout(rows).into_iter().filter_map(|line| match line {
        Line::Proc { index, .. } => Some(index),
        Line::Heading(_) => None,
    })
}

pub fn layout(rows: &[ProcRow]) -> Vec<Line> {
    let by_pid: HashMap<u32, usize> = rows.iter().enumerate().map(|(i, r)| (r.pid, i)).collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); rows.len()];
    let mut tops = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        match by_pid.get(&row.ppid) {
            Some(&parent) if parent != i => children[parent].push(i),
            _ => tops.push(i),
        }
    }
    let order = |i: &usize| {
        let r = &rows[*i];
        (r.leaked, r.leaked_since, r.start, r.pid)
    };
    for list in &mut children {
        list.sort_by_key(order);
    }
    tops.sort_by_key(order);

    let mut lines = Vec::with_capacity(rows.len() + 4);
    let mut visited = vec![false; rows.len()];
    let mut last_heading: Option<String> = None;
    let mut emit_top = |top: usize, lines: &mut Vec<Line>, visited: &mut Vec<bool>| {
        if rows[top].leaked {
            let h = heading(&rows[top]);
            if last_heading.as_ref() != Some(&h) {
                lines.push(Line::Heading(h.clone()));
                last_heading = Some(h);
            }
        }
        walk(top, &children, lines, visited);
    };
    for &top in &tops {
        emit_top(top, &mut lines, &mut visited);
    }
    // A pid cycle (possible only from a torn read) would hide rows: show them as tops.
    for i in 0..rows.len() {
        if !visited[i] {
            emit_top(i, &mut lines, &mut visited);
        }
    }
    lines
}

/// Tree levels drawn before the prefix stops growing: a chain thousands deep (a fork
/// loop, a crafted file) would otherwise make prefixes quadratic in size.
const MAX_INDENT: usize = 32;

/// Lists `top` and, depth first, everything under it not listed yet. A loop, not
/// recursion: a chain of any depth fits.
fn walk(top: usize, children: &[Vec<usize>], lines: &mut Vec<Line>, visited: &mut [bool]) {
    if visited[top] {
        return;
    }
    visited[top] = true;
    lines.push(Line::Proc {
        index: top,
        depth: 0,
        prefix: String::new(),
    });
    // A process whose children are being listed, and its next child.
    let mut stack: Vec<(usize, usize)> = vec![(top, 0)];
    // What each level below the top draws in front of deeper rows.
    let mut pieces: Vec<&str> = Vec::new();
    while let Some(frame) = stack.last_mut() {
        let (node, next) = *frame;
        let kids = &children[node];
        if next == kids.len() {
            stack.pop();
            pieces.pop();
            continue;
        }
        frame.1 += 1;
        let child = kids[next];
        if visited[child] {
            continue;
        }
        visited[child] = true;
        let last = next + 1 == kids.len();
        let mut prefix = pieces[..pieces.len().min(MAX_INDENT)].concat();
        prefix.push_str(if last { "└── " } else { "├── " });
        lines.push(Line::Proc {
            index: child,
            depth: stack.len(),
            prefix,
        });
        stack.push((child, 0));
        pieces.push(if last { "    " } else { "│   " });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn row(pid: u32, ppid: u32, start: u64) -> ProcRow {
        ProcRow {
            start,
            ..crate::testkit::row(pid, ppid)
        }
    }

    fn render(rows: &[ProcRow]) -> String {
        layout(rows)
            .into_iter()
            .map(|l| match l {
                Line::Heading(h) => h,
                Line::Proc { index, prefix, .. } => format!("{prefix}{}", rows[index].pid),
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn live_tree_then_leaked_trees_with_headings() {
        let mut rows = vec![
            row(10, 1, 100),
            row(12, 10, 102),
            row(11, 10, 101),
            row(13, 11, 103),
            row(20, 1, 104),
            row(21, 20, 105),
            row(22, 1, 106),
        ];
        for r in rows.iter_mut().skip(4) {
            r.leaked = true;
            r.leaked_since = Some(5);
        }
        rows[4].reparented_from = Some(10);
        rows[6].reparented_from = Some(10);
        let expected = "\
10
├── 11
│   └── 13
└── 12
leaked at tick 5: reparented from 10
20
└── 21
22";
        assert_eq!(render(&rows), expected);
    }

    #[test]
    fn different_origins_get_their_own_heading() {
        let mut a = row(30, 1, 1);
        a.leaked = true;
        a.leaked_since = Some(2);
        a.reparented_from = Some(7);
        let mut b = row(31, 1, 2);
        b.leaked = true;
        b.leaked_since = Some(3);
        b.escaped = true;
        assert_eq!(
            render(&[b, a]),
            "leaked at tick 2: reparented from 7\n30\nleaked at tick 3: escaped the family\n31"
        );
    }

    #[test]
    fn a_chain_of_any_depth_is_laid_out_without_recursion() {
        let n: u32 = 100_000;
        let rows: Vec<ProcRow> = (1..=n)
            .map(|pid| row(pid, pid - 1, u64::from(pid)))
            .collect();
        let lines = layout(&rows);
        assert_eq!(lines.len(), n as usize);
        let Line::Proc { depth, prefix, .. } = &lines[lines.len() - 1] else {
            panic!("a heading")
        };
        assert_eq!(*depth, n as usize - 1);
        assert_eq!(prefix.chars().count(), 4 * (MAX_INDENT + 1));
    }

    #[test]
    fn cycles_do_not_hide_rows() {
        let rows = vec![row(1, 2, 1), row(2, 1, 2)];
        let out = render(&rows);
        assert!(out.contains('1') && out.contains('2'), "{out}");
    }
}

//! The picker's processes laid out as lines: a flat list under the sort key, or a
//! tree (each process under its parent, siblings under the sort key, folds kept).

use std::collections::{HashMap, HashSet};

use super::candidates::{Candidate, SortKey};

/// A process's line in the list.
#[derive(Debug, Clone, Copy)]
pub struct ProcLine<'a> {
    pub candidate: &'a Candidate,
    /// How deep in the tree (0 in the flat list and for a tree's roots).
    pub depth: usize,
    /// Its children listed in the tree (0 in the flat list).
    pub children: usize,
    /// Folded in the tree: its children are not listed.
    pub folded: bool,
}

/// `all` as lines: sorted by `key`; in a `tree`, each under its parent (a process
/// whose parent is not listed is a root), `folded` pids without their children. Only
/// what `passes` lets through is listed, in a tree with the ancestors that lead to it.
pub fn lay_out<'a>(
    all: &'a [Candidate],
    key: SortKey,
    tree: bool,
    folded: &HashSet<u32>,
    passes: impl Fn(&Candidate) -> bool,
) -> Vec<ProcLine<'a>> {
    let mut sorted: Vec<&Candidate> = all.iter().collect();
    sorted.sort_by(|a, b| key.order(a, b));
    if !tree {
        return sorted
            .into_iter()
            .filter(|c| passes(c))
            .map(|candidate| ProcLine {
                candidate,
                depth: 0,
                children: 0,
                folded: false,
            })
            .collect();
    }
    let listed: HashMap<u32, &Candidate> = all.iter().map(|c| (c.pid, c)).collect();
    // What passes, and every ancestor of it: the path to a match stays visible.
    let mut kept: HashSet<u32> = HashSet::new();
    for c in all.iter().filter(|c| passes(c)) {
        let mut at = Some(c);
        while let Some(p) = at {
            if !kept.insert(p.pid) {
                break;
            }
            at = listed.get(&p.ppid).copied().filter(|q| q.pid != p.pid);
        }
    }
    let mut children: HashMap<u32, Vec<&Candidate>> = HashMap::new();
    let mut roots = Vec::new();
    for c in sorted.into_iter().filter(|c| kept.contains(&c.pid)) {
        if listed.contains_key(&c.ppid) && c.ppid != c.pid {
            children.entry(c.ppid).or_default().push(c);
        } else {
            roots.push(c);
        }
    }
    let mut out = Vec::with_capacity(kept.len());
    // Depth first, without recursion (deep chains exist); `stack` holds what is next,
    // last first.
    let mut stack: Vec<(&Candidate, usize)> = roots.into_iter().rev().map(|c| (c, 0)).collect();
    let mut seen = HashSet::new();
    while let Some((c, depth)) = stack.pop() {
        if !seen.insert(c.pid) {
            continue; // a cycle from a torn read
        }
        let kids = children.get(&c.pid).map_or(&[][..], Vec::as_slice);
        let is_folded = folded.contains(&c.pid) && !kids.is_empty();
        out.push(ProcLine {
            candidate: c,
            depth,
            children: kids.len(),
            folded: is_folded,
        });
        if !is_folded {
            stack.extend(kids.iter().rev().map(|&k| (k, depth + 1)));
        }
    }
    out
}

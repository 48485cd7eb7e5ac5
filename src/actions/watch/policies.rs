//! At each scan: the orphan groups standing, judged with the stories and the
//! `[[ignore]]` rules, counted by origin for the metrics, and handed to the
//! `[[policy]]` rules ([`crate::model::watch::policy`]), whose kills go through the
//! safe kill of `leaktop orphans`.

use std::time::Duration;

use crate::actions::kill::KillSignal;
use crate::actions::known;
use crate::actions::orphans::{ScanOptions, Scanner};
use crate::actions::rules::GroupSubjects;
use crate::host::Host;
use crate::human::{human_kb, plural};
use crate::metrics::watch::{OriginFigures, WatchFigures};
use crate::model::allow::AllowRule;
use crate::model::orphans::OrphanGroup;
use crate::model::watch::Origins;
use crate::model::watch::lineage::Lineage;
use crate::model::watch::policy::{Decision, GroupState, KillWith, Policy, decide};
use crate::model::watch::record::{Fate, FateKind, PolicyRecord, Record};
use crate::model::watch::story::Stories;
use crate::sample::{IdMap, IdSet, ProcSample};

/// The policy side of the watcher, kept across scans.
pub struct Policies {
    scanner: Scanner,
    policies: Vec<Policy>,
    allowed: Vec<AllowRule>,
    older_than: Duration,
    dry_run: bool,
    /// When each group was first seen (wall ms).
    first_seen: IdMap<String, u64>,
    /// (policy, group) pairs already acted on: each is reported once.
    acted: IdSet<(usize, String)>,
}

impl Policies {
    pub fn new(
        scanner: Scanner,
        policies: Vec<Policy>,
        allowed: Vec<AllowRule>,
        older_than: Duration,
        dry_run: bool,
    ) -> Policies {
        Policies {
            scanner,
            policies,
            allowed,
            older_than,
            dry_run,
            first_seen: IdMap::default(),
            acted: IdSet::default(),
        }
    }

    /// One scan's groups: counted into `figures` by origin (labelled by `origins`),
    /// handed to the policies; records of what they did go to `out`.
    #[allow(clippy::too_many_arguments)]
    pub fn tick(
        &mut self,
        host: &dyn Host,
        origins: &mut Origins,
        samples: Vec<ProcSample>,
        stories: &Stories,
        now_ms: u64,
        lineage: &mut Lineage,
        figures: &mut WatchFigures,
        out: &mut Vec<Record>,
    ) {
        let opts = ScanOptions {
            older_than: self.older_than,
            all: false,
            measure: true,
            allowed: self.allowed.clone(),
        };
        let judged = known::judge(&mut self.scanner, samples, &opts, stories.clone(), now_ms);
        let scan = &judged.scan;
        figures.by_origin.clear();
        let mut present: IdSet<String> = IdSet::default();
        for g in &scan.classified.groups {
            present.insert(g.id.clone());
            let first = *self.first_seen.entry(g.id.clone()).or_insert(now_ms);
            let story = judged.stories.of_group(g);
            let since = story.map_or(first, |s| s.time_ms.min(first));
            let subjects = (!self.policies.is_empty())
                .then(|| GroupSubjects::read(host, g, self.policies.iter().map(|p| &p.rule)));
            let matched = subjects
                .as_ref()
                .and_then(|s| self.policies.iter().position(|p| s.matches(&p.rule)));
            let origin = match (matched, story) {
                (Some(i), _) => origins.label(&self.policies[i].name),
                (None, Some(s)) => origins.label(&s.died_name),
                (None, None) => origins.label(""),
            };
            let f = figures
                .by_origin
                .entry(origin)
                .or_insert_with(|| OriginFigures {
                    pss_bytes: Some(0),
                    ..OriginFigures::default()
                });
            f.groups += 1;
            f.processes += g.processes.len() as u64;
            f.rss_bytes += g.rss_kb * 1024;
            let pss: Option<u64> = g
                .processes
                .iter()
                .map(|o| scan.memory.get(&o.sample.id()).map(|m| m.pss_kb * 1024))
                .sum();
            f.pss_bytes = f.pss_bytes.zip(pss).map(|(a, b)| a + b);
            let Some(i) = matched else { continue };
            let state = GroupState {
                strong: g.strong(),
                ignored: false,
                orphaned_for_ms: now_ms.saturating_sub(since),
            };
            let decision = decide(&self.policies[i], state);
            self.act(i, g, decision, scan, now_ms, lineage, figures, out);
        }
        self.first_seen.retain(|id, _| present.contains(id));
        self.acted.retain(|(_, id)| present.contains(id));
    }

    #[allow(clippy::too_many_arguments)]
    fn act(
        &mut self,
        i: usize,
        g: &OrphanGroup,
        decision: Decision,
        scan: &crate::actions::orphans::Scan,
        now_ms: u64,
        lineage: &mut Lineage,
        figures: &mut WatchFigures,
        out: &mut Vec<Record>,
    ) {
        let (result, outcome) = match decision {
            Decision::Leave | Decision::Wait => return,
            _ if self.acted.contains(&(i, g.id.clone())) => return,
            Decision::Report => ("reported", "reported".to_string()),
            Decision::Refuse(why) => ("refused", format!("not ended: {why}")),
            Decision::Kill { signal, grace_ms } if self.dry_run => (
                "would_end",
                format!(
                    "would end {} (RSS {}) with {}, then SIGKILL after {}",
                    plural(g.processes.len(), "process", "processes"),
                    human_kb(g.rss_kb),
                    signal.name(),
                    humantime::format_duration(Duration::from_millis(grace_ms))
                ),
            ),
            Decision::Kill { signal, grace_ms } => {
                let report = self.scanner.kill(
                    &[g],
                    &scan.memory,
                    kill_signal(signal).signal(),
                    Duration::from_millis(grace_ms),
                );
                for id in &report.ended {
                    if let Some(f) = lineage.unfollow(id.pid).filter(|f| f.id == *id) {
                        out.push(Record::Fate(Fate {
                            time_ms: now_ms,
                            pid: id.pid,
                            start: id.start,
                            orphaned_ms: f.orphaned_ms,
                            died_pid: f.died_pid,
                            fate: FateKind::EndedByPolicy,
                            how: None,
                            policy: Some(self.policies[i].name.clone()),
                        }));
                    }
                }
                let ended = g
                    .processes
                    .iter()
                    .filter(|o| report.ended.contains(&o.sample.id()))
                    .count();
                let mut text = format!(
                    "ended {ended} of {} with {}",
                    plural(g.processes.len(), "process", "processes"),
                    signal.name()
                );
                if !report.skipped.is_empty() {
                    text.push_str(&format!(
                        "; {} not signalled ({})",
                        report.skipped.len(),
                        report.skipped[0].1
                    ));
                }
                let result = if ended == g.processes.len() {
                    "ended"
                } else {
                    "partly_ended"
                };
                (result, text)
            }
        };
        self.acted.insert((i, g.id.clone()));
        let p = &self.policies[i];
        *figures
            .actions
            .entry((
                p.name.clone(),
                p.action.name().to_string(),
                result.to_string(),
            ))
            .or_default() += 1;
        out.push(Record::Policy(PolicyRecord {
            time_ms: now_ms,
            policy: p.name.clone(),
            action: p.action.name().to_string(),
            group: g.id.clone(),
            processes: g.processes.len(),
            rss_kb: g.rss_kb,
            outcome,
            dry_run: self.dry_run,
        }));
    }
}

/// The safe kill's signal for a policy's.
fn kill_signal(k: KillWith) -> KillSignal {
    match k {
        KillWith::Term => KillSignal::Term,
        KillWith::Int => KillSignal::Int,
        KillWith::Hup => KillSignal::Hup,
        KillWith::Kill => KillSignal::Kill,
    }
}

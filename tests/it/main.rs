//! leaktop's integration tests: one test crate (one link, one binary), as ripgrep has.
//!
//! `common` spawns and cleans up real process trees; `fakes` is the fake host; `screen`
//! records TestBackend frames. Each module below is one area, introduced in a line.

// Benches and tests may unwrap: a failure there is the report.
#![allow(clippy::unwrap_used)]

mod common;
mod fakes;
mod screen;

// `--allow`: processes meant to outlive their parent, in run, attach and orphans
mod allow;
// leaktop as the family's subreaper: the kernel's child list makes a missed orphan a member
mod adopted;
// alerts for leaks under live parents, on real processes
mod alerts;
// the alerts at their defaults at the field reports' timescales (minutes; optimised builds only)
mod alerts_slow;
// the /proc and sysinfo samplers agree on one real tree
mod backends;
// `run --check` for CI: JUnit, JSON, GitHub annotations and step summary
mod ci_output;
// the command line's contract: help, errors, exit codes
mod cli;
// a day of 86,400 ticks fits the history's budget (optimised builds only)
mod day_long;
// process events from the kernel (connector, pidfds) and their fallbacks, on real processes
mod events;
// process events on the fake host fed to the tracker: escapes between ticks, losses, orphans at once
mod events_fake;
// orphans evidence nobody can forge: markers without a run record, self-named inits
mod forged;
// `--follow` on real restarts, not decoys
mod follow;
// `--follow` on the fake host
mod follow_fake;
// GPU memory on real processes: a stub NVML, the holders scan, no GPU means unknown
mod gpu;
// GPU memory per process in `orphans` on the fake host's GPU
mod gpu_fake;
// the safe kill on real processes
mod kill;
// the safe kill on the fake host: what it never signals
mod kill_fake;
// `report` on six hours of recording in bounded memory (optimised builds only)
mod long_recording;
// what a leaked pool costs, by RSS and PSS, on real processes
mod memory;
// rationing `smaps_rollup` reads on the fake host
mod memory_budget;
// `--metrics` on a real family, and misbehaving clients
mod metrics;
// `--metrics` tick by tick on the fake host
mod metrics_fake;
// a real Prometheus scrapes `record --metrics` (skipped without Prometheus)
mod metrics_prometheus;
// output paths: FIFOs with and without readers, full disks, `-`, the step summary
mod outputs;
// `leaktop orphans` on pools really orphaned
mod orphans;
// `leaktop orphans` on the fake host: services, subreapers, kills
mod orphans_fake;
// `orphans --watch` on process events: a group found when its parent exits, the rescans without events
mod orphans_watch_fake;
// `leaktop orphans` on shapes it was blind to: a live job's helper, a pane's pool
mod orphans_shapes;
// orphans under a one-child init (tini): its own child is no orphan, never grouped or killed
mod orphans_tini;
// the picker's event loop on TestBackend with the fake host (orphan groups, tree, sort, filter)
mod picker_app;
// a dead member's pid handed to an innocent process (root only)
mod pid_reuse;
// `leaktop record` on real trees
mod record;
// the monitor (record, run, the view) fed process events on the fake host: escapes, losses, orphans at once
mod monitor_events_fake;
// `leaktop record --pid` with process events: escapes between two ticks caught, or missed as documented
mod record_events;
// `leaktop record` on the fake host: ticks on its clock, stop signals, files
mod record_fake;
// what leaktop writes its readers read: huge command lines, bidi names, damaged lines
mod recordings;
// `leaktop report` on the recording in assets/
mod report;
// `leaktop run` on real commands
mod run;
// `leaktop run` on the fake host, without a subreaper and as one
mod run_no_subreaper;
// `leaktop run`'s verdicts: leaks that exited before the end, lingers by design
mod run_verdicts;
// `leaktop run` of a one-child init (tini): the components it adopts are leaks, its own tree is not
mod run_tini;
// the verdict scenarios of tests/scenarios/ through the tracker
mod scenarios;
// an escape adopted by a subreaper above the root
mod session_subreaper;
// the interactive view in a real terminal (tmux)
mod tui;
// leaktop under valgrind (skipped without it)
mod valgrind;
// verdicts on innocent and leaking real shapes
mod verdicts;
// the whole view's event loop on TestBackend with the fake host
mod view_app;
// `leaktop watch` on real pools: the story in the journal and in `orphans`, restarts, rules, a fork storm
mod watch;
// `run`, `orphans` and `report` within 80 columns (COLUMNS), whole in a pipe and with --wide
mod width;
// `leaktop watch` on the fake host: orphanings by every event source, resumes, ignore rules, kill policies
mod watch_fake;

//! `leaktop demo`: a small family that leaks on a schedule, watched in the live view.
//!
//! leaktop re-executes itself as hidden helpers (`leaktop __demo-helper ROLE`):
//!
//! - a `demo-server` that lives throughout, runs a short `demo-job` every second and
//!   reaps it (healthy churn), and opens a `demo-session` every 12 s, three times;
//! - each `demo-session` starts two `demo-worker`s holding 24 and 48 MiB, then exits
//!   after 1 s *without ending them*, the way an evicted session or a killed parent
//!   leaves its pool behind. The workers are reparented, and leaktop marks them leaked
//!   once they have outlived their parent by the leak grace (1 s).
//!
//! The demo shows its point at once: it samples every 250 ms (unless `--interval` says
//! otherwise), so the first leak is on screen about 2.5 s after the view opens, and
//! until then the header counts down to it ([`schedule`]).
//!
//! leaktop is the subreaper of the demo, so the orphans are adopted by it rather than
//! init, and every helper ends when leaktop does: leaktop kills the family on exit, and
//! each helper also exits by itself once leaktop is gone (even after a SIGKILL).

use std::ffi::OsString;
use std::sync::Arc;
use std::time::Duration;

use rustix::process::Signal;

use crate::actions::kill::{self, Target};
use crate::host::{Host, SpawnError, SpawnSpec, Spawned};
use crate::ui::{self, Root, ViewError, WatchOptions};

/// The hidden subcommand helpers run as.
pub const HELPER_COMMAND: &str = "__demo-helper";
const OWNER_ENV: &str = "LEAKTOP_DEMO_OWNER";

const SESSION_EVERY: Duration = Duration::from_secs(12);
const SESSIONS: usize = 3;
const SESSION_LIFETIME: Duration = Duration::from_secs(1);
/// `demo --interval`'s default (the other commands' is 1 s): room for the leak grace
/// within the first 3 s.
pub const DEMO_INTERVAL: Duration = Duration::from_millis(250);
/// `demo --leak-grace`'s default (the other commands' is 5 s): its helpers leak at
/// once, on purpose, and linger by design nowhere.
pub const DEMO_LEAK_GRACE: Duration = Duration::from_secs(1);
const JOB_EVERY: Duration = Duration::from_secs(1);
const WORKER_MIB: [usize; 2] = [24, 48];

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot become a child subreaper: {0}")]
    Subreaper(std::io::Error),
    #[error("cannot start the demo helper: {0}")]
    Spawn(#[from] SpawnError),
    #[error(transparent)]
    View(#[from] ViewError),
}

/// Starts the demo family on `host`, opens the live view on it, and ends every helper
/// on exit.
pub fn run(host: Arc<dyn Host>, mut opts: WatchOptions) -> Result<(), DemoError> {
    let me = host.own_pid();
    let adopting = host.become_subreaper().map_err(DemoError::Subreaper)?;
    let server = spawn_helper(host.as_ref(), "server", &[])?;
    let started_ms = crate::host::wall_ms(host.as_ref());
    let root = server.pid;
    opts.root = Root::Pid(root);
    opts.subreapers = if adopting { vec![me] } else { Vec::new() };
    let last = ui::watch_with(host.clone(), &opts, schedule(started_ms, opts.leak_grace));
    // leaktop reaps everything itself, the server included, below.
    drop(server);
    let mut targets: Vec<Target> = last
        .as_ref()
        .ok()
        .and_then(|t| t.as_ref())
        .map(|t| t.processes.iter().map(Target::row).collect())
        .unwrap_or_default();
    if let Some(probe) = host
        .sampler(opts.backend)
        .ok()
        .and_then(|mut s| s.probe(root))
    {
        targets.insert(0, Target::sample(&probe));
    }
    kill::kill_trees(
        host.as_ref(),
        &targets,
        Signal::TERM,
        Duration::from_secs(1),
        true,
    );
    host.reap();
    // A fatal signal that ended the view (SIGQUIT, SIGUSR1, ...) takes effect now that
    // every helper is gone.
    crate::ui::terminal::reraise_deferred(host.as_ref());
    last?;
    Ok(())
}

/// What the demo's server started at `started_ms` (wall time, ms) will do: each
/// session orphaned `SESSION_LIFETIME` after it opens, its workers leaked
/// `leak_grace` later.
pub fn schedule(started_ms: u64, leak_grace: Duration) -> Vec<ui::app::Forecast> {
    (0..SESSIONS as u32)
        .map(|k| ui::app::Forecast {
            at_ms: started_ms + (SESSION_EVERY * k + SESSION_LIFETIME).as_millis() as u64,
            what: "a session will be orphaned".into(),
            then: format!(
                "its {} workers leak {} later",
                WORKER_MIB.len(),
                ui::render::text::interval(leak_grace.as_millis() as u64)
            ),
        })
        .collect()
}

/// Starts `leaktop __demo-helper ROLE ARGS` through `host`, its standard streams on
/// `/dev/null`, owned by the leaktop that runs the demo.
fn spawn_helper(host: &dyn Host, role: &str, args: &[String]) -> Result<Spawned, SpawnError> {
    let owner = std::env::var(OWNER_ENV).unwrap_or_else(|_| host.own_pid().to_string());
    let exe = std::env::current_exe().map_err(|e| SpawnError::Other("leaktop".into(), e))?;
    let mut argv: Vec<OsString> = vec![exe.into(), HELPER_COMMAND.into(), role.into()];
    argv.extend(args.iter().map(OsString::from));
    host.spawn(&SpawnSpec {
        argv,
        null_stdio: true,
        parent_death_signal: None,
        env: vec![(OWNER_ENV.into(), owner.into())],
    })
}

/// Entry point of `leaktop __demo-helper ROLE [ARGS]`, on `host`. Never returns.
pub fn helper(host: Arc<dyn Host>, role: &str, args: &[String]) -> ! {
    let owner: Option<u32> = std::env::var(OWNER_ENV).ok().and_then(|v| v.parse().ok());
    let Some(owner) = owner else {
        crate::say(&format!(
            "leaktop: {HELPER_COMMAND} is internal to `leaktop demo`\n"
        ));
        std::process::exit(2);
    };
    let host = host.as_ref();
    host.set_process_name(&format!("demo-{role}"));
    match role {
        "server" => server(host, owner),
        "session" => session(host, owner),
        "worker" => {
            let mib = args.first().and_then(|a| a.parse().ok()).unwrap_or(16);
            worker(host, owner, mib)
        }
        "job" => host.sleep(Duration::from_millis(300)),
        _ => {}
    }
    std::process::exit(0)
}

/// Sleeps in short steps while leaktop lives; `false` once it is gone.
fn nap(host: &dyn Host, owner: u32, total: Duration) -> bool {
    let end = host.now() + total;
    while host.now() < end {
        if !host.exists(owner) {
            return false;
        }
        host.sleep(Duration::from_millis(200).min(end.saturating_duration_since(host.now())));
    }
    host.exists(owner)
}

fn hold(mib: usize) -> Vec<u8> {
    // Written to, so the pages are really resident; black_box keeps the optimiser from
    // dropping an allocation nobody reads.
    std::hint::black_box(vec![0x5a; mib * 1024 * 1024])
}

fn server(host: &dyn Host, owner: u32) {
    let cache = hold(16);
    let started = host.now();
    let mut sessions = 0;
    let mut next_job = host.now();
    loop {
        if sessions < SESSIONS
            && host.now().duration_since(started) >= SESSION_EVERY * sessions as u32
        {
            let _ = spawn_helper(host, "session", &[]);
            sessions += 1;
        }
        if host.now() >= next_job {
            let _ = spawn_helper(host, "job", &[]);
            next_job += JOB_EVERY;
        }
        // Its sessions and jobs, once they have exited.
        host.reap();
        if !nap(host, owner, Duration::from_millis(100)) {
            break;
        }
    }
    drop(std::hint::black_box(cache));
}

fn session(host: &dyn Host, owner: u32) {
    let state = hold(8);
    for mib in WORKER_MIB {
        let _ = spawn_helper(host, "worker", &[mib.to_string()]);
    }
    // Exits without ending its workers: this is the leak.
    nap(host, owner, SESSION_LIFETIME);
    drop(std::hint::black_box(state));
}

fn worker(host: &dyn Host, owner: u32, mib: usize) {
    let mut held = vec![hold(mib)];
    // Grows a little now and then, like a cache nobody trims.
    while nap(host, owner, Duration::from_secs(3)) {
        if held.len() < 8 {
            held.push(hold(1));
        }
    }
    drop(std::hint::black_box(held));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the view's header counts down to (its rendering is tested in
    /// `ui::render::tests::the_header_counts_down_to_what_is_coming`).
    #[test]
    fn the_schedule_forecasts_each_session_orphaned_and_its_workers_leaked() {
        let forecast = schedule(1_000_000, Duration::from_secs(1));
        let said: Vec<(u64, &str, &str)> = forecast
            .iter()
            .map(|f| (f.at_ms, f.what.as_str(), f.then.as_str()))
            .collect();
        let what = "a session will be orphaned";
        let then = "its 2 workers leak 1s later";
        assert_eq!(
            said,
            [
                (1_001_000, what, then),
                (1_013_000, what, then),
                (1_025_000, what, then)
            ]
        );
    }
}

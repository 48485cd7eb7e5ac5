//! The sampling thread: a [`TickSource`] stepped every interval of the host's clock,
//! paused, resumed and stopped by the loop.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::Msg;
use crate::host::{Alarm, Host};
use crate::monitor::TickSource;
use crate::sample::Identity;

/// The sampling thread: steps a [`TickSource`] every interval of the host's clock and
/// sends each tick as [`Msg::Tick`] (and [`Msg::Finished`] once there is nothing more
/// to sample).
pub(super) struct Sampling {
    thread: JoinHandle<()>,
    stop: Arc<AtomicBool>,
    paused: Arc<AtomicBool>,
    /// Rung on pause, resume and stop: the thread's wait ends at once.
    alarm: Alarm,
    /// A new focus for the source, taken before its next step.
    focus: Arc<Mutex<Option<Vec<Identity>>>>,
}

impl Sampling {
    /// Starts sampling `source` at once, then every `interval` on `host`'s clock.
    pub(super) fn spawn(
        mut source: Box<dyn TickSource>,
        interval: Duration,
        host: Arc<dyn Host>,
        tx: Sender<Msg>,
    ) -> Sampling {
        let stop = Arc::new(AtomicBool::new(false));
        let paused = Arc::new(AtomicBool::new(false));
        let alarm = Alarm::new();
        let focus: Arc<Mutex<Option<Vec<Identity>>>> = Arc::default();
        let (stop_flag, paused_flag, focus_slot, woken) =
            (stop.clone(), paused.clone(), focus.clone(), alarm.clone());
        let thread = thread::spawn(move || {
            let (stop, paused) = (stop_flag, paused_flag);
            let mut next = host.now();
            while !stop.load(Ordering::Relaxed) {
                if !paused.load(Ordering::Relaxed) && !Self::step(source.as_mut(), &focus_slot, &tx)
                {
                    return;
                }
                // A late tick is not made up for: the schedule skips ahead.
                next = (next + interval).max(host.now());
                while !stop.load(Ordering::Relaxed) && host.now() < next {
                    if source.listens() {
                        // Events until the next tick, the flags looked at every slice;
                        // a loss brings the tick forward (a rescan).
                        if source.listen(next) {
                            next = host.now();
                        }
                    } else {
                        // Woken early on pause, resume and stop.
                        host.wait(Some(next), &woken);
                    }
                    if paused.load(Ordering::Relaxed) {
                        break;
                    }
                }
                while paused.load(Ordering::Relaxed) && !stop.load(Ordering::Relaxed) {
                    host.wait(None, &woken);
                    next = host.now();
                }
            }
        });
        Sampling {
            thread,
            stop,
            paused,
            alarm,
            focus,
        }
    }

    /// One step of `source` with the newest focus, its tick sent; `false` once
    /// sampling is over (it failed, the source has finished, or the view has gone).
    fn step(
        source: &mut dyn TickSource,
        focus: &Mutex<Option<Vec<Identity>>>,
        tx: &Sender<Msg>,
    ) -> bool {
        let new_focus = focus.lock().ok().and_then(|mut f| f.take());
        if let Some(ids) = new_focus {
            source.focus(ids);
        }
        match source.step() {
            Ok(tick) => {
                if tx.send(Msg::Tick(tick)).is_err() {
                    return false;
                }
            }
            Err(e) => {
                let _ = tx.send(Msg::Finished(format!("sampling failed: {e}")));
                return false;
            }
        }
        if let Some(why) = source.finished() {
            let _ = tx.send(Msg::Finished(why));
            return false;
        }
        true
    }

    /// Hands the source a new focus before its next step ([`TickSource::focus`]).
    pub(super) fn set_focus(&self, ids: Vec<Identity>) {
        if let Ok(mut slot) = self.focus.lock() {
            *slot = Some(ids);
        }
    }

    /// Pauses or resumes sampling.
    pub(super) fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::Relaxed);
        self.alarm.ring();
    }

    /// Stops sampling and waits for the thread (for the step under way, if any).
    pub(super) fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.alarm.ring();
        let _ = self.thread.join();
    }
}

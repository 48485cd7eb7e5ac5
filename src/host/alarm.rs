//! [`Alarm`]: what wakes a loop waiting in [`Host::wait`](super::Host::wait) before
//! its deadline (a signal, a pause, a stop).

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A wake-up call shared between threads: one thread waits on it (through
/// [`Host::wait`](super::Host::wait)), any other rings it. A ring is kept until a
/// wait uses it up, so one that comes before the wait is not lost. Clones ring the
/// same alarm.
#[derive(Clone, Default)]
pub struct Alarm(Arc<Bell>);

#[derive(Default)]
struct Bell {
    rung: Mutex<bool>,
    changed: Condvar,
}

impl Alarm {
    pub fn new() -> Alarm {
        Alarm::default()
    }

    fn lock(&self) -> MutexGuard<'_, bool> {
        self.0.rung.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes the thread waiting on it, or the next one to wait.
    pub fn ring(&self) {
        *self.lock() = true;
        self.0.changed.notify_all();
    }

    /// Wakes the thread waiting on it without ringing, to look again at what else it
    /// waits for (a fake clock that has moved).
    pub fn nudge(&self) {
        let _held = self.lock();
        self.0.changed.notify_all();
    }

    /// Waits until the alarm rings (`true`, the ring used up) or `left` says no time
    /// is left (`false`). `left` gives the real time left to wait, `None` for as long
    /// as it takes; it is asked again after that time, and on every [`Alarm::nudge`].
    pub fn wait_while(&self, mut left: impl FnMut() -> Option<Duration>) -> bool {
        let mut rung = self.lock();
        loop {
            if std::mem::take(&mut *rung) {
                return true;
            }
            rung = match left() {
                Some(d) if d.is_zero() => return false,
                Some(d) => {
                    self.0
                        .changed
                        .wait_timeout(rung, d)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
                None => self.0.changed.wait(rung).unwrap_or_else(|e| e.into_inner()),
            };
        }
    }

    /// Waits on the real clock until `deadline` (`None`: none) or a ring: what a real
    /// host's [`Host::wait`](super::Host::wait) does.
    pub fn wait_until(&self, deadline: Option<Instant>) -> bool {
        self.wait_while(|| deadline.map(|d| d.saturating_duration_since(Instant::now())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_before_the_wait_is_kept_and_used_up_once() {
        let alarm = Alarm::new();
        alarm.ring();
        let soon = Instant::now() + Duration::from_secs(60);
        assert!(alarm.wait_until(Some(soon)), "the earlier ring wakes it");
        assert!(!alarm.wait_until(Some(Instant::now())), "used up");
    }

    #[test]
    fn a_ring_from_another_thread_ends_a_wait_without_deadline() {
        let alarm = Alarm::new();
        let ringer = alarm.clone();
        let t = std::thread::spawn(move || ringer.ring());
        assert!(alarm.wait_until(None));
        t.join().unwrap();
    }

    #[test]
    fn a_nudge_asks_again_how_long_to_wait() {
        let alarm = Alarm::new();
        let asked = Arc::new(Mutex::new(0u32));
        let nudger = alarm.clone();
        let count = asked.clone();
        let t = std::thread::spawn(move || {
            // Nudges until the waiter has been asked twice.
            while *count.lock().unwrap() < 2 {
                nudger.nudge();
                std::thread::yield_now();
            }
        });
        let times = asked.clone();
        let rang = alarm.wait_while(move || {
            let mut n = times.lock().unwrap();
            *n += 1;
            (*n < 2)
                .then_some(Duration::from_secs(3600))
                .or(Some(Duration::ZERO))
        });
        assert!(!rang);
        t.join().unwrap();
        assert_eq!(*asked.lock().unwrap(), 2);
    }
}

//! Healthy shapes raise nothing, at 200 ms and at 1 s, over twenty minutes on the fake
//! clock: each would be a false leak, the worst bug leaktop can have.

use super::*;

const MINUTES: u64 = 20;

/// A few hundred KiB of noise, the same for the same `t` and `salt`.
fn noise(t: u64, salt: u64) -> u64 {
    let mut x =
        (t / 100).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ salt.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 31;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 29;
    x % 512
}

/// Runs the shape at 200 ms and at 1 s and checks that nothing is raised.
fn silent(what: &str, f: impl Fn(u64) -> Vec<ProcRow>) {
    for step in [200, 1000] {
        let run = Run::new(AlertConfig::default(), step, MINUTES * 60, &f);
        assert!(run.any().is_none(), "{what} at {step} ms: {:?}", run.any());
    }
}

#[test]
fn a_warm_up_of_thirty_seconds_then_flat() {
    silent("warm-up", |t| {
        let rss = 10 * MIB + t.min(30_000) * 190 * MIB / 30_000 + noise(t, 1);
        vec![row(1, 0, rss, t / 10)]
    });
}

#[test]
fn a_pool_ramping_up_to_eight_workers_over_twenty_seconds() {
    silent("pool ramp", |t| {
        let workers = ((t / 2500) as u32).min(8);
        let mut rows = family(t, (0..workers).map(|c| 100 + c));
        // Each worker warms up too.
        for w in rows.iter_mut().skip(1) {
            w.rss_kb = 30 * MIB + noise(t, u64::from(w.pid));
        }
        rows
    });
}

#[test]
fn a_garbage_collected_sawtooth_every_fifteen_seconds() {
    silent("sawtooth", |t| {
        let cache = (t % 15_000) * 50 * MIB / 15_000;
        vec![row(1, 0, 100 * MIB + cache + noise(t, 2), t / 10)]
    });
}

#[test]
fn a_pool_that_retires_a_worker_and_starts_one_every_ten_seconds() {
    silent("recycling pool", |t| {
        let k = (t / 10_000) as u32;
        // The retired one is gone a moment before its successor starts.
        let fresh = t % 10_000 >= 300;
        let workers = (k..k + 7).chain(fresh.then_some(k + 7));
        family(t, workers.map(|c| 100 + c))
    });
}

/// Job `j` of a build lasts between 0.3 and 3.3 s.
fn job_ms(j: u64) -> u64 {
    300 + noise(j * 1000, 7) * 3000 / 512
}

#[test]
fn make_j8() {
    // Eight slots; each runs job after job of its own, the next starting as one ends.
    let slots: Vec<Vec<(u64, u64)>> = (0..8u64)
        .map(|s| {
            let mut at = 0;
            (0..)
                .map(|j| {
                    let len = job_ms(s * 100_000 + j);
                    let job = (at, at + len);
                    at += len + 20;
                    job
                })
                .take_while(|&(from, _)| from <= MINUTES * 60_000)
                .collect()
        })
        .collect();
    silent("make -j8", |t| {
        let mut rows = vec![row(1, 0, 8 * MIB, t / 10)];
        for (s, jobs) in slots.iter().enumerate() {
            if let Some(j) = jobs.iter().position(|&(from, to)| from <= t && t < to) {
                let pid = 1000 + (s * 10_000 + j) as u32;
                rows.push(row(pid, 1, 60 * MIB + noise(t, pid.into()), t / 10));
            }
        }
        rows
    });
}

#[test]
fn batches_of_short_jobs() {
    // Every 30 s, twenty jobs that each take 5 s.
    silent("batches", |t| {
        let batch = (t / 30_000) as u32;
        let running = t % 30_000 < 5000;
        family(
            t,
            (0..20)
                .filter(|_| running)
                .map(|c| 10_000 + batch * 100 + c),
        )
    });
}

#[test]
fn a_server_that_grows_its_cache_for_a_minute_then_holds() {
    // A slower warm-up than the minimum span: raised while it rises (it cannot be told
    // from a leak yet), cleared once it holds, standing at the end never.
    let run = Run::new(AlertConfig::default(), 1000, MINUTES * 60, |t| {
        let rss = 10 * MIB + t.min(60_000) * 190 * MIB / 60_000 + noise(t, 3);
        vec![row(1, 0, rss, t / 10)]
    });
    assert!(run.any().is_none(), "{:?}", run.any());
}

#[test]
fn a_small_process_creeping_up_by_a_few_mib_as_it_works() {
    // make keeping a record of each target built: 2.75 MiB to 5.75 over ten minutes.
    silent("make's own RSS", |t| {
        let rss = 2816 + t.min(600_000) * 3 * MIB / 600_000 + noise(t, 4) / 8;
        vec![row(1, 0, rss, t / 10)]
    });
}

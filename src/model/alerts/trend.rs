//! A process's whole history in fixed memory, and the trends judged over it at several
//! timescales at once.
//!
//! Each sample goes into a base bucket (a bucket closes at the first sample at least
//! [`BASE_MS`] after it opened, so at the usual intervals a bucket holds one sample and
//! is one interval long). Closed buckets are kept level by level: level 0 holds the last
//! [`LEVEL_BUCKETS`] base buckets, and every two consecutive buckets of a level are
//! merged into one bucket of the level above, twice as long. Each level is a view of
//! the recent past twice as long as the one below; the top levels hold the whole history
//! since the process was first seen. A bucket keeps, per series, only the minimum of
//! the samples it covers (a count of children, an RSS): a low-water mark that rises
//! from one part of a view to the next is memory or children that stayed.
//!
//! Cost: per process, at most [`LEVEL_BUCKETS`] buckets per level and one level per
//! doubling of its age in intervals (17 for a day at 1 s, about 12 KiB); per sample one comparison per series,
//! and per closed base bucket an amortised two merges and two views judged
//! (`O(LEVEL_BUCKETS)` each), so O(1) amortised work per tick.

/// The shortest base bucket, ms: samples closer together than this share a bucket (at
/// intervals of 100 ms and more, each sample is a base bucket of its own).
pub const BASE_MS: u64 = 100;
/// Buckets each level keeps: a view at level `L` spans `LEVEL_BUCKETS * 2^L` base
/// buckets at most.
pub const LEVEL_BUCKETS: usize = 16;
/// Levels at most: 2^40 intervals is far beyond any process's life.
const MAX_LEVELS: usize = 40;
/// The series kept per process.
pub const SERIES: usize = 3;
/// No sample of a series in a bucket (a process with RSS 0, read mid-exec).
pub const NONE: u64 = u64::MAX;

/// What must hold for a series to be a trend in a view.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rule {
    /// The shortest view judged, ms: a warm-up rises as a leak does for its first
    /// seconds, so a trend needs a span of evidence.
    pub min_span_ms: u64,
    /// Parts the view is cut into; the minimum must rise from each to the next.
    pub segments: usize,
    /// The last part's minimum exceeds the first's by at least this much...
    pub min_rise: u64,
    /// ...and by more than this percentage of it.
    pub min_growth_pct: f64,
}

/// A trend found in one view: each part's minimum above the one before, by at least a
/// quarter of the mean step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trend {
    /// The first part's minimum and the last's.
    pub first: u64,
    pub last: u64,
    /// How long the view is, ms.
    pub span_ms: u64,
    /// Parts of the view (each a rising step from the one before, but the first).
    pub segments: usize,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    start_ms: u64,
    min: [u64; SERIES],
}

impl Bucket {
    fn new(start_ms: u64, values: [u64; SERIES]) -> Self {
        Bucket {
            start_ms,
            min: values,
        }
    }

    /// This bucket followed by `later`, as one.
    fn merge(self, later: Bucket) -> Bucket {
        Bucket {
            start_ms: self.start_ms,
            min: std::array::from_fn(|s| self.min[s].min(later.min[s])),
        }
    }
}

/// One level: its last buckets, oldest first, in a ring.
#[derive(Debug, Clone)]
struct Level {
    ring: [Bucket; LEVEL_BUCKETS],
    head: usize,
    len: usize,
    /// A closed bucket waiting for the next one to be merged with it into the level above.
    carry: Option<Bucket>,
    /// The trend of each series at the last judgement of this level's view.
    trend: [Option<Trend>; SERIES],
}

impl Level {
    fn new() -> Self {
        Level {
            ring: [Bucket::new(0, [NONE; SERIES]); LEVEL_BUCKETS],
            head: 0,
            len: 0,
            carry: None,
            trend: [None; SERIES],
        }
    }

    fn push(&mut self, b: Bucket) {
        let at = (self.head + self.len) % LEVEL_BUCKETS;
        self.ring[at] = b;
        if self.len == LEVEL_BUCKETS {
            self.head = (self.head + 1) % LEVEL_BUCKETS;
        } else {
            self.len += 1;
        }
    }

    fn get(&self, i: usize) -> &Bucket {
        &self.ring[(self.head + i) % LEVEL_BUCKETS]
    }

    /// The trend of `series` in this level's view, which ends at `end_ms`.
    fn judge(&self, series: usize, end_ms: u64, rule: &Rule) -> Option<Trend> {
        let n = self.len;
        let parts = rule.segments.max(2);
        if n < parts {
            return None;
        }
        let span_ms = end_ms.saturating_sub(self.get(0).start_ms);
        if span_ms < rule.min_span_ms {
            return None;
        }
        let mut mins = [0; LEVEL_BUCKETS];
        for k in 0..parts {
            let (from, to) = (k * n / parts, (k + 1) * n / parts);
            let m = (from..to).map(|i| self.get(i).min[series]).min()?;
            if m == NONE || (k > 0 && m <= mins[k - 1]) {
                return None;
            }
            mins[k] = m;
        }
        let (first, last) = (mins[0], mins[parts - 1]);
        // Every step carries its share: at least a quarter of the mean step. A warm-up
        // rises in its first steps and then only by noise; a leak goes on rising.
        let share = (last - first) / (4 * (parts as u64 - 1));
        if mins[..parts].windows(2).any(|w| w[1] - w[0] < share) {
            return None;
        }
        let growth = (last - first) as f64 * 100.0 / (first.max(1) as f64);
        (last - first >= rule.min_rise && growth > rule.min_growth_pct).then_some(Trend {
            first,
            last,
            span_ms,
            segments: parts,
        })
    }
}

/// The history of one process: see the module's documentation.
#[derive(Debug, Clone)]
pub struct Summary {
    open: Bucket,
    levels: Vec<Level>,
    /// The trend of each series with the longest view among the levels'.
    best: [Option<Trend>; SERIES],
}

impl Summary {
    /// A history starting with one sample at `time_ms`.
    pub fn new(time_ms: u64, values: [u64; SERIES]) -> Self {
        Summary {
            open: Bucket::new(time_ms, values),
            levels: Vec::new(),
            best: [None; SERIES],
        }
    }

    /// Adds a sample taken at `time_ms` (ms, monotonic); `NONE` for a value unknown.
    pub fn add(&mut self, time_ms: u64, values: [u64; SERIES], rules: &[Rule; SERIES]) {
        if time_ms.saturating_sub(self.open.start_ms) < BASE_MS {
            for (m, v) in self.open.min.iter_mut().zip(values) {
                *m = (*m).min(v);
            }
            return;
        }
        let closed = std::mem::replace(&mut self.open, Bucket::new(time_ms, values));
        self.close(closed, time_ms, rules);
    }

    /// Pushes a closed base bucket up the levels, judging each level that changed.
    fn close(&mut self, bucket: Bucket, end_ms: u64, rules: &[Rule; SERIES]) {
        let mut next = Some(bucket);
        let mut level = 0;
        while let Some(b) = next.take() {
            if level == self.levels.len() {
                if level == MAX_LEVELS {
                    break;
                }
                // One level per doubling of age: grown exactly, never by half again.
                self.levels.reserve_exact(1);
                self.levels.push(Level::new());
            }
            let l = &mut self.levels[level];
            l.push(b);
            for (s, rule) in rules.iter().enumerate() {
                l.trend[s] = l.judge(s, end_ms, rule);
            }
            next = match l.carry.take() {
                Some(c) => Some(c.merge(b)),
                None => {
                    l.carry = Some(b);
                    None
                }
            };
            level += 1;
        }
        for s in 0..SERIES {
            self.best[s] = self
                .levels
                .iter()
                .filter_map(|l| l.trend[s])
                .max_by_key(|t| t.span_ms);
        }
    }

    /// The trend of `series` with the longest view, if one was found when the last
    /// bucket closed.
    pub fn trend(&self, series: usize) -> Option<Trend> {
        self.best[series]
    }

    /// Bytes this summary holds on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.levels.capacity() * std::mem::size_of::<Level>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: Rule = Rule {
        min_span_ms: 120_000,
        segments: 5,
        min_rise: 5,
        min_growth_pct: 0.0,
    };

    /// Feeds `secs` seconds at `step_ms` of a series given by `f` (time in ms); returns
    /// the first time (ms) a trend was found, if one was.
    fn first_trend(step_ms: u64, secs: u64, f: impl Fn(u64) -> u64) -> Option<u64> {
        let rules = [RULE; SERIES];
        let mut s = Summary::new(0, [f(0); SERIES]);
        (1..=secs * 1000 / step_ms).map(|i| i * step_ms).find(|&t| {
            s.add(t, [f(t); SERIES], &rules);
            s.trend(0).is_some()
        })
    }

    #[test]
    fn a_step_every_ten_seconds_is_found_after_the_minimum_span_at_any_interval() {
        for step_ms in [100, 200, 1000, 2000] {
            let at = first_trend(step_ms, 600, |t| t / 10_000).expect("found");
            assert!((120_000..=150_000).contains(&at), "{step_ms}: {at}");
        }
    }

    #[test]
    fn a_step_every_two_minutes_is_found_once_the_evidence_is_clear() {
        let at = first_trend(1000, 7200, |t| t / 120_000).expect("found");
        assert!((600_000..=1_800_000).contains(&at), "{at}");
    }

    #[test]
    fn a_rise_that_stops_is_no_trend_for_long() {
        // Rises for 60 s, then stays: never a trend (a rise must reach the last of five
        // parts of a view of two minutes or more, past three fifths of it).
        assert_eq!(first_trend(200, 1800, |t| (t / 2000).min(30)), None);
    }

    #[test]
    fn memory_is_bounded_by_the_doubling_of_age() {
        let rules = [RULE; SERIES];
        let mut s = Summary::new(0, [1; SERIES]);
        for t in 1..=86_400u64 {
            s.add(t * 1000, [t; SERIES], &rules);
        }
        assert!(s.levels.len() <= 17, "{}", s.levels.len());
        assert!(s.heap_bytes() < 17 * 1024, "{}", s.heap_bytes());
        // A day of one rising step a second is a trend, at the top level.
        let t = s.trend(0).unwrap();
        assert!(t.span_ms > 40_000_000, "{t:?}");
    }
}

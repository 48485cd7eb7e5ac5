//! What a kill freed, in words: the same lines in the view's kill dialog, `run
//! --kill-leaks`'s summary and `orphans --kill`'s.

use crate::human::human_kb;
use crate::model::MemSum;

/// `MemAvailable rose 212 MiB meanwhile (the whole machine's, which everything moves;
/// PSS is theirs)`: `/proc/meminfo`'s figure, which every other process and the
/// kernel's caches move too, where the PSS freed is these processes' own. It says what it measures, so a small rise beside
/// a large PSS freed reads as two measures, not a contradiction.
pub fn mem_available_text(change_kb: i64) -> String {
    let moved = if change_kb < 0 { "fell" } else { "rose" };
    format!(
        "MemAvailable {moved} {} meanwhile (the whole machine's, which everything moves; PSS is theirs)",
        human_kb(change_kb.unsigned_abs())
    )
}

/// What a kill freed, PSS first: `~143 MiB freed (PSS); at least 120 MiB private; RSS
/// 174.6 MiB`. Unknown figures are said to be unknown, never 0.
pub fn freed_text(rss_kb: u64, pss: MemSum, uss: MemSum) -> String {
    let unknown = |n: usize| crate::human::plural(n, "process", "processes");
    let mut s = match pss.known() {
        Some(kb) if pss.unknown == 0 => format!("~{} freed (PSS)", human_kb(kb)),
        Some(kb) => format!(
            "~{} freed (PSS) + {} of unknown PSS",
            human_kb(kb),
            unknown(pss.unknown)
        ),
        None => "PSS unknown".to_string(),
    };
    if let Some(kb) = uss.known() {
        s.push_str(&format!("; at least {} private", human_kb(kb)));
    }
    s.push_str(&format!("; RSS {}", human_kb(rss_kb)));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_available_change_says_its_sign() {
        assert!(
            mem_available_text(216_000).starts_with("MemAvailable rose 210.94 MiB meanwhile (")
        );
        assert!(mem_available_text(-2048).starts_with("MemAvailable fell 2 MiB"));
    }

    #[test]
    fn freed_says_pss_first_and_unknown_as_unknown() {
        let sum = |kb, unknown| MemSum { kb, unknown };
        assert_eq!(
            freed_text(1_290_000, sum(216_000, 0), sum(4_096, 0)),
            "~210.94 MiB freed (PSS); at least 4 MiB private; RSS 1.23 GiB"
        );
        assert_eq!(
            freed_text(100_000, sum(0, 61), sum(0, 61)),
            "PSS unknown; RSS 97.66 MiB",
            "never 0 for unknown"
        );
    }
}

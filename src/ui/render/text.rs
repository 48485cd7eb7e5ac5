//! Short human forms of sizes and durations for narrow columns.

pub use crate::format::command_tail;
use crate::format::human_kb;

/// `+12 MiB`, `-3.5 MiB`, or empty for no change.
pub fn delta_kb(delta: i64) -> String {
    match delta.signum() {
        0 => String::new(),
        1 => format!("+{}", human_kb(delta as u64)),
        _ => format!("-{}", human_kb(delta.unsigned_abs())),
    }
}

/// `12s`, `4m12s`, `2h05m`, `3d04h`.
pub fn age(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86400, s % 86400 / 3600),
    }
}

/// `41.0s` under a minute, else as [`age`].
pub fn elapsed(ms: u64) -> String {
    if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else {
        age(ms)
    }
}

pub fn interval(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(delta_kb(0), "");
        assert_eq!(delta_kb(2048), "+2 MiB");
        assert_eq!(delta_kb(-512), "-512 KiB");
        assert_eq!(age(59_999), "59s");
        assert_eq!(age(61_000), "1m01s");
        assert_eq!(age(3_660_000), "1h01m");
        assert_eq!(age(90_000_000), "1d01h");
        assert_eq!(elapsed(41_049), "41.0s");
        assert_eq!(interval(200), "200ms");
        assert_eq!(interval(2000), "2s");
        assert_eq!(plural(1, "process", "processes"), "1 process");
        assert_eq!(
            command_tail(
                "python3",
                "/usr/bin/python3 -c from multiprocessing import x"
            ),
            "-c from multiprocessing import x"
        );
        assert_eq!(
            command_tail("demo-worker", "/opt/leaktop __demo-helper worker"),
            "leaktop __demo-helper worker"
        );
        assert_eq!(command_tail("sleep", "sleep"), "");
        assert_eq!(command_tail("kworker", ""), "");
    }
}

//! Short human forms of sizes and durations for narrow columns.

use crate::format::human_kb;
pub use crate::format::{age, command_tail, elapsed, fit, plural};

/// `+12 MiB`, `-3.5 MiB`, or empty for no change; at most 10 characters (`-109 MiB`
/// rather than `-109.23 MiB`).
pub fn delta_kb(delta: i64) -> String {
    let sign = match delta.signum() {
        0 => return String::new(),
        1 => '+',
        _ => '-',
    };
    let size = human_kb(delta.unsigned_abs());
    let short = match size.split_once('.') {
        Some((whole, rest)) if size.chars().count() >= 10 => {
            format!(
                "{whole}{}",
                rest.trim_start_matches(|c: char| c.is_ascii_digit())
            )
        }
        _ => size,
    };
    format!("{sign}{short}")
}

/// `, GPU 2 GiB`, `, GPU 2 GiB + ?` (some unknown), or empty where no process's GPU
/// memory is known (no GPU found): the GPU memory a kill would return, for "frees".
pub fn gpu_frees(sum: crate::model::MemSum) -> String {
    match (sum.known(), sum.unknown) {
        (None, _) => String::new(),
        (Some(kb), 0) => format!(", GPU {}", human_kb(kb)),
        (Some(kb), _) => format!(", GPU {} + ?", human_kb(kb)),
    }
}

pub fn interval(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(delta_kb(0), "");
        assert_eq!(delta_kb(2048), "+2 MiB");
        assert_eq!(delta_kb(-512), "-512 KiB");
        assert_eq!(delta_kb(-109 * 1024 - 235), "-109 MiB");
        assert_eq!(delta_kb(1023 * 1024 * 1024), "+1023 GiB");
        assert_eq!(delta_kb(-1536), "-1.50 MiB");
        for kb in [1, 999, 1023, 99_999, 1_048_575, 1 << 40] {
            assert!(delta_kb(-kb).chars().count() <= 10, "{}", delta_kb(-kb));
        }
        assert_eq!(fit("abcdef", 6), "abcdef");
        assert_eq!(fit("abcdefg", 6), "abcde…");
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

//! leaktop's exit codes, in one place (as fd's `exit_codes.rs`), so `--help`, the man
//! pages and every command agree on what each number means.

/// How leaktop ends. `--help` lists these: 0 ok, 1 runtime error, 2 usage error,
/// 3 leaks found (`run --check`), 126/127 CMD could not run; `run` otherwise passes
/// CMD's own code through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Done; also a reader that closed standard output early (`| head`), as ripgrep.
    Success,
    /// Something failed at run time: a process gone, a file unreadable, a write refused.
    RuntimeError,
    /// The command line was wrong; nothing was done.
    UsageError,
    /// `run --check` found leaked processes (or a `--fail-on` alert).
    Leaked,
    /// `run`: CMD was found but could not be executed (a shell's 126).
    CannotExecute,
    /// `run`: CMD was not found, or none was given (a shell's 127).
    NotFound,
    /// `run`: CMD's own exit code, 128 + N if signal N killed it.
    Command(u8),
}

impl ExitCode {
    /// The number the process exits with.
    pub fn code(self) -> u8 {
        match self {
            ExitCode::Success => 0,
            ExitCode::RuntimeError => 1,
            ExitCode::UsageError => 2,
            ExitCode::Leaked => 3,
            ExitCode::CannotExecute => 126,
            ExitCode::NotFound => 127,
            ExitCode::Command(code) => code,
        }
    }

    /// CMD's wait status as a shell reports it: its exit code, or 128 + N when signal
    /// N ended it.
    pub fn of_command(exit: Option<i32>, signal: Option<i32>) -> ExitCode {
        match (exit, signal) {
            (Some(code), _) => ExitCode::Command(code as u8),
            (None, Some(sig)) => ExitCode::Command(128u8.saturating_add(sig as u8)),
            (None, None) => ExitCode::RuntimeError,
        }
    }

    /// Exits the process now with this code (for errors found before anything ran).
    pub fn exit(self) -> ! {
        std::process::exit(i32::from(self.code()))
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code.code())
    }
}

#[cfg(test)]
mod tests {
    use super::ExitCode;

    #[test]
    fn codes_are_the_documented_ones() {
        let all = [
            (ExitCode::Success, 0),
            (ExitCode::RuntimeError, 1),
            (ExitCode::UsageError, 2),
            (ExitCode::Leaked, 3),
            (ExitCode::CannotExecute, 126),
            (ExitCode::NotFound, 127),
            (ExitCode::Command(42), 42),
        ];
        for (code, n) in all {
            assert_eq!(code.code(), n, "{code:?}");
        }
        assert_eq!(ExitCode::of_command(Some(7), None), ExitCode::Command(7));
        assert_eq!(ExitCode::of_command(None, Some(9)), ExitCode::Command(137));
        assert_eq!(
            ExitCode::of_command(None, Some(200)),
            ExitCode::Command(255)
        );
        assert_eq!(ExitCode::of_command(None, None), ExitCode::RuntimeError);
    }
}

//! leaktop's exit codes, in one place (as fd's `exit_codes.rs`), so `--help`, the man
//! pages and every command agree on what each number means. Which one a command ends
//! with is decided in one place, the command layer's `exit` module.

use crate::host::Exit;

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

    /// CMD's end as a shell reports it: its exit code, or 128 + N when signal N ended
    /// it (255 at most); a runtime error where it is not known (`None`).
    pub fn of_command(exit: Option<Exit>) -> ExitCode {
        match exit {
            Some(Exit::Code(code)) => ExitCode::Command(code),
            Some(Exit::Signaled(sig)) => {
                ExitCode::Command(128u8.saturating_add(sig.clamp(0, 127) as u8))
            }
            None => ExitCode::RuntimeError,
        }
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code.code())
    }
}

#[cfg(test)]
mod tests {
    use super::{Exit, ExitCode};

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
        let of = ExitCode::of_command;
        assert_eq!(of(Some(Exit::Code(7))), ExitCode::Command(7));
        assert_eq!(of(Some(Exit::Signaled(9))), ExitCode::Command(137));
        assert_eq!(of(Some(Exit::Signaled(200))), ExitCode::Command(255));
        assert_eq!(of(Some(Exit::Signaled(-1))), ExitCode::Command(128));
        assert_eq!(of(None), ExitCode::RuntimeError);
    }
}

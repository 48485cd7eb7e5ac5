//! How a command ends, decided here and nowhere else (ripgrep's `main → run →
//! ExitCode`, fd's `exit_codes.rs`): every command returns the exit code of its
//! outcome or a typed [`Error`]; [`finish`] turns an error into its one line on stderr
//! and its exit code, and a closed pipe into a quiet 0.

use leaktop::actions::orphans::OrphansError;
use leaktop::actions::run::RunError;
use leaktop::exit_codes::ExitCode as Exit;
use leaktop::host::SpawnError;

/// Why a command failed, typed by what its exit code is.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// The command line asks for what cannot be done, and nothing was done: exit 2.
    #[error("{0} (see --help)")]
    Usage(String),
    /// `run`: CMD was not found or none was given (127), could not be executed (126),
    /// or supervising it failed (1).
    #[error(transparent)]
    Run(#[from] RunError),
    /// `orphans`: `--kill` with no terminal to ask on and no `--yes` is a usage
    /// error (2); anything else 1.
    #[error(transparent)]
    Orphans(#[from] OrphansError),
    /// The configuration file cannot be read or has a bad key or value: exit 2, with
    /// its file, line and key.
    #[error(transparent)]
    Config(#[from] leaktop::format::config::ConfigError),
    /// The work was done, but an output asked for was not written (`run --junit`):
    /// the command's own exit code, at least 1, since a CI that asked for a report it
    /// did not get must not pass.
    #[error("{error}")]
    Unreported {
        /// What could not be written.
        error: anyhow::Error,
        /// The command's exit code had the output been written.
        code: Exit,
    },
    /// Anything else that failed at run time: exit 1.
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

impl Error {
    /// A usage error: `message` names the bad value; "(see --help)" follows it.
    pub(crate) fn usage(message: impl Into<String>) -> Error {
        Error::Usage(message.into())
    }

    /// The exit code this failure ends leaktop with.
    pub(crate) fn exit_code(&self) -> Exit {
        match self {
            Error::Usage(_) | Error::Config(_) | Error::Orphans(OrphansError::NoTerminal) => {
                Exit::UsageError
            }
            Error::Run(RunError::NoCommand | RunError::Spawn(SpawnError::NotFound(_))) => {
                Exit::NotFound
            }
            Error::Run(RunError::Spawn(SpawnError::NotExecutable(_))) => Exit::CannotExecute,
            Error::Unreported { code, .. } => {
                if code.code() == 0 {
                    Exit::RuntimeError
                } else {
                    *code
                }
            }
            Error::Run(_) | Error::Orphans(_) | Error::Failed(_) => Exit::RuntimeError,
        }
    }

    /// Whether the failure is standard output's reader going away (`| head -1`).
    fn closed_pipe(&self) -> bool {
        let inner: &(dyn std::error::Error + 'static) = match self {
            Error::Usage(_) | Error::Config(_) => return false,
            Error::Run(e) => e,
            Error::Orphans(e) => e,
            Error::Unreported { error, .. } | Error::Failed(error) => error.as_ref(),
        };
        leaktop::stdout::closed_pipe(inner)
    }
}

impl From<leaktop::stdout::Error> for Error {
    fn from(e: leaktop::stdout::Error) -> Self {
        Error::Failed(e.into())
    }
}

/// Ends leaktop with a command's result: its exit code; for an error, the error's one
/// line on stderr and its exit code, except a reader that closed standard output
/// (`leaktop report x | head`), which ends quietly with 0, as ripgrep does.
pub(crate) fn finish(result: Result<Exit, Error>) -> std::process::ExitCode {
    match result {
        Ok(code) => code.into(),
        Err(e) if e.closed_pipe() => Exit::Success.into(),
        Err(e) => {
            // Every error message already carries its cause: print it once, not the chain.
            // What it quotes (a pattern, a group id, a key from a file) may hold
            // control characters that would drive the terminal: shown escaped.
            say!("leaktop: error: {}", message(&e));
            e.exit_code().into()
        }
    }
}

/// The one line an error is reported with: control and bidirectional characters
/// escaped, whatever the message quotes.
fn message(e: &Error) -> String {
    leaktop::human::printable(&e.to_string()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn what_an_error_quotes_reaches_the_terminal_escaped() {
        let e = Error::usage("no orphan group '\u{1b}[2J' or '\u{202e}x' or '\u{9b}'");
        let m = message(&e);
        assert!(!m.chars().any(leaktop::human::is_hidden), "{m}");
        assert!(m.contains("\\x1b[2J") && m.contains("\\u202e"), "{m}");
    }

    #[test]
    fn each_failure_has_its_documented_exit_code() {
        let not_found = SpawnError::NotFound("x".into());
        let cases = [
            (Error::usage("--pid 0"), 2),
            (Error::Orphans(OrphansError::NoTerminal), 2),
            (Error::Run(RunError::NoCommand), 127),
            (Error::Run(RunError::Spawn(not_found)), 127),
            (
                Error::Run(RunError::Spawn(SpawnError::NotExecutable("x".into()))),
                126,
            ),
            (Error::Run(RunError::NoTerminal), 1),
            (Error::Failed(anyhow::anyhow!("gone")), 1),
            (
                Error::Unreported {
                    error: anyhow::anyhow!("cannot write"),
                    code: Exit::Success,
                },
                1,
            ),
            (
                Error::Unreported {
                    error: anyhow::anyhow!("cannot write"),
                    code: Exit::Leaked,
                },
                3,
            ),
        ];
        for (e, code) in cases {
            assert_eq!(e.exit_code().code(), code, "{e}");
        }
        assert_eq!(Error::usage("bad").to_string(), "bad (see --help)");
    }

    #[test]
    fn a_closed_pipe_is_found_in_every_kind_of_failure() {
        let pipe = || leaktop::stdout::Error(io::Error::from(io::ErrorKind::BrokenPipe));
        assert!(Error::from(pipe()).closed_pipe());
        assert!(Error::Orphans(OrphansError::Write(pipe())).closed_pipe());
        assert!(
            Error::Unreported {
                error: pipe().into(),
                code: Exit::Success
            }
            .closed_pipe()
        );
        let full = leaktop::stdout::Error(io::Error::from_raw_os_error(28));
        assert!(!Error::from(full).closed_pipe());
        assert!(!Error::usage("x").closed_pipe());
    }
}

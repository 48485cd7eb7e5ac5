//! What every Unix host does the same way: reaping, starting a command, creating files,
//! the clocks and the machine's name, dying of a signal.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;
use std::process::{Command, Stdio};

use rustix::process::WaitOptions;

use super::{Create, Exit, SignalError, SpawnError, SpawnSpec};

/// Collects every exited child of leaktop without blocking (`waitpid(-1, WNOHANG)`).
pub(super) fn reap() -> Vec<(u32, Exit)> {
    let mut reaped = Vec::new();
    while let Ok(Some((pid, status))) = rustix::process::wait(WaitOptions::NOHANG) {
        let exit = match (status.exit_status(), status.terminating_signal()) {
            (Some(code), _) => Exit::Code(code as u8),
            (None, Some(sig)) => Exit::Signaled(sig),
            _ => Exit::Code(1),
        };
        reaped.push((pid.as_raw_nonzero().get() as u32, exit));
    }
    reaped
}

/// What an error of `kill(2)` or `pidfd_send_signal(2)` means for the signal.
pub(super) fn signal_error(e: rustix::io::Errno) -> SignalError {
    match e {
        rustix::io::Errno::PERM => SignalError::Denied,
        rustix::io::Errno::SRCH => SignalError::Gone,
        e => SignalError::Other(e.to_string()),
    }
}

/// The command `spec` describes, and its program's name as errors show it.
pub(super) fn command(spec: &SpawnSpec) -> Result<(Command, String), SpawnError> {
    let program = spec
        .argv
        .first()
        .ok_or_else(|| SpawnError::NotFound(String::new()))?;
    let name = crate::human::printable(&program.to_string_lossy()).into_owned();
    let mut command = Command::new(program);
    command.args(&spec.argv[1..]);
    command.envs(spec.env.iter().map(|(k, v)| (k, v)));
    if spec.null_stdio {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
    }
    Ok((command, name))
}

/// Starts `command` and returns its pid. std's `Child` would reap through
/// `waitpid(pid)`; leaktop reaps everything itself (`Host::reap`), so the pid stays
/// leaktop's child, and cannot be reused, until then.
pub(super) fn start(mut command: Command, name: &str) -> Result<u32, SpawnError> {
    let child = command.spawn().map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => SpawnError::NotFound(name.to_string()),
        io::ErrorKind::PermissionDenied => SpawnError::NotExecutable(name.to_string()),
        _ => SpawnError::Other(name.to_string(), e),
    })?;
    Ok(child.id())
}

/// Creates an output file; see [`Create`].
pub(super) fn create(path: &Path, how: Create) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true);
    match how {
        Create::Truncate => {
            options.create(true).truncate(true);
        }
        Create::New => {
            options
                .create_new(true)
                .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32);
        }
        Create::Existing => {}
        Create::Open | Create::Append => {
            options
                .create(true)
                .append(how == Create::Append)
                .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
            let file = options.open(path)?;
            if !file.metadata()?.file_type().is_fifo() {
                let flags = rustix::fs::fcntl_getfl(&file)?;
                rustix::fs::fcntl_setfl(&file, flags - rustix::fs::OFlags::NONBLOCK)?;
            }
            return Ok(file);
        }
    }
    options.open(path)
}

/// See [`super::Host::create_dir_all`].
pub(super) fn create_dir_all(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| match e.kind() {
            // mkdir's EEXIST here: something other than a directory is at `path`.
            io::ErrorKind::AlreadyExists => io::ErrorKind::NotADirectory.into(),
            _ => e,
        })
}

/// See [`super::Host::owner`].
pub(super) fn owner(path: &Path) -> io::Result<u32> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path)?;
    if !meta.is_dir() {
        return Err(io::ErrorKind::NotADirectory.into());
    }
    Ok(meta.uid())
}

/// This machine's name (`uname -n`).
pub(super) fn hostname() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

/// Dies of `signal` with its default action (see [`super::Host::die_of`]).
pub(super) fn die_of(signal: i32) {
    let _ = signal_hook::low_level::emulate_default_handler(signal);
}

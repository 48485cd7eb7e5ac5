//! The options `orphans` and `watch` share for the configuration file and the
//! watcher's journal, and where each is by default.

use std::path::PathBuf;

use clap::Args;

use leaktop::actions::known;
use leaktop::format::config::{self, Config, ConfigError};
use leaktop::host::Host;

/// `--config FILE`, `--no-config`.
#[derive(Args, Clone)]
#[command(next_help_heading = "Configuration")]
pub(crate) struct ConfigArgs {
    /// The configuration file [default: $XDG_CONFIG_HOME/leaktop/config.toml, else
    /// /etc/leaktop/config.toml, where one exists]. Options given here win over it.
    #[arg(long, value_name = "FILE", env = "LEAKTOP_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// Use no configuration file (LEAKTOP_NO_CONFIG=1 does the same).
    #[arg(long, conflicts_with = "config")]
    pub(crate) no_config: bool,
}

impl ConfigArgs {
    /// No option given: the file found where it is looked for, if any.
    pub(crate) fn found() -> ConfigArgs {
        ConfigArgs {
            config: std::env::var_os("LEAKTOP_CONFIG").map(PathBuf::from),
            no_config: false,
        }
    }

    /// The configuration to use (defaults where there is no file). Errors: a file that
    /// cannot be read or has a bad key, named with its line.
    pub(crate) fn load(&self) -> Result<Config, ConfigError> {
        let env = |k: &str| std::env::var_os(k);
        match config::discover(self.config.as_deref(), self.no_config, &env) {
            Some(path) => config::load(&path),
            None => Ok(Config::default()),
        }
    }
}

/// The journal directory of this user ([`known::own_journal`]).
pub(crate) fn own_journal(host: &dyn Host) -> PathBuf {
    known::own_journal(host, &|k| std::env::var_os(k))
}

/// The journals `orphans` reads: the one given, else this user's and the system's.
pub(crate) fn journals_to_read(host: &dyn Host, given: Option<&PathBuf>) -> Vec<PathBuf> {
    match given {
        Some(dir) => vec![dir.clone()],
        None => known::journals(host, &|k| std::env::var_os(k)),
    }
}

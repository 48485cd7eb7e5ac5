//! `leaktop [--pid PID | --name PATTERN]`: the interactive view.

use clap::Args;

use super::options::{RootArgs, ViewTuning};

/// Options of the interactive view.
#[derive(Args)]
pub(crate) struct ViewArgs {
    #[command(flatten)]
    pub(crate) root: RootArgs,
    #[command(flatten)]
    pub(crate) tuning: ViewTuning,
}

//! `leaktop [--pid PID | --name PATTERN]`: the interactive view.

use std::sync::Arc;

use clap::Args;
use leaktop::host::Host;

use super::options::{MetricsArgs, RootArgs, ViewTuning};

/// Options of the interactive view.
#[derive(Args)]
pub(crate) struct ViewArgs {
    #[command(flatten)]
    pub(crate) root: RootArgs,
    #[command(flatten)]
    pub(crate) tuning: ViewTuning,
    #[command(flatten)]
    pub(crate) metrics: MetricsArgs,
}

impl ViewArgs {
    /// The live view, serving `--metrics` while it runs.
    pub(crate) fn watch(&self, host: Arc<dyn Host>, color: bool) -> Result<(), super::Error> {
        let served = self.metrics.start()?;
        let mut opts = self.tuning.watch(self.root.root(), color)?;
        opts.metrics = served.as_ref().map(|s| s.state.clone());
        leaktop::ui::watch(host, &opts).map_err(anyhow::Error::from)?;
        Ok(())
    }
}

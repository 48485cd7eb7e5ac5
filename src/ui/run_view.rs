//! `run --tui`: the interactive view as `run` shows CMD's family in it
//! ([`crate::actions::run::View`]).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use super::app::{App, Source, ViewOptions};
use super::terminal::{self, LoopOptions, Tui};
use crate::actions::run::View;
use crate::host::Host;
use crate::model::Header;
use crate::monitor::TickSource;

/// The live view for `run --tui`, with the user's colour and kill grace, and where
/// its `e` writes (`None`: the XDG data directory).
pub struct RunView {
    options: ViewOptions,
    export_dir: Option<std::path::PathBuf>,
}

impl RunView {
    pub fn new(options: ViewOptions, export_dir: Option<std::path::PathBuf>) -> RunView {
        RunView {
            options,
            export_dir,
        }
    }
}

impl View for RunView {
    fn can_open(&self) -> bool {
        super::require_terminal("").is_ok()
    }

    fn show(
        &self,
        host: Arc<dyn Host>,
        header: Header,
        source: Box<dyn TickSource>,
        interval: Duration,
    ) -> io::Result<()> {
        let app = App::new(
            header,
            Source::Live,
            ViewOptions {
                protected: crate::host::protected(host.as_ref()),
                ..self.options.clone()
            },
        );
        let mut tui = Tui::open()?;
        tui.run(
            LoopOptions::new(host, self.export_dir.clone()),
            app,
            Some(source),
            interval,
        )?;
        // A fatal signal that ended the view (SIGQUIT, SIGUSR1, ...) takes effect once
        // the run has reported and cleaned up: see `finish`.
        if let Some(ending) = tui.ending() {
            ending.defer();
        }
        Ok(())
    }

    fn finish(&self, host: &dyn Host) {
        terminal::reraise_deferred(host);
    }
}

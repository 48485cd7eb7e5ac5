//! How wide `run`'s report, `orphans` and `report` may write for people: the
//! terminal's width on a terminal, `COLUMNS` where it is set, whole lines in a pipe or
//! with `--wide`. JSON is never cut.

use std::io::IsTerminal;

use clap::Args;

use leaktop::format::Width;

/// The stream the lines go to: its being a terminal decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

/// `--wide` (`-w`): whole command lines.
#[derive(Args, Clone, Copy, Debug, Default)]
pub(crate) struct WideArg {
    /// Whole command lines (as `ps -ww`), not cut with … to the terminal's width.
    ///
    /// In a pipe lines are whole already, unless COLUMNS is set (then cut to it); JSON
    /// is never cut.
    #[arg(long, short = 'w')]
    pub(crate) wide: bool,
}

impl WideArg {
    /// The width for lines written to `stream`: whole with `--wide`; `COLUMNS` where
    /// it is a number above 0; on a terminal its width (80 where it reports none);
    /// else whole. Never under [`MIN_COLUMNS`].
    pub(crate) fn width(self, stream: Stream) -> Width {
        if self.wide {
            return Width::Whole;
        }
        if let Some(columns) = std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.trim().parse::<usize>().ok())
            .filter(|&c| c > 0)
        {
            return Width::Cut(columns.max(MIN_COLUMNS));
        }
        let terminal = match stream {
            Stream::Stdout => std::io::stdout().is_terminal(),
            Stream::Stderr => std::io::stderr().is_terminal(),
        };
        if !terminal {
            return Width::Whole;
        }
        let columns = ratatui::crossterm::terminal::size()
            .map(|(w, _)| usize::from(w))
            .unwrap_or(0);
        Width::Cut(if columns == 0 {
            80
        } else {
            columns.max(MIN_COLUMNS)
        })
    }
}

/// The narrowest lines are cut to: below it every word would be `…` on a line of its
/// own (COLUMNS=1), so narrower terminals get lines of this width, which wrap.
const MIN_COLUMNS: usize = 20;

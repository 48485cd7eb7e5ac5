//! The event loop, and the terminal it runs in.
//!
//! [`run_loop`] is the view itself, generic over ratatui's `Backend`: it consumes
//! [`Msg`]s from a channel (keys, ticks, signals, the terminal going away, and the
//! results of its own workers), draws, and carries out the app's
//! [`Effect`](crate::ui::app::Effect)s through a [`Host`](crate::host::Host): kills
//! and exports run on threads of their own so the screen never waits for them, and
//! the sampling thread keeps the host's clock. [`Tui`] is the thin crossterm shell
//! around it: raw mode and the alternate screen, the input thread and the host's
//! signal listener; it always gives the terminal back (on quit, on a panic, on a
//! signal). The tests run [`run_loop`] on a `TestBackend` with the fake host (whose
//! clock decides when the sampling thread ticks) and messages of their own.
//!
//! ```text
//!  input thread ──┐                              ┌──► kill worker ───┐
//!  Host signals ──┴─► events ─► relay ─┐         ├──► export worker ─┤
//!       (or a test)                    ▼         │                   │
//!                                   run_loop ────┴──► sampling ──────┤  (Host::wait:
//!                                      ▲                             │   its clock)
//!                                      └─────────────────────────────┘
//!                                       Killed, ExportProgress, Exported, Tick, Finished
//! ```
//!
//! - [`event_loop`]: [`run_loop`] and [`pick_loop`], and the [`Msg`]s they consume;
//! - `workers`: the kill, the export and the memory reads, each on a thread;
//! - `sampling`: the thread that steps a [`TickSource`] on the host's clock;
//! - `signals`: which signals end the view, and which leaktop dies of after;
//! - `export`: `e`, the timeline written to a file of a name nobody planted;
//! - `tui`: [`Tui`], raw mode, the alternate screen and the input thread.

pub mod event_loop;
mod export;
mod sampling;
mod signals;
mod tui;
mod workers;

pub use crate::monitor::{Reaping, TickSource};
pub use event_loop::{LoopOptions, Msg, Outcome, pick_loop, run_loop};
pub use export::{create_export, default_export_dir, export_name, whose_dir};
pub use signals::{Ending, FATAL_SIGNALS, QUIT_SIGNALS, reraise_deferred};
pub use tui::Tui;

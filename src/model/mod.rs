//! The model: pure logic over samples. No I/O happens here.
//!
//! - [`tracker`] turns a stream of samples into a family with lineage and leaks;
//! - [`snapshot`] holds what one tick looked like (what the formats write and read);
//! - [`alerts`] flags leaks under live parents: accumulating, idle, rss_ratchet, zombies, stopped;
//! - [`allow`] says which processes are meant to outlive their parent (`--allow`);
//! - [`gpu`] joins what the GPU drivers say into GPU memory per process;
//! - [`orphans`] finds the groups orphaned before leaktop looked (`leaktop orphans`);
//! - [`run_record`] is what a `leaktop run` leaves behind to vouch for its marker;
//! - [`leak_log`] keeps a run's leaks, those that exited before it ended included;
//! - [`layout`] orders a tick's processes as a tree, with leaked trees after the live one;
//! - [`restart`] decides which new process is a `--follow`ed root started again;
//! - [`watch`] keeps the lineage of every process and the story of every orphaning
//!   (`leaktop watch`), and what a `[[policy]]` decides.

pub mod alerts;
pub mod allow;
pub mod gpu;
pub mod layout;
pub mod leak_log;
pub mod orphans;
pub mod restart;
pub mod run_record;
pub mod snapshot;
pub mod tracker;
pub mod watch;

pub use alerts::{Alert, AlertConfig, AlertKind};
pub use snapshot::{Event, Header, MemSum, ProcRow, ShortLives, Tick};
pub use tracker::Tracker;

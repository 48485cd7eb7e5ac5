//! The model: pure logic over samples. No I/O happens here.
//!
//! - [`tracker`] turns a stream of samples into a family with lineage and leaks;
//! - [`snapshot`] holds what one tick looked like (what the formats write and read);
//! - [`alerts`] flags leaks under live parents: accumulating, idle, rss_ratchet, zombies;
//! - [`gpu`] joins what the GPU drivers say into GPU memory per process;
//! - [`orphans`] finds the groups orphaned before leaktop looked (`leaktop orphans`);
//! - [`rules`] names processes: what `[[ignore]]` hides and a `[[policy]]` applies to;
//! - [`watch`] keeps the lineage of every process and the story of every orphaning
//!   (`leaktop watch`);
//! - [`layout`] orders a tick's processes as a tree, with leaked trees after the live one.

pub mod alerts;
pub mod gpu;
pub mod layout;
pub mod orphans;
pub mod rules;
pub mod snapshot;
pub mod tracker;
pub mod watch;

pub use alerts::{Alert, AlertConfig, AlertKind};
pub use snapshot::{Event, Header, MemSum, ProcRow, Tick};
pub use tracker::Tracker;

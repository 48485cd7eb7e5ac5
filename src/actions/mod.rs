//! Actions that change the world: the safe kill and the subreaper runner.

pub mod kill;
pub mod run;

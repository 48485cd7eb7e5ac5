//! Actions that change the world: the safe kill, the subreaper runner, and the
//! orphan scan that feeds the kill.

pub mod kill;
pub mod known;
pub mod orphans;
pub mod rules;
pub mod run;
pub mod run_trail;
pub mod watch;

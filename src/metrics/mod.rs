//! `--metrics ADDR`: the family's figures for Prometheus (or anything that scrapes
//! OpenMetrics), served on `GET /metrics`.
//!
//! - [`state`]: the figures of the last tick, published by the sampler and read by the
//!   server (the scrape never waits for a tick, a tick never waits for a scrape);
//! - [`encode`]: those figures in the OpenMetrics text format (`prometheus-client`);
//! - [`watch`]: what `leaktop watch` publishes, and its textfile for node_exporter;
//! - [`server`]: a small HTTP/1.1 server on its own threads, bounded against hostile
//!   clients (connections, timeouts, request size).

pub mod encode;
pub mod server;
pub mod state;
pub mod watch;

pub use server::{MetricsError, MetricsServer};
pub use state::{Figures, MetricsState, OrphanFigures, TickPublisher};

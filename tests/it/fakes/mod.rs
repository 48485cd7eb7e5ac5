//! Fakes for the integration tests: in a test module,
//! `use crate::fakes::host::{FakeHost, Proc, Reaction};`. See [`host`].
#![allow(dead_code)]

pub mod gpu;
pub mod host;

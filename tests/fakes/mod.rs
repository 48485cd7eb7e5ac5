//! Fakes for the integration tests: `mod fakes;` in a test file, then
//! `use fakes::host::{FakeHost, Proc, Reaction};`. See [`host`].
#![allow(dead_code)]

pub mod host;

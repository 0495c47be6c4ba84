//! Regatlas server library: configuration, storage, HTTP surface and
//! start-up. The `regatlas` binary (`main.rs`) is a thin CLI over it, and the
//! integration tests drive it through [`startup::Application`].

pub mod config;
pub mod http;
pub mod startup;
pub mod storage;
pub mod telemetry;

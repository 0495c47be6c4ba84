//! Regatlas server library: configuration, storage, the status poller, the
//! replica actions, the event hub, the HTTP surface and start-up. The
//! `regatlas` binary (`main.rs`) is a thin CLI over it, and the integration
//! tests drive it through [`startup::Application`].
#![recursion_limit = "512"]

pub mod actions;
pub mod auth;
pub mod bench;
pub mod cluster;
pub mod config;
pub mod events;
pub mod http;
pub mod metrics;
pub mod migration;
pub mod outbound;
pub mod poller;
pub mod presence;
pub mod relocation;
pub mod startup;
pub mod storage;
pub mod telemetry;
pub mod views;

//! The server's integration tests: one binary (one link), a module per
//! area, shared helpers (`spawn_app` and friends) in `helpers.rs`.

mod helpers;

mod auth;
mod backend;
mod claims;
mod cluster;
mod connected;
mod contract;
mod cross_site;
mod emulator_cli;
mod health;
mod hostile_registry;
mod migration_crash;
mod migration_scale;
mod migrations;
mod poller_commit;
mod presence;
mod relocation;
mod settings;
mod startup_failures;
mod transfer;
mod webhooks;

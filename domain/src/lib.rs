//! The domain of Regatlas: what the console knows about, with no HTTP,
//! SQL or UI in it.
//!
//! - [`state`]: states and kinds as enums (migration, item, operation,
//!   replica, health, event, child, checklist, cadence). Each travels as one
//!   fixed string, written in exactly one place (`string_enum!`).
//! - [`name`]: names that come from people or ARM — registry, region,
//!   repository, tag, digest, actor — as newtypes that validate on parse.
//! - [`identity`]: who asks (a principal), how (session, application,
//!   API token, local) and what they may do (a role).
//! - [`presence`]: which digest each region serves for each tag, and the
//!   arrivals that replication lag is computed from.
//! - [`record`]: what storage stores and returns. Storage speaks these, the
//!   server maps them to the view models of `regatlas-app`.
//!
//! Every other crate may depend on this one; it depends on none of them.

#[macro_use]
mod macros;
pub mod identity;
pub mod name;
pub mod presence;
pub mod record;
pub mod state;

pub use identity::{Identity, Principal, Role, Via};
pub use name::{Actor, Digest, NameError, Region, RegistryName, Repository, Tag};
pub use state::*;

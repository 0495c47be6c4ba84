//! The emulator's integration tests: one binary, a module per area, shared
//! helpers in `common.rs` and the real OCI tools (`skopeo`, CNCF
//! Distribution) in `../oci_tools/`. The managed-identity test stays a
//! binary of its own (`tests/identity.rs`): `azure_identity` reads that
//! protocol's settings from the process environment, which a test may only
//! change where no other test runs beside it.

mod common;
#[path = "../oci_tools/mod.rs"]
mod oci_tools;

mod arm_behaviour;
mod arm_examples;
mod data_plane;
mod entra;
mod persistence;
mod real_clients;

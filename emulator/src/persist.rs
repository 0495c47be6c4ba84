//! `--state-dir`: keeps the simulated world across restarts.
//!
//! The state directory holds `world.json` (registries, replications, child
//! resources, tags and manifest records, faults) and `blobs/<hex>` (blob and
//! manifest bytes, content-addressed, written once). The snapshot is written
//! atomically (temporary file + rename) every few seconds while the world
//! changes, and at shutdown.
//!
//! What a restart does not keep, by design: operations in flight (a resource
//! that was Creating, Updating or Deleting comes back settled: created,
//! updated, or gone), the per-region arrival times of content (everything has
//! landed everywhere), issued tokens (clients fetch a new one) and chunked
//! uploads in progress. Endpoints are re-bound on their previous ports when
//! those are free, on new ports otherwise.

use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
    sync::Arc,
    time::Instant,
};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{
    oci::store::{sha256_digest, ManifestRec, RegistryContent, Repo, TagRec},
    world::{Child, Faults, Registry, Replication},
    Shared,
};

/// Why the state directory could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error("state directory {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("state file {path} is not a valid snapshot: {source}")]
    Parse { path: PathBuf, source: serde_json::Error },
    #[error("state directory {path}: blob {digest} is missing or corrupt")]
    Blob { path: PathBuf, digest: String },
}

const FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Snapshot {
    format: u32,
    saved_at: DateTime<Utc>,
    tenant_id: String,
    faults: Faults,
    registries: Vec<RegistrySnap>,
}

#[derive(Serialize, Deserialize)]
struct RegistrySnap {
    name: String,
    resource_group: String,
    location: String,
    sku: String,
    tags: Value,
    identity: Option<Value>,
    props: Map<String, Value>,
    created_at: DateTime<Utc>,
    login_server: String,
    admin_password: String,
    replications: Vec<ReplicationSnap>,
    children: Vec<ChildSnap>,
    /// Digests of every blob the registry holds (bytes under `blobs/`).
    blobs: Vec<String>,
    repos: BTreeMap<String, RepoSnap>,
}

#[derive(Serialize, Deserialize)]
struct ReplicationSnap {
    name: String,
    location: String,
    tags: Value,
    region_endpoint_enabled: bool,
    zone_redundancy: String,
    home: bool,
    created_at: DateTime<Utc>,
    endpoint: String,
}

#[derive(Serialize, Deserialize)]
struct ChildSnap {
    kind: String,
    name: String,
    body: Value,
    secrets: Value,
    created_at: DateTime<Utc>,
    events: Vec<Value>,
}

#[derive(Serialize, Deserialize)]
struct ManifestSnap {
    digest: String,
    media_type: String,
}

#[derive(Serialize, Deserialize)]
struct RepoSnap {
    manifests: Vec<ManifestSnap>,
    /// Tag → digest, as seen in the home region.
    tags: BTreeMap<String, String>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PersistError + '_ {
    move |source| PersistError::Io { path: path.to_path_buf(), source }
}

fn blob_path(dir: &Path, digest: &str) -> PathBuf {
    let hex = digest.split_once(':').map(|(_, h)| h).unwrap_or(digest);
    dir.join("blobs").join(hex)
}

/// Whether `dir` holds a snapshot to restore.
pub fn has_snapshot(dir: &Path) -> bool {
    dir.join("world.json").is_file()
}

/// Writes the world to `dir` unless it equals `last` (the previous save's
/// content, kept by the caller). Blob bytes are written once (content-addressed).
pub fn save(shared: &Shared, dir: &Path, last: &mut Option<Vec<u8>>) -> Result<(), PersistError> {
    let mut pending_blobs: Vec<(String, Bytes)> = Vec::new();
    let snapshot = {
        let world = shared.world();
        let mut registries = Vec::new();
        for reg in world.registries.values() {
            if reg.deleting_at.is_some() {
                continue;
            }
            let mut repos = BTreeMap::new();
            for (name, repo) in &reg.content.repos {
                let mut manifests = Vec::new();
                for (digest, m) in &repo.manifests {
                    pending_blobs.push((digest.clone(), m.bytes.clone()));
                    manifests.push(ManifestSnap { digest: digest.clone(), media_type: m.media_type.clone() });
                }
                let tags = repo
                    .tags
                    .keys()
                    .filter_map(|t| {
                        // The newest record, landed or not: a restart settles replication.
                        let newest = repo.tags.get(t)?.last()?;
                        (!newest.digest.is_empty()).then(|| (t.clone(), newest.digest.clone()))
                    })
                    .collect();
                repos.insert(name.clone(), RepoSnap { manifests, tags });
            }
            for (d, b) in &reg.content.blobs {
                pending_blobs.push((d.clone(), b.clone()));
            }
            registries.push(RegistrySnap {
                name: reg.name.clone(),
                resource_group: reg.resource_group.clone(),
                location: reg.location.clone(),
                sku: reg.sku.clone(),
                tags: reg.tags.clone(),
                identity: reg.identity.clone(),
                props: reg.props.clone(),
                created_at: reg.created_at,
                login_server: reg.login_server.clone(),
                admin_password: reg.admin_password.clone(),
                replications: reg
                    .replications
                    .values()
                    .filter(|r| r.deleting_at.is_none())
                    .map(|r| ReplicationSnap {
                        name: r.name.clone(),
                        location: r.location.clone(),
                        tags: r.tags.clone(),
                        region_endpoint_enabled: r.region_endpoint_enabled,
                        zone_redundancy: r.zone_redundancy.clone(),
                        home: r.home,
                        created_at: r.created_at,
                        endpoint: r.endpoint.clone(),
                    })
                    .collect(),
                children: reg
                    .children
                    .values()
                    .filter(|c| c.deleting_at.is_none())
                    .map(|c| ChildSnap {
                        kind: c.kind.clone(),
                        name: c.name.clone(),
                        body: c.body.clone(),
                        secrets: c.secrets.clone(),
                        created_at: c.created_at,
                        events: c.events.clone(),
                    })
                    .collect(),
                blobs: reg.content.blobs.keys().cloned().collect(),
                repos,
            });
        }
        Snapshot { format: FORMAT, saved_at: Utc::now(), tenant_id: world.tenant_id.clone(), faults: world.faults.clone(), registries }
    };
    // Unchanged since the last save (the timestamp aside): nothing to write.
    let key = serde_json::to_vec(&(&snapshot.tenant_id, &snapshot.faults, &snapshot.registries)).unwrap_or_default();
    if last.as_deref() == Some(key.as_slice()) {
        return Ok(());
    }
    let blobs = dir.join("blobs");
    std::fs::create_dir_all(&blobs).map_err(io(&blobs))?;
    for (digest, bytes) in pending_blobs {
        let p = blob_path(dir, &digest);
        if !p.exists() {
            let tmp = p.with_extension("tmp");
            std::fs::write(&tmp, &bytes).map_err(io(&tmp))?;
            std::fs::rename(&tmp, &p).map_err(io(&p))?;
        }
    }
    let file = dir.join("world.json");
    let tmp = dir.join("world.json.tmp");
    let text = serde_json::to_vec_pretty(&snapshot).map_err(|source| PersistError::Parse { path: file.clone(), source })?;
    std::fs::write(&tmp, text).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &file).map_err(io(&file))?;
    *last = Some(key);
    tracing::debug!(dir = %dir.display(), registries = snapshot.registries.len(), "emulator state saved");
    Ok(())
}

fn read_blob(dir: &Path, digest: &str) -> Result<Bytes, PersistError> {
    let p = blob_path(dir, digest);
    let bytes = std::fs::read(&p).map_err(|_| PersistError::Blob { path: dir.to_path_buf(), digest: digest.to_string() })?;
    if sha256_digest(&bytes) != digest {
        return Err(PersistError::Blob { path: dir.to_path_buf(), digest: digest.to_string() });
    }
    Ok(Bytes::from(bytes))
}

fn port_of(hostport: &str) -> Option<u16> {
    hostport.rsplit_once(':').and_then(|(_, p)| p.parse().ok())
}

/// Restores the world from `dir` and binds its endpoints.
pub async fn restore(shared: &Arc<Shared>, dir: &Path) -> Result<(), PersistError> {
    let file = dir.join("world.json");
    let text = std::fs::read(&file).map_err(io(&file))?;
    let snap: Snapshot = serde_json::from_slice(&text).map_err(|source| PersistError::Parse { path: file.clone(), source })?;
    {
        let mut world = shared.world();
        world.tenant_id = snap.tenant_id.clone();
        world.faults = snap.faults.clone();
    }
    for r in snap.registries {
        let key = r.name.to_ascii_lowercase();
        let global = shared
            .spawn_endpoint_on(&key, None, port_of(&r.login_server))
            .await
            .map_err(|e| PersistError::Io { path: file.clone(), source: std::io::Error::other(e.message) })?;
        let now = Instant::now();
        let regions: Vec<String> = r.replications.iter().map(|p| p.location.clone()).collect();
        let landed: HashMap<String, Instant> = regions.iter().map(|x| (x.clone(), now)).collect();
        let mut replications = BTreeMap::new();
        for p in r.replications {
            let endpoint = shared
                .spawn_endpoint_on(&key, Some(p.location.clone()), port_of(&p.endpoint))
                .await
                .map_err(|e| PersistError::Io { path: file.clone(), source: std::io::Error::other(e.message) })?;
            replications.insert(
                p.name.to_ascii_lowercase(),
                Replication {
                    name: p.name,
                    location: p.location,
                    tags: p.tags,
                    region_endpoint_enabled: p.region_endpoint_enabled,
                    zone_redundancy: p.zone_redundancy,
                    home: p.home,
                    created_at: p.created_at,
                    provisioned_at: Some(now),
                    synced_at: Some(now),
                    updating_until: None,
                    deleting_at: None,
                    endpoint,
                },
            );
        }
        let mut content = RegistryContent::default();
        for d in &r.blobs {
            content.blobs.insert(d.clone(), read_blob(dir, d)?);
        }
        for (name, repo) in r.repos {
            let mut rr = Repo::default();
            for m in repo.manifests {
                let bytes = read_blob(dir, &m.digest)?;
                let parsed: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                rr.manifests.insert(
                    m.digest.clone(),
                    ManifestRec {
                        media_type: m.media_type,
                        bytes,
                        landed: landed.clone(),
                        subject: parsed["subject"]["digest"].as_str().map(str::to_string),
                        artifact_type: parsed["artifactType"].as_str().or_else(|| parsed["config"]["mediaType"].as_str()).map(str::to_string),
                    },
                );
            }
            for (tag, digest) in repo.tags {
                rr.tags.insert(tag, vec![TagRec { digest, landed: landed.clone() }]);
            }
            content.repos.insert(name, rr);
        }
        let children = r
            .children
            .into_iter()
            .map(|c| {
                (
                    (c.kind.clone(), c.name.to_ascii_lowercase()),
                    Child {
                        kind: c.kind,
                        name: c.name,
                        body: c.body,
                        secrets: c.secrets,
                        created_at: c.created_at,
                        ready_at: now,
                        deleting_at: None,
                        events: c.events,
                    },
                )
            })
            .collect();
        let reg = Registry {
            name: r.name,
            resource_group: r.resource_group,
            location: r.location,
            sku: r.sku,
            tags: r.tags,
            identity: r.identity,
            props: r.props,
            created_at: r.created_at,
            ready_at: now,
            deleting_at: None,
            replications,
            children,
            content,
            login_server: global,
            admin_password: r.admin_password,
        };
        shared.world().registries.insert(key, reg);
    }
    tracing::info!(dir = %dir.display(), saved_at = %snap.saved_at, "emulator state restored");
    Ok(())
}

//! Transfer pipeline runs (ACR transfer, 2025-06-01-preview): an export run
//! writes its artifacts to a blob in the export pipeline's storage
//! container; an import run reads a blob from the import pipeline's
//! container and imports what it holds into its registry. The emulator's
//! "storage" is `World::transfer_blobs`, keyed by container URI and blob
//! name, so a blob exported by one registry is what another imports.
//!
//! A run checks its request when it is PUT (and again when
//! `forceUpdateTag` changes): an artifact that does not exist, or a blob
//! that is not in the container, makes the run fail part-way, with
//! `pipelineRunErrorMessage`, as ACR reports it.

use std::{sync::Arc, time::Instant};

use serde_json::{json, Value};

use super::ArmError;
use crate::{
    world::{Registry, TransferBlob, World},
    Shared,
};

/// At most this many artifacts per run.
pub const MAX_ARTIFACTS: usize = 50;

/// The share of a failing run's time after which it fails.
const FAIL_AT: f64 = 0.3;

pub fn blob_key(container: &str, blob: &str) -> String {
    format!("{}/{}", container.trim_end_matches('/'), blob).to_ascii_lowercase()
}

/// The tags an artifact names in a registry (`repo` → every tag, `repo:tag`,
/// `repo@digest`), or why it cannot be exported.
fn resolve(reg: &Registry, artifact: &str) -> Result<Vec<String>, String> {
    let missing = || format!("Artifact '{artifact}' was not found in registry '{}'.", reg.name);
    let home = reg.location.as_str();
    let now = Instant::now();
    if let Some((repo, digest)) = artifact.split_once('@') {
        let rp = reg.content.repos.get(repo).ok_or_else(missing)?;
        rp.manifest_in(digest, home, now).ok_or_else(missing)?;
        return Ok(vec![artifact.to_string()]);
    }
    match artifact.split_once(':') {
        Some((repo, tag)) => {
            let rp = reg.content.repos.get(repo).ok_or_else(missing)?;
            rp.tag_in(tag, home, now).ok_or_else(missing)?;
            Ok(vec![artifact.to_string()])
        }
        None => {
            let rp = reg.content.repos.get(artifact).ok_or_else(missing)?;
            let tags = rp.tags_in(home, now);
            if tags.is_empty() {
                return Err(missing());
            }
            Ok(tags.into_iter().map(|t| format!("{artifact}:{t}")).collect())
        }
    }
}

/// What an import run copies when it completes.
pub struct ImportJob {
    pub target: String,
    /// The run's generation: a job whose run was restarted or deleted does nothing.
    pub generation: String,
    pub source_registry: String,
    pub artifacts: Vec<String>,
    pub overwrite_tags: bool,
    pub after: std::time::Duration,
}

/// Checks a run's request and starts it: returns the run's secrets (the
/// failure, the artifacts an import brings) and, for an import, the copy.
pub fn start(world: &mut World, reg_key: &str, body: &Value) -> Result<(Value, Option<ImportJob>), ArmError> {
    let request = &body["properties"]["request"];
    let pipeline_id = request["pipelineResourceId"].as_str().unwrap_or_default();
    let pipeline = pipeline_id.rsplit('/').next().unwrap_or_default().to_ascii_lowercase();
    let reg = world.registries.get(reg_key).ok_or_else(|| ArmError::not_found("Registry was not found."))?;
    let export =
        reg.children.get(&("exportpipelines".to_string(), pipeline.clone())).filter(|_| pipeline_id.to_ascii_lowercase().contains("/exportpipelines/"));
    let import =
        reg.children.get(&("importpipelines".to_string(), pipeline.clone())).filter(|_| pipeline_id.to_ascii_lowercase().contains("/importpipelines/"));
    let total = world.timings.pipeline_run;
    match (export, import) {
        (Some(p), _) => {
            let artifacts: Vec<String> = request["artifacts"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect();
            if artifacts.is_empty() || artifacts.len() > MAX_ARTIFACTS {
                return Err(ArmError::bad_request("InvalidRequestContent", format!("An export pipeline run transfers 1 to {MAX_ARTIFACTS} artifacts.")));
            }
            let blob = request["target"]["name"].as_str().unwrap_or_default().to_string();
            if blob.is_empty() {
                return Err(ArmError::bad_request("InvalidRequestContent", "properties.request.target.name (the blob) is required."));
            }
            let container = p.body["properties"]["target"]["uri"].as_str().unwrap_or_default().to_string();
            let mut resolved = Vec::new();
            let mut failure = None;
            for a in &artifacts {
                match resolve(reg, a) {
                    Ok(r) => {
                        for x in r {
                            if !resolved.contains(&x) {
                                resolved.push(x);
                            }
                        }
                    }
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
            let source = reg.name.clone();
            if failure.is_none() {
                world.transfer_blobs.insert(
                    blob_key(&container, &blob),
                    TransferBlob { source_registry: source, artifacts: resolved.clone(), ready_at: world.clock.after(total) },
                );
            }
            Ok((json!({ "failure": failure, "artifacts": resolved }), None))
        }
        (None, Some(p)) => {
            let blob = request["source"]["name"].as_str().unwrap_or_default().to_string();
            if blob.is_empty() {
                return Err(ArmError::bad_request("InvalidRequestContent", "properties.request.source.name (the blob) is required."));
            }
            let container = p.body["properties"]["source"]["uri"].as_str().unwrap_or_default().to_string();
            let overwrite_tags = p.body["properties"]["options"].as_array().into_iter().flatten().any(|o| o == "OverwriteTags");
            let found = world.transfer_blobs.get(&blob_key(&container, &blob)).filter(|b| Instant::now() >= b.ready_at);
            match found {
                None => Ok((json!({ "failure": format!("The blob '{blob}' was not found in the source container '{container}'."), "artifacts": [] }), None)),
                Some(b) => {
                    let generation = uuid::Uuid::new_v4().to_string();
                    let job = ImportJob {
                        target: reg_key.to_string(),
                        generation: generation.clone(),
                        source_registry: b.source_registry.clone(),
                        artifacts: b.artifacts.clone(),
                        overwrite_tags,
                        after: world.clock.real(total),
                    };
                    // The run ends when its copy has ended ("copied").
                    Ok((json!({ "failure": null, "artifacts": b.artifacts, "generation": generation, "copied": false }), Some(job)))
                }
            }
        }
        _ => Err(ArmError::bad_request(
            "InvalidRequestContent",
            format!("properties.request.pipelineResourceId '{pipeline_id}' is not an export or import pipeline of this registry."),
        )),
    }
}

/// Copies an import run's artifacts into its registry when the run ends.
pub fn spawn_import(shared: Arc<Shared>, run: String, job: ImportJob) {
    let key = ("pipelineruns".to_string(), run.to_ascii_lowercase());
    let current = {
        let shared = shared.clone();
        let (key, target, generation) = (key.clone(), job.target.clone(), job.generation.clone());
        move || {
            let world = shared.world();
            world
                .registries
                .get(&target)
                .and_then(|r| r.children.get(&key))
                .is_some_and(|c| c.deleting_at.is_none() && c.secrets["generation"] == json!(generation))
        }
    };
    tokio::spawn(async move {
        tokio::time::sleep(job.after).await;
        let mut failed = None;
        for a in &job.artifacts {
            if !current() {
                tracing::info!(run = %run, "import pipeline run restarted or deleted; its old copy stops");
                return;
            }
            if let Err(e) =
                super::import::run(&shared, &job.target, a, Some(job.source_registry.clone()), None, (None, None), job.overwrite_tags, vec![], vec![]).await
            {
                tracing::warn!(run = %run, artifact = %a, error = %e.message, "an import pipeline run could not import an artifact");
                failed.get_or_insert_with(|| format!("Importing '{a}' failed: {}", e.message));
            }
        }
        if !current() {
            return;
        }
        let mut world = shared.world();
        if let Some(c) = world.registries.get_mut(&job.target).and_then(|r| r.children.get_mut(&key)) {
            c.secrets["copied"] = json!(true);
            if let Some(f) = failed {
                c.secrets["failure"] = json!(f);
                c.secrets["artifacts"] = json!([]);
            }
        }
        tracing::info!(run = %run, artifacts = job.artifacts.len(), "import pipeline run finished");
    });
}

/// The run's `response`, from how long it has run and how it ends.
pub fn response(world: &World, reg: &Registry, c: &crate::world::Child) -> Value {
    let v = &c.body;
    let total = c.secrets["duration"].as_f64().unwrap_or(world.timings.pipeline_run).max(0.001);
    let elapsed = world.clock.sim_since(c.ready_at).max(0.0);
    let failure = c.secrets["failure"].as_str();
    let stop = if failure.is_some() { FAIL_AT } else { 1.0 };
    // An import ends when its copy has ended.
    let copying = c.secrets["copied"] == json!(false);
    let pct = ((elapsed / total).min(stop) * 100.0).floor().min(if copying { 99.0 } else { 100.0 });
    let ended = elapsed >= total * stop && !copying;
    let status = match (ended, failure) {
        (false, _) => "Running",
        (true, Some(_)) => "Failed",
        (true, None) => "Succeeded",
    };
    let request = &v["properties"]["request"];
    let mut out = json!({
        "status": status,
        "progress": { "percentage": format!("{pct}") },
        "startTime": c.created_at.to_rfc3339(),
        "importedArtifacts": if ended && failure.is_none() { c.secrets["artifacts"].clone() } else { json!([]) },
        "catalogDigest": request["catalogDigest"].as_str().map(str::to_string)
            .unwrap_or_else(|| crate::oci::store::sha256_digest(c.name.as_bytes())),
    });
    if ended {
        let secs = (total * stop / world.clock.scale()).round() as i64;
        out["finishTime"] = json!((c.created_at + chrono::Duration::seconds(secs)).to_rfc3339());
    }
    if let (true, Some(f)) = (ended, failure) {
        out["pipelineRunErrorMessage"] = json!(f);
    }
    // The pipeline's storage side, as the run reports it.
    let pipeline = request["pipelineResourceId"].as_str().unwrap_or("").rsplit('/').next().unwrap_or("").to_ascii_lowercase();
    for (kind, side) in [("exportpipelines", "target"), ("importpipelines", "source")] {
        if let Some(p) = reg.children.get(&(kind.to_string(), pipeline.clone())) {
            out[side] = p.body["properties"][side].clone();
        }
    }
    out
}

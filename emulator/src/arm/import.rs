//! `importImage`: copies an image (all platforms of an index) into a
//! registry from another emulated registry (`resourceId`) or from any OCI
//! registry by `registryUri`, as a `Location`-polled operation that takes
//! time in proportion to the bytes copied.

use std::{sync::Arc, time::Instant};

use axum::response::Response;
use bytes::Bytes;
use serde_json::Value;

use super::{location_response, registries, ArmError, Req};
use crate::{
    oci::MANIFEST_TYPES,
    world::{Outcome, PollStyle},
    Shared,
};

/// One manifest to copy (children of an index come before the index).
struct Item {
    digest: String,
    media_type: String,
    bytes: Bytes,
}

/// What was fetched from the source.
struct Fetched {
    manifests: Vec<Item>,
    blobs: Vec<(String, Bytes)>,
    root: String,
    source_tag: Option<String>,
}

fn parse_image(s: &str) -> (String, Option<String>, Option<String>) {
    if let Some((repo, digest)) = s.split_once('@') {
        return (repo.to_string(), None, Some(digest.to_string()));
    }
    // A ':' after the last '/' separates the tag.
    let slash = s.rfind('/').map(|i| i + 1).unwrap_or(0);
    match s[slash..].find(':') {
        Some(i) => (s[..slash + i].to_string(), Some(s[slash + i + 1..].to_string()), None),
        None => (s.to_string(), Some("latest".to_string()), None),
    }
}

pub async fn start(shared: &Arc<Shared>, rg: &str, name: &str, req: &Req) -> Result<Response, ArmError> {
    let source = &req.body["source"];
    let source_image = source["sourceImage"].as_str().ok_or_else(|| ArmError::bad_request("InvalidParameters", "source.sourceImage is required."))?.to_string();
    let resource_id = source["resourceId"].as_str().map(str::to_string);
    let registry_uri = source["registryUri"].as_str().map(str::to_string);
    if resource_id.is_none() && registry_uri.is_none() {
        return Err(ArmError::bad_request("InvalidParameters", "Either source.resourceId or source.registryUri is required."));
    }
    let force = match req.body["mode"].as_str().unwrap_or("NoForce") {
        "Force" => true,
        "NoForce" => false,
        other => return Err(ArmError::bad_request("InvalidParameters", format!("mode '{other}' must be NoForce or Force."))),
    };
    let target_tags: Vec<String> =
        req.body["targetTags"].as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()).unwrap_or_default();
    let untagged: Vec<String> =
        req.body["untaggedTargetRepositories"].as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()).unwrap_or_default();
    let creds = (source["credentials"]["username"].as_str().map(str::to_string), source["credentials"]["password"].as_str().map(str::to_string));

    let (op, location_path, target_key) = {
        let mut world = shared.world();
        world.tick();
        let reg = registries::find(&world, rg, name)?;
        let key = reg.name.to_ascii_lowercase();
        let loc = reg.location.clone();
        world.count("importImage");
        let op = world.new_operation("registries", PollStyle::Location, None, None);
        let path = format!(
            "/subscriptions/{}/resourceGroups/{rg}/providers/Microsoft.ContainerRegistry/locations/{loc}/operationResults/operationStatuses/{op}",
            world.subscription_id
        );
        (op, path, key)
    };
    let shared2 = shared.clone();
    let op2 = op.clone();
    tokio::spawn(async move {
        let result = run(&shared2, &target_key, &source_image, resource_id, registry_uri, creds, force, target_tags, untagged).await;
        let mut world = shared2.world();
        let outcome = match result {
            Ok(()) => Outcome::Succeeded,
            Err(e) => {
                tracing::info!(code = %e.code, message = %e.message, "import failed");
                Outcome::Failed { code: e.code, message: e.message }
            }
        };
        if let Some(o) = world.operations.get_mut(&op2) {
            o.outcome = Some(outcome);
            o.done_at = Some(Instant::now());
            o.finished = Some(chrono::Utc::now());
        }
    });
    Ok(location_response(shared, &location_path, &req.api_version))
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn run(
    shared: &Arc<Shared>,
    target: &str,
    source_image: &str,
    resource_id: Option<String>,
    registry_uri: Option<String>,
    creds: (Option<String>, Option<String>),
    force: bool,
    target_tags: Vec<String>,
    untagged: Vec<String>,
) -> Result<(), ArmError> {
    let (repo, tag, digest) = parse_image(source_image);
    let fetched = match (&resource_id, &registry_uri) {
        (Some(id), _) => fetch_local(shared, id, &repo, tag.as_deref(), digest.as_deref())?,
        (None, Some(uri)) => fetch_remote(shared, uri, &repo, tag.as_deref(), digest.as_deref(), creds).await?,
        _ => return Err(ArmError::bad_request("InvalidParameters", "No source given.")),
    };
    // Targets: explicit tags, else the source tag (digest sources need explicit targets).
    let mut tags: Vec<(String, String)> = target_tags
        .iter()
        .map(|t| {
            let (r, tg, _) = parse_image(t);
            (r, tg.or(fetched.source_tag.clone()).unwrap_or_else(|| "latest".into()))
        })
        .collect();
    if tags.is_empty() && untagged.is_empty() {
        match &fetched.source_tag {
            Some(t) => tags.push((repo.clone(), t.clone())),
            None => tags.push((repo.clone(), "latest".into())),
        }
    }
    // NoForce: fail before copying anything when a target tag exists.
    {
        let world = shared.world();
        let reg = world.registries.get(target).ok_or_else(|| ArmError::not_found("target registry vanished"))?;
        if !force {
            let now = Instant::now();
            for (r, t) in &tags {
                if let Some(existing) = reg.content.repos.get(r).and_then(|rp| rp.tags.get(t)).and_then(|h| h.last()) {
                    if !existing.digest.is_empty() && existing.landed.values().any(|x| *x <= now + std::time::Duration::from_secs(3600)) {
                        return Err(ArmError::conflict("Conflict", format!("Tag {r}:{t} already exists in target registry; use mode Force to overwrite.")));
                    }
                }
            }
        }
        let rate = world.faults.import_failure_rate;
        if rate > 0.0 && rand::random::<f64>() < rate {
            return Err(ArmError::bad_request("InvalidParameters", "Error copying blobs (injected fault)."));
        }
    }
    // Take time in proportion to bytes.
    let bytes: u64 = fetched.blobs.iter().map(|(_, b)| b.len() as u64).sum::<u64>() + fetched.manifests.iter().map(|m| m.bytes.len() as u64).sum::<u64>();
    let wait = {
        let world = shared.world();
        world.clock.real(world.timings.import_base + bytes as f64 / world.timings.import_bytes_per_sec.max(1.0))
    };
    tokio::time::sleep(wait).await;
    let home = {
        let mut world = shared.world();
        let reg = world.registries.get_mut(target).ok_or_else(|| ArmError::not_found("target registry vanished"))?;
        for (_, b) in &fetched.blobs {
            reg.content.put_blob(b.clone());
        }
        reg.location.clone()
    };
    let repos: Vec<String> = tags.iter().map(|(r, _)| r.clone()).chain(untagged.iter().cloned()).collect();
    for r in repos {
        for m in &fetched.manifests {
            let tag_here: Vec<&String> = if m.digest == fetched.root { tags.iter().filter(|(tr, _)| *tr == r).map(|(_, t)| t).collect() } else { vec![] };
            if tag_here.is_empty() {
                crate::oci::push_manifest(shared, target, &home, &r, &m.media_type, m.bytes.clone(), None);
            }
            for t in tag_here {
                crate::oci::push_manifest(shared, target, &home, &r, &m.media_type, m.bytes.clone(), Some(t));
            }
        }
    }
    Ok(())
}

fn source_missing(what: &str) -> ArmError {
    ArmError::bad_request("InvalidParameters", format!("The source image {what} could not be found."))
}

fn fetch_local(shared: &Arc<Shared>, resource_id: &str, repo: &str, tag: Option<&str>, digest: Option<&str>) -> Result<Fetched, ArmError> {
    let name = resource_id.rsplit('/').next().unwrap_or_default().to_ascii_lowercase();
    let world = shared.world();
    let reg = world
        .registries
        .get(&name)
        .filter(|r| r.deleting_at.is_none())
        .ok_or_else(|| ArmError::not_found(format!("The source registry '{resource_id}' was not found.")))?;
    let home = reg.location.clone();
    let now = Instant::now();
    let rp = reg.content.repos.get(repo).ok_or_else(|| source_missing(repo))?;
    let root = match (digest, tag) {
        (Some(d), _) => d.to_string(),
        (None, Some(t)) => rp.tag_in(t, &home, now).ok_or_else(|| source_missing(&format!("{repo}:{t}")))?.to_string(),
        _ => return Err(source_missing(repo)),
    };
    let mut out = Fetched { manifests: vec![], blobs: vec![], root: root.clone(), source_tag: tag.map(str::to_string) };
    let m = rp.manifests.get(&root).ok_or_else(|| source_missing(&format!("{repo}@{root}")))?;
    let doc: Value = serde_json::from_slice(&m.bytes).unwrap_or(Value::Null);
    let push_image = |mdigest: &str, out: &mut Fetched| -> Result<(), ArmError> {
        let mm = rp.manifests.get(mdigest).ok_or_else(|| source_missing(mdigest))?;
        let d: Value = serde_json::from_slice(&mm.bytes).unwrap_or(Value::Null);
        for b in d["config"]["digest"].as_str().into_iter().chain(d["layers"].as_array().into_iter().flatten().filter_map(|l| l["digest"].as_str())) {
            let data = reg.content.blobs.get(b).ok_or_else(|| source_missing(b))?;
            out.blobs.push((b.to_string(), data.clone()));
        }
        out.manifests.push(Item { digest: mdigest.to_string(), media_type: mm.media_type.clone(), bytes: mm.bytes.clone() });
        Ok(())
    };
    if let Some(children) = doc["manifests"].as_array() {
        for c in children {
            if let Some(d) = c["digest"].as_str() {
                push_image(d, &mut out)?;
            }
        }
        out.manifests.push(Item { digest: root, media_type: m.media_type.clone(), bytes: m.bytes.clone() });
    } else {
        push_image(&root, &mut out)?;
    }
    Ok(out)
}

async fn fetch_remote(
    shared: &Arc<Shared>,
    uri: &str,
    repo: &str,
    tag: Option<&str>,
    digest: Option<&str>,
    creds: (Option<String>, Option<String>),
) -> Result<Fetched, ArmError> {
    let base = if uri.starts_with("http://") || uri.starts_with("https://") {
        uri.trim_end_matches('/').to_string()
    } else {
        format!("http://{}", uri.trim_end_matches('/'))
    };
    let client = &shared.http;
    let reference = digest.or(tag).unwrap_or("latest").to_string();
    let get = |url: String, accept: bool| {
        let mut rb = client.get(url);
        if accept {
            rb = rb.header("accept", MANIFEST_TYPES.join(", "));
        }
        if let (Some(u), Some(p)) = (&creds.0, &creds.1) {
            rb = rb.basic_auth(u, Some(p));
        }
        rb
    };
    let fetch_manifest = |r: String| {
        let url = format!("{base}/v2/{repo}/manifests/{r}");
        let req = get(url, true);
        async move {
            let resp = req.send().await.map_err(|e| ArmError::bad_request("InvalidParameters", format!("Cannot reach source registry: {e}")))?;
            if !resp.status().is_success() {
                return Err(source_missing(&format!("{repo}:{r} (source answered {})", resp.status())));
            }
            let mt = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or(MANIFEST_TYPES[0]).to_string();
            let body = resp.bytes().await.map_err(|e| ArmError::bad_request("InvalidParameters", format!("Error reading manifest: {e}")))?;
            Ok::<_, ArmError>((mt, body))
        }
    };
    let fetch_blob = |d: String| {
        let req = get(format!("{base}/v2/{repo}/blobs/{d}"), false);
        async move {
            let resp = req.send().await.map_err(|e| ArmError::bad_request("InvalidParameters", format!("Error copying blobs: {e}")))?;
            if !resp.status().is_success() {
                return Err(ArmError::bad_request("InvalidParameters", format!("Error copying blobs: {d} answered {}", resp.status())));
            }
            let b = resp.bytes().await.map_err(|e| ArmError::bad_request("InvalidParameters", format!("Error copying blobs: {e}")))?;
            if crate::oci::store::sha256_digest(&b) != d {
                return Err(ArmError::bad_request("InvalidParameters", format!("Error copying blobs: digest mismatch for {d}")));
            }
            Ok::<_, ArmError>((d, b))
        }
    };
    let (mt, body) = fetch_manifest(reference).await?;
    let root = crate::oci::store::sha256_digest(&body);
    let doc: Value = serde_json::from_slice(&body).map_err(|_| ArmError::bad_request("InvalidParameters", "Source manifest is not JSON."))?;
    let mut out = Fetched { manifests: vec![], blobs: vec![], root: root.clone(), source_tag: tag.map(str::to_string) };
    let mut images: Vec<(String, String, Bytes)> = vec![];
    if let Some(children) = doc["manifests"].as_array() {
        for c in children {
            if let Some(d) = c["digest"].as_str() {
                let (cmt, cb) = fetch_manifest(d.to_string()).await?;
                images.push((d.to_string(), cmt, cb));
            }
        }
    } else {
        images.push((root.clone(), mt.clone(), body.clone()));
    }
    for (d, cmt, cb) in &images {
        let v: Value = serde_json::from_slice(cb).unwrap_or(Value::Null);
        let blobs: Vec<String> = v["config"]["digest"]
            .as_str()
            .into_iter()
            .chain(v["layers"].as_array().into_iter().flatten().filter_map(|l| l["digest"].as_str()))
            .map(str::to_string)
            .collect();
        for b in blobs {
            out.blobs.push(fetch_blob(b).await?);
        }
        out.manifests.push(Item { digest: d.clone(), media_type: cmt.clone(), bytes: cb.clone() });
    }
    if doc["manifests"].is_array() {
        out.manifests.push(Item { digest: root, media_type: mt, bytes: body });
    }
    Ok(out)
}

//! What an artifact weighs: config and layers of a manifest, or the sum
//! over an index's children, walked with bounds (depth, children, fetches)
//! so a hostile index cannot make the planner loop or fetch without end.

use std::collections::HashSet;

use crate::outbound::clean_text;

use super::oci::{short, ManifestInfo, OciClient, OciError, MAX_FETCHES_PER_ARTIFACT, MAX_INDEX_CHILDREN, MAX_INDEX_DEPTH};

/// Bytes an artifact references: config + layers of a manifest, or the sum
/// over an index's children (fetched). Nesting deeper than
/// [`MAX_INDEX_DEPTH`], an index that refers back to itself, or more than
/// [`MAX_INDEX_CHILDREN`] children is refused.
pub async fn artifact_size(client: &OciClient, repo: &str, m: &ManifestInfo) -> Result<i64, OciError> {
    let mut walk = Walk { path: vec![m.digest.clone()], sized: HashSet::new(), fetches: 0 };
    size_of(client, repo, m, &mut walk).await
}

/// The state of one artifact's walk: the chain from the root (cycles), the
/// digests already counted (a child listed twice counts once, and is fetched
/// once), and the fetches spent.
struct Walk {
    path: Vec<String>,
    sized: HashSet<String>,
    fetches: usize,
}

async fn size_of(client: &OciClient, repo: &str, m: &ManifestInfo, walk: &mut Walk) -> Result<i64, OciError> {
    let Some(b) = &m.bytes else { return Ok(0) };
    let at = format!("{repo}@{}", short(&m.digest));
    let refused = |message: String| OciError::Refused { url: at.clone(), message };
    let v: serde_json::Value = serde_json::from_slice(b).map_err(|e| OciError::Decode { url: at.clone(), message: format!("not a JSON manifest ({e})") })?;
    if let Some(children) = v["manifests"].as_array() {
        if children.len() > MAX_INDEX_CHILDREN {
            return Err(refused(format!("an index with {} children (at most {MAX_INDEX_CHILDREN})", children.len())));
        }
        if walk.path.len() > MAX_INDEX_DEPTH {
            return Err(refused(format!("indexes nested deeper than {MAX_INDEX_DEPTH}")));
        }
        let mut total = b.len() as i64;
        for c in children {
            let Some(d) = c["digest"].as_str() else { continue };
            if regatlas_domain::Digest::parse(d).is_err() {
                return Err(refused(format!("a child '{}' is not a digest", clean_text(d, 80))));
            }
            if walk.path.iter().any(|p| p == d) {
                return Err(refused(format!("the index refers back to {} (a cycle)", short(d))));
            }
            if !walk.sized.insert(d.to_string()) {
                continue;
            }
            walk.fetches += 1;
            if walk.fetches > MAX_FETCHES_PER_ARTIFACT {
                return Err(refused(format!("an index tree of more than {MAX_FETCHES_PER_ARTIFACT} manifests")));
            }
            if let Some(child) = client.manifest(repo, d, true).await? {
                walk.path.push(d.to_string());
                let size = Box::pin(size_of(client, repo, &child, walk)).await;
                walk.path.pop();
                total = total.saturating_add(size?);
            }
        }
        return Ok(total);
    }
    let layers: i64 = v["layers"].as_array().into_iter().flatten().filter_map(|l| l["size"].as_i64()).map(|n| n.max(0)).fold(0i64, i64::saturating_add);
    Ok((b.len() as i64).saturating_add(v["config"]["size"].as_i64().unwrap_or(0).max(0)).saturating_add(layers))
}

//! Registry content: content-addressed blobs, manifests and tags, with
//! per-region arrival times that model geo-replication's eventual
//! consistency (content lands in the receiving replica at once and in the
//! others after the replication delay).

use std::{
    collections::{BTreeMap, HashMap},
    time::Instant,
};

use bytes::Bytes;
use sha2::{Digest, Sha256};

pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

#[derive(Clone, Debug)]
pub struct ManifestRec {
    pub media_type: String,
    pub bytes: Bytes,
    /// When this manifest is visible in each region.
    pub landed: HashMap<String, Instant>,
    /// Digest of the manifest this one refers to (`subject`), for the referrers API.
    pub subject: Option<String>,
    pub artifact_type: Option<String>,
}

#[derive(Clone, Debug)]
pub struct TagRec {
    /// Empty string: the tag was deleted.
    pub digest: String,
    pub landed: HashMap<String, Instant>,
}

#[derive(Clone, Debug, Default)]
pub struct Repo {
    pub manifests: BTreeMap<String, ManifestRec>,
    /// Each tag's history; the value in a region is the newest record that has landed there.
    pub tags: BTreeMap<String, Vec<TagRec>>,
}

fn visible(landed: &HashMap<String, Instant>, region: &str, now: Instant) -> bool {
    landed.get(region).is_some_and(|t| now >= *t)
}

impl Repo {
    pub fn manifest_in(&self, digest: &str, region: &str, now: Instant) -> Option<&ManifestRec> {
        self.manifests.get(digest).filter(|m| visible(&m.landed, region, now))
    }

    pub fn tag_in(&self, tag: &str, region: &str, now: Instant) -> Option<&str> {
        self.tags.get(tag)?.iter().rev().find(|t| visible(&t.landed, region, now)).map(|t| t.digest.as_str()).filter(|d| !d.is_empty())
    }

    pub fn tags_in(&self, region: &str, now: Instant) -> Vec<String> {
        self.tags.keys().filter(|t| self.tag_in(t, region, now).is_some()).cloned().collect()
    }

    pub fn visible_in(&self, region: &str, now: Instant) -> bool {
        self.manifests.values().any(|m| visible(&m.landed, region, now))
    }
}

#[derive(Clone, Debug, Default)]
pub struct RegistryContent {
    pub blobs: HashMap<String, Bytes>,
    pub repos: BTreeMap<String, Repo>,
    /// Chunked uploads in progress, by upload id.
    pub uploads: HashMap<String, Vec<u8>>,
}

impl RegistryContent {
    pub fn total_bytes(&self) -> u64 {
        let blobs: u64 = self.blobs.values().map(|b| b.len() as u64).sum();
        let manifests: u64 = self.repos.values().flat_map(|r| r.manifests.values()).map(|m| m.bytes.len() as u64).sum();
        blobs + manifests
    }

    pub fn put_blob(&mut self, data: Bytes) -> String {
        let d = sha256_digest(&data);
        self.blobs.entry(d.clone()).or_insert(data);
        d
    }

    /// Stores a manifest that lands at `landed` per region.
    pub fn put_manifest(&mut self, repo: &str, media_type: &str, bytes: Bytes, tag: Option<&str>, landed: HashMap<String, Instant>) -> String {
        let digest = sha256_digest(&bytes);
        let parsed: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        let subject = parsed["subject"]["digest"].as_str().map(str::to_string);
        let artifact_type = parsed["artifactType"].as_str().or_else(|| parsed["config"]["mediaType"].as_str()).map(str::to_string);
        let r = self.repos.entry(repo.to_string()).or_default();
        let rec = r.manifests.entry(digest.clone()).or_insert_with(|| ManifestRec {
            media_type: media_type.to_string(),
            bytes,
            landed: HashMap::new(),
            subject,
            artifact_type,
        });
        for (region, t) in &landed {
            let e = rec.landed.entry(region.clone()).or_insert(*t);
            if *t < *e {
                *e = *t;
            }
        }
        if let Some(tag) = tag {
            r.tags.entry(tag.to_string()).or_default().push(TagRec { digest: digest.clone(), landed });
        }
        digest
    }

    /// Makes everything already stored arrive in `region` at `at` (a new replica syncing).
    pub fn seed_region(&mut self, region: &str, at: Instant) {
        for repo in self.repos.values_mut() {
            for m in repo.manifests.values_mut() {
                m.landed.entry(region.to_string()).or_insert(at);
            }
            for hist in repo.tags.values_mut() {
                for t in hist.iter_mut() {
                    t.landed.entry(region.to_string()).or_insert(at);
                }
            }
        }
    }

    /// Forgets a region (its replica was deleted).
    pub fn drop_region(&mut self, region: &str) {
        for repo in self.repos.values_mut() {
            for m in repo.manifests.values_mut() {
                m.landed.remove(region);
            }
            for hist in repo.tags.values_mut() {
                for t in hist.iter_mut() {
                    t.landed.remove(region);
                }
            }
        }
    }
}

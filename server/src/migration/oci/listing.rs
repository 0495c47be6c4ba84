//! Listings: the catalog, a repository's tags and (ACR) its manifests,
//! followed through `Link` pages on the registry's own origin, within page,
//! item and byte limits.

use reqwest::Method;

use super::*;

impl OciClient {
    /// Follows a listing's `Link` chain within the limits; `take` pulls the
    /// names out of one page.
    async fn paged<T>(&self, first: String, scope: &str, mut take: impl FnMut(&serde_json::Value, &mut Vec<T>)) -> Result<Vec<T>, OciError> {
        let mut out = Vec::new();
        let mut next = Some(first);
        let mut seen = HashSet::new();
        let mut read = 0usize;
        while let Some(path) = next.take() {
            if seen.len() >= MAX_PAGES {
                return Err(OciError::Refused { url: shown(&self.origin), message: format!("a listing longer than {MAX_PAGES} pages") });
            }
            if !seen.insert(path.clone()) {
                return Err(OciError::Refused { url: clean_text(&path, 300), message: "the Link chain loops back to a page already read".into() });
            }
            let r = self.send(Method::GET, &path, scope).await?;
            let url = shown(r.url());
            if !r.status().is_success() {
                let status = r.status().as_u16();
                return Err(OciError::Status { url, status, message: excerpt(r).await });
            }
            next = next_link(r.headers());
            if next.as_ref().is_some_and(|n| n.len() > 2048) {
                return Err(OciError::Refused { url, message: "a Link header over 2048 characters".into() });
            }
            let body = read_capped(r, MAX_PAGE_BYTES).await?;
            read += body.len();
            if read > MAX_LISTING_BYTES {
                return Err(OciError::Refused { url, message: format!("a listing of more than {MAX_LISTING_BYTES} bytes") });
            }
            let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| OciError::Decode { url: url.clone(), message: e.to_string() })?;
            take(&v, &mut out);
            if out.len() > MAX_LISTED {
                return Err(OciError::Refused { url, message: format!("a listing of more than {MAX_LISTED} entries") });
            }
        }
        Ok(out)
    }

    fn strings(field: &'static str) -> impl FnMut(&serde_json::Value, &mut Vec<String>) {
        move |v, out| out.extend(v[field].as_array().into_iter().flatten().filter_map(|s| s.as_str().map(cut_name)))
    }

    /// Every repository (`/v2/_catalog`, paginated).
    pub async fn catalog(&self) -> Result<Vec<String>, OciError> {
        self.paged("/v2/_catalog?n=100".into(), "registry:catalog:*", Self::strings("repositories")).await
    }

    /// Tags of a repository in the registry's order (`/v2/{repo}/tags/list`, paginated).
    pub async fn tags(&self, repo: &str) -> Result<Vec<String>, OciError> {
        match self.paged(format!("/v2/{repo}/tags/list?n=100"), &format!("repository:{repo}:pull"), Self::strings("tags")).await {
            Err(OciError::Status { status: 404, .. }) => Ok(Vec::new()),
            other => other,
        }
    }
}

/// One manifest from ACR's manifest listing.
#[derive(Clone, Debug, PartialEq)]
pub struct ListedManifest {
    pub digest: String,
    pub media_type: String,
    pub tags: Vec<String>,
}

impl OciClient {
    /// Every manifest of a repository, tagged or not (ACR's
    /// `/acr/v1/{repo}/_manifests`, paginated). Not an OCI API: a plain
    /// registry answers 404.
    pub async fn acr_manifests(&self, repo: &str) -> Result<Vec<ListedManifest>, OciError> {
        self.paged(format!("/acr/v1/{repo}/_manifests?n=100"), &format!("repository:{repo}:metadata_read"), |v, out| {
            for m in v["manifests"].as_array().into_iter().flatten() {
                let Some(digest) = m["digest"].as_str() else { continue };
                out.push(ListedManifest {
                    digest: cut_name(digest),
                    media_type: clean_text(m["mediaType"].as_str().unwrap_or(""), 255),
                    tags: m["tags"].as_array().into_iter().flatten().take(10_000).filter_map(|t| t.as_str().map(cut_name)).collect(),
                });
            }
        })
        .await
    }
}

//! Blobs and uploads: `HEAD`/`GET` of a blob, and the monolithic and
//! chunked upload sessions of the distribution spec.

use super::*;

pub(super) fn blob(ep: &Endpoint, method: &Method, _name: &str, digest: &str, headers: &HeaderMap) -> Response {
    let world = ep.shared.world();
    let Some(data) = world.registries.get(&ep.registry).and_then(|r| r.content.blobs.get(digest)).cloned() else {
        return oci_error(StatusCode::NOT_FOUND, "BLOB_UNKNOWN", "blob unknown to registry");
    };
    drop(world);
    match *method {
        Method::HEAD => {
            let mut r = StatusCode::OK.into_response();
            r.headers_mut().insert("content-length", HeaderValue::from(data.len()));
            if let Ok(v) = HeaderValue::from_str(digest) {
                r.headers_mut().insert("docker-content-digest", v);
            }
            r
        }
        Method::GET => {
            let range = headers.get("range").and_then(|v| v.to_str().ok()).and_then(|s| s.strip_prefix("bytes="));
            if let Some((a, b)) = range.and_then(|r| r.split_once('-')) {
                let len = data.len();
                let start: usize = a.parse().unwrap_or(0);
                let end: usize = if b.is_empty() { len.saturating_sub(1) } else { b.parse().unwrap_or(len.saturating_sub(1)).min(len.saturating_sub(1)) };
                if start >= len || start > end {
                    let mut r = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
                    if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                        r.headers_mut().insert("content-range", v);
                    }
                    return r;
                }
                let mut r = (StatusCode::PARTIAL_CONTENT, data.slice(start..=end)).into_response();
                if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")) {
                    r.headers_mut().insert("content-range", v);
                }
                return r;
            }
            let mut r = data.into_response();
            r.headers_mut().insert("content-type", HeaderValue::from_static("application/octet-stream"));
            if let Ok(v) = HeaderValue::from_str(digest) {
                r.headers_mut().insert("docker-content-digest", v);
            }
            r
        }
        Method::DELETE => StatusCode::ACCEPTED.into_response(),
        _ => oci_error(StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED", "method not allowed"),
    }
}

pub(super) fn upload(ep: &Endpoint, method: &Method, name: &str, id: &str, query: &HashMap<String, String>, body: Bytes, _headers: &HeaderMap) -> Response {
    let accepted = |digest: &str| {
        let mut r = StatusCode::CREATED.into_response();
        if let Ok(v) = HeaderValue::from_str(&format!("/v2/{name}/blobs/{digest}")) {
            r.headers_mut().insert("location", v);
        }
        if let Ok(v) = HeaderValue::from_str(digest) {
            r.headers_mut().insert("docker-content-digest", v);
        }
        r
    };
    let mut world = ep.shared.world();
    let Some(reg) = world.registries.get_mut(&ep.registry) else { return oci_error(StatusCode::NOT_FOUND, "NAME_UNKNOWN", "") };
    match (method, id.is_empty()) {
        (&Method::POST, true) => {
            if let Some(mount) = query.get("mount") {
                if reg.content.blobs.contains_key(mount) {
                    return accepted(mount);
                }
            }
            if let Some(d) = query.get("digest") {
                if store::sha256_digest(&body) != *d {
                    return oci_error(StatusCode::BAD_REQUEST, "DIGEST_INVALID", "provided digest did not match uploaded content");
                }
                reg.content.put_blob(body);
                return accepted(d);
            }
            let uid = uuid::Uuid::new_v4().to_string();
            reg.content.uploads.insert(uid.clone(), Vec::new());
            let mut r = StatusCode::ACCEPTED.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("/v2/{name}/blobs/uploads/{uid}")) {
                r.headers_mut().insert("location", v);
            }
            r.headers_mut().insert("range", HeaderValue::from_static("0-0"));
            if let Ok(v) = HeaderValue::from_str(&uid) {
                r.headers_mut().insert("docker-upload-uuid", v);
            }
            r
        }
        (&Method::PATCH, false) => {
            let Some(buf) = reg.content.uploads.get_mut(id) else {
                return oci_error(StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown");
            };
            buf.extend_from_slice(&body);
            let len = buf.len();
            let mut r = StatusCode::ACCEPTED.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("/v2/{name}/blobs/uploads/{id}")) {
                r.headers_mut().insert("location", v);
            }
            if let Ok(v) = HeaderValue::from_str(&format!("0-{}", len.saturating_sub(1))) {
                r.headers_mut().insert("range", v);
            }
            r
        }
        (&Method::PUT, false) => {
            let Some(mut buf) = reg.content.uploads.remove(id) else {
                return oci_error(StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown");
            };
            buf.extend_from_slice(&body);
            let Some(d) = query.get("digest") else {
                return oci_error(StatusCode::BAD_REQUEST, "DIGEST_INVALID", "digest parameter required");
            };
            if store::sha256_digest(&buf) != *d {
                return oci_error(StatusCode::BAD_REQUEST, "DIGEST_INVALID", "provided digest did not match uploaded content");
            }
            reg.content.put_blob(Bytes::from(buf));
            accepted(d)
        }
        (&Method::GET, false) => {
            let Some(buf) = reg.content.uploads.get(id) else {
                return oci_error(StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown");
            };
            let mut r = StatusCode::NO_CONTENT.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("0-{}", buf.len().saturating_sub(1))) {
                r.headers_mut().insert("range", v);
            }
            r
        }
        (&Method::DELETE, false) => {
            reg.content.uploads.remove(id);
            StatusCode::NO_CONTENT.into_response()
        }
        _ => oci_error(StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED", "method not allowed"),
    }
}

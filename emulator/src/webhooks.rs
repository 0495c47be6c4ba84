//! Webhook delivery: POSTs ACR's event payload, with the webhook's custom
//! headers, to its service URI, and records the exchange for `listEvents`.

use std::{sync::Arc, time::Duration};

use serde_json::{json, Value};

use crate::Shared;

/// Delivers one event to one webhook and records it.
pub async fn deliver(shared: Arc<Shared>, registry: String, key: (String, String), secrets: Value, content: Value) {
    let uri = secrets["serviceUri"].as_str().unwrap_or_default().to_string();
    let body = content.to_string();
    let mut req_headers = json!({ "Content-Type": "application/json", "Content-Length": body.len().to_string() });
    let mut rb = shared.http.post(&uri).header("content-type", "application/json").timeout(Duration::from_secs(10));
    if let Some(h) = secrets["customHeaders"].as_object() {
        for (k, v) in h {
            if let Some(v) = v.as_str() {
                rb = rb.header(k.as_str(), v);
                req_headers[k] = json!("******");
            }
        }
    }
    let response = match rb.body(body).send().await {
        Ok(r) => {
            let len = r.headers().get("content-length").and_then(|v| v.to_str().ok()).unwrap_or("0").to_string();
            json!({ "statusCode": r.status().as_u16().to_string(), "reasonPhrase": r.status().canonical_reason().unwrap_or(""), "version": "1.1", "headers": { "Content-Length": len } })
        }
        Err(e) => {
            tracing::warn!(error = %e, %uri, "webhook delivery failed");
            json!({ "statusCode": "0", "reasonPhrase": e.to_string(), "version": "1.1", "headers": { "Content-Length": "0" } })
        }
    };
    let event = json!({
        "id": content["id"].clone(),
        "eventRequestMessage": { "content": content, "headers": req_headers, "method": "POST", "requestUri": uri, "version": "1.1" },
        "eventResponseMessage": response,
    });
    let mut world = shared.world();
    if let Some(c) = world.registries.get_mut(&registry.to_ascii_lowercase()).and_then(|r| r.children.get_mut(&key)) {
        c.events.push(event);
    }
}

fn scope_matches(scope: &str, repo: &str, tag: Option<&str>) -> bool {
    if scope.is_empty() {
        return true;
    }
    let (srepo, stag) = scope.split_once(':').unwrap_or((scope, "latest"));
    if srepo != repo {
        return false;
    }
    stag == "*" || tag == Some(stag)
}

/// Fires `action` for content that landed in `region` of `registry`.
pub async fn fire(shared: Arc<Shared>, registry: String, region: String, action: &str, target: Value) {
    let repo = target["repository"].as_str().unwrap_or_default().to_string();
    let tag = target["tag"].as_str().map(str::to_string);
    let hooks: Vec<((String, String), Value, String)> = {
        let world = shared.world();
        let Some(reg) = world.registries.get(&registry.to_ascii_lowercase()) else { return };
        reg.children
            .iter()
            .filter(|((k, _), c)| {
                k == "webhooks"
                    && c.deleting_at.is_none()
                    && c.body["location"].as_str() == Some(region.as_str())
                    && c.body["properties"]["status"].as_str() != Some("disabled")
                    && c.body["properties"]["actions"].as_array().is_some_and(|a| a.iter().any(|x| x == action))
                    && scope_matches(c.body["properties"]["scope"].as_str().unwrap_or(""), &repo, tag.as_deref())
            })
            .map(|(k, c)| (k.clone(), c.secrets.clone(), reg.login_server.clone()))
            .collect()
    };
    for (key, secrets, host) in hooks {
        let content = json!({
            "id": uuid::Uuid::new_v4().to_string(),
            "timestamp": chrono::Utc::now().to_rfc3339(),
            "action": action,
            "target": target,
            "request": { "id": uuid::Uuid::new_v4().to_string(), "addr": "127.0.0.1", "host": host, "method": if action == "delete" { "DELETE" } else { "PUT" }, "useragent": "regatlas-emulator" },
            "actor": {},
            "source": { "addr": format!("{region}.replica"), "instanceID": uuid::Uuid::new_v4().to_string() },
        });
        deliver(shared.clone(), registry.clone(), key, secrets, content).await;
    }
}

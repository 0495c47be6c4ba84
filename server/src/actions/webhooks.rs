//! A registry's webhooks behind the `Backend`: what each delivers and
//! where (never a secret), its recent deliveries, and a ping.
//!
//! ARM's webhook resource does not carry its service URI or headers;
//! `getCallbackConfig` does, with the header values (secrets). Only the
//! URI's scheme, host and path and the header names leave this module.

use regatlas_app::model::{ApiError, WebhookDeliveryView, WebhookRequest, WebhookView};
use regatlas_domain::{ErrorKind, EventKind, Identity, Role};
use reqwest::Method;
use serde_json::{json, Value};

use super::checks::{arm_name as valid_name, invalid, text};
use super::Console;
use crate::outbound::clean_text;

/// At most this many webhooks are described, and deliveries listed.
const MAX_WEBHOOKS: usize = 100;
const MAX_DELIVERIES: usize = 50;

/// Scheme, host, port and path of a URI: no credentials, query or fragment.
pub fn shown_uri(uri: &str) -> Option<String> {
    let u = url::Url::parse(uri).ok()?;
    let host = u.host_str()?;
    let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
    Some(clean_text(&format!("{}://{host}{port}{}", u.scheme(), u.path()), 300))
}

const ACTIONS: &[&str] = &["push", "delete", "quarantine", "chart_push", "chart_delete"];

/// Where a webhook may deliver: http(s), no credentials in the URI, https
/// unless the host is a loopback address.
pub fn checked_service_uri(uri: &str) -> Result<String, ApiError> {
    let u = url::Url::parse(uri.trim()).map_err(|_| invalid("InvalidServiceUri", "service_uri is not an absolute URL."))?;
    if !u.username().is_empty() || u.password().is_some() {
        return Err(invalid("InvalidServiceUri", "Put no credentials in service_uri: send them in a custom header."));
    }
    let host = u.host_str().ok_or_else(|| invalid("InvalidServiceUri", "service_uri has no host."))?;
    let loopback = host == "localhost" || host.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    match u.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err(invalid("InvalidServiceUri", "service_uri must be https (custom headers carry secrets).")),
    }
    if uri.len() > 2000 {
        return Err(invalid("InvalidServiceUri", "service_uri is at most 2000 characters."));
    }
    Ok(u.to_string())
}

/// The actions a webhook may send.
pub fn checked_actions(actions: &[String]) -> Result<Vec<String>, ApiError> {
    let mut out: Vec<String> = Vec::new();
    for a in actions {
        let a = a.trim().to_ascii_lowercase();
        if !ACTIONS.contains(&a.as_str()) {
            return Err(invalid("InvalidActions", format!("actions are among {}.", ACTIONS.join(", "))));
        }
        if !out.contains(&a) {
            out.push(a);
        }
    }
    if out.is_empty() {
        return Err(invalid("InvalidActions", "A webhook sends at least one action."));
    }
    Ok(out)
}

/// Custom headers: at most 10, token names, plain values.
pub fn checked_headers(h: &std::collections::BTreeMap<String, String>) -> Result<(), ApiError> {
    if h.len() > 10 {
        return Err(invalid("InvalidHeaders", "At most 10 custom headers."));
    }
    for (k, v) in h {
        if k.is_empty() || k.len() > 64 || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(invalid("InvalidHeaders", "A header name is 1 to 64 letters, digits and dashes."));
        }
        if v.len() > 1024 || v.chars().any(|c| c.is_control()) {
            return Err(invalid("InvalidHeaders", "A header value is at most 1024 characters, without control characters."));
        }
    }
    Ok(())
}

/// `repository:tag`, `repository:*` or a repository; empty: every repository.
pub fn checked_scope(scope: &str) -> Result<String, ApiError> {
    let scope = scope.trim();
    if scope.is_empty() {
        return Ok(String::new());
    }
    let (repo, tag) = scope.split_once(':').unwrap_or((scope, ""));
    regatlas_domain::Repository::parse(repo).map_err(|e| invalid("InvalidScope", format!("scope: {e}")))?;
    if !tag.is_empty() && tag != "*" {
        regatlas_domain::Tag::parse(tag).map_err(|e| invalid("InvalidScope", format!("scope: {e}")))?;
    }
    Ok(scope.to_string())
}

impl Console {
    fn webhook_url(&self, arm_id: &str, name: &str, action: Option<&str>) -> String {
        self.arm.webhook_url(arm_id, name, action)
    }

    fn checked_name(name: &str) -> Result<(), ApiError> {
        if valid_name(name) {
            Ok(())
        } else {
            Err(ApiError::new(ErrorKind::Invalid, "InvalidWebhookName", "A webhook name is 5 to 50 letters and digits."))
        }
    }

    pub(super) async fn webhook_list(&self, who: &Identity, registry: &str) -> Result<Vec<WebhookView>, ApiError> {
        self.require(who, Role::Viewer, "read webhooks").await?;
        let reg = self.find(registry).await?;
        let arm_id = Console::arm_id(&reg);
        let hooks = self.arm.list_webhooks(&arm_id).await.map_err(super::ActionError::from)?;
        let managed = self.storage.presence_hooks(&reg.id).await?;
        let mut out = Vec::new();
        for w in hooks.into_iter().take(MAX_WEBHOOKS) {
            let name = w.name.clone();
            if !valid_name(&name) {
                continue;
            }
            // The callback config holds the secrets: only the URI's shape and the header names are kept.
            let config: Value =
                match self.arm.send(Method::POST, &self.webhook_url(&arm_id, &name, Some("getCallbackConfig")), None).await.and_then(|r| r.json()) {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(webhook = %name, error = %e, "webhook callback config not read");
                        Value::Null
                    }
                };
            let mut header_names: Vec<String> =
                config["customHeaders"].as_object().map(|h| h.keys().take(20).map(|k| clean_text(k, 100)).collect()).unwrap_or_default();
            header_names.sort();
            let p = &w.properties;
            out.push(WebhookView {
                managed_by_regatlas: managed.iter().any(|h| h.webhook.eq_ignore_ascii_case(&name)),
                location: clean_text(w.location.as_deref().unwrap_or_default(), 60),
                actions: p.actions.iter().take(10).map(|a| clean_text(a, 40)).collect(),
                scope: clean_text(p.scope.as_deref().unwrap_or_default(), 200),
                status: clean_text(p.status.as_deref().unwrap_or("enabled"), 20),
                provisioning_state: p.provisioning_state.as_ref().map(|s| clean_text(s.as_str(), 40)),
                service_uri: config["serviceUri"].as_str().and_then(shown_uri),
                header_names,
                name,
            });
        }
        out.sort_by(|a, b| (&a.location, &a.name).cmp(&(&b.location, &b.name)));
        Ok(out)
    }

    pub(super) async fn webhook_events(&self, who: &Identity, registry: &str, webhook: &str) -> Result<Vec<WebhookDeliveryView>, ApiError> {
        self.require(who, Role::Viewer, "read webhook deliveries").await?;
        Console::checked_name(webhook)?;
        let reg = self.find(registry).await?;
        let page: Value = self
            .arm
            .send(Method::POST, &self.webhook_url(&Console::arm_id(&reg), webhook, Some("listEvents")), None)
            .await
            .and_then(|r| r.json())
            .map_err(super::ActionError::from)?;
        Ok(page["value"]
            .as_array()
            .into_iter()
            .flatten()
            .take(MAX_DELIVERIES)
            .map(|e| {
                let content = &e["eventRequestMessage"]["content"];
                let t = &content["target"];
                let target = match (t["repository"].as_str(), t["tag"].as_str(), t["digest"].as_str()) {
                    (Some(r), Some(tag), _) => Some(format!("{r}:{tag}")),
                    (Some(r), None, Some(d)) => Some(format!("{r}@{}", regatlas_domain::name::short_digest(d))),
                    _ => None,
                };
                let response = &e["eventResponseMessage"];
                WebhookDeliveryView {
                    id: text(&e["id"], 64),
                    timestamp: content["timestamp"].as_str().map(|t| clean_text(t, 40)),
                    action: text(&content["action"], 30),
                    target: target.map(|t| clean_text(&t, 300)),
                    status: response["statusCode"].as_str().and_then(|s| s.parse().ok()).or_else(|| response["statusCode"].as_i64()).unwrap_or(0),
                    reason: text(&response["reasonPhrase"], 200),
                }
            })
            .collect())
    }

    /// Refuses a change to one of the presence webhooks (tracking owns them).
    async fn not_managed(&self, registry_id: &str, webhook: &str) -> Result<(), ApiError> {
        if self.storage.presence_hooks(registry_id).await?.iter().any(|h| h.webhook.eq_ignore_ascii_case(webhook)) {
            return Err(ApiError::new(
                ErrorKind::Conflict,
                "ManagedByPresence",
                format!("{webhook} is one of the webhooks presence tracking keeps; turn tracking off to remove it."),
            ));
        }
        Ok(())
    }

    pub(super) async fn webhook_put(&self, who: &Identity, registry: &str, webhook: &str, req: WebhookRequest) -> Result<(), ApiError> {
        self.require(who, Role::Operator, "create or change a webhook").await?;
        Console::checked_name(webhook)?;
        let reg = self.find(registry).await?;
        self.not_managed(&reg.id, webhook).await?;
        let arm_id = Console::arm_id(&reg);
        let url = self.webhook_url(&arm_id, webhook, None);
        let exists = match self.arm.send(Method::GET, &url, None).await {
            Ok(_) => true,
            Err(regatlas_arm::ArmError::Api { status: 404, .. }) => false,
            Err(e) => return Err(super::ActionError::from(e).into()),
        };
        let mut props = serde_json::Map::new();
        if let Some(u) = &req.service_uri {
            props.insert("serviceUri".into(), json!(checked_service_uri(u)?));
        }
        if let Some(a) = &req.actions {
            props.insert("actions".into(), json!(checked_actions(a)?));
        }
        if let Some(s) = &req.scope {
            props.insert("scope".into(), json!(checked_scope(s)?));
        }
        if let Some(e) = req.enabled {
            props.insert("status".into(), json!(if e { "enabled" } else { "disabled" }));
        }
        if let Some(h) = &req.custom_headers {
            checked_headers(h)?;
            props.insert("customHeaders".into(), json!(h));
        }
        let what = if exists {
            if req.location.is_some() {
                return Err(invalid("LocationFixed", "A webhook's location is fixed once it is created."));
            }
            self.arm.send(Method::PATCH, &url, Some(&json!({ "properties": props }))).await.map_err(super::ActionError::from)?;
            "changed"
        } else {
            let location = req.location.as_deref().map(str::trim).unwrap_or_default().to_ascii_lowercase();
            if reg.replica_in(&location).is_none() {
                return Err(invalid("InvalidLocation", format!("location must be one of {}'s replica regions.", reg.name)));
            }
            if !props.contains_key("serviceUri") || !props.contains_key("actions") {
                return Err(invalid("MissingField", "A new webhook needs service_uri and actions."));
            }
            props.entry("status").or_insert(json!("enabled"));
            props.entry("scope").or_insert(json!(""));
            self.arm.send(Method::PUT, &url, Some(&json!({ "location": location, "properties": props }))).await.map_err(super::ActionError::from)?;
            "created"
        };
        self.audit(
            who,
            EventKind::ChildAction,
            format!("{} {what} webhook {webhook} of {}", who.principal.name, reg.name),
            json!({ "registry": reg.name, "webhook": webhook, "what": what, "headers": req.custom_headers.as_ref().map(|h| h.keys().collect::<Vec<_>>()) }),
        )
        .await;
        Ok(())
    }

    pub(super) async fn webhook_delete(&self, who: &Identity, registry: &str, webhook: &str) -> Result<(), ApiError> {
        self.require(who, Role::Operator, "delete a webhook").await?;
        Console::checked_name(webhook)?;
        let reg = self.find(registry).await?;
        self.not_managed(&reg.id, webhook).await?;
        self.arm.send(Method::DELETE, &self.webhook_url(&Console::arm_id(&reg), webhook, None), None).await.map_err(super::ActionError::from)?;
        self.audit(
            who,
            EventKind::ChildAction,
            format!("{} deleted webhook {webhook} of {}", who.principal.name, reg.name),
            json!({ "registry": reg.name, "webhook": webhook, "what": "deleted" }),
        )
        .await;
        Ok(())
    }

    pub(super) async fn webhook_ping(&self, who: &Identity, registry: &str, webhook: &str) -> Result<(), ApiError> {
        self.require(who, Role::Operator, "ping a webhook").await?;
        Console::checked_name(webhook)?;
        let reg = self.find(registry).await?;
        self.arm.send(Method::POST, &self.webhook_url(&Console::arm_id(&reg), webhook, Some("ping")), None).await.map_err(super::ActionError::from)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_uri_is_shown_without_its_secrets() {
        assert_eq!(shown_uri("https://user:pw@hooks.example.com:8443/in?token=s3cret#x").as_deref(), Some("https://hooks.example.com:8443/in"));
        assert_eq!(shown_uri("not a uri"), None);
    }

    #[test]
    fn what_a_webhook_may_be_given_is_checked() {
        assert!(checked_service_uri("https://hooks.example.com/in").is_ok());
        assert!(checked_service_uri("http://127.0.0.1:3000/in").is_ok());
        for bad in ["http://hooks.example.com/in", "https://u:p@hooks.example.com/", "ftp://x/", "relative/path"] {
            assert!(checked_service_uri(bad).is_err(), "{bad}");
        }
        assert_eq!(checked_actions(&["Push".into(), "push".into(), "delete".into()]).expect("ok"), vec!["push", "delete"]);
        assert!(checked_actions(&[]).is_err());
        assert!(checked_actions(&["pull".into()]).is_err());
        assert_eq!(checked_scope(" web/frontend:* ").expect("ok"), "web/frontend:*");
        assert!(checked_scope("Bad Repo:1").is_err());
        let mut h = std::collections::BTreeMap::new();
        h.insert("Authorization".to_string(), "Bearer x".to_string());
        assert!(checked_headers(&h).is_ok());
        h.insert("bad header".to_string(), "x".to_string());
        assert!(checked_headers(&h).is_err());
    }

    #[test]
    fn webhook_names_follow_arm() {
        assert!(valid_name("regatlaseastus"));
        for bad in ["abc", "has-dash", "../x", &"a".repeat(51)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}

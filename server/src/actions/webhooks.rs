//! A registry's webhooks behind the `Backend`: what each delivers and
//! where (never a secret), its recent deliveries, and a ping.
//!
//! ARM's webhook resource does not carry its service URI or headers;
//! `getCallbackConfig` does, with the header values (secrets). Only the
//! URI's scheme, host and path and the header names leave this module.

use regatlas_app::model::{ApiError, WebhookDeliveryView, WebhookView};
use regatlas_domain::{ErrorKind, Identity, Role};
use reqwest::Method;
use serde_json::Value;

use super::Console;
use crate::outbound::clean_text;

const WEBHOOK_API_VERSION: &str = regatlas_arm::ACR_API_VERSION;
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

/// An ARM webhook name: 5 to 50 letters and digits.
fn valid_name(name: &str) -> bool {
    (5..=50).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric())
}

fn text(v: &Value, max: usize) -> String {
    clean_text(v.as_str().unwrap_or_default(), max)
}

impl Console {
    fn webhook_url(&self, arm_id: &str, name: &str, action: Option<&str>) -> String {
        let path = match action {
            Some(a) => format!("{arm_id}/webhooks/{name}/{a}"),
            None => format!("{arm_id}/webhooks/{name}"),
        };
        self.arm.url(&path, WEBHOOK_API_VERSION)
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
    fn webhook_names_follow_arm() {
        assert!(valid_name("regatlaseastus"));
        for bad in ["abc", "has-dash", "../x", &"a".repeat(51)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}

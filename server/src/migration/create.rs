//! A new migration: the request checked field by field, its source and
//! target resolved, then recorded and started.

use regatlas_app::model::{MigrationRequest, MigrationView};
use regatlas_domain::{record::NewMigration, ErrorKind, Principal, RegistryName};

use super::{oci, Engine, MigrationError};
use crate::outbound::clean_text;

/// Checks what a request names before anything is looked up: lengths,
/// patterns, and fields that are no longer accepted.
pub(super) fn validate_request(req: &MigrationRequest) -> Result<(), MigrationError> {
    if req.source_password_env.is_some() || req.source_username.is_some() {
        return Err(MigrationError::invalid(
            ErrorKind::Invalid,
            "CredentialSetRequired",
            "source_username and source_password_env are not accepted: name a credential set an administrator configured (source_credential_set).",
        ));
    }
    if req.source_credential_set.is_some() && req.source_url.is_none() {
        return Err(MigrationError::invalid(
            ErrorKind::Invalid,
            "InvalidSource",
            "A credential set goes with a source_url; a watched registry is read with the console's own identity.",
        ));
    }
    let too_long = |field: &str, v: &str, max: usize| {
        if v.chars().any(crate::outbound::is_unsafe_char) {
            Some(MigrationError::invalid(ErrorKind::Invalid, "InvalidText", format!("{field} holds control or formatting characters.")))
        } else {
            (v.chars().count() > max).then(|| MigrationError::invalid(ErrorKind::Invalid, "FieldTooLong", format!("{field} is longer than {max} characters.")))
        }
    };
    for (field, v, max) in [
        ("name", req.name.as_deref(), 200),
        ("source_registry", req.source_registry.as_deref(), 50),
        ("target_registry", Some(req.target_registry.as_str()), 50),
        ("source_credential_set", req.source_credential_set.as_deref(), 64),
    ] {
        if let Some(e) = v.and_then(|v| too_long(field, v, max)) {
            return Err(e);
        }
    }
    for (field, name) in [("target_registry", Some(req.target_registry.as_str())), ("source_registry", req.source_registry.as_deref())] {
        if let Some(Err(e)) = name.map(RegistryName::parse) {
            return Err(MigrationError::invalid(ErrorKind::Invalid, "InvalidRegistryName", format!("{field}: {e}")));
        }
    }
    if req.include.len() + req.exclude.len() + req.tags.len() > 200 {
        return Err(MigrationError::invalid(ErrorKind::Invalid, "TooManyPatterns", "At most 200 patterns in all."));
    }
    for p in req.include.iter().chain(&req.exclude).chain(&req.tags) {
        if p.trim().is_empty() || !crate::outbound::is_plain_text(p, 256) {
            return Err(MigrationError::invalid(ErrorKind::Invalid, "InvalidPattern", format!("'{}' is not a usable pattern.", clean_text(p, 100))));
        }
    }
    if req.max_concurrency.is_some_and(|c| c == 0 || c > 512) {
        return Err(MigrationError::invalid(ErrorKind::Invalid, "InvalidConcurrency", "max_concurrency is between 1 and 512."));
    }
    Ok(())
}

impl Engine {
    /// Validates and records a migration, then starts it in the background.
    pub async fn create(&self, req: MigrationRequest, by: &Principal) -> Result<MigrationView, MigrationError> {
        let actor = &by.name;
        validate_request(&req)?;
        let target = self.registry(&req.target_registry).await?;
        let source = match (&req.source_registry, &req.source_url) {
            (Some(s), None) => {
                let src = self.registry(s).await?;
                if src.name.eq_ignore_ascii_case(&target.name) {
                    return Err(MigrationError::invalid(ErrorKind::Invalid, "SameRegistry", "The source and the target are the same registry."));
                }
                src.name
            }
            (None, Some(u)) => {
                let u = u.trim();
                let parsed = reqwest::Url::parse(&oci::base_url(u)).ok().filter(|p| {
                    (p.scheme() == "http" || p.scheme() == "https")
                        && p.host_str().is_some()
                        && p.username().is_empty()
                        && p.password().is_none()
                        && matches!(p.path(), "" | "/")
                        && p.query().is_none()
                });
                let Some(parsed) = parsed.filter(|_| !u.is_empty() && u.len() <= 2048 && !u.contains(char::is_whitespace)) else {
                    return Err(MigrationError::invalid(
                        ErrorKind::Invalid,
                        "InvalidSourceUrl",
                        format!("'{}' is not a registry address (e.g. https://registry.example or host:port, without a path or user).", clean_text(u, 200)),
                    ));
                };
                self.inner.settings.outbound.check_url(&parsed).map_err(|e| MigrationError::invalid(ErrorKind::Invalid, "SourceNotAllowed", e.to_string()))?;
                if let Some(name) = &req.source_credential_set {
                    let set = self.inner.settings.credential_sets.get(name).ok_or_else(|| {
                        MigrationError::invalid(
                            ErrorKind::Invalid,
                            "UnknownCredentialSet",
                            format!("No credential set named '{}' is configured; ask an administrator.", clean_text(name, 64)),
                        )
                    })?;
                    if !set.bound_to(&parsed) {
                        return Err(MigrationError::invalid(
                            ErrorKind::Invalid,
                            "CredentialSetNotBound",
                            format!(
                                "Credential set '{}' is not bound to {} (sets go only to their hosts, and only over https off loopback).",
                                set.name,
                                parsed.host_str().unwrap_or("")
                            ),
                        ));
                    }
                }
                u.to_string()
            }
            _ => return Err(MigrationError::invalid(ErrorKind::Invalid, "InvalidSource", "Give exactly one of source_registry and source_url.")),
        };
        if !target.is_premium() && !target.sku.eq_ignore_ascii_case("standard") && !target.sku.eq_ignore_ascii_case("basic") {
            return Err(MigrationError::invalid(ErrorKind::Invalid, "InvalidTarget", format!("The target's SKU '{}' is not an ACR SKU.", target.sku)));
        }
        if let Some(t) = req.failure_threshold {
            if !(0.0..=1.0).contains(&t) {
                return Err(MigrationError::invalid(ErrorKind::Invalid, "InvalidThreshold", "failure_threshold is a fraction between 0 and 1."));
            }
        }
        let id = uuid::Uuid::new_v4().to_string();
        let name = req.name.clone().filter(|n| !n.trim().is_empty()).unwrap_or_else(|| format!("{source} → {}", target.name));
        let spec = serde_json::to_value(&req).unwrap_or_default();
        self.inner
            .storage
            .insert_migration(&NewMigration { id: id.clone(), name, spec, source, target: target.name.clone(), actor: actor.clone(), actor_key: by.key() })
            .await?;
        tracing::info!(migration = %id, %actor, "migration created");
        let view = self.publish_by(&id, format!("{actor} created the migration"), by).await?;
        self.spawn(id);
        Ok(view)
    }
}

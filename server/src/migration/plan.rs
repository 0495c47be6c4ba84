//! Inventory and plan: what the source holds (repositories, tags, digests,
//! through the data plane), filtered, and per artifact what the target
//! already has: copy, present (same digest), or conflict (a target tag points
//! elsewhere). Also builds the cut-over checklist.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::Arc,
};

use regatlas_app::model::{ItemAction, ItemState, MigrationRequest, MigrationState, RegistryView};
use regatlas_arm::models::{ImportCredentials, ImportSource};

use super::{
    arm_id,
    oci::{ManifestInfo, OciAuth, OciClient, OciError},
    size::artifact_size,
    Engine, MigrationError,
};
use crate::outbound::clean_text;
use regatlas_domain::{
    record::{ChecklistEntry, PlannedItem},
    ChecklistKind, ChecklistStatus, Digest, ErrorKind, Repository, Tag,
};

/// `*` matches any run of characters (including `/`); everything else is literal.
pub fn glob(pattern: &str, s: &str) -> bool {
    let (p, s) = (pattern.as_bytes(), s.as_bytes());
    let (mut pi, mut si, mut star, mut mark) = (0, 0, None, 0);
    while si < s.len() {
        if pi < p.len() && (p[pi] == s[si] || p[pi] == b'?') {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

pub fn repo_selected(req: &MigrationRequest, repo: &str) -> bool {
    (req.include.is_empty() || req.include.iter().any(|p| glob(p, repo))) && !req.exclude.iter().any(|p| glob(p, repo))
}

/// Tag filters, then the newest N in the registry's order (registries list
/// tags lexically, so "newest" is the last N of that order).
pub fn select_tags(req: &MigrationRequest, tags: Vec<String>) -> Vec<String> {
    let mut t: Vec<String> = tags.into_iter().filter(|t| req.tags.is_empty() || req.tags.iter().any(|p| glob(p, t))).collect();
    if let Some(n) = req.latest {
        let n = n as usize;
        if t.len() > n {
            t = t.split_off(t.len() - n);
        }
    }
    t
}

/// The source's data-plane client and the `importImage` source template.
pub(super) async fn source_of(engine: &Engine, req: &MigrationRequest) -> Result<(OciClient, ImportSource), MigrationError> {
    let settings = &engine.inner.settings;
    match (&req.source_registry, &req.source_url) {
        (Some(name), _) => {
            let reg = engine.registry(name).await?;
            let login = reg
                .login_server
                .clone()
                .ok_or_else(|| MigrationError::invalid(ErrorKind::Conflict, "NoLoginServer", format!("{name} has no login server yet.")))?;
            let client = OciClient::new(&login, OciAuth::Arm(engine.inner.arm.clone()), Arc::new(settings.outbound.trusting(&login)))?;
            Ok((client, ImportSource { resource_id: Some(arm_id(&reg)), registry_uri: None, credentials: None, source_image: String::new() }))
        }
        (None, Some(url)) => {
            let set = match &req.source_credential_set {
                Some(name) => Some(settings.credential_sets.get(name).ok_or_else(|| {
                    MigrationError::invalid(
                        ErrorKind::Invalid,
                        "UnknownCredentialSet",
                        format!("No credential set named '{}' is configured any more.", clean_text(name, 64)),
                    )
                })?),
                None => None,
            };
            let auth = set.clone().map(OciAuth::Basic).unwrap_or(OciAuth::Anonymous);
            let client = OciClient::new(url, auth, settings.outbound.clone())?;
            let credentials = match set {
                // The set goes to ARM for this import only when it is bound to the source host.
                Some(set) if set.bound_to(client.origin()) => {
                    Some(ImportCredentials { username: Some(set.username.clone()), password: set.password.expose().to_string() })
                }
                Some(set) => {
                    return Err(MigrationError::invalid(
                        ErrorKind::Invalid,
                        "CredentialSetNotBound",
                        format!("Credential set '{}' is not bound to {}.", set.name, client.host()),
                    ))
                }
                None => None,
            };
            let host = client.host().to_string();
            Ok((client, ImportSource { resource_id: None, registry_uri: Some(host), credentials, source_image: String::new() }))
        }
        _ => Err(MigrationError::invalid(ErrorKind::Invalid, "InvalidSource", "Give exactly one of source_registry and source_url.")),
    }
}

pub(super) async fn target_of(engine: &Engine, name: &str) -> Result<(RegistryView, OciClient), MigrationError> {
    let reg = engine.registry(name).await?;
    let login =
        reg.login_server.clone().ok_or_else(|| MigrationError::invalid(ErrorKind::Conflict, "NoLoginServer", format!("{name} has no login server yet.")))?;
    // The login server ARM reported for a watched registry (a private endpoint may resolve it privately).
    let client = OciClient::new(&login, OciAuth::Arm(engine.inner.arm.clone()), Arc::new(engine.inner.settings.outbound.trusting(&login)))?;
    Ok((reg, client))
}

pub(super) fn spec_of(v: Option<serde_json::Value>) -> MigrationRequest {
    v.and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default()
}

/// What the inventory found that is not an item: names outside the OCI
/// grammar, artifacts whose content breaks the limits. Kept on the migration.
#[derive(Default)]
struct Findings(Vec<String>);

impl Findings {
    const MAX: usize = 100;
    fn add(&mut self, what: String) {
        tracing::warn!(finding = %what, "inventory finding");
        if self.0.len() < Self::MAX {
            self.0.push(clean_text(&what, 400));
        } else if self.0.len() == Self::MAX {
            self.0.push("… more findings not kept".into());
        }
    }
}

/// A `true` once the operator cancels (or the server stops), for the data-plane clients.
fn cancel_flag(engine: &Engine, control: &tokio::sync::watch::Receiver<super::Control>) -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    let mut control = control.clone();
    let mut shutdown = engine.inner.shutdown.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = control.wait_for(|c| *c == super::Control::Cancel) => {}
            _ = shutdown.wait_for(|s| *s) => {}
            _ = tx.closed() => return,
        }
        let _ = tx.send(true);
    });
    rx
}

/// The inventory and the plan of one migration, as they are built.
struct Planner<'a> {
    req: &'a MigrationRequest,
    source: OciClient,
    target: OciClient,
    max_items: usize,
    findings: Findings,
    items: Vec<PlannedItem>,
}

/// Tags of one repository grouped by the digest they point at: digest → (media type, tags).
type ByDigest = BTreeMap<String, (String, Vec<String>)>;

/// PREPARING → PLANNED (dry run) or IN_PROGRESS.
pub(super) async fn prepare(engine: &Engine, id: &str, control: &tokio::sync::watch::Receiver<super::Control>) -> Result<(), MigrationError> {
    let storage = &engine.inner.storage;
    let req = spec_of(storage.migration_spec(id).await?);
    let cancel = cancel_flag(engine, control);
    let (source, _) = source_of(engine, &req).await?;
    let (target_reg, target) = target_of(engine, &req.target_registry).await?;
    let mut planner = Planner {
        req: &req,
        source: source.with_cancel(cancel.clone()),
        target: target.with_cancel(cancel.clone()),
        max_items: engine.inner.settings.max_plan_artifacts,
        findings: Findings::default(),
        items: Vec::new(),
    };
    let repos = planner.repositories().await?;
    for repo in &repos {
        planner.plan_repository(repo).await?;
    }
    let Planner { items, findings, .. } = planner;

    let checklist = checklist(engine, &req, &target_reg).await;
    let copy_state = if req.dry_run { ItemState::Planned } else { ItemState::Pending };
    storage.replace_plan(id, &items, &checklist, copy_state).await?;
    storage.set_migration_findings(id, &findings.0).await?;
    let next = if req.dry_run { MigrationState::Planned } else { MigrationState::InProgress };
    // A cancel that arrived while planning wins.
    if storage.migration_state(id).await? == Some(MigrationState::Stopping) {
        return Ok(());
    }
    storage.set_migration_state(id, next, None).await?;
    let count = |a: ItemAction| items.iter().filter(|i| i.action == a).count();
    let (copies, present, conflicts) = (count(ItemAction::Copy), count(ItemAction::Present), count(ItemAction::Conflict));
    let found = if findings.0.is_empty() { String::new() } else { format!("; {} findings", findings.0.len()) };
    engine
        .publish(
            id,
            format!("planned {} artifacts in {} repositories: {copies} to copy, {present} present, {conflicts} conflicts{found}", items.len(), repos.len()),
        )
        .await?;
    Ok(())
}

impl Planner<'_> {
    /// The selected repositories; names outside the OCI grammar are findings.
    async fn repositories(&mut self) -> Result<Vec<Repository>, MigrationError> {
        let mut repos = Vec::new();
        for r in self.source.catalog().await?.into_iter().filter(|r| repo_selected(self.req, r)) {
            match Repository::parse(r.as_str()) {
                Ok(repo) => repos.push(repo),
                Err(_) => self.findings.add(format!("repository name '{}' is not a valid OCI name; skipped", clean_text(&r, 120))),
            }
        }
        Ok(repos)
    }

    /// One repository: its selected tags by digest, its untagged manifests
    /// when asked, then one planned item per digest.
    async fn plan_repository(&mut self, repo: &Repository) -> Result<(), MigrationError> {
        let mut by_digest = self.tagged(repo).await?;
        // Manifest bodies, fetched once per digest (for the index check and the size).
        let mut bodies: HashMap<String, ManifestInfo> = HashMap::new();
        if self.req.untagged {
            self.add_untagged(repo, &mut by_digest, &mut bodies).await?;
        }
        for (digest, (media_type, tags)) in by_digest {
            let body = bodies.remove(&digest);
            self.plan_artifact(repo, digest, media_type, tags, body).await?;
        }
        Ok(())
    }

    /// The selected tags, grouped by digest: one import per digest.
    async fn tagged(&mut self, repo: &Repository) -> Result<ByDigest, MigrationError> {
        let mut listed = Vec::new();
        for t in self.source.tags(repo).await? {
            match Tag::parse(t.as_str()) {
                Ok(_) => listed.push(t),
                Err(_) => self.findings.add(format!("{repo}: tag '{}' is not a valid OCI tag; skipped", clean_text(&t, 140))),
            }
        }
        let mut by_digest = ByDigest::new();
        for tag in select_tags(self.req, listed) {
            match self.source.manifest(repo, &tag, false).await {
                Ok(Some(m)) => by_digest.entry(m.digest.clone()).or_insert_with(|| (m.media_type.clone(), Vec::new())).1.push(tag),
                Ok(None) => {}
                Err(e) if e.is_content() => self.findings.add(format!("{repo}:{tag}: {e}")),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(by_digest)
    }

    /// Untagged manifests (ACR sources, through `_manifests`), except an
    /// index's own platforms.
    async fn add_untagged(&mut self, repo: &Repository, by_digest: &mut ByDigest, bodies: &mut HashMap<String, ManifestInfo>) -> Result<(), MigrationError> {
        let listed = match self.source.acr_manifests(repo).await {
            Ok(listed) => listed,
            Err(OciError::Cancelled) => return Err(OciError::Cancelled.into()),
            Err(e) => {
                tracing::warn!(repo = %repo, error = %e, "untagged manifests cannot be listed here (not an ACR?)");
                return Ok(());
            }
        };
        let mut children = HashSet::new();
        for d in by_digest.keys() {
            match self.source.manifest(repo, d, true).await {
                Ok(Some(m)) => {
                    let v: serde_json::Value = m.bytes.as_deref().and_then(|b| serde_json::from_slice(b).ok()).unwrap_or_default();
                    children.extend(v["manifests"].as_array().into_iter().flatten().filter_map(|c| c["digest"].as_str().map(str::to_string)));
                    bodies.insert(d.clone(), m);
                }
                Ok(None) => {}
                Err(e) if e.is_content() => {}
                Err(e) => return Err(e.into()),
            }
        }
        let untagged: Vec<_> =
            listed.into_iter().filter(|m| m.tags.is_empty() && !children.contains(&m.digest) && !by_digest.contains_key(&m.digest)).collect();
        for m in untagged {
            match Digest::parse(m.digest.as_str()) {
                Ok(_) => {
                    by_digest.insert(m.digest, (m.media_type, Vec::new()));
                }
                Err(_) => self.findings.add(format!("{repo}: '{}' is not a digest; skipped", clean_text(&m.digest, 100))),
            }
        }
        Ok(())
    }

    /// One digest: its size, then what the target holds decides the action.
    async fn plan_artifact(
        &mut self,
        repo: &Repository,
        digest: String,
        media_type: String,
        tags: Vec<String>,
        body: Option<ManifestInfo>,
    ) -> Result<(), MigrationError> {
        let body = match body {
            Some(m) => Ok(Some(m)),
            None => self.source.manifest(repo, &digest, true).await,
        };
        let size = match body {
            Ok(Some(m)) => artifact_size(&self.source, repo, &m).await,
            Ok(None) => Ok(0),
            Err(e) => Err(e),
        };
        let size = match size {
            Ok(n) => n,
            Err(e) if e.is_content() => {
                self.findings.add(format!("{repo}@{}: {e}; not planned", super::oci::short(&digest)));
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let (action, detail) = self.compare(repo, &digest, &tags).await?;
        if self.items.len() >= self.max_items {
            return Err(MigrationError::invalid(
                ErrorKind::Invalid,
                "PlanTooLarge",
                format!(
                    "The source holds more than {} artifacts for this selection; narrow it with include, tag or latest filters, or raise max_plan_artifacts.",
                    self.max_items
                ),
            ));
        }
        let (digest, tags) = match (Digest::parse(digest.as_str()), tags.iter().map(|t| Tag::parse(t.as_str())).collect::<Result<Vec<Tag>, _>>()) {
            (Ok(d), Ok(t)) => (d, t),
            (Err(e), _) | (_, Err(e)) => {
                self.findings.add(format!("{repo}@{}: {e}; not planned", super::oci::short(&digest)));
                return Ok(());
            }
        };
        self.items.push(PlannedItem { repository: repo.clone(), digest, media_type, tags, size_bytes: size, action, detail });
        Ok(())
    }

    /// Compared with the target, tag by tag: present, a conflict, or a copy.
    async fn compare(&self, repo: &Repository, digest: &str, tags: &[String]) -> Result<(ItemAction, Option<String>), MigrationError> {
        let mut present = 0;
        let mut conflicts = Vec::new();
        for t in tags {
            match self.target.manifest(repo, t, false).await? {
                Some(m) if m.digest == digest => present += 1,
                Some(m) => conflicts.push(format!("{repo}:{t} is {} in the target", m.digest)),
                None => {}
            }
        }
        let untagged_present = tags.is_empty() && self.target.manifest(repo, digest, false).await?.is_some();
        Ok(if (present == tags.len() && !tags.is_empty()) || untagged_present {
            (ItemAction::Present, None)
        } else if !conflicts.is_empty() && !self.req.force {
            (ItemAction::Conflict, Some(conflicts.join("; ")))
        } else if !conflicts.is_empty() {
            (ItemAction::Copy, Some(format!("Force overwrites: {}", conflicts.join("; "))))
        } else {
            (ItemAction::Copy, None)
        })
    }
}

fn setting(key: &str, title: &str, s: Option<String>, t: Option<String>) -> ChecklistEntry {
    let status = match (&s, &t) {
        (Some(a), Some(b)) if a == b => ChecklistStatus::Same,
        (None, _) => ChecklistStatus::Todo,
        _ => ChecklistStatus::Different,
    };
    ChecklistEntry {
        key: key.into(),
        kind: ChecklistKind::Setting,
        title: title.into(),
        source_value: s,
        target_value: t,
        status,
        done_by: None,
        done_at: None,
    }
}

fn manual(key: &str, title: &str) -> ChecklistEntry {
    ChecklistEntry {
        key: key.into(),
        kind: ChecklistKind::Manual,
        title: title.into(),
        source_value: None,
        target_value: None,
        status: ChecklistStatus::Todo,
        done_by: None,
        done_at: None,
    }
}

/// Settings of the target compared with the source, read from ARM now
/// (`crate::relocation`), then the manual steps of the relocation guide.
pub(super) async fn checklist(engine: &Engine, req: &MigrationRequest, target: &RegistryView) -> Vec<ChecklistEntry> {
    let arm = &engine.inner.arm;
    let clusters = crate::relocation::clusters(arm, &target.subscription_id).await;
    let t = crate::relocation::read(arm, &arm_id(target), &clusters).await;
    let source = match &req.source_registry {
        Some(name) => match engine.registry(name).await {
            Ok(src) => Some(crate::relocation::read(arm, &arm_id(&src), &clusters).await),
            Err(_) => None,
        },
        None => None,
    };
    let mut out: Vec<ChecklistEntry> = crate::relocation::compare(source.as_ref(), &t).into_iter().map(|(k, title, s, t)| setting(&k, &title, s, t)).collect();
    out.push(manual("update-clients", "Update clients, CI pipelines and deployment manifests to the target login server"));
    out.push(manual("firewall", "Update firewall rules, private endpoints and DNS for the target"));
    out.push(manual("dns", "Create the private DNS records of the target's private endpoints and data endpoints"));
    out.push(manual("identities", "Grant pull/push roles, tokens and scope maps on the target"));
    out.push(manual("aks-attach", "Grant AcrPull on the target to the AKS clusters that pull from the source (az aks update --attach-acr)"));
    out.push(manual(
        "connected-reactivate",
        "Create and activate the connected registries again under the target (their on-premises instances need new settings)",
    ));
    out.push(manual("webhooks-move", "Re-create webhooks and event subscriptions on the target"));
    out.push(manual("delete-source", "Delete the source registry (never automated; unsafe until verification passes)"));
    out
}

/// The setting rows evaluated now, merged with the stored manual ticks:
/// a setting row always says what ARM says at this moment.
pub(super) fn merge_live(stored: Vec<ChecklistEntry>, live: &[ChecklistEntry]) -> Vec<ChecklistEntry> {
    let mut out: Vec<ChecklistEntry> = live.iter().filter(|e| e.kind == ChecklistKind::Setting).cloned().collect();
    out.extend(stored.into_iter().filter(|e| e.kind == ChecklistKind::Manual));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_shell_patterns() {
        assert!(glob("*", "a/b"));
        assert!(glob("payments/*", "payments/api"));
        assert!(!glob("payments/*", "web/frontend"));
        assert!(glob("v?.*", "v1.2"));
        assert!(glob("3.*.0", "3.3.0"));
        assert!(!glob("3.*", "v3"));
    }

    #[test]
    fn tag_selection_filters_then_keeps_the_newest() {
        let req = MigrationRequest { tags: vec!["v*".into()], latest: Some(2), ..Default::default() };
        assert_eq!(select_tags(&req, vec!["latest".into(), "v1".into(), "v2".into(), "v3".into()]), vec!["v2", "v3"]);
        let req = MigrationRequest { include: vec!["payments/*".into()], exclude: vec!["*/worker".into()], ..Default::default() };
        assert!(repo_selected(&req, "payments/api"));
        assert!(!repo_selected(&req, "payments/worker"));
        assert!(!repo_selected(&req, "hello-world"));
    }
}

//! Inventory and plan: what the source holds (repositories, tags, digests,
//! through the data plane), filtered, and per artifact what the target
//! already has: copy, present (same digest), or conflict (a target tag points
//! elsewhere). Also builds the cut-over checklist.

use std::{
    collections::{BTreeMap, HashSet},
    sync::Arc,
};

use futures::StreamExt;

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
            let client =
                OciClient::new(&login, OciAuth::Arm(engine.inner.arm.clone()), Arc::new(settings.outbound.trusting(&login)))?.with_budget(&settings.budgets);
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
            let client = OciClient::new(url, auth, settings.outbound.clone())?.with_budget(&settings.budgets);
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
    let client = OciClient::new(&login, OciAuth::Arm(engine.inner.arm.clone()), Arc::new(engine.inner.settings.outbound.trusting(&login)))?
        .with_budget(&engine.inner.settings.budgets);
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

/// Artifacts planned before they are written to storage in one transaction.
const FLUSH_EVERY: usize = 500;
/// Reads in flight at once within a repository (each host's budget paces them).
const CONCURRENT: usize = 64;

/// The inventory and the plan of one migration, as they are built. Planned
/// items go to storage a batch at a time, so memory holds one repository's
/// listing and a batch, whatever the size of the source.
struct Planner<'a> {
    id: &'a str,
    storage: &'a crate::storage::Storage,
    req: &'a MigrationRequest,
    source: OciClient,
    target: OciClient,
    max_items: usize,
    copy_state: ItemState,
    findings: Findings,
    batch: Vec<PlannedItem>,
    planned: usize,
    copies: usize,
    present: usize,
    conflicts: usize,
}

/// One digest of a repository: its media type, the selected tags pointing
/// at it, and its size (`Err`: a content finding).
struct Artifact {
    media_type: String,
    tags: Vec<String>,
    size: Result<i64, String>,
}

/// A repository's artifacts by digest.
type ByDigest = BTreeMap<String, Artifact>;

/// An artifact compared with the target: digest, media type, tags, size, action, detail.
type Compared = (String, String, Vec<String>, i64, ItemAction, Option<String>);

/// PREPARING → PLANNED (dry run) or IN_PROGRESS.
pub(super) async fn prepare(engine: &Engine, id: &str, control: &tokio::sync::watch::Receiver<super::Control>) -> Result<(), MigrationError> {
    let storage = &engine.inner.storage;
    let req = spec_of(storage.migration_spec(id).await?);
    let cancel = cancel_flag(engine, control);
    let (source, _) = source_of(engine, &req).await?;
    let (target_reg, target) = target_of(engine, &req.target_registry).await?;
    storage.begin_plan(id).await?;
    let mut planner = Planner {
        id,
        storage,
        req: &req,
        source: source.with_cancel(cancel.clone()),
        target: target.with_cancel(cancel.clone()),
        max_items: engine.inner.settings.max_plan_artifacts,
        copy_state: if req.dry_run { ItemState::Planned } else { ItemState::Pending },
        findings: Findings::default(),
        batch: Vec::new(),
        planned: 0,
        copies: 0,
        present: 0,
        conflicts: 0,
    };
    let repos = planner.repositories().await?;
    for repo in &repos {
        planner.plan_repository(repo).await?;
    }
    planner.flush().await?;

    let checklist = checklist(engine, &req, &target_reg).await;
    storage.set_checklist(id, &checklist).await?;
    storage.set_migration_findings(id, &planner.findings.0).await?;
    let next = if req.dry_run { MigrationState::Planned } else { MigrationState::InProgress };
    // A cancel that arrived while planning wins.
    if storage.migration_state(id).await? == Some(MigrationState::Stopping) {
        return Ok(());
    }
    storage.set_migration_state(id, next, None).await?;
    let Planner { planned, copies, present, conflicts, findings, .. } = planner;
    let found = if findings.0.is_empty() { String::new() } else { format!("; {} findings", findings.0.len()) };
    engine
        .publish(id, format!("planned {planned} artifacts in {} repositories: {copies} to copy, {present} present, {conflicts} conflicts{found}", repos.len()))
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

    /// Writes the planned batch.
    async fn flush(&mut self) -> Result<(), MigrationError> {
        if !self.batch.is_empty() {
            self.storage.add_planned(self.id, &self.batch, self.copy_state).await?;
            self.batch.clear();
        }
        Ok(())
    }

    /// One repository: its selected tags by digest, its untagged manifests
    /// when asked, then one planned item per digest, compared with the
    /// target a few at a time.
    async fn plan_repository(&mut self, repo: &Repository) -> Result<(), MigrationError> {
        let (mut by_digest, children) = self.tagged(repo).await?;
        if self.req.untagged {
            self.add_untagged(repo, &mut by_digest, &children).await?;
        }
        // Each read owns what it needs (futures driven by a stream in a spawned task must not borrow).
        let (target, force) = (self.target.clone(), self.req.force);
        let mut compared = futures::stream::iter(by_digest)
            .map(|(digest, a)| {
                let (target, repo) = (target.clone(), repo.clone());
                async move {
                    let action = match &a.size {
                        Ok(_) => Some(compare(&target, force, &repo, &digest, &a.tags).await),
                        Err(_) => None,
                    };
                    (digest, a, action)
                }
            })
            .buffered(CONCURRENT);
        let mut planned = Vec::new();
        while let Some((digest, a, action)) = compared.next().await {
            let size = match a.size {
                Ok(n) => n,
                Err(e) => {
                    planned.push(Err(format!("{repo}@{}: {e}; not planned", super::oci::short(&digest))));
                    continue;
                }
            };
            let (action, detail) = match action {
                Some(Ok(a)) => a,
                Some(Err(e)) => return Err(e),
                None => continue,
            };
            planned.push(Ok((digest, a.media_type, a.tags, size, action, detail)));
            // A large repository goes to storage as it is compared, too.
            if planned.len() >= FLUSH_EVERY {
                self.add_all(repo, std::mem::take(&mut planned)).await?;
            }
        }
        self.add_all(repo, planned).await
    }

    /// Adds a repository's planned artifacts (and findings) to the plan.
    async fn add_all(&mut self, repo: &Repository, planned: Vec<Result<Compared, String>>) -> Result<(), MigrationError> {
        for p in planned {
            let (digest, media_type, tags, size, action, detail) = match p {
                Ok(p) => p,
                Err(finding) => {
                    self.findings.add(finding);
                    continue;
                }
            };
            if self.planned >= self.max_items {
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
                    continue;
                }
            };
            self.planned += 1;
            match action {
                ItemAction::Copy => self.copies += 1,
                ItemAction::Present => self.present += 1,
                ItemAction::Conflict => self.conflicts += 1,
            }
            self.batch.push(PlannedItem { repository: repo.clone(), digest, media_type, tags, size_bytes: size, action, detail });
            if self.batch.len() >= FLUSH_EVERY {
                self.flush().await?;
            }
        }
        Ok(())
    }

    /// The selected tags, grouped by digest (one import per digest), each
    /// manifest read once by tag (its body gives the digest and the size);
    /// and the digests an index names as its platforms (never untagged items).
    async fn tagged(&mut self, repo: &Repository) -> Result<(ByDigest, HashSet<String>), MigrationError> {
        let mut listed = Vec::new();
        for t in self.source.tags(repo).await? {
            match Tag::parse(t.as_str()) {
                Ok(_) => listed.push(t),
                Err(_) => self.findings.add(format!("{repo}: tag '{}' is not a valid OCI tag; skipped", clean_text(&t, 140))),
            }
        }
        let mut read = futures::stream::iter(select_tags(self.req, listed))
            .map(|tag| {
                let (source, repo) = (self.source.clone(), repo.clone());
                async move {
                    let m = source.manifest(&repo, &tag, true).await;
                    let sized = match m {
                        Ok(Some(m)) => {
                            let size = artifact_size(&source, &repo, &m).await;
                            Ok(Some((m.digest.clone(), m.media_type.clone(), size, index_children(&m))))
                        }
                        Ok(None) => Ok(None),
                        Err(e) => Err(e),
                    };
                    (tag, sized)
                }
            })
            .buffered(CONCURRENT);
        let mut by_digest = ByDigest::new();
        let mut children = HashSet::new();
        let mut findings = Vec::new();
        while let Some((tag, sized)) = read.next().await {
            match sized {
                Ok(Some((digest, media_type, size, kids))) => {
                    children.extend(kids);
                    let size = match size {
                        Ok(n) => Ok(n),
                        Err(e) if e.is_content() => Err(e.to_string()),
                        Err(e) => return Err(e.into()),
                    };
                    by_digest.entry(digest).or_insert_with(|| Artifact { media_type, tags: Vec::new(), size }).tags.push(tag);
                }
                Ok(None) => {}
                Err(e) if e.is_content() => findings.push(format!("{repo}:{tag}: {e}")),
                Err(e) => return Err(e.into()),
            }
        }
        drop(read);
        for f in findings {
            self.findings.add(f);
        }
        Ok((by_digest, children))
    }

    /// Untagged manifests (ACR sources, through `_manifests`), except an
    /// index's own platforms.
    async fn add_untagged(&mut self, repo: &Repository, by_digest: &mut ByDigest, children: &HashSet<String>) -> Result<(), MigrationError> {
        let listed = match self.source.acr_manifests(repo).await {
            Ok(listed) => listed,
            Err(OciError::Cancelled) => return Err(OciError::Cancelled.into()),
            Err(e) => {
                tracing::warn!(repo = %repo, error = %e, "untagged manifests cannot be listed here (not an ACR?)");
                return Ok(());
            }
        };
        let mut untagged = Vec::new();
        for m in listed.into_iter().filter(|m| m.tags.is_empty() && !children.contains(&m.digest) && !by_digest.contains_key(&m.digest)) {
            match Digest::parse(m.digest.as_str()) {
                Ok(_) => untagged.push(m),
                Err(_) => self.findings.add(format!("{repo}: '{}' is not a digest; skipped", clean_text(&m.digest, 100))),
            }
        }
        let sized: Vec<_> = futures::stream::iter(untagged)
            .map(|m| {
                let (source, repo) = (self.source.clone(), repo.clone());
                async move {
                    let size = match source.manifest(&repo, &m.digest, true).await {
                        Ok(Some(body)) => artifact_size(&source, &repo, &body).await,
                        Ok(None) => Ok(0),
                        Err(e) => Err(e),
                    };
                    (m, size)
                }
            })
            .buffered(CONCURRENT)
            .collect()
            .await;
        for (m, size) in sized {
            let size = match size {
                Ok(n) => Ok(n),
                Err(e) if e.is_content() => Err(e.to_string()),
                Err(e) => return Err(e.into()),
            };
            by_digest.insert(m.digest, Artifact { media_type: m.media_type, tags: Vec::new(), size });
        }
        Ok(())
    }
}

/// The digests an index lists as its platforms.
fn index_children(m: &ManifestInfo) -> Vec<String> {
    let v: serde_json::Value = m.bytes.as_deref().and_then(|b| serde_json::from_slice(b).ok()).unwrap_or_default();
    v["manifests"].as_array().into_iter().flatten().filter_map(|c| c["digest"].as_str().map(str::to_string)).take(super::oci::MAX_INDEX_CHILDREN).collect()
}

/// Compared with the target, tag by tag: present, a conflict, or a copy.
async fn compare(target: &OciClient, force: bool, repo: &Repository, digest: &str, tags: &[String]) -> Result<(ItemAction, Option<String>), MigrationError> {
    let mut present = 0;
    let mut conflicts = Vec::new();
    for t in tags {
        match target.manifest(repo, t, false).await? {
            Some(m) if m.digest == digest => present += 1,
            Some(m) => conflicts.push(format!("{repo}:{t} is {} in the target", m.digest)),
            None => {}
        }
    }
    let untagged_present = tags.is_empty() && target.manifest(repo, digest, false).await?.is_some();
    Ok(if (present == tags.len() && !tags.is_empty()) || untagged_present {
        (ItemAction::Present, None)
    } else if !conflicts.is_empty() && !force {
        (ItemAction::Conflict, Some(conflicts.join("; ")))
    } else if !conflicts.is_empty() {
        (ItemAction::Copy, Some(format!("Force overwrites: {}", conflicts.join("; "))))
    } else {
        (ItemAction::Copy, None)
    })
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

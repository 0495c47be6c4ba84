//! Transfer pipelines behind the `Backend`: export and import pipelines,
//! their runs as ARM reports them, and transfers started from the console.
//!
//! A transfer is what a person asked for at once: an export of many
//! artifacts becomes runs of at most [`ARTIFACTS_PER_RUN`] each, an import
//! one run per blob. The plan (run names, their artifacts and blobs) is
//! stored before ARM is called, so a run ARM refused or someone deleted is
//! still part of the transfer and can be started again; the runs' states
//! are ARM's, read when asked.

use std::collections::HashMap;

use regatlas_app::model::{
    ApiError, PipelineKind, PipelineRunView, PipelineView, RunState, TransferOverview, TransferRequest, TransferRunView, TransferState, TransferView,
};
use regatlas_domain::{
    record::{PlannedRun, Transfer},
    Digest, ErrorKind, EventKind, Identity, Repository, Role, Tag,
};
use reqwest::Method;
use serde_json::{json, Value};

use super::checks::{arm_name, invalid, text};
use super::{webhooks::shown_uri, ActionError, Console};
use crate::outbound::clean_text;

/// At most this many artifacts per pipeline run (the transfer guide's
/// limit); a transfer of more becomes several runs.
pub const ARTIFACTS_PER_RUN: usize = 50;
/// At most this many runs in one transfer: each is one ARM write, and all
/// are sent within the request (1,000 artifacts, or 20 blobs).
const MAX_RUNS: usize = 20;
/// At most this many pipelines and runs are read.
const MAX_LIST: usize = 500;

/// `repository`, `repository:tag` or `repository@digest`, each part checked.
pub fn checked_artifact(a: &str) -> Result<String, ApiError> {
    let a = a.trim();
    let bad = |e: String| invalid("InvalidArtifact", format!("artifact '{}': {e}", clean_text(a, 200)));
    if let Some((repo, digest)) = a.split_once('@') {
        Repository::parse(repo).map_err(|e| bad(e.to_string()))?;
        Digest::parse(digest).map_err(|e| bad(e.to_string()))?;
    } else if let Some((repo, tag)) = a.split_once(':') {
        Repository::parse(repo).map_err(|e| bad(e.to_string()))?;
        Tag::parse(tag).map_err(|e| bad(e.to_string()))?;
    } else {
        Repository::parse(a).map_err(|e| bad(e.to_string()))?;
    }
    Ok(a.to_string())
}

/// A blob name: 1 to 200 letters, digits, `.`, `_`, `-` and `/`, no `..`.
pub fn checked_blob(b: &str) -> Result<String, ApiError> {
    let b = b.trim();
    if b.is_empty() || b.len() > 200 || b.contains("..") || b.starts_with('/') || !b.chars().all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c)) {
        return Err(invalid("InvalidBlob", "A blob name is 1 to 200 letters, digits, '.', '_', '-' and '/'."));
    }
    Ok(b.to_string())
}

/// Splits a transfer into runs: export artifacts by [`ARTIFACTS_PER_RUN`],
/// import blobs one each. Run names are `t{id}{NNN}`.
pub fn plan(id: &str, kind: PipelineKind, items: &[String], prefix: &str) -> Vec<PlannedRun> {
    match kind {
        PipelineKind::Export => items
            .chunks(ARTIFACTS_PER_RUN)
            .enumerate()
            .map(|(i, chunk)| PlannedRun { run: format!("t{id}{:03}", i + 1), artifacts: chunk.to_vec(), blob: format!("{prefix}-{id}-{:02}", i + 1) })
            .collect(),
        PipelineKind::Import => {
            items.iter().enumerate().map(|(i, b)| PlannedRun { run: format!("t{id}{:03}", i + 1), artifacts: Vec::new(), blob: b.clone() }).collect()
        }
    }
}

fn pipeline_view(p: &Value, kind: PipelineKind) -> PipelineView {
    let props = &p["properties"];
    let side = match kind {
        PipelineKind::Export => &props["target"],
        PipelineKind::Import => &props["source"],
    };
    let identity = &p["identity"];
    let mut principals: Vec<String> = identity["principalId"].as_str().map(|s| clean_text(s, 60)).into_iter().collect();
    if let Some(u) = identity["userAssignedIdentities"].as_object() {
        principals.extend(u.values().filter_map(|v| v["principalId"].as_str()).take(20).map(|s| clean_text(s, 60)));
    }
    PipelineView {
        name: text(&p["name"], 60),
        kind,
        location: text(&p["location"], 60),
        storage_uri: side["uri"].as_str().and_then(shown_uri),
        key_vault_uri: side["keyVaultUri"].as_str().and_then(shown_uri),
        storage_access: side["storageAccessMode"].as_str().map(|s| clean_text(s, 30)).unwrap_or_else(|| "SasToken".into()),
        identity: identity["type"].as_str().map(|s| clean_text(s, 60)).unwrap_or_else(|| "None".into()),
        identity_principals: principals,
        options: props["options"].as_array().into_iter().flatten().take(10).filter_map(Value::as_str).map(|s| clean_text(s, 40)).collect(),
        source_trigger: props["trigger"]["sourceTrigger"]["status"].as_str().map(|s| clean_text(s, 20)),
        provisioning_state: props["provisioningState"].as_str().map(|s| clean_text(s, 30)),
    }
}

fn run_view(r: &Value, transfers: &HashMap<String, String>) -> PipelineRunView {
    let props = &r["properties"];
    let request = &props["request"];
    let response = &props["response"];
    let pipeline_id = request["pipelineResourceId"].as_str().unwrap_or_default().to_ascii_lowercase();
    let kind = if pipeline_id.contains("/exportpipelines/") {
        Some(PipelineKind::Export)
    } else if pipeline_id.contains("/importpipelines/") {
        Some(PipelineKind::Import)
    } else {
        None
    };
    let blob = request["target"]["name"].as_str().or_else(|| request["source"]["name"].as_str()).map(|s| clean_text(s, 200));
    let list = |v: &Value| v.as_array().into_iter().flatten().take(200).filter_map(Value::as_str).map(|s| clean_text(s, 300)).collect::<Vec<_>>();
    let name = text(&r["name"], 60);
    let status = response["status"].as_str();
    let (artifacts, imported) = (list(&request["artifacts"]), list(&response["importedArtifacts"]));
    let provisioning = props["provisioningState"].as_str().unwrap_or_default();
    // A run ARM could not provision has no response: it failed.
    let state = if status.is_none() && (provisioning.eq_ignore_ascii_case("failed") || provisioning.eq_ignore_ascii_case("canceled")) {
        RunState::Failed
    } else {
        RunState::from_status(status)
    };
    let original = request["pipelineResourceId"].as_str().unwrap_or_default();
    PipelineRunView {
        pipeline: clean_text(original.rsplit('/').next().unwrap_or_default(), 60),
        kind,
        state,
        status: status.map(|s| clean_text(s, 40)).unwrap_or_else(|| "—".into()),
        percent: response["progress"]["percentage"].as_str().and_then(|p| p.trim().parse::<f64>().ok()).filter(|p| p.is_finite()).map(|p| p.clamp(0.0, 100.0)),
        failed: if state == RunState::Failed { artifacts.iter().filter(|a| !imported.contains(a)).cloned().collect() } else { Vec::new() },
        artifacts,
        imported,
        blob,
        started: response["startTime"].as_str().map(|s| clean_text(s, 40)),
        finished: response["finishTime"].as_str().map(|s| clean_text(s, 40)),
        error: response["pipelineRunErrorMessage"].as_str().map(|s| clean_text(s, 1000)),
        force_update_tag: props["forceUpdateTag"].as_str().map(|s| clean_text(s, 100)),
        provisioning_state: props["provisioningState"].as_str().map(|s| clean_text(s, 30)),
        transfer: transfers.get(&name.to_ascii_lowercase()).cloned(),
        name,
    }
}

/// A transfer's view from its plan and the runs ARM has now.
pub fn transfer_view(t: &Transfer, runs: &HashMap<String, &PipelineRunView>) -> TransferView {
    let parts: Vec<TransferRunView> = t
        .runs
        .iter()
        .map(|p| {
            let r = runs.get(&p.run.to_ascii_lowercase());
            TransferRunView {
                run: p.run.clone(),
                blob: p.blob.clone(),
                artifacts: p.artifacts.len(),
                state: r.map(|r| r.state).unwrap_or(RunState::Missing),
                percent: r.and_then(|r| r.percent),
            }
        })
        .collect();
    let n = parts.len().max(1) as f64;
    let percent = parts
        .iter()
        .map(|p| match p.state {
            RunState::Running | RunState::Unknown => p.percent.unwrap_or(0.0),
            _ => 100.0,
        })
        .sum::<f64>()
        / n;
    let count = |s: RunState| parts.iter().filter(|p| p.state == s).count();
    let bad = count(RunState::Failed) + count(RunState::Missing);
    let state = if count(RunState::Running) + count(RunState::Unknown) > 0 {
        TransferState::Running
    } else if bad == 0 {
        TransferState::Succeeded
    } else if bad == parts.len() {
        TransferState::Failed
    } else {
        TransferState::PartlyFailed
    };
    TransferView {
        id: t.id.clone(),
        pipeline: t.pipeline.clone(),
        kind: t.kind,
        state,
        percent: (percent * 10.0).round() / 10.0,
        artifacts: t.runs.iter().map(|r| r.artifacts.len()).sum(),
        runs: parts,
        created_by: t.actor.as_str().to_string(),
        created_at: t.created_at.clone(),
    }
}

impl Console {
    async fn pipelines_of(&self, arm_id: &str) -> Result<Vec<(Value, PipelineKind)>, ActionError> {
        let mut out = Vec::new();
        for (kind, k) in [("exportPipelines", PipelineKind::Export), ("importPipelines", PipelineKind::Import)] {
            let list: Vec<Value> = self.arm.list(&self.arm.child_url(arm_id, kind, None, None)).await?;
            out.extend(list.into_iter().take(MAX_LIST).map(|p| (p, k)));
        }
        Ok(out)
    }

    pub(super) async fn transfer_overview(&self, who: &Identity, registry: &str) -> Result<TransferOverview, ApiError> {
        self.require(who, Role::Viewer, "read transfer pipelines").await?;
        let reg = self.find(registry).await?;
        let arm_id = Console::arm_id(&reg);
        let pipelines = self.pipelines_of(&arm_id).await?;
        let runs: Vec<Value> = self.arm.list(&self.arm.child_url(&arm_id, "pipelineRuns", None, None)).await.map_err(ActionError::from)?;
        let transfers = self.storage.transfers(&reg.id, 50).await?;
        let of_run: HashMap<String, String> = transfers.iter().flat_map(|t| t.runs.iter().map(|r| (r.run.to_ascii_lowercase(), t.id.clone()))).collect();
        let mut runs: Vec<PipelineRunView> = runs.iter().take(MAX_LIST * 10).map(|r| run_view(r, &of_run)).collect();
        runs.sort_by(|a, b| b.started.cmp(&a.started).then_with(|| a.name.cmp(&b.name)));
        let transfers = {
            let by_name: HashMap<String, &PipelineRunView> = runs.iter().map(|r| (r.name.to_ascii_lowercase(), r)).collect();
            transfers.iter().map(|t| transfer_view(t, &by_name)).collect()
        };
        runs.truncate(MAX_LIST);
        let mut pipelines: Vec<PipelineView> = pipelines.iter().map(|(p, k)| pipeline_view(p, *k)).collect();
        pipelines.sort_by(|a, b| (a.kind.as_str(), &a.name).cmp(&(b.kind.as_str(), &b.name)));
        Ok(TransferOverview { pipelines, runs, transfers, artifacts_per_run: ARTIFACTS_PER_RUN })
    }

    fn run_body(arm_id: &str, pipeline: &str, kind: PipelineKind, p: &PlannedRun, force: &str) -> Value {
        match kind {
            PipelineKind::Export => json!({ "properties": {
                "request": {
                    "pipelineResourceId": format!("{arm_id}/exportPipelines/{pipeline}"),
                    "artifacts": p.artifacts,
                    "target": { "type": "AzureStorageBlob", "name": p.blob },
                },
                "forceUpdateTag": force,
            }}),
            PipelineKind::Import => json!({ "properties": {
                "request": {
                    "pipelineResourceId": format!("{arm_id}/importPipelines/{pipeline}"),
                    "source": { "type": "AzureStorageBlob", "name": p.blob },
                },
                "forceUpdateTag": force,
            }}),
        }
    }

    pub(super) async fn transfer_start(&self, who: &Identity, registry: &str, req: TransferRequest) -> Result<TransferView, ApiError> {
        self.require(who, Role::Operator, "start a transfer").await?;
        if !arm_name(req.pipeline.trim()) {
            return Err(invalid("InvalidPipelineName", "A pipeline's name is 5 to 50 letters and digits."));
        }
        let reg = self.find(registry).await?;
        let arm_id = Console::arm_id(&reg);
        let pipelines = self.pipelines_of(&arm_id).await?;
        let Some((pipeline, kind)) = pipelines.iter().find(|(p, _)| p["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(req.pipeline.trim()))) else {
            return Err(ApiError::new(
                ErrorKind::NotFound,
                "PipelineNotFound",
                format!("{} has no pipeline named {}.", reg.name, clean_text(&req.pipeline, 60)),
            ));
        };
        let pipeline = text(&pipeline["name"], 60);
        let kind = *kind;
        let id: String = {
            use rand::Rng;
            let mut rng = rand::thread_rng();
            (0..8).map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.gen_range(0..36)])).collect()
        };
        let items: Vec<String> = match kind {
            PipelineKind::Export => {
                if !req.blobs.is_empty() {
                    return Err(invalid("WrongPipelineKind", format!("{pipeline} is an export pipeline: give artifacts, not blobs.")));
                }
                let mut out: Vec<String> = Vec::new();
                for a in &req.artifacts {
                    let a = checked_artifact(a)?;
                    if !out.contains(&a) {
                        out.push(a);
                    }
                }
                out
            }
            PipelineKind::Import => {
                if !req.artifacts.is_empty() {
                    return Err(invalid("WrongPipelineKind", format!("{pipeline} is an import pipeline: give the blobs to import, not artifacts.")));
                }
                let mut out: Vec<String> = Vec::new();
                for b in &req.blobs {
                    let b = checked_blob(b)?;
                    if !out.contains(&b) {
                        out.push(b);
                    }
                }
                out
            }
        };
        let most = match kind {
            PipelineKind::Export => MAX_RUNS * ARTIFACTS_PER_RUN,
            PipelineKind::Import => MAX_RUNS,
        };
        if items.is_empty() || items.len() > most {
            return Err(invalid(
                "InvalidTransferSize",
                format!(
                    "A transfer carries 1 to {} artifacts (export) or 1 to {MAX_RUNS} blobs (import); start more transfers for more.",
                    MAX_RUNS * ARTIFACTS_PER_RUN
                ),
            ));
        }
        let prefix = match req.blob_prefix.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
            Some(p) => {
                if p.len() > 60 || !p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                    return Err(invalid("InvalidBlobPrefix", "blob_prefix is 1 to 60 letters, digits and dashes."));
                }
                p.to_string()
            }
            None => format!("regatlas-{id}"),
        };
        let runs = plan(&id, kind, &items, &prefix);
        let transfer = Transfer {
            id: id.clone(),
            registry_id: reg.id.clone(),
            pipeline: pipeline.clone(),
            kind,
            runs: runs.clone(),
            actor: who.principal.name.clone(),
            actor_key: who.principal.key(),
            created_at: String::new(),
        };
        // The plan is stored before ARM is called: a run ARM refuses stays part of it.
        self.storage.insert_transfer(&transfer).await?;
        self.audit(
            who,
            EventKind::ChildAction,
            format!(
                "{} started transfer {id} through {pipeline} of {}: {} {} in {} runs",
                who.principal.name,
                reg.name,
                items.len(),
                if kind == PipelineKind::Export { "artifacts" } else { "blobs" },
                runs.len()
            ),
            json!({ "registry": reg.name, "transfer": id, "pipeline": pipeline, "kind": kind, "items": items.len(), "runs": runs.len() }),
        )
        .await;
        for (i, p) in runs.iter().enumerate() {
            let url = self.arm.child_url(&arm_id, "pipelineRuns", Some(&p.run), None);
            if let Err(e) = self.arm.begin_at(Method::PUT, &url, Some(Console::run_body(&arm_id, &pipeline, kind, p, &id))).await {
                tracing::warn!(transfer = %id, run = %p.run, error = %e, "ARM refused a transfer's run");
                let (code, message) = match &e {
                    regatlas_arm::ArmError::Api { code, message, .. } => (clean_text(code, 80), message.clone()),
                    other => ("ArmUnavailable".to_string(), other.to_string()),
                };
                self.audit(
                    who,
                    EventKind::ChildAction,
                    format!("ARM refused run {} of transfer {id} ({}): {code}", i + 1, p.run),
                    json!({ "registry": reg.name, "transfer": id, "run": p.run, "code": code }),
                )
                .await;
                return Err(ApiError::new(
                    ErrorKind::Upstream,
                    "TransferRunRefused",
                    format!(
                        "ARM refused run {} of {} ({}): {code}: {}. Transfer {id} keeps its plan; start the refused runs again from its page.",
                        i + 1,
                        runs.len(),
                        p.run,
                        clean_text(&message, 500)
                    ),
                ));
            }
        }
        self.poller.nudge();
        let none = HashMap::new();
        let mut view = transfer_view(&transfer, &none);
        for r in view.runs.iter_mut() {
            r.state = RunState::Running;
        }
        view.state = TransferState::Running;
        view.percent = 0.0;
        Ok(view)
    }

    /// Starts a run again with a new `forceUpdateTag`; a run of a transfer
    /// that ARM never created (or someone deleted) is created from the plan.
    pub(super) async fn run_again(&self, who: &Identity, registry: &str, run: &str) -> Result<(), ApiError> {
        self.require(who, Role::Operator, "start a pipeline run again").await?;
        if !arm_name(run) {
            return Err(invalid("InvalidRunName", "A pipeline run's name is 5 to 50 letters and digits."));
        }
        let reg = self.find(registry).await?;
        let arm_id = Console::arm_id(&reg);
        let url = self.arm.child_url(&arm_id, "pipelineRuns", Some(run), None);
        let force = uuid::Uuid::new_v4().to_string();
        // A transfer's run is sent again from its stored plan; any other run
        // from what ARM holds, each part checked as a new request would be.
        let planned = self.storage.transfer_of_run(&reg.id, run).await?;
        let body = match planned.as_ref().and_then(|t| t.runs.iter().find(|p| p.run.eq_ignore_ascii_case(run)).map(|p| (t, p.clone()))) {
            Some((t, p)) => {
                if !arm_name(&t.pipeline) {
                    return Err(ApiError::new(ErrorKind::Internal, "StoredPlanInvalid", "The stored plan names a pipeline ARM would not accept."));
                }
                Console::run_body(&arm_id, &t.pipeline, t.kind, &p, &force)
            }
            None => {
                let doc: Value = match self.arm.send(Method::GET, &url, None).await {
                    Ok(r) => r.json().map_err(ActionError::from)?,
                    Err(regatlas_arm::ArmError::Api { status: 404, .. }) => {
                        return Err(ApiError::new(
                            ErrorKind::NotFound,
                            "RunNotFound",
                            format!("{} has no pipeline run {run}, and no transfer planned one.", reg.name),
                        ))
                    }
                    Err(e) => return Err(ActionError::from(e).into()),
                };
                let request = &doc["properties"]["request"];
                let unusable = |m: &str| ApiError::new(ErrorKind::Conflict, "RunNotRepeatable", format!("{run} cannot be started again: {m}"));
                let id = request["pipelineResourceId"].as_str().unwrap_or_default();
                let (kind, pipeline) = [("exportPipelines", PipelineKind::Export), ("importPipelines", PipelineKind::Import)]
                    .iter()
                    .find_map(|(seg, k)| {
                        let prefix = format!("{arm_id}/{seg}/").to_ascii_lowercase();
                        id.to_ascii_lowercase().starts_with(&prefix).then(|| (*k, id[prefix.len()..].to_string()))
                    })
                    .filter(|(_, p)| arm_name(p))
                    .ok_or_else(|| unusable("its pipeline is not one of this registry's"))?;
                let artifacts = request["artifacts"].as_array().cloned().unwrap_or_default();
                if artifacts.len() > ARTIFACTS_PER_RUN {
                    return Err(unusable("it names more artifacts than a run may carry"));
                }
                let artifacts = artifacts.iter().map(|a| checked_artifact(a.as_str().unwrap_or_default())).collect::<Result<Vec<_>, _>>()?;
                let blob = request["target"]["name"].as_str().or_else(|| request["source"]["name"].as_str()).unwrap_or_default();
                let p = PlannedRun { run: run.to_string(), artifacts, blob: checked_blob(blob)? };
                Console::run_body(&arm_id, &pipeline, kind, &p, &force)
            }
        };
        self.arm.begin_at(Method::PUT, &url, Some(body)).await.map_err(ActionError::from)?;
        self.audit(
            who,
            EventKind::ChildAction,
            format!("{} started pipeline run {run} of {} again", who.principal.name, reg.name),
            json!({ "registry": reg.name, "run": run, "what": "rerun", "forceUpdateTag": force }),
        )
        .await;
        self.poller.nudge();
        Ok(())
    }

    pub(super) async fn run_delete(&self, who: &Identity, registry: &str, run: &str) -> Result<(), ApiError> {
        self.require(who, Role::Operator, "delete a pipeline run").await?;
        if !arm_name(run) {
            return Err(invalid("InvalidRunName", "A pipeline run's name is 5 to 50 letters and digits."));
        }
        let reg = self.find(registry).await?;
        self.arm
            .begin_at(Method::DELETE, &self.arm.child_url(&Console::arm_id(&reg), "pipelineRuns", Some(run), None), None)
            .await
            .map_err(ActionError::from)?;
        self.audit(
            who,
            EventKind::ChildAction,
            format!("{} deleted pipeline run {run} of {}", who.principal.name, reg.name),
            json!({ "registry": reg.name, "run": run, "what": "deleted" }),
        )
        .await;
        self.poller.nudge();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_than_fifty_artifacts_become_several_runs() {
        let items: Vec<String> = (0..120).map(|i| format!("app/svc:v{i}")).collect();
        let runs = plan("abc12345", PipelineKind::Export, &items, "nightly");
        assert_eq!(runs.iter().map(|r| r.artifacts.len()).collect::<Vec<_>>(), vec![50, 50, 20]);
        assert_eq!(runs[0].run, "tabc12345001");
        assert_eq!(runs[2].blob, "nightly-abc12345-03");
        assert!(runs.iter().all(|r| arm_name(&r.run)));
        let imports = plan("abc12345", PipelineKind::Import, &["b1".into(), "b2".into()], "x");
        assert_eq!(imports.iter().map(|r| r.blob.as_str()).collect::<Vec<_>>(), vec!["b1", "b2"]);
    }

    #[test]
    fn artifacts_and_blobs_are_checked() {
        for ok in ["hello-world", "web/frontend:1.1.0", "tools/base@sha256:0123456789012345678901234567890123456789012345678901234567890123"] {
            assert!(checked_artifact(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Bad Repo", "web/frontend:", "x@sha256:short", "../etc:1"] {
            assert!(checked_artifact(bad).is_err(), "{bad}");
        }
        assert!(checked_blob("release-2026-11").is_ok());
        for bad in ["", "../x", "/abs", "a b", "q?x=1"] {
            assert!(checked_blob(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_transfer_is_as_far_as_its_runs() {
        let t = Transfer {
            id: "abc".into(),
            registry_id: "r".into(),
            pipeline: "p".into(),
            kind: PipelineKind::Export,
            runs: plan("abc", PipelineKind::Export, &(0..120).map(|i| format!("a:v{i}")).collect::<Vec<_>>(), "b"),
            actor: regatlas_domain::Actor::from_stored("ci".into()),
            actor_key: "k".into(),
            created_at: String::new(),
        };
        let run = |name: &str, state: RunState, percent: Option<f64>| PipelineRunView {
            name: name.into(),
            pipeline: "p".into(),
            kind: Some(PipelineKind::Export),
            state,
            status: String::new(),
            percent,
            artifacts: vec![],
            imported: vec![],
            failed: vec![],
            blob: None,
            started: None,
            finished: None,
            error: None,
            force_update_tag: None,
            provisioning_state: None,
            transfer: None,
        };
        let (a, b, c) =
            (run("tabc001", RunState::Succeeded, Some(100.0)), run("tabc002", RunState::Running, Some(40.0)), run("tabc003", RunState::Failed, Some(30.0)));
        let mut runs: HashMap<String, &PipelineRunView> =
            [("tabc001".to_string(), &a), ("tabc002".to_string(), &b), ("tabc003".to_string(), &c)].into_iter().collect();
        let v = transfer_view(&t, &runs);
        assert_eq!(v.state, TransferState::Running);
        assert_eq!(v.percent, 80.0);
        assert_eq!(v.artifacts, 120);
        let done = run("tabc002", RunState::Succeeded, Some(100.0));
        runs.insert("tabc002".into(), &done);
        assert_eq!(transfer_view(&t, &runs).state, TransferState::PartlyFailed);
        runs.remove("tabc001");
        runs.remove("tabc002");
        let v = transfer_view(&t, &runs);
        assert_eq!(v.state, TransferState::Failed, "two runs missing, one failed");
        assert_eq!(v.runs[0].state, RunState::Missing);
    }
}

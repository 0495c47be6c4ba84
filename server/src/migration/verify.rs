//! Verification: every planned tag must resolve to the planned digest in the
//! target (untagged artifacts: the digest must exist), through the login
//! server and, where the target is geo-replicated and exposes regional
//! endpoints (`regionalEndpointHostNames`, ARM 2026-01-01-preview), through
//! each replica's own endpoint too. Replication is asynchronous, so a tag not
//! yet in a region is checked again until `regional_wait`; a different digest
//! is a finding at once. Findings are stored on the item, not logged.
//!
//! Items are read a batch at a time and checked concurrently, every request
//! paced by its host's read budget (ACR throttles each replica's data plane).

use std::time::Duration;

use futures::StreamExt;

use super::{
    arm_id,
    commit::GroupCommit,
    oci::{OciAuth, OciClient},
    plan::{spec_of, target_of},
    Engine, MigrationError,
};
use crate::storage::ItemWrite;
use regatlas_domain::record::MigrationItem as ItemRow;

enum Check {
    Ok,
    /// Not there (yet).
    Missing(String),
    /// Resolves to another digest.
    Wrong(String),
}

async fn check(client: &OciClient, item: &ItemRow, where_: &str) -> Result<Check, MigrationError> {
    if item.tags.is_empty() {
        return Ok(match client.manifest(&item.repository, &item.digest, false).await? {
            Some(_) => Check::Ok,
            None => Check::Missing(format!("{}@{} is missing in {where_}", item.repository, item.digest)),
        });
    }
    for t in &item.tags {
        match client.manifest(&item.repository, t, false).await? {
            Some(m) if item.digest == m.digest.as_str() => {}
            Some(m) => return Ok(Check::Wrong(format!("{}:{t} is {} in {where_}, not {}", item.repository, m.digest, item.digest))),
            None => return Ok(Check::Missing(format!("{}:{t} is missing in {where_}", item.repository))),
        }
    }
    Ok(Check::Ok)
}

/// The target's regional endpoints, when ARM lists them.
async fn regional_endpoints(engine: &Engine, target: &regatlas_app::model::RegistryView) -> Vec<String> {
    match engine.inner.arm.regional_endpoint_host_names(&arm_id(target)).await {
        Ok(hosts) => hosts,
        Err(e) => {
            tracing::info!(error = %e, "no regional endpoints to verify (the registry or this ARM does not describe them)");
            Vec::new()
        }
    }
}

/// Items read and checked at a time: memory stays flat whatever the size.
const BATCH: i64 = 256;
/// Checks in flight at once (each host's budget paces them).
const CONCURRENT: usize = 64;

/// One check per item, at most [`CONCURRENT`] at once, in the items' order.
/// Each check owns what it reads (futures driven by a stream in a spawned
/// task must not borrow).
async fn check_all(client: &OciClient, items: Vec<ItemRow>, where_: &'static str) -> Vec<(ItemRow, Result<Check, MigrationError>)> {
    futures::stream::iter(items)
        .map(|item| {
            let client = client.clone();
            async move {
                let c = check(&client, &item, where_).await;
                (item, c)
            }
        })
        .buffered(CONCURRENT)
        .collect()
        .await
}

/// A batch: the login server first; items that pass go on to each regional
/// endpoint, checked again (replication is asynchronous) until they pass,
/// resolve elsewhere, or `wait` has passed since the batch's first check.
async fn verify_batch(
    writer: &GroupCommit,
    target: &OciClient,
    regional: &std::sync::Arc<[(String, OciClient)]>,
    batch: Vec<ItemRow>,
    wait: Duration,
    shutdown: &tokio::sync::watch::Receiver<bool>,
) -> Result<(), MigrationError> {
    let mut writes = Vec::new();
    let mut waiting: Vec<(ItemRow, usize)> = Vec::new();
    for (item, outcome) in check_all(target, batch, "the target").await {
        match outcome? {
            Check::Ok if regional.is_empty() => writes.push(ItemWrite::Verified(item.id, true, None)),
            Check::Ok => waiting.push((item, 0)),
            Check::Missing(p) | Check::Wrong(p) => writes.push(ItemWrite::Verified(item.id, false, Some(p))),
        }
    }
    writer.write(std::mem::take(&mut writes)).await?;
    let deadline = tokio::time::Instant::now() + wait;
    let mut pause = Duration::from_millis(200);
    while !waiting.is_empty() {
        let rounds = futures::stream::iter(waiting)
            .map(|(item, next)| {
                let regional = regional.clone();
                async move {
                    let outcome = regional_checks(&regional, &item, next).await;
                    (item, outcome)
                }
            })
            .buffered(CONCURRENT)
            .collect::<Vec<_>>()
            .await;
        let mut still = Vec::new();
        for (item, (next, outcome)) in rounds {
            match outcome {
                None => writes.push(ItemWrite::Verified(
                    item.id,
                    true,
                    Some(format!("verified through the login server and {} regional endpoints", regional.len())),
                )),
                Some(Err(p)) => writes.push(ItemWrite::Verified(item.id, false, Some(p))),
                Some(Ok(p)) if tokio::time::Instant::now() >= deadline => {
                    writes.push(ItemWrite::Verified(item.id, false, Some(format!("{p} (not replicated within {wait:?})"))))
                }
                Some(Ok(_)) => still.push((item, next)),
            }
        }
        writer.write(std::mem::take(&mut writes)).await?;
        waiting = still;
        if !waiting.is_empty() {
            // Standing down (or stopping): what is left is verified again by whoever drives next.
            let mut sd = shutdown.clone();
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = crate::cluster::until(&mut sd, true) => return Ok(()),
            }
            pause = (pause * 2).min(Duration::from_secs(5));
        }
    }
    Ok(())
}

/// The regional endpoints from `next` on: `None` when all pass, else where
/// it stopped and why (`Ok`: not there yet; `Err`: another digest).
async fn regional_checks(regional: &[(String, OciClient)], item: &ItemRow, mut next: usize) -> (usize, Option<Result<String, String>>) {
    while next < regional.len() {
        let (host, client) = &regional[next];
        // An unreachable region is "not there yet", not the end of verification.
        let checked = check(client, item, &format!("the regional endpoint {host}"))
            .await
            .unwrap_or_else(|e| Check::Missing(format!("the regional endpoint {host} is unavailable: {e}")));
        match checked {
            Check::Ok => next += 1,
            Check::Wrong(p) => return (next, Some(Err(p))),
            Check::Missing(p) => return (next, Some(Ok(p))),
        }
    }
    (next, None)
}

pub(super) async fn run(engine: &Engine, id: &str) -> Result<(), MigrationError> {
    let storage = &engine.inner.storage;
    let req = spec_of(storage.migration_spec(id).await?);
    let (target_reg, target) = target_of(engine, &req.target_registry).await?;
    let mut regional: Vec<(String, OciClient)> = Vec::new();
    for h in regional_endpoints(engine, &target_reg).await {
        // A host name ARM reported for the watched registry (a private endpoint may resolve it privately).
        let policy = std::sync::Arc::new(engine.inner.settings.outbound.trusting(&h));
        match OciClient::new(&h, OciAuth::Arm(engine.inner.arm.clone()), policy) {
            Ok(c) => regional.push((h, c.with_budget(&engine.inner.settings.budgets))),
            Err(e) => {
                tracing::warn!(migration = %id, endpoint = %h, error = %e, "regional endpoint not verified");
                engine
                    .publish(
                        id,
                        format!(
                            "the regional endpoint {} is not verified: {}",
                            crate::outbound::clean_text(&h, 100),
                            crate::outbound::clean_text(&e.to_string(), 200)
                        ),
                    )
                    .await?;
            }
        }
    }
    // Shared by every check of every batch (each check owns a handle).
    let regional: std::sync::Arc<[(String, OciClient)]> = regional.into();
    let writer = GroupCommit::start(storage.clone());
    let wait = engine.inner.settings.regional_wait;
    let mut after = 0;
    let shutdown = engine.inner.shutdown.clone();
    loop {
        if *shutdown.borrow() {
            return Ok(());
        }
        let batch = storage.items_to_verify(id, after, BATCH).await?;
        let Some(last) = batch.last() else { break };
        after = last.id;
        let full = batch.len() as i64 == BATCH;
        verify_batch(&writer, &target, &regional, batch, wait, &shutdown).await?;
        if !full {
            break;
        }
    }
    // Stopped part-way: no verdict; the next driver verifies again.
    if *shutdown.borrow() {
        return Ok(());
    }
    let v = engine.view(id).await?;
    let regions = if regional.is_empty() { String::new() } else { format!(" (login server and {} regional endpoints)", regional.len()) };
    // Copies neither imported nor failed (none, unless the copy phase lost one): never complete.
    let unfinished = (v.to_copy - v.imported - v.failed).max(0);
    if v.failed > 0 || v.mismatched > 0 || unfinished > 0 {
        let left = if unfinished > 0 { format!(", {unfinished} copies never finished") } else { String::new() };
        let msg = format!("{} imports failed, {} artifacts did not verify{left}{regions}", v.failed, v.mismatched);
        storage.set_migration_state(id, regatlas_app::model::MigrationState::Failed, Some(&msg)).await?;
        engine.publish(id, msg).await?;
    } else {
        storage.set_migration_state(id, regatlas_app::model::MigrationState::Complete, None).await?;
        engine.publish(id, format!("complete: {} copied, {} already present, all verified{regions}", v.imported, v.present)).await?;
    }
    Ok(())
}

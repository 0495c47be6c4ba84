//! The copy phase: one `importImage` per digest with all its tags, an AIMD
//! window of imports in flight, `Retry-After` honoured, transient failures
//! retried with backoff, and every item's state written before and after
//! each ARM call.
//!
//! Resume rules after a crash or restart: an item `importing` with a stored
//! operation handle is polled again (no new request); one `importing`
//! without a handle (the process died between writing "importing" and
//! storing ARM's answer) is looked up in the target: if every tag already
//! resolves to its digest it is done, otherwise it is imported again, which
//! is harmless (same digest, same tags; `NoForce` cannot overwrite anything
//! else). Every request ARM processed is counted in `attempts`.

use std::{collections::VecDeque, time::Duration};

use regatlas_app::model::ItemState;
use regatlas_arm::{
    lro::{LroHandle, LroPoll},
    models::ImportImageParameters,
    ArmError,
};
use tokio::{sync::watch, task::JoinSet, time::Instant};

use super::{
    aimd::Aimd,
    arm_id,
    oci::OciClient,
    plan::{source_of, spec_of, target_of},
    Control, Engine, MigrationError,
};
use regatlas_domain::record::MigrationItem as ItemRow;

/// How the copy phase ended.
#[derive(Debug)]
pub enum Finish {
    Done,
    Paused,
    Cancelled,
    /// The process is stopping: items stay as they are, to be resumed.
    Shutdown,
    /// The failure threshold was crossed.
    Threshold(String),
}

/// The end of one item's turn.
enum Turn {
    /// Done, after this long in flight.
    Imported(Duration),
    /// 429 before ARM processed it: not an attempt; wait this long.
    Throttled(Duration),
    /// 5xx, transport, or an operation that failed transiently.
    Transient(String, String),
    Failed(String, String),
    /// Shutdown while polling: leave it importing with its handle.
    Interrupted,
}

fn classify(e: &ArmError) -> Turn {
    match e {
        ArmError::Api { status: 429, retry_after_ms, .. } => Turn::Throttled(Duration::from_millis(retry_after_ms.unwrap_or(1000))),
        ArmError::Api { status, code, message, .. } if *status >= 500 => Turn::Transient(code.clone(), message.clone()),
        ArmError::Api { code, message, .. } => Turn::Failed(code.clone(), message.clone()),
        ArmError::Transport { .. } | ArmError::Deadline { .. } => Turn::Transient("ArmUnavailable".into(), e.to_string()),
        other => Turn::Failed("ArmError".into(), other.to_string()),
    }
}

/// Does the target already hold this item under all its tags?
async fn landed(target: &OciClient, item: &ItemRow) -> bool {
    if item.tags.is_empty() {
        return matches!(target.manifest(&item.repository, &item.digest, false).await, Ok(Some(_)));
    }
    for t in &item.tags {
        match target.manifest(&item.repository, t, false).await {
            Ok(Some(m)) if item.digest == m.digest.as_str() => {}
            _ => return false,
        }
    }
    true
}

pub(super) async fn run(engine: &Engine, id: &str, mut control: watch::Receiver<Control>) -> Result<Finish, MigrationError> {
    let storage = engine.inner.storage.clone();
    let settings = engine.inner.settings.clone();
    let req = spec_of(storage.migration_spec(id).await?);
    let (_, source_template) = source_of(engine, &req).await?;
    let (target_reg, target) = target_of(engine, &req.target_registry).await?;
    let target_id = arm_id(&target_reg);
    let max = req.max_concurrency.unwrap_or(16).clamp(1, 256) as usize;
    let threshold = req.failure_threshold.unwrap_or(0.25);
    let mode = if req.force { "Force" } else { "NoForce" };

    let mut queue: VecDeque<ItemRow> = VecDeque::new();
    let mut inflight: JoinSet<(ItemRow, Turn)> = JoinSet::new();
    let mut shutdown = engine.inner.shutdown.clone();

    // Resume what a previous process left importing.
    for item in storage.items_to_copy(id).await? {
        match (item.state, item.lro.as_deref().and_then(|l| serde_json::from_str::<LroHandle>(l).ok())) {
            (ItemState::Importing, Some(handle)) => {
                tracing::info!(migration = %id, item = item.id, "resuming an import from its stored operation");
                let (arm, s, sd) = (engine.inner.arm.clone(), settings.clone(), shutdown.clone());
                inflight.spawn(async move {
                    let turn = follow(&arm, &handle, &s, sd, Instant::now()).await;
                    (item, turn)
                });
            }
            (ItemState::Importing, None) => {
                if landed(&target, &item).await {
                    tracing::info!(migration = %id, item = item.id, "an interrupted import had landed");
                    storage.item_finished(item.id, ItemState::Imported, None).await?;
                } else {
                    tracing::info!(migration = %id, item = item.id, "an interrupted import is sent again (same digest and tags: harmless)");
                    queue.push_back(item);
                }
            }
            _ => queue.push_back(item),
        }
    }

    let mut aimd = Aimd::new(settings.start_window, max);
    let mut not_before = Instant::now();
    let mut delayed: Vec<(Instant, ItemRow)> = Vec::new();
    let mut finished_ok = 0i64;
    let mut finished_failed = 0i64;
    let mut throttled_since_save = 0i64;
    let mut last_publish = Instant::now();
    let mut stop: Option<Finish> = None;
    storage.set_migration_window(id, aimd.window() as i64, 0).await?;

    loop {
        if stop.is_none() {
            if *shutdown.borrow() {
                stop = Some(Finish::Shutdown);
            } else {
                match *control.borrow() {
                    Control::Pause => stop = Some(Finish::Paused),
                    Control::Cancel => stop = Some(Finish::Cancelled),
                    Control::Run => {}
                }
            }
        }
        // Items whose backoff is over go back to the queue.
        let now = Instant::now();
        let (ready, waiting): (Vec<_>, Vec<_>) = delayed.into_iter().partition(|(t, _)| *t <= now);
        delayed = waiting;
        queue.extend(ready.into_iter().map(|(_, i)| i));

        if stop.is_none() && now >= not_before {
            while inflight.len() < aimd.window() {
                let Some(item) = queue.pop_front() else { break };
                storage.item_importing(item.id).await?;
                let mut source = source_template.clone();
                source.source_image = format!("{}@{}", item.repository, item.digest);
                let params = ImportImageParameters {
                    source,
                    target_tags: item.tags.iter().map(|t| format!("{}:{t}", item.repository)).collect(),
                    untagged_target_repositories: if item.tags.is_empty() { vec![item.repository.to_string()] } else { vec![] },
                    mode: mode.into(),
                };
                let (import_arm, arm, s, storage, target_id, sd) =
                    (engine.inner.import_arm.clone(), engine.inner.arm.clone(), settings.clone(), storage.clone(), target_id.clone(), shutdown.clone());
                inflight.spawn(async move {
                    let sent = Instant::now();
                    let turn = match import_arm.begin_import_image(&target_id, &params).await {
                        Err(e) => classify(&e),
                        Ok(acc) => match acc.handle {
                            None => Turn::Imported(sent.elapsed()),
                            Some(handle) => {
                                let saved = serde_json::to_value(&handle).map_err(|e| e.to_string());
                                match saved {
                                    Ok(v) => {
                                        if let Err(e) = storage.item_lro(item.id, &v).await {
                                            tracing::error!(error = %e, "cannot store an import's operation handle");
                                        }
                                    }
                                    Err(e) => tracing::error!(error = %e, "cannot serialise an operation handle"),
                                }
                                follow(&arm, &handle, &s, sd, sent).await
                            }
                        },
                    };
                    (item, turn)
                });
            }
        }

        if inflight.is_empty() {
            if let Some(f) = stop {
                storage.set_migration_window(id, aimd.window() as i64, throttled_since_save).await?;
                return Ok(f);
            }
            if queue.is_empty() && delayed.is_empty() {
                storage.set_migration_window(id, aimd.window() as i64, throttled_since_save).await?;
                return Ok(Finish::Done);
            }
        }

        // Wait for an import to end, a control change, or the next deadline.
        let wake = delayed
            .iter()
            .map(|(t, _)| *t)
            .min()
            .into_iter()
            .chain((not_before > Instant::now()).then_some(not_before))
            .min()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
        tokio::select! {
            joined = inflight.join_next(), if !inflight.is_empty() => {
                let Some(joined) = joined else { continue };
                let (item, turn) = match joined {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::error!(error = %e, "an import task panicked; its item stays importing and is resumed on the next run");
                        continue;
                    }
                };
                match turn {
                    Turn::Imported(rtt) => {
                        aimd.success_after(rtt);
                        finished_ok += 1;
                        storage.item_finished(item.id, ItemState::Imported, None).await?;
                    }
                    Turn::Throttled(wait) => {
                        // The window shrinks at once; the refused request
                        // waits out its Retry-After. Only when a burst of
                        // refusals says the quota is spent (the window is
                        // down to one) does all dispatch wait.
                        aimd.throttled();
                        throttled_since_save += 1;
                        storage.item_throttled(item.id).await?;
                        if aimd.window() <= 1 {
                            not_before = not_before.max(Instant::now() + wait);
                        }
                        delayed.push((Instant::now() + wait, item));
                    }
                    Turn::Transient(code, message) => {
                        let attempts = item.attempts + 1;
                        if attempts >= settings.max_attempts {
                            finished_failed += 1;
                            storage.item_finished(item.id, ItemState::Failed, Some((&code, &message))).await?;
                        } else {
                            storage.item_pending(item.id, Some((&code, &message))).await?;
                            let backoff = settings.retry_base.mul_f64((1u32 << attempts.min(6)) as f64 * (0.5 + rand::random::<f64>() / 2.0));
                            let mut again = item;
                            again.attempts = attempts;
                            delayed.push((Instant::now() + backoff, again));
                        }
                    }
                    Turn::Failed(code, message) => {
                        finished_failed += 1;
                        storage.item_finished(item.id, ItemState::Failed, Some((&code, &message))).await?;
                    }
                    Turn::Interrupted => {}
                }
                let done = finished_ok + finished_failed;
                if stop.is_none() && done >= 20 && (finished_failed as f64) > threshold * (done as f64) {
                    stop = Some(Finish::Threshold(format!("stopped: {finished_failed} of {done} imports failed, above the failure threshold of {:.0} %", threshold * 100.0)));
                }
                if last_publish.elapsed() >= Duration::from_millis(500) {
                    last_publish = Instant::now();
                    storage.set_migration_window(id, aimd.window() as i64, throttled_since_save).await?;
                    throttled_since_save = 0;
                    engine.publish_kind(id, regatlas_domain::EventKind::MigrationProgress, "copying".into()).await?;
                }
            }
            _ = control.changed() => {}
            _ = shutdown.changed() => {}
            _ = tokio::time::sleep_until(wake) => {}
        }
    }
}

/// Polls an import operation to its end (or shutdown).
async fn follow(arm: &regatlas_arm::ArmClient, handle: &LroHandle, s: &super::EngineSettings, mut shutdown: watch::Receiver<bool>, sent: Instant) -> Turn {
    let deadline = Instant::now() + s.import_timeout;
    loop {
        if *shutdown.borrow() {
            return Turn::Interrupted;
        }
        match arm.poll(handle).await {
            Ok(LroPoll::Succeeded { .. }) => return Turn::Imported(sent.elapsed()),
            Ok(LroPoll::Failed { code, message }) => {
                return if code.eq_ignore_ascii_case("InternalServerError") || code.eq_ignore_ascii_case("ServiceUnavailable") {
                    Turn::Transient(code, message)
                } else {
                    Turn::Failed(code, message)
                };
            }
            Ok(LroPoll::InProgress { retry_after, .. }) => {
                if Instant::now() > deadline {
                    return Turn::Transient("ImportTimeout".into(), "the import operation did not finish in time".into());
                }
                let wait = retry_after.max(s.poll_floor);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.changed() => return Turn::Interrupted,
                }
            }
            Err(e) => return classify(&e),
        }
    }
}

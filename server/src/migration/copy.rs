//! The copy phase: one `importImage` per digest with all its tags, an AIMD
//! window of imports in flight, `Retry-After` honoured, transient failures
//! retried with backoff, and every item's state written before and after
//! each ARM call.
//!
//! At 100,000 artifacts the loop holds no more than a batch of the plan:
//! pending items are read from storage a batch at a time, in id order, and
//! item writes go through the [group commit](super::commit) (the writes of
//! one dispatch round, or of every import that ended meanwhile, in one
//! transaction that is durable before the loop goes on).
//!
//! Resume rules after a crash or restart: an item `importing` with a stored
//! operation handle is polled again (no new request); one `importing`
//! without a handle (the process died between writing "importing" and
//! storing ARM's answer) is looked up in the target: if every tag already
//! resolves to its digest it is done; if not, ARM may still be importing
//! it, so it is looked up again every second for
//! [`resume_grace`](super::EngineSettings::resume_grace), and only then
//! imported again, which is harmless (same digest, same tags; `NoForce`
//! cannot overwrite anything else). Every request ARM processed is counted
//! in `attempts`.
//!
//! Claims: the loop copies only items it has claimed in storage (its
//! instance's name, taken with `FOR UPDATE SKIP LOCKED` on PostgreSQL); a
//! claim lives by its instance's lease (one row, by the database's clock),
//! renewed every quarter of the lease; the loop sends nothing once the
//! lease may have run out without a renewal. An item another instance
//! claimed is taken over only once that instance's lease ran out, and then
//! by the resume rules above: a leader that lost its database (or died)
//! mid-import is never raced by the next one.

use std::{collections::VecDeque, time::Duration};

use crate::storage::ItemWrite;

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
    commit::GroupCommit,
    oci::OciClient,
    plan::{source_of, spec_of, target_of},
    Control, Engine, MigrationError,
};
use regatlas_domain::record::MigrationItem as ItemRow;

/// How the copy phase ended.
#[derive(Clone, Debug)]
pub enum Finish {
    Done,
    Paused,
    /// Paused through another instance (the state is stored already).
    PausedElsewhere,
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
    /// An interrupted import without a handle was found in the target.
    Landed,
    /// An interrupted import without a handle did not land within the grace: send it again.
    Resend,
    /// Not sent: the engine stands down (back to pending, not an attempt).
    Unsent,
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

/// The copy loop's state between two turns.
struct CopyLoop<'a> {
    engine: &'a Engine,
    id: &'a str,
    storage: crate::storage::Storage,
    writer: GroupCommit,
    settings: super::EngineSettings,
    source_template: regatlas_arm::models::ImportSource,
    target_id: String,
    /// The target's data plane (resumed imports are looked up there).
    target: OciClient,
    /// The target's subscription (whose write quota the imports spend).
    subscription: String,
    mode: &'static str,
    threshold: f64,
    shutdown: watch::Receiver<bool>,
    queue: VecDeque<ItemRow>,
    /// The last pending item read from storage; `None` once all were read.
    cursor: Option<i64>,
    /// Items resumed from `importing` (any id, so perhaps past the cursor):
    /// never taken again from storage while this loop holds them.
    resumed: std::collections::HashSet<i64>,
    inflight: JoinSet<(ItemRow, Turn)>,
    /// Items waiting out a backoff or a `Retry-After`.
    delayed: Vec<(Instant, ItemRow)>,
    aimd: Aimd,
    /// No dispatch before this (the quota is spent).
    not_before: Instant,
    /// Dispatch pacing: sends the window allows, earned at window / round trip per second.
    pace_tokens: f64,
    pace_last: Instant,
    finished_ok: i64,
    finished_failed: i64,
    throttled_since_save: i64,
    last_publish: Instant,
    stop: Option<Finish>,
    /// Our claims hold until at least this (the last renewal's start plus
    /// most of the lease); no dispatch after it.
    lease_ok: Instant,
    next_renew: Instant,
    /// The lapse was logged (once per lapse).
    lease_warned: bool,
}

pub(super) async fn run(engine: &Engine, id: &str, control: watch::Receiver<Control>) -> Result<Finish, MigrationError> {
    let storage = engine.inner.storage.clone();
    let settings = engine.inner.settings.clone();
    let req = spec_of(storage.migration_spec(id).await?);
    let (_, source_template) = source_of(engine, &req).await?;
    let (target_reg, target) = target_of(engine, &req.target_registry).await?;
    let max = req.max_concurrency.unwrap_or(16).clamp(1, 512) as usize;
    let mut copy = CopyLoop {
        engine,
        id,
        aimd: Aimd::new(settings.start_window, max),
        writer: GroupCommit::start(storage.clone()),
        storage,
        settings,
        source_template,
        target_id: arm_id(&target_reg),
        target: target.clone(),
        subscription: target_reg.subscription_id.to_ascii_lowercase(),
        mode: if req.force { "Force" } else { "NoForce" },
        threshold: req.failure_threshold.unwrap_or(0.25),
        shutdown: engine.inner.shutdown.clone(),
        queue: VecDeque::new(),
        cursor: Some(0),
        resumed: Default::default(),
        inflight: JoinSet::new(),
        delayed: Vec::new(),
        not_before: Instant::now(),
        pace_tokens: 0.0,
        pace_last: Instant::now(),
        finished_ok: 0,
        finished_failed: 0,
        throttled_since_save: 0,
        last_publish: Instant::now(),
        stop: None,
        lease_ok: Instant::now(),
        next_renew: Instant::now(),
        lease_warned: false,
    };
    let finish = copy.drive(control).await;
    // Claims go with the loop (a crash leaves them to run out): every item
    // still importing has its operation handle stored by now.
    if let Err(e) = copy.storage.release_claims(id, &copy.settings.instance).await {
        tracing::warn!(migration = %id, error = %e, "cannot release this instance's claims; they run out by themselves");
    }
    finish
}

impl CopyLoop<'_> {
    async fn drive(&mut self, mut control: watch::Receiver<Control>) -> Result<Finish, MigrationError> {
        let copy = self;
        let id = copy.id;
        copy.renew().await;
        copy.resume().await?;
        copy.storage.set_migration_window(id, copy.aimd.window() as i64, 0).await?;
        // One receiver for the whole loop: it marks the shutdown as seen, so the
        // loop wakes for it once, not on every turn after it.
        let mut shutdown = copy.shutdown.clone();
        loop {
            copy.check_stop(&control);
            copy.release_delayed();
            if Instant::now() >= copy.next_renew {
                copy.renew().await;
            }
            if copy.stop.is_none() && Instant::now() >= copy.not_before && copy.claims_hold() {
                copy.dispatch().await?;
            }
            if let Some(finish) = copy.finished() {
                // Done by the loop's account: the database must agree (an item a
                // panicked task left importing, or one made pending meanwhile).
                if matches!(finish, Finish::Done) && copy.leftovers().await? {
                    continue;
                }
                copy.storage.set_migration_window(id, copy.aimd.window() as i64, copy.throttled_since_save).await?;
                return Ok(finish);
            }
            // Wait for an import to end, a control change, or the next deadline.
            let wake = copy.wake_at();
            tokio::select! {
                joined = copy.inflight.join_next(), if !copy.inflight.is_empty() => match joined {
                    Some(Ok(first)) => {
                        // Every import that ended meanwhile, settled in one transaction.
                        let mut ended = vec![first];
                        while let Some(more) = copy.inflight.try_join_next() {
                            match more {
                                Ok(t) => ended.push(t),
                                Err(e) => tracing::error!(error = %e, "an import task panicked; its item stays importing and is resumed on the next run"),
                            }
                        }
                        copy.settle(ended).await?;
                        copy.after_turn().await?;
                    }
                    Some(Err(e)) => tracing::error!(error = %e, "an import task panicked; its item stays importing and is resumed on the next run"),
                    None => {}
                },
                _ = control.changed(), if copy.stop.is_none() => {}
                _ = shutdown.changed(), if copy.stop.is_none() => {}
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    /// The lease a claim lives by, in milliseconds.
    fn lease_ms(&self) -> i64 {
        self.settings.claim_lease.as_millis() as i64
    }

    /// Renews this instance's lease (every claim it holds lives by it). A
    /// failed renewal is logged; once the lease may have run out, nothing
    /// more is sent.
    async fn renew(&mut self) {
        let started = Instant::now();
        let lease = self.settings.claim_lease;
        self.next_renew = started + lease / 4;
        let lapsed = started >= self.lease_ok;
        match self.storage.renew_lease(&self.settings.instance, self.lease_ms()).await {
            Ok(()) => {
                if lapsed && (!self.queue.is_empty() || !self.delayed.is_empty()) {
                    // Another instance may have claimed what waits here meanwhile:
                    // only what storage gives this instance again is sent.
                    tracing::warn!(migration = %self.id, "this instance's lease may have run out: the items waiting here are claimed again before any is sent");
                    self.queue.clear();
                    self.delayed.clear();
                    self.cursor = Some(0);
                }
                // Most of the lease: the database's clock started it a little later.
                self.lease_ok = started + lease.mul_f64(0.8);
                if self.lease_warned {
                    tracing::info!(migration = %self.id, "this instance's claims are renewed again");
                    self.lease_warned = false;
                }
            }
            Err(e) => tracing::warn!(migration = %self.id, error = %e, "cannot renew this instance's lease on its claims"),
        }
    }

    /// Whether our claims still hold (a dispatch may be sent).
    fn claims_hold(&mut self) -> bool {
        let ok = Instant::now() < self.lease_ok;
        if !ok && !self.lease_warned {
            tracing::warn!(migration = %self.id, "this instance's claims may have run out: nothing more is sent until they are renewed");
            self.lease_warned = true;
        }
        ok
    }

    /// Resumes what a previous process left importing and this one may
    /// claim: polls a stored operation again, or looks an item without one
    /// up in the target. Pending items are read later, a batch at a time.
    async fn resume(&mut self) -> Result<(), MigrationError> {
        let items = self.storage.claim_importing(self.id, &self.settings.instance, self.lease_ms()).await?;
        self.take_over(items).await
    }

    /// The resume rules, for items found importing.
    async fn take_over(&mut self, items: Vec<ItemRow>) -> Result<(), MigrationError> {
        let mut landed_now = Vec::new();
        for item in items {
            self.resumed.insert(item.id);
            match item.lro.as_deref().and_then(|l| serde_json::from_str::<LroHandle>(l).ok()) {
                Some(handle) => {
                    tracing::info!(migration = %self.id, item = item.id, "resuming an import from its stored operation");
                    let (arm, s, sd) = (self.engine.inner.arm.clone(), self.settings.clone(), self.shutdown.clone());
                    self.inflight.spawn(async move {
                        let turn = follow(&arm, &handle, &s, sd, Instant::now()).await;
                        (item, turn)
                    });
                }
                None => {
                    if landed(&self.target, &item).await {
                        tracing::info!(migration = %self.id, item = item.id, "an interrupted import had landed");
                        landed_now.push(ItemWrite::Finished(item.id, ItemState::Imported, None));
                        crate::metrics::import_finished("imported");
                    } else {
                        // ARM may be importing it still: watch the target before sending it again.
                        let (target, grace, mut sd) = (self.target.clone(), self.settings.resume_grace, self.shutdown.clone());
                        self.inflight.spawn(async move {
                            let deadline = Instant::now() + grace;
                            loop {
                                tokio::select! {
                                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                                    _ = crate::cluster::until(&mut sd, true) => return (item, Turn::Interrupted),
                                }
                                if landed(&target, &item).await {
                                    return (item, Turn::Landed);
                                }
                                if Instant::now() >= deadline {
                                    return (item, Turn::Resend);
                                }
                            }
                        });
                    }
                }
            }
        }
        self.writer.write(landed_now).await
    }

    /// Copies the database still holds as pending or importing once the loop
    /// thinks it is done: taken again (`true`), or none (`false`). Copies
    /// another instance holds are waited for until its claims run out (or
    /// it finishes them); importing ones are taken by the resume rules.
    async fn leftovers(&mut self) -> Result<bool, MigrationError> {
        // Nothing is held now (the loop is idle): start the bookkeeping afresh.
        self.resumed.clear();
        let importing = self.storage.claim_importing(self.id, &self.settings.instance, self.lease_ms()).await?;
        let pending = self.storage.pending_items(self.id, 0, 1).await?;
        let foreign = self.storage.foreign_claim(self.id, &self.settings.instance).await?;
        if importing.is_empty() && pending.is_empty() && foreign.is_none() {
            return Ok(false);
        }
        if !importing.is_empty() {
            tracing::warn!(migration = %self.id, importing = importing.len(), "imports left over at the end of the copy loop; taken by the resume rules");
        }
        self.cursor = Some(0);
        if let (Some(ms), true) = (foreign, importing.is_empty()) {
            tracing::info!(migration = %self.id, lease_left_ms = ms, "another instance holds copies of this migration; waiting for its claims to run out");
            let mut sd = self.shutdown.clone();
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(ms.clamp(50, 1000) as u64)) => {}
                _ = crate::cluster::until(&mut sd, true) => {}
            }
        }
        self.take_over(importing).await?;
        Ok(true)
    }

    /// Reads the next batch of pending items when the queue runs short of a window.
    /// Claims them: a batch of twice the window (32 to 512), so an instance
    /// that dies holds few pending items until its claims run out.
    async fn refill(&mut self) -> Result<(), MigrationError> {
        let Some(after) = self.cursor else { return Ok(()) };
        if self.queue.len() >= self.aimd.window().max(1) {
            return Ok(());
        }
        let limit = (self.aimd.window() as i64 * 2).clamp(32, 512);
        let batch = self.storage.claim_pending(self.id, &self.settings.instance, after, limit, self.lease_ms()).await?;
        self.cursor = if (batch.len() as i64) < limit { None } else { batch.last().map(|i| i.id) };
        // An item resumed from `importing` is held already (queued, in flight or waiting out a backoff).
        self.queue.extend(batch.into_iter().filter(|i| !self.resumed.contains(&i.id)));
        Ok(())
    }

    /// Shutdown, pause or cancel asked: no new dispatch; in-flight imports finish.
    fn check_stop(&mut self, control: &watch::Receiver<Control>) {
        if self.stop.is_some() {
            return;
        }
        // A dropped sender is a shutdown too (its `changed()` would answer at once, forever).
        if *self.shutdown.borrow() || self.shutdown.has_changed().is_err() {
            self.stop = Some(Finish::Shutdown);
            return;
        }
        match *control.borrow() {
            Control::Pause => self.stop = Some(Finish::Paused),
            Control::PauseStored => self.stop = Some(Finish::PausedElsewhere),
            Control::Cancel => self.stop = Some(Finish::Cancelled),
            Control::Run => {}
        }
    }

    /// Items whose backoff is over go back to the queue.
    fn release_delayed(&mut self) {
        let now = Instant::now();
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.delayed).into_iter().partition(|(t, _)| *t <= now);
        self.delayed = waiting;
        self.queue.extend(ready.into_iter().map(|(_, i)| i));
    }

    /// Sends imports until the window is full or the queue empty: their
    /// "importing" is written first, in one transaction, before any is sent.
    async fn dispatch(&mut self) -> Result<(), MigrationError> {
        self.refill().await?;
        let room = self.aimd.window().saturating_sub(self.inflight.len()).min(self.paced());
        let round: Vec<ItemRow> = (0..room).map_while(|_| self.queue.pop_front()).collect();
        self.writer.write(round.iter().map(|i| ItemWrite::Importing(i.id)).collect()).await?;
        for item in round {
            self.spawn_import(item);
        }
        Ok(())
    }

    /// One `importImage` in the background: the handle is stored as soon
    /// as ARM accepts, then the operation is followed to its end.
    fn spawn_import(&mut self, item: ItemRow) {
        let mut source = self.source_template.clone();
        source.source_image = format!("{}@{}", item.repository, item.digest);
        let params = ImportImageParameters {
            source,
            target_tags: item.tags.iter().map(|t| format!("{}:{t}", item.repository)).collect(),
            untagged_target_repositories: if item.tags.is_empty() { vec![item.repository.to_string()] } else { vec![] },
            mode: self.mode.into(),
        };
        let inner = &self.engine.inner;
        let (import_arm, arm, s, writer, target_id, sd) =
            (inner.import_arm.clone(), inner.arm.clone(), self.settings.clone(), self.writer.clone(), self.target_id.clone(), self.shutdown.clone());
        self.inflight.spawn(async move {
            // Standing down since the dispatch: leave it to the next leader.
            if *sd.borrow() {
                return (item, Turn::Unsent);
            }
            let sent = Instant::now();
            let turn = match import_arm.begin_import_image(&target_id, &params).await {
                Err(e) => classify(&e),
                Ok(acc) => match acc.handle {
                    None => Turn::Imported(sent.elapsed()),
                    Some(handle) => {
                        // Durable before the operation is followed (batched with the others').
                        match serde_json::to_value(&handle) {
                            Ok(v) => {
                                if let Err(e) = writer.write(vec![ItemWrite::Lro(item.id, v)]).await {
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

    /// How the phase ends, once nothing is in flight: as asked, or done.
    fn finished(&self) -> Option<Finish> {
        if !self.inflight.is_empty() {
            None
        } else if self.stop.is_some() {
            self.stop.clone()
        } else {
            (self.queue.is_empty() && self.delayed.is_empty() && self.cursor.is_none()).then_some(Finish::Done)
        }
    }

    /// Sends the pace allows now. Once a round trip is known, sends are
    /// spread over it (window / round trip per second, at most a
    /// thirty-second of the window at once) instead of going out in one
    /// burst, which a token-bucket quota would refuse; each call spends
    /// what it returns.
    fn paced(&mut self) -> usize {
        let Some(interval) = self.aimd.pace() else { return usize::MAX };
        let now = Instant::now();
        let cap = (self.aimd.window() as f64 / 32.0).max(4.0);
        self.pace_tokens = (self.pace_tokens + now.duration_since(self.pace_last).as_secs_f64() / interval.as_secs_f64().max(1e-6)).min(cap);
        self.pace_last = now;
        let room = self.aimd.window().saturating_sub(self.inflight.len()).min(self.queue.len());
        let n = (self.pace_tokens.floor() as usize).min(room);
        self.pace_tokens -= n as f64;
        n
    }

    /// The next deadline: a backoff ending, the quota's wait, or the pace's next send.
    fn wake_at(&self) -> Instant {
        let pace = self
            .aimd
            .pace()
            // Only when a dispatch could happen now: a deadline in the past would wake the loop at once, again and again.
            .filter(|_| self.stop.is_none() && Instant::now() >= self.not_before && Instant::now() < self.lease_ok)
            .filter(|_| self.pace_tokens < 1.0 && !self.queue.is_empty() && self.inflight.len() < self.aimd.window())
            .map(|iv| self.pace_last + iv.mul_f64(1.0 - self.pace_tokens));
        self.delayed
            .iter()
            .map(|(t, _)| *t)
            .min()
            .into_iter()
            .chain((self.not_before > Instant::now()).then_some(self.not_before))
            .chain(pace)
            .chain(Some(self.next_renew))
            .min()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(1))
    }

    /// Records the turns of the imports that ended (one transaction) and
    /// adjusts the window.
    async fn settle(&mut self, ended: Vec<(ItemRow, Turn)>) -> Result<(), MigrationError> {
        let mut writes = Vec::with_capacity(ended.len());
        for (item, turn) in ended {
            match turn {
                Turn::Imported(rtt) => {
                    self.aimd.success_after(rtt);
                    self.finished_ok += 1;
                    writes.push(ItemWrite::Finished(item.id, ItemState::Imported, None));
                    crate::metrics::import_finished("imported");
                }
                Turn::Throttled(wait) => {
                    // The window shrinks at once; the refused request waits out
                    // its Retry-After. Only when a burst of refusals says the
                    // quota is spent (the window is down to one) does all
                    // dispatch wait.
                    self.aimd.throttled();
                    self.throttled_since_save += 1;
                    writes.push(ItemWrite::Throttled(item.id));
                    if self.aimd.window() <= 1 {
                        self.not_before = self.not_before.max(Instant::now() + wait);
                    }
                    // Jittered, so the refused ones do not all come back at once.
                    self.delayed.push((Instant::now() + wait.mul_f64(1.0 + rand::random::<f64>() / 2.0), item));
                }
                Turn::Transient(code, message) => {
                    let attempts = item.attempts + 1;
                    if attempts >= self.settings.max_attempts {
                        self.finished_failed += 1;
                        writes.push(ItemWrite::Finished(item.id, ItemState::Failed, Some((code, message))));
                        crate::metrics::import_finished("failed");
                    } else {
                        writes.push(ItemWrite::Pending(item.id, Some((code, message))));
                        let backoff = self.settings.retry_base.mul_f64((1u32 << attempts.min(6)) as f64 * (0.5 + rand::random::<f64>() / 2.0));
                        let mut again = item;
                        again.attempts = attempts;
                        self.delayed.push((Instant::now() + backoff, again));
                    }
                }
                Turn::Failed(code, message) => {
                    self.finished_failed += 1;
                    writes.push(ItemWrite::Finished(item.id, ItemState::Failed, Some((code, message))));
                    crate::metrics::import_finished("failed");
                }
                Turn::Interrupted => {}
                Turn::Unsent => writes.push(ItemWrite::Throttled(item.id)),
                Turn::Landed => {
                    tracing::info!(migration = %self.id, item = item.id, "an interrupted import landed");
                    self.finished_ok += 1;
                    writes.push(ItemWrite::Finished(item.id, ItemState::Imported, None));
                    crate::metrics::import_finished("imported");
                }
                Turn::Resend => {
                    tracing::info!(migration = %self.id, item = item.id, "an interrupted import did not land: sent again (same digest and tags: harmless)");
                    self.queue.push_back(item);
                }
            }
        }
        // What ARM says is left of the write quota paces the window's growth.
        if let Some(left) = self.engine.inner.import_arm.stats().get(&self.subscription).and_then(|s| s.remaining_writes) {
            self.aimd.set_headroom(left);
        }
        self.writer.write(writes).await
    }

    /// The failure threshold, and progress published twice a second.
    async fn after_turn(&mut self) -> Result<(), MigrationError> {
        let done = self.finished_ok + self.finished_failed;
        if self.stop.is_none() && done >= 20 && (self.finished_failed as f64) > self.threshold * (done as f64) {
            self.stop = Some(Finish::Threshold(format!(
                "stopped: {} of {done} imports failed, above the failure threshold of {:.0} %",
                self.finished_failed,
                self.threshold * 100.0
            )));
        }
        if self.last_publish.elapsed() >= Duration::from_millis(500) {
            self.last_publish = Instant::now();
            self.storage.set_migration_window(self.id, self.aimd.window() as i64, self.throttled_since_save).await?;
            self.throttled_since_save = 0;
            self.engine.publish_kind(self.id, regatlas_domain::EventKind::MigrationProgress, "copying".into(), None).await?;
        }
        Ok(())
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
                    _ = crate::cluster::until(&mut shutdown, true) => return Turn::Interrupted,
                }
            }
            Err(e) => return classify(&e),
        }
    }
}

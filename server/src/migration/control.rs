//! What people do to a running migration: start (or resume), pause,
//! cancel, retry failed items, tick the checklist. Each is recorded with
//! who did it.

use regatlas_app::model::{MigrationDetail, MigrationState, MigrationView};
use regatlas_domain::{Actor, ErrorKind};

use super::{Control, Engine, MigrationError};
use crate::outbound::clean_text;

impl Engine {
    async fn signal(&self, id: &str, c: Control) -> bool {
        match self.inner.controls.lock().await.get(id) {
            Some(tx) => tx.send(c).is_ok(),
            None => false,
        }
    }

    /// Starts a dry run's plan, resumes a paused or stopped migration, or
    /// re-runs the copy of a failed one.
    pub async fn start(&self, id: &str, actor: Option<String>) -> Result<MigrationView, MigrationError> {
        let actor = Actor::or_anonymous(actor.as_deref());
        let v = self.view(id).await?;
        match v.state {
            MigrationState::Planned => {
                self.inner.storage.plan_to_pending(id).await?;
            }
            MigrationState::Paused | MigrationState::Stopped | MigrationState::Failed => {}
            other => return Err(MigrationError::invalid(ErrorKind::Conflict, "InvalidState", format!("A migration in state {other} cannot be started."))),
        }
        if v.state == MigrationState::Failed && v.to_copy == 0 && v.planned == 0 {
            self.inner.storage.set_migration_state(id, MigrationState::Preparing, None).await?;
        } else {
            self.inner.storage.set_migration_state(id, MigrationState::InProgress, None).await?;
        }
        let view = self.publish(id, format!("{actor} started it")).await?;
        self.spawn(id.to_string());
        Ok(view)
    }

    pub async fn pause(&self, id: &str, actor: Option<String>) -> Result<MigrationView, MigrationError> {
        let actor = Actor::or_anonymous(actor.as_deref());
        let v = self.view(id).await?;
        if v.state != MigrationState::InProgress {
            return Err(MigrationError::invalid(
                ErrorKind::Conflict,
                "InvalidState",
                format!("Only a migration that is copying can be paused (this one is {}).", v.state),
            ));
        }
        if !self.signal(id, Control::Pause).await {
            self.inner.storage.set_migration_state(id, MigrationState::Paused, None).await?;
        }
        self.publish(id, format!("{actor} asked to pause")).await
    }

    pub async fn cancel(&self, id: &str, actor: Option<String>) -> Result<MigrationView, MigrationError> {
        let actor = Actor::or_anonymous(actor.as_deref());
        let v = self.view(id).await?;
        match v.state {
            MigrationState::Complete | MigrationState::Stopped => {
                return Err(MigrationError::invalid(ErrorKind::Conflict, "InvalidState", format!("The migration is already {}.", v.state)))
            }
            MigrationState::InProgress | MigrationState::Preparing | MigrationState::Verifying => {
                self.inner.storage.set_migration_state(id, MigrationState::Stopping, None).await?;
                if !self.signal(id, Control::Cancel).await {
                    self.spawn(id.to_string());
                }
            }
            _ => {
                self.inner.storage.set_migration_state(id, MigrationState::Stopped, Some("cancelled by an operator")).await?;
            }
        }
        self.publish(id, format!("{actor} cancelled it")).await
    }

    /// "Retry failed items only".
    pub async fn retry_failed(&self, id: &str, actor: Option<String>) -> Result<MigrationView, MigrationError> {
        let actor = Actor::or_anonymous(actor.as_deref());
        let v = self.view(id).await?;
        if v.is_active() {
            return Err(MigrationError::invalid(ErrorKind::Conflict, "InvalidState", "The migration is running; retry its failed items when it has stopped."));
        }
        let n = self.inner.storage.retry_failed(id).await?;
        if n == 0 {
            return Err(MigrationError::invalid(ErrorKind::Conflict, "NothingToRetry", "No item has failed."));
        }
        self.inner.storage.set_migration_state(id, MigrationState::InProgress, None).await?;
        let view = self.publish(id, format!("{actor} retried {n} failed items")).await?;
        self.spawn(id.to_string());
        Ok(view)
    }

    pub async fn tick(&self, id: &str, key: &str, done: bool, actor: Option<String>) -> Result<MigrationDetail, MigrationError> {
        let actor = Actor::or_anonymous(actor.as_deref());
        if key == "delete-source" && done {
            let d = self.detail(id).await?;
            if !d.source_delete_safe {
                return Err(MigrationError::invalid(
                    ErrorKind::Conflict,
                    "VerificationPending",
                    "Deleting the source stays unsafe until verification has passed with no failure and no mismatch.",
                ));
            }
        }
        if !self.inner.storage.tick_checklist(id, key, done, &actor).await? {
            return Err(MigrationError::invalid(ErrorKind::NotFound, "ChecklistItemNotFound", format!("No manual checklist item '{}'.", clean_text(key, 64))));
        }
        self.publish(id, format!("{actor} {} '{key}'", if done { "ticked" } else { "unticked" })).await?;
        self.detail(id).await
    }
}

//! What people do to a running migration: start (or resume), pause,
//! cancel, retry failed items, tick the checklist. Each is recorded with
//! who did it.

use regatlas_app::model::{MigrationDetail, MigrationState, MigrationView};
use regatlas_domain::{ErrorKind, Principal};

use super::{Control, Engine, MigrationError};
use crate::outbound::clean_text;

impl Engine {
    /// Whether a migration overwrites tags (Force): starting it needs Admin.
    pub async fn is_force(&self, id: &str) -> Result<bool, MigrationError> {
        Ok(self.inner.storage.migration(id).await?.is_some_and(|m| m.force))
    }

    pub(super) async fn signal(&self, id: &str, c: Control) -> bool {
        match self.inner.controls.lock().await.get(id) {
            Some(tx) => tx.send(c).is_ok(),
            None => false,
        }
    }

    /// Starts a dry run's plan, resumes a paused or stopped migration, or
    /// re-runs the copy of a failed one.
    pub async fn start(&self, id: &str, by: &Principal) -> Result<MigrationView, MigrationError> {
        let actor = &by.name;
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
        let view = self.publish_by(id, format!("{actor} started it"), by).await?;
        self.spawn(id.to_string());
        Ok(view)
    }

    pub async fn pause(&self, id: &str, by: &Principal) -> Result<MigrationView, MigrationError> {
        let actor = &by.name;
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
        self.publish_by(id, format!("{actor} asked to pause"), by).await
    }

    pub async fn cancel(&self, id: &str, by: &Principal) -> Result<MigrationView, MigrationError> {
        let actor = &by.name;
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
        self.publish_by(id, format!("{actor} cancelled it"), by).await
    }

    /// "Retry failed items only".
    pub async fn retry_failed(&self, id: &str, by: &Principal) -> Result<MigrationView, MigrationError> {
        let actor = &by.name;
        let v = self.view(id).await?;
        if v.is_active() {
            return Err(MigrationError::invalid(ErrorKind::Conflict, "InvalidState", "The migration is running; retry its failed items when it has stopped."));
        }
        let n = self.inner.storage.retry_failed(id).await?;
        if n == 0 {
            return Err(MigrationError::invalid(ErrorKind::Conflict, "NothingToRetry", "No item has failed."));
        }
        self.inner.storage.set_migration_state(id, MigrationState::InProgress, None).await?;
        let view = self.publish_by(id, format!("{actor} retried {n} failed items"), by).await?;
        self.spawn(id.to_string());
        Ok(view)
    }

    pub async fn tick(&self, id: &str, key: &str, done: bool, by: &Principal) -> Result<MigrationDetail, MigrationError> {
        let actor = &by.name;
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
        if !self.inner.storage.tick_checklist(id, key, done, by).await? {
            return Err(MigrationError::invalid(ErrorKind::NotFound, "ChecklistItemNotFound", format!("No manual checklist item '{}'.", clean_text(key, 64))));
        }
        self.publish_by(id, format!("{actor} {} '{key}'", if done { "ticked" } else { "unticked" }), by).await?;
        self.detail(id).await
    }
}

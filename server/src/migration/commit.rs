//! Group commit of item writes. The copy loop, its import tasks and
//! verification send their item writes here; whatever has queued while the
//! previous transaction committed goes into the next one, and each sender
//! is answered once its writes are durable. The crash rule stands: a sender
//! waits for its answer before the ARM call (or the next step) the write
//! stands for, so an item's state is durable before its ARM call and after
//! its outcome; only the number of transactions changes.

use tokio::sync::{mpsc, oneshot};

use super::MigrationError;
use crate::storage::{ItemWrite, Storage, StorageError};

/// Most writes one transaction carries.
const MAX_BATCH: usize = 4096;

type Request = (Vec<ItemWrite>, oneshot::Sender<Result<(), String>>);

/// A handle to the writer; cheap to clone. The writer stops when the last
/// handle is dropped.
#[derive(Clone)]
pub(super) struct GroupCommit {
    tx: mpsc::Sender<Request>,
}

impl GroupCommit {
    pub(super) fn start(storage: Storage) -> GroupCommit {
        let (tx, mut rx) = mpsc::channel::<Request>(1024);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut writes = first.0;
                let mut acks = vec![first.1];
                while writes.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok((w, ack)) => {
                            writes.extend(w);
                            acks.push(ack);
                        }
                        Err(_) => break,
                    }
                }
                let r = storage.write_items(&writes).await.map_err(|e| {
                    tracing::error!(error = %e, writes = writes.len(), "a batch of item writes failed");
                    e.to_string()
                });
                crate::metrics::item_batch(writes.len());
                for ack in acks {
                    let _ = ack.send(r.clone());
                }
            }
        });
        GroupCommit { tx }
    }

    /// Sends writes and waits until they are durable.
    pub(super) async fn write(&self, writes: Vec<ItemWrite>) -> Result<(), MigrationError> {
        if writes.is_empty() {
            return Ok(());
        }
        let (ack, done) = oneshot::channel();
        let gone = || MigrationError::Storage(StorageError::Batch(crate::storage::WRITER_STOPPED.into()));
        self.tx.send((writes, ack)).await.map_err(|_| gone())?;
        done.await.map_err(|_| gone())?.map_err(|e| MigrationError::Storage(StorageError::Batch(e)))
    }
}

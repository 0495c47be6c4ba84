//! Verification: every planned tag must resolve to the planned digest in the
//! target (untagged artifacts: the digest must exist). A mismatch is a
//! finding stored on the item, not a log line.

use super::{plan::{spec_of, target_of}, Engine, MigrationError};

pub(super) async fn run(engine: &Engine, id: &str) -> Result<(), MigrationError> {
    let storage = &engine.inner.storage;
    let req = spec_of(storage.migration_spec(id).await?);
    let (_, target) = target_of(engine, &req.target_registry).await?;
    for item in storage.items_to_verify(id).await? {
        let mut problems = Vec::new();
        if item.tags.is_empty() && target.manifest(&item.repository, &item.digest, false).await?.is_none() {
            problems.push(format!("{}@{} is missing in the target", item.repository, item.digest));
        }
        for t in &item.tags {
            match target.manifest(&item.repository, t, false).await? {
                Some(m) if m.digest == item.digest => {}
                Some(m) => problems.push(format!("{}:{t} is {} in the target, not {}", item.repository, m.digest, item.digest)),
                None => problems.push(format!("{}:{t} is missing in the target", item.repository)),
            }
        }
        let detail = (!problems.is_empty()).then(|| problems.join("; "));
        storage.item_verified(item.id, problems.is_empty(), detail.as_deref()).await?;
    }
    let v = engine.view(id).await?;
    if v.failed > 0 || v.mismatched > 0 {
        let msg = format!("{} imports failed, {} artifacts did not verify", v.failed, v.mismatched);
        storage.set_migration_state(id, "FAILED", Some(&msg)).await?;
        engine.publish(id, msg).await?;
    } else {
        storage.set_migration_state(id, "COMPLETE", None).await?;
        engine.publish(id, format!("complete: {} copied, {} already present, all verified", v.imported, v.present)).await?;
    }
    Ok(())
}

//! Claims on migration items, on the pass's store (SQLite, or on the
//! PostgreSQL pass a database of the test cluster, where two claimers run
//! at once on their own connection pools): no item is held by two
//! instances; a claim whose instance's lease lives is never taken; one whose
//! lease ran out is; a finished item's claim goes.

use std::collections::BTreeSet;

use regatlas_domain::{
    record::{NewMigration, PlannedItem},
    Actor, Digest, ItemAction, ItemState, Repository,
};
use regatlas_server::storage::{ItemWrite, Storage};

use crate::helpers::test_database;

const ITEMS: usize = 300;

async fn migration_with_items(store: &Storage) -> String {
    let id = format!("m-{}", uuid::Uuid::new_v4().simple());
    store
        .insert_migration(&NewMigration {
            id: id.clone(),
            name: "claims".into(),
            spec: serde_json::json!({}),
            source: "contosowesteu".into(),
            target: "contoso".into(),
            actor: Actor::anonymous(),
            actor_key: "test".into(),
        })
        .await
        .expect("migration");
    let items: Vec<PlannedItem> = (0..ITEMS)
        .map(|i| PlannedItem {
            repository: Repository::parse(format!("app/r{}", i % 7)).expect("repository"),
            digest: Digest::parse(format!("sha256:{i:064x}")).expect("digest"),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            tags: vec![],
            size_bytes: 10,
            action: ItemAction::Copy,
            detail: None,
        })
        .collect();
    store.add_planned(&id, &items, ItemState::Pending).await.expect("items");
    id
}

/// Claims pending items a batch at a time to the end, as the copy loop does.
async fn claim_all(store: Storage, id: String, instance: &'static str) -> Vec<i64> {
    let mut got = Vec::new();
    let mut after = 0;
    loop {
        let batch = store.claim_pending(&id, instance, after, 16, 60_000).await.expect("claim");
        let Some(last) = batch.last() else { break };
        after = last.id;
        got.extend(batch.iter().map(|i| i.id));
        tokio::task::yield_now().await;
    }
    got
}

#[tokio::test]
async fn two_claimers_never_hold_one_item_and_a_claim_is_taken_only_once_it_runs_out() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = test_database(dir.path()).await;
    // Two handles, as two instances have (two pools on PostgreSQL).
    let a = Storage::open(&db.url()).await.expect("open a");
    let b = Storage::open(&db.url()).await.expect("open b");
    let id = migration_with_items(&a).await;

    // At once: every item claimed, by exactly one of them.
    let (got_a, got_b) = tokio::join!(tokio::spawn(claim_all(a.clone(), id.clone(), "a")), tokio::spawn(claim_all(b.clone(), id.clone(), "b")));
    let (got_a, got_b) = (got_a.expect("a"), got_b.expect("b"));
    let (set_a, set_b): (BTreeSet<i64>, BTreeSet<i64>) = (got_a.iter().copied().collect(), got_b.iter().copied().collect());
    assert_eq!(set_a.len(), got_a.len(), "a got an item twice");
    assert_eq!(set_b.len(), got_b.len(), "b got an item twice");
    assert!(set_a.is_disjoint(&set_b), "an item claimed by both: {:?}", set_a.intersection(&set_b).collect::<Vec<_>>());
    assert_eq!(set_a.len() + set_b.len(), ITEMS, "a {} + b {}", set_a.len(), set_b.len());

    // A live claim is not taken; the other's own are its again.
    let again = b.claim_pending(&id, "b", 0, 10_000, 60_000).await.expect("claim");
    assert_eq!(again.iter().map(|i| i.id).collect::<BTreeSet<_>>(), set_b, "b takes back its own only");
    let left = b.foreign_claim(&id, "b").await.expect("foreign");
    if !set_a.is_empty() {
        assert!(left.is_some_and(|ms| ms > 50_000 && ms <= 60_000), "a's claims run out in about a minute: {left:?}");
    }
    // a's lease shortened to 200 ms (a renewal it made before dying) runs out, and b takes its items.
    a.renew_lease("a", 200).await.expect("renew");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(b.foreign_claim(&id, "b").await.expect("foreign"), None, "a's claims ran out");
    let taken = b.claim_pending(&id, "b", 0, 10_000, 60_000).await.expect("claim");
    assert_eq!(taken.len(), ITEMS, "b holds every item now");
    // a comes back (its lease renewed): b's claims are b's still.
    a.renew_lease("a", 60_000).await.expect("renew");
    assert!(a.claim_pending(&id, "a", 0, 10_000, 60_000).await.expect("claim").is_empty(), "b holds them");

    // Importing items: b sends ten; a may not resume them while b's claims live.
    let sent: Vec<i64> = taken.iter().take(10).map(|i| i.id).collect();
    b.write_items(&sent.iter().map(|i| ItemWrite::Importing(*i)).collect::<Vec<_>>()).await.expect("importing");
    assert!(a.claim_importing(&id, "a", 60_000).await.expect("claim").is_empty(), "b's imports are b's");
    assert_eq!(b.claim_importing(&id, "b", 60_000).await.expect("claim").len(), 10, "b resumes its own");
    // A finished item's claim goes with it; the rest b gives up.
    b.write_items(&[ItemWrite::Finished(sent[0], ItemState::Imported, None)]).await.expect("finished");
    assert_eq!(b.release_claims(&id, "b").await.expect("release") as usize, ITEMS - 1);
    let resumed = a.claim_importing(&id, "a", 60_000).await.expect("claim");
    assert_eq!(resumed.iter().map(|i| i.id).collect::<Vec<_>>(), sent[1..].to_vec(), "a resumes the nine left importing, in id order");
    assert_eq!(b.foreign_claim(&id, "b").await.expect("foreign").map(|_| ()), Some(()), "a's resumed imports are a's now");
    assert_eq!(a.claim_pending(&id, "a", 0, 10_000, 60_000).await.expect("claim").len(), ITEMS - 10, "and every pending item");
}

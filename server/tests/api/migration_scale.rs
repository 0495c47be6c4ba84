//! A migration of 600 artifacts against a registry that throttles its data
//! plane: every 429 is waited out and the read sent again (nothing fails),
//! and the migration's items and repositories are read back a page at a
//! time with cursors and filters, its counts agree with its items, and its
//! reports stream every item.

use std::process::Stdio;

use serde_json::Value;

use crate::migration_crash::{json as get_json, Rig};

#[tokio::test]
async fn a_throttled_600_artifact_migration_completes_and_reads_back_a_page_at_a_time() {
    // Each replica serves 100 reads a second (burst 200); the console's budget is 150.
    let mut rig = Rig::new(600, &["--throttle", "registry-reads=200/100"]).await;
    let mut srv = rig.console(&[], Stdio::null());
    let url = rig.migrate_load(64).await;
    let id = url.rsplit('/').next().expect("id").to_string();
    let done = rig.completes(&url, 600).await;
    let (http, base, admin) = (&rig.http, rig.base.clone(), rig.admin.clone());
    assert_eq!(done["migration"]["planned"], 600);

    // The registry said 429 and nothing failed: each was waited out and sent again.
    let counters: Value = get_json(http, &format!("{admin}/counters")).await.expect("counters");
    let refused = counters["throttled.registry-reads"].as_u64().unwrap_or(0);
    let served = counters["oci reads contosowesteu"].as_u64().unwrap_or(0) + counters["oci reads contoso"].as_u64().unwrap_or(0);
    assert!(refused > 0, "the test's limit must be reached: {counters}");
    assert!(refused * 4 < served, "the budget adapts: {refused} refused of {served} served");
    let metrics = http.get(format!("{base}/metrics")).send().await.expect("metrics").text().await.expect("text");
    assert!(metrics.lines().any(|l| l.starts_with("regatlas_registry_reads_throttled_total ") && !l.ends_with(" 0")), "{metrics}");

    // The detail carries the first page of repositories; the rest by cursor.
    assert_eq!(done["repositories"].as_array().map(Vec::len), Some(12));
    assert_eq!(done["more_repositories"], false);
    let (repos, pages) = rig.all_pages(&format!("/api/v1/migrations/{id}/repositories?limit=5")).await;
    assert_eq!((repos.len(), pages), (12, 3));
    let names: Vec<&str> = repos.iter().filter_map(|r| r["repository"].as_str()).collect();
    assert!(names.windows(2).all(|w| w[0] < w[1]), "by name, each once: {names:?}");
    assert!(repos.iter().all(|r| r["artifacts"] == 50 && r["done"] == 50), "{repos:?}");

    // Items, 250 a page: every one once, in the plan's order.
    let (items, pages) = rig.all_pages(&format!("/api/v1/migrations/{id}/items?limit=250")).await;
    assert_eq!((items.len(), pages), (600, 3));
    let ids: Vec<i64> = items.iter().filter_map(|i| i["id"].as_i64()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    let repos_in_order: Vec<&str> = items.iter().filter_map(|i| i["repository"].as_str()).collect();
    assert!(repos_in_order.windows(2).all(|w| w[0] <= w[1]), "id order is repository order");

    // Filters: one repository, a text, a state, an action; and bad ones refused.
    let (one, _) = rig.all_pages(&format!("/api/v1/migrations/{id}/items?repository=load/app03&limit=20")).await;
    assert_eq!(one.len(), 50);
    assert!(one.iter().all(|i| i["repository"] == "load/app03"));
    let (tagged, _) = rig.all_pages(&format!("/api/v1/migrations/{id}/items?q=v07")).await;
    assert_eq!(tagged.len(), 12, "one v07 per repository");
    assert!(tagged.iter().all(|i| i["tags"].as_array().is_some_and(|t| t.iter().any(|t| t.as_str().is_some_and(|t| t.contains("v07"))))));
    // LIKE's wildcards are matched as text.
    let (none, _) = rig.all_pages(&format!("/api/v1/migrations/{id}/items?q=%25")).await;
    assert!(none.is_empty(), "{none:?}");
    let (verified, _) = rig.all_pages(&format!("/api/v1/migrations/{id}/items?state=verified&action=copy")).await;
    assert_eq!(verified.len(), 600);
    let (failed, _) = rig.all_pages(&format!("/api/v1/migrations/{id}/items?state=failed")).await;
    assert!(failed.is_empty());
    for bad in ["?cursor=not-a-cursor", "?state=lost", "?limit=0"] {
        let r = http.get(format!("{url}/items{bad}")).send().await.expect("bad");
        assert_eq!(r.status(), 400, "{bad}");
        assert!(r.json::<Value>().await.expect("json")["code"].as_str().is_some());
    }
    let long = "x".repeat(300);
    assert_eq!(http.get(format!("{url}/items?repository={long}")).send().await.expect("long").status(), 400);

    // The reports stream every item.
    let csv = http.get(format!("{url}/report.csv")).send().await.expect("csv").text().await.expect("text");
    assert_eq!(csv.lines().count(), 601, "a header and one line per item");
    let report: Value = http.get(format!("{url}/report.json")).send().await.expect("json").json().await.expect("parse");
    assert_eq!(report["migration"]["id"], id.as_str());
    assert_eq!(report["items"].as_array().map(Vec::len), Some(600));

    srv.start_kill().ok();
    let _ = srv.wait().await;
    rig.emu.start_kill().ok();
}

//! The API's contract as snapshots (`insta`): the OpenAPI document and the
//! error bodies scripts see. A change to either shows up as a snapshot diff
//! to review (`cargo insta review`), never silently.

use serde_json::{json, Value};

use crate::helpers::{discovered, spawn_app};

#[tokio::test]
async fn the_openapi_document_is_the_reviewed_one() {
    let app = spawn_app().await;
    let doc = app.get_json("/api/v1/openapi.json").await;
    insta::assert_json_snapshot!("openapi", doc, { ".info.version" => "[version]" });
}

#[tokio::test]
async fn error_bodies_are_the_reviewed_ones() {
    let app = spawn_app().await;
    discovered(&app).await;
    let get = |path: &str| app.client.get(app.url(path));
    let post = |path: &str, body: Value| app.client.post(app.url(path)).json(&body);
    let cases: Vec<(&str, reqwest::RequestBuilder)> = vec![
        ("registry_not_found", get("/api/v1/registries/nosuchregistry")),
        ("limit_out_of_range", get("/api/v1/operations?limit=5000")),
        ("unknown_filter", get("/api/v1/operations?state=sleeping")),
        ("unknown_event_kind", get("/api/v1/history?kind=replica.teleported")),
        ("bad_cursor", get("/api/v1/migrations?cursor=not-ours")),
        ("migration_not_found", get("/api/v1/migrations/00000000-0000-0000-0000-000000000000")),
        ("report_of_an_unknown_migration", get("/api/v1/migrations/00000000-0000-0000-0000-000000000000/report.xml")),
        ("unknown_region", post("/api/v1/registries/contoso/replicas", json!({"region": "atlantis"}))),
        ("replica_exists", post("/api/v1/registries/contoso/replicas", json!({"region": "eastus"}))),
        ("sku_not_premium", post("/api/v1/registries/contosostd/replicas", json!({"region": "eastus2"}))),
        ("invalid_registry_name", post("/api/v1/migrations", json!({"source_registry": "contosowesteu", "target_registry": "my-registry"}))),
        (
            "credential_set_required",
            post("/api/v1/migrations", json!({"source_url": "https://r.example", "source_username": "u", "target_registry": "contoso"})),
        ),
        ("unknown_migration_action", app.client.post(app.url("/api/v1/migrations/00000000-0000-0000-0000-000000000000/explode"))),
        ("cross_origin", app.client.post(app.url("/api/v1/refresh")).header("origin", "https://evil.example").header("sec-fetch-site", "cross-site")),
        ("misdirected_host", get("/api/v1/registries").header("host", "attacker.example")),
    ];
    for (name, rb) in cases {
        let r = rb.send().await.expect("send");
        let status = r.status().as_u16();
        let body: Value = r.json().await.expect("an error body is JSON");
        assert_eq!(body["status"], status, "{name}: the body repeats the status");
        insta::assert_json_snapshot!(format!("error_{name}"), json!({ "http_status": status, "body": body }));
    }
}

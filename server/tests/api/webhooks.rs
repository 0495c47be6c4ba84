//! The webhooks view: what each webhook delivers and where, never its
//! secrets; its deliveries from `listEvents`; a ping that arrives.

use serde_json::{json, Value};

use crate::helpers::{emulator_arm_token, spawn_app_with, use_emulator};

#[tokio::test]
async fn webhooks_are_listed_without_secrets_and_a_ping_shows_in_the_deliveries() {
    let mut cfg = regatlas_emulator::EmulatorConfig::demo();
    cfg.time_scale = 10.0;
    let emu = regatlas_emulator::start(cfg).await.expect("emulator");
    let app = spawn_app_with(|a| use_emulator(a, &emu)).await;
    app.wait_until("/api/v1/registries", 30, |v| v.as_array().is_some_and(|a| a.len() >= 3)).await;
    // Tracking makes four regional webhooks, each with a secret header.
    let deployer = app.as_app("ci-deployer").await;
    let r = deployer.put(app.url("/api/v1/registries/contoso/presence/tracking")).json(&json!({"enabled": true})).send().await.expect("put");
    assert_eq!(r.status(), 200);
    let list = app.wait_until("/api/v1/registries/contoso/webhooks", 30, |v| v.as_array().is_some_and(|a| a.len() == 4)).await;
    for w in list.as_array().expect("list") {
        assert_eq!(w["managed_by_regatlas"], true, "{w}");
        assert_eq!(w["header_names"], json!(["x-regatlas-hook-secret"]), "{w}");
        assert_eq!(w["actions"], json!(["push", "delete"]));
        let uri = w["service_uri"].as_str().expect("uri");
        assert!(uri.starts_with(&format!("{}/hooks/acr/contoso/", app.address)), "{uri}");
    }
    // The secret ARM holds is nowhere in the answer.
    let info = emu.info();
    let token = emulator_arm_token(&info).await.expect("token");
    let config: Value = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
        .post(format!(
            "{}/subscriptions/{}/resourceGroups/contoso-rg/providers/Microsoft.ContainerRegistry/registries/contoso/webhooks/regatlaseastus/getCallbackConfig?api-version=2025-11-01",
            info.arm_base_url, info.subscription_id
        ))
        .bearer_auth(token)
        .send()
        .await
        .expect("config")
        .json()
        .await
        .expect("json");
    let secret = config["customHeaders"]["x-regatlas-hook-secret"].as_str().expect("secret");
    assert!(secret.len() >= 40);
    let raw = app.client.get(app.url("/api/v1/registries/contoso/webhooks")).send().await.expect("get").text().await.expect("text");
    assert!(!raw.contains(secret), "a webhook's secret reached the API");

    // A Viewer may look but not ping; a bad name is refused before ARM.
    let reader = app.as_app("ci-reader").await;
    assert_eq!(reader.post(app.url("/api/v1/registries/contoso/webhooks/regatlaseastus/ping")).send().await.expect("ping").status(), 403);
    assert_eq!(deployer.get(app.url("/api/v1/registries/contoso/webhooks/bad-name/deliveries")).send().await.expect("get").status(), 400);
    // An Operator's ping reaches the console's receiver and is logged with its answer.
    let r = deployer.post(app.url("/api/v1/registries/contoso/webhooks/regatlaseastus/ping")).send().await.expect("ping");
    assert_eq!(r.status(), 202);
    let log = app
        .wait_until("/api/v1/registries/contoso/webhooks/regatlaseastus/deliveries", 20, |v| {
            v.as_array().is_some_and(|a| a.iter().any(|d| d["action"] == "ping" && d["status"] == 200))
        })
        .await;
    assert!(!log.to_string().contains(secret));
    app.stop().await;
    emu.shutdown().await;
}

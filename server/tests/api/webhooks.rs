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

#[tokio::test]
async fn an_operator_creates_changes_pings_and_deletes_a_webhook() {
    use std::sync::{Arc, Mutex};
    let mut cfg = regatlas_emulator::EmulatorConfig::demo();
    cfg.time_scale = 10.0;
    let emu = regatlas_emulator::start(cfg).await.expect("emulator");
    let app = spawn_app_with(|a| use_emulator(a, &emu)).await;
    app.wait_until("/api/v1/registries", 30, |v| v.as_array().is_some_and(|a| a.len() >= 3)).await;
    // A team's own endpoint, which wants its token header.
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let router = axum::Router::new().route(
        "/in",
        axum::routing::post({
            let seen = seen.clone();
            move |headers: axum::http::HeaderMap| async move {
                seen.lock().expect("lock").push(headers.get("x-team-token").and_then(|v| v.to_str().ok()).unwrap_or("").to_string());
                axum::http::StatusCode::OK
            }
        }),
    );
    let server = tokio::spawn(async move { axum::serve(listener, router).await });

    let deployer = app.as_app("ci-deployer").await;
    let hook = app.url("/api/v1/registries/contoso/webhooks/teamhook1");
    let body = json!({"location": "eastus", "service_uri": format!("http://127.0.0.1:{port}/in"), "actions": ["push"], "custom_headers": {"X-Team-Token": "s3cret-value"}});
    // A Viewer may not; bad fields are refused before ARM.
    assert_eq!(app.as_app("ci-reader").await.put(&hook).json(&body).send().await.expect("put").status(), 403);
    for (bad, code) in [
        (json!({"location": "eastus", "service_uri": "http://hooks.example.com/in", "actions": ["push"]}), "InvalidServiceUri"),
        (json!({"location": "japaneast", "service_uri": "https://hooks.example.com/in", "actions": ["push"]}), "InvalidLocation"),
        (json!({"location": "eastus", "service_uri": "https://hooks.example.com/in", "actions": ["pull"]}), "InvalidActions"),
        (
            json!({"location": "eastus", "service_uri": "https://hooks.example.com/in", "actions": ["push"], "custom_headers": {"bad header": "x"}}),
            "InvalidHeaders",
        ),
    ] {
        let r = deployer.put(&hook).json(&bad).send().await.expect("put");
        assert_eq!(r.status(), 400, "{bad}");
        assert_eq!(r.json::<Value>().await.expect("json")["code"], code);
    }
    let r = deployer.put(&hook).json(&body).send().await.expect("put");
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    let list = app.wait_until("/api/v1/registries/contoso/webhooks", 20, |v| v.as_array().is_some_and(|a| a.iter().any(|w| w["name"] == "teamhook1"))).await;
    let w = list.as_array().expect("list").iter().find(|w| w["name"] == "teamhook1").expect("hook").clone();
    assert_eq!((w["location"].clone(), w["header_names"].clone(), w["managed_by_regatlas"].clone()), (json!("eastus"), json!(["X-Team-Token"]), json!(false)));
    assert!(!list.to_string().contains("s3cret-value"));

    // The ping carries the header to the team's endpoint; its answer is logged.
    assert_eq!(deployer.post(app.url("/api/v1/registries/contoso/webhooks/teamhook1/ping")).send().await.expect("ping").status(), 202);
    app.wait_until("/api/v1/registries/contoso/webhooks/teamhook1/deliveries", 20, |v| {
        v.as_array().is_some_and(|a| a.iter().any(|d| d["action"] == "ping" && d["status"] == 200))
    })
    .await;
    assert_eq!(seen.lock().expect("lock").as_slice(), ["s3cret-value"]);

    // Changed: disabled; the location stays as created.
    assert_eq!(deployer.put(&hook).json(&json!({"enabled": false})).send().await.expect("put").status(), 202);
    app.wait_until("/api/v1/registries/contoso/webhooks", 20, |v| {
        v.as_array().is_some_and(|a| a.iter().any(|w| w["name"] == "teamhook1" && w["status"] == "disabled"))
    })
    .await;
    assert_eq!(deployer.put(&hook).json(&json!({"location": "westus"})).send().await.expect("put").status(), 400);
    // Deleted, and the history says who did what.
    assert_eq!(deployer.delete(&hook).send().await.expect("delete").status(), 202);
    app.wait_until("/api/v1/registries/contoso/webhooks", 30, |v| v.as_array().is_some_and(|a| a.iter().all(|w| w["name"] != "teamhook1"))).await;
    let history = app.get_json("/api/v1/history?kind=child.action").await;
    let said: Vec<&str> = history.as_array().expect("history").iter().filter_map(|e| e["summary"].as_str()).collect();
    for what in ["created webhook teamhook1", "changed webhook teamhook1", "deleted webhook teamhook1"] {
        assert!(said.iter().any(|s| s.contains(what) && s.contains("ci-deployer")), "{what} in {said:?}");
    }
    assert!(!history.to_string().contains("s3cret-value"));

    // The presence webhooks belong to tracking.
    let r = deployer.put(app.url("/api/v1/registries/contoso/presence/tracking")).json(&json!({"enabled": true})).send().await.expect("put");
    assert_eq!(r.status(), 200);
    app.wait_until("/api/v1/registries/contoso/webhooks", 30, |v| v.as_array().is_some_and(|a| a.iter().any(|w| w["name"] == "regatlaseastus"))).await;
    let r = deployer.delete(app.url("/api/v1/registries/contoso/webhooks/regatlaseastus")).send().await.expect("delete");
    assert_eq!(r.status(), 409);
    assert_eq!(r.json::<Value>().await.expect("json")["code"], "ManagedByPresence");
    server.abort();
    app.stop().await;
    emu.shutdown().await;
}

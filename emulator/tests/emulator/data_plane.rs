//! The OCI data plane: pushes, eventual consistency across replicas,
//! webhooks per replica, importImage, and real clients (skopeo, CNCF Distribution).

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use crate::common::{push_image, Cred};
use axum::{routing::post, Json, Router};
use regatlas_emulator::EmulatorConfig;
use reqwest::Method;
use serde_json::{json, Value};

async fn head_status(http: &reqwest::Client, endpoint: &str, auth: (&str, &str), repo: &str, tag: &str) -> u16 {
    http.head(format!("http://{endpoint}/v2/{repo}/manifests/{tag}"))
        .basic_auth(auth.0, Some(auth.1))
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .expect("head")
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_push_lands_at_once_where_received_and_later_elsewhere_firing_each_replicas_webhook_once() {
    let mut cfg = EmulatorConfig::demo();
    cfg.time_scale = 10.0;
    cfg.timings.replication_delay = 10.0; // one real second
    let emu = crate::common::start(cfg).await;
    // A webhook receiver on loopback.
    let received: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
    let rx = received.clone();
    let app = Router::new().route(
        "/hook/{region}",
        post(move |axum::extract::Path(region): axum::extract::Path<String>, Json(v): Json<Value>| {
            let rx = rx.clone();
            async move {
                if let Ok(mut g) = rx.lock() {
                    g.push((region, v));
                }
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let hook_addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let rg = emu.rg_path("contoso-rg");
    for region in ["westus", "eastus", "canadacentral", "westeurope"] {
        let r = emu
            .call(
                Method::PUT,
                &format!("{rg}/registries/contoso/webhooks/hook{region}"),
                Some(&json!({"location": region, "properties": {"serviceUri": format!("http://{hook_addr}/hook/{region}"), "customHeaders": {"X-Team": "platform"}, "actions": ["push"], "scope": ""}})),
            )
            .await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    }
    let info = emu.emu.info();
    let ep = &info.registries["contoso"].regional_endpoints;
    let auth = ("contoso", "demo-contoso-password");
    push_image(&emu.http, &ep["eastus"], &Cred::Basic(auth.0.into(), auth.1.into()), "eventual/app", "v1").await;
    assert_eq!(head_status(&emu.http, &ep["eastus"], auth, "eventual/app", "v1").await, 200, "visible where pushed");
    assert_eq!(head_status(&emu.http, &ep["westeurope"], auth, "eventual/app", "v1").await, 404, "not yet elsewhere");
    tokio::time::sleep(Duration::from_millis(1600)).await;
    for region in ["westus", "canadacentral", "westeurope"] {
        assert_eq!(head_status(&emu.http, &ep[region], auth, "eventual/app", "v1").await, 200, "{region} after the delay");
    }
    let got = received.lock().map(|g| g.clone()).unwrap_or_default();
    let mut regions: Vec<&str> = got.iter().map(|(r, _)| r.as_str()).collect();
    regions.sort();
    assert_eq!(regions, vec!["canadacentral", "eastus", "westeurope", "westus"], "one event per replica");
    assert!(got.iter().all(|(_, v)| v["action"] == "push" && v["target"]["repository"] == "eventual/app" && v["target"]["tag"] == "v1"));
    server.abort();
}

#[tokio::test]
async fn import_copies_between_registries_and_noforce_refuses_an_existing_tag() {
    let emu = crate::common::start(EmulatorConfig::demo()).await;
    let rg = emu.rg_path("contoso-rg");
    let source_id = format!("{rg}/registries/contosowesteu");
    let import =
        |image: &str, targets: Vec<&str>, mode: &str| json!({"source": {"resourceId": source_id, "sourceImage": image}, "targetTags": targets, "mode": mode});
    let r = emu
        .call(Method::POST, &format!("{rg}/registries/contoso/importImage"), Some(&import("payments/api:3.2.0", vec!["payments/api:3.2.0"], "NoForce")))
        .await;
    assert_eq!(r.status(), 202);
    let loc = r.headers()["location"].to_str().expect("h").to_string();
    assert_eq!(emu.wait_location(&loc).await.status(), 200);
    let info = emu.emu.info();
    let auth = ("contoso", "demo-contoso-password");
    let src_auth = ("contosowesteu", "demo-contosowesteu-password");
    let index_type = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json";
    let digest = |endpoint: String, a: (&'static str, &'static str)| {
        let http = emu.http.clone();
        async move {
            let r = http
                .head(format!("http://{endpoint}/v2/payments/api/manifests/3.2.0"))
                .basic_auth(a.0, Some(a.1))
                .header("accept", index_type)
                .send()
                .await
                .expect("head");
            assert_eq!(r.status(), 200);
            r.headers()["docker-content-digest"].to_str().expect("h").to_string()
        }
    };
    assert_eq!(
        digest(info.registries["contoso"].login_server.clone(), auth).await,
        digest(info.registries["contosowesteu"].login_server.clone(), src_auth).await,
        "same digest after import (multi-platform index copied)"
    );
    // NoForce against an existing tag fails before copying.
    let r =
        emu.call(Method::POST, &format!("{rg}/registries/contoso/importImage"), Some(&import("hello-world:v2", vec!["hello-world:latest"], "NoForce"))).await;
    let loc = r.headers()["location"].to_str().expect("h").to_string();
    let fin = emu.wait_location(&loc).await;
    assert_eq!(fin.status(), 409);
    let e: Value = fin.json().await.expect("json");
    assert_eq!(e["error"]["code"], "Conflict");
    // A missing source is a failed operation with an ARM error.
    let r = emu.call(Method::POST, &format!("{rg}/registries/contoso/importImage"), Some(&import("nope/nothing:1", vec![], "Force"))).await;
    let loc = r.headers()["location"].to_str().expect("h").to_string();
    let fin = emu.wait_location(&loc).await;
    assert_eq!(fin.status(), 400);
    let e: Value = fin.json().await.expect("json");
    assert_eq!(e["error"]["code"], "InvalidParameters");
}

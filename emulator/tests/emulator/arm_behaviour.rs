//! ARM behaviour: long-running operations, validation errors, throttling, 401s.

use std::time::Duration;

use regatlas_emulator::{
    throttle::{BucketSpec, ThrottleConfig},
    EmulatorConfig,
};
use reqwest::Method;
use serde_json::{json, Value};

async fn demo() -> crate::common::Emu {
    crate::common::start(EmulatorConfig::demo()).await
}

#[tokio::test]
async fn a_replica_is_created_as_an_lro_and_goes_provisioning_syncing_ready() {
    let emu = demo().await;
    let path = format!("{}/registries/contoso/replications/japaneast", emu.rg_path("contoso-rg"));
    let r = emu.call(Method::PUT, &path, Some(&json!({"location": "japaneast"}))).await;
    assert_eq!(r.status(), 201);
    let aao = r.headers().get("azure-asyncoperation").expect("Azure-AsyncOperation").to_str().expect("str").to_string();
    assert!(r.headers().get("retry-after").is_some());
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["properties"]["provisioningState"], "Creating");
    assert_eq!(body["properties"]["status"]["displayStatus"], "Provisioning");
    let first: Value = emu.http.get(&aao).bearer_auth(&emu.token).send().await.expect("poll").json().await.expect("json");
    assert_eq!(first["status"], "InProgress");
    let done = emu.wait_async(&aao).await;
    assert_eq!(done["status"], "Succeeded");
    // Final GET, as ARM prescribes: Succeeded, then Syncing, then Ready.
    let mut seen = vec![];
    for _ in 0..200 {
        let v: Value = emu.call(Method::GET, &path, None).await.json().await.expect("json");
        let d = v["properties"]["status"]["displayStatus"].as_str().unwrap_or("").to_string();
        assert_eq!(v["properties"]["provisioningState"], "Succeeded");
        if seen.last() != Some(&d) {
            seen.push(d.clone());
        }
        if d == "Ready" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(seen.last().map(String::as_str), Some("Ready"), "{seen:?}");
    assert!(seen.contains(&"Syncing".to_string()), "{seen:?}");
}

#[tokio::test]
async fn routing_is_toggled_with_patch_and_delete_uses_location() {
    let emu = demo().await;
    let path = format!("{}/registries/contoso/replications/eastus", emu.rg_path("contoso-rg"));
    let r = emu.call(Method::PATCH, &path, Some(&json!({"properties": {"regionEndpointEnabled": false}}))).await;
    assert_eq!(r.status(), 201);
    let aao = r.headers()["azure-asyncoperation"].to_str().expect("str").to_string();
    assert_eq!(emu.wait_async(&aao).await["status"], "Succeeded");
    let v: Value = emu.call(Method::GET, &path, None).await.json().await.expect("json");
    assert_eq!(v["properties"]["regionEndpointEnabled"], false);

    let r = emu.call(Method::DELETE, &path, None).await;
    assert_eq!(r.status(), 202);
    assert!(r.headers().get("azure-asyncoperation").is_none());
    let loc = r.headers()["location"].to_str().expect("str").to_string();
    let fin = emu.wait_location(&loc).await;
    assert_eq!(fin.status(), 200);
    let r = emu.call(Method::GET, &path, None).await;
    assert_eq!(r.status(), 404);
    let e: Value = r.json().await.expect("json");
    assert_eq!(e["error"]["code"], "ResourceNotFound");
}

async fn error_of(r: reqwest::Response) -> (u16, String) {
    let s = r.status().as_u16();
    let v: Value = r.json().await.expect("json error");
    (s, v["error"]["code"].as_str().unwrap_or("").to_string())
}

#[tokio::test]
async fn validation_errors_are_arm_error_documents() {
    let emu = demo().await;
    let rg = emu.rg_path("contoso-rg");
    let put = |reg: &str, rep: &str, loc: &str| (format!("{rg}/registries/{reg}/replications/{rep}"), json!({"location": loc}));

    let (p, b) = put("contoso", "westus", "westus");
    let r = emu.call(Method::DELETE, &p, None).await;
    assert_eq!(error_of(r).await, (400, "CannotDeleteHomeReplication".into()));
    let _ = b;

    let (p, b) = put("contosostd", "westeurope", "westeurope");
    assert_eq!(error_of(emu.call(Method::PUT, &p, Some(&b)).await).await, (400, "SkuNotSupported".into()));

    let (p, b) = put("contoso", "nowhere1", "atlantis");
    assert_eq!(error_of(emu.call(Method::PUT, &p, Some(&b)).await).await, (400, "InvalidResourceLocation".into()));

    let (p, b) = put("contoso", "second", "eastus");
    assert_eq!(error_of(emu.call(Method::PUT, &p, Some(&b)).await).await, (409, "ReplicationAlreadyExistsInLocation".into()));

    let (p, b) = put("contoso", "bad-name!", "japanwest");
    assert_eq!(error_of(emu.call(Method::PUT, &p, Some(&b)).await).await, (400, "InvalidResourceName".into()));

    let r = emu.call(Method::GET, &format!("{rg}/registries/nosuchregistry"), None).await;
    assert_eq!(error_of(r).await, (404, "ResourceNotFound".into()));

    let r = emu.http.get(format!("{}{rg}/registries?api-version=1999-01-01", emu.base)).bearer_auth(&emu.token).send().await.expect("req");
    assert_eq!(error_of(r).await, (400, "InvalidApiVersionParameter".into()));
}

#[tokio::test]
async fn requests_without_a_valid_token_get_401() {
    let emu = demo().await;
    let url = format!("{}/subscriptions/{}/providers/Microsoft.ContainerRegistry/registries?api-version=2025-11-01", emu.base, emu.sub);
    let r = emu.http.get(&url).send().await.expect("req");
    assert_eq!(error_of(r).await, (401, "AuthenticationFailed".into()));
    let r = emu.http.get(&url).bearer_auth("forged").send().await.expect("req");
    assert_eq!(error_of(r).await, (401, "InvalidAuthenticationToken".into()));
    let r = emu.http.get(&url).bearer_auth(&emu.token).send().await.expect("req");
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    let names: Vec<&str> = v["value"].as_array().expect("value").iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(names, vec!["contoso", "contosostd", "contosowesteu"]);
}

#[tokio::test]
async fn an_empty_bucket_answers_429_with_retry_after_and_quota_headers() {
    let mut cfg = EmulatorConfig::demo();
    cfg.throttle = ThrottleConfig { reads: BucketSpec { burst: 5.0, per_sec: 1.0 }, ..Default::default() };
    let emu = crate::common::start(cfg).await;
    let path = format!("{}/registries/contoso", emu.rg_path("contoso-rg"));
    let mut remaining = vec![];
    let mut throttled = None;
    for _ in 0..8 {
        let r = emu.call(Method::GET, &path, None).await;
        if r.status() == 429 {
            throttled = Some(r);
            break;
        }
        remaining.push(r.headers()["x-ms-ratelimit-remaining-subscription-reads"].to_str().expect("h").parse::<u64>().expect("n"));
    }
    assert_eq!(remaining, vec![4, 3, 2, 1, 0]);
    let r = throttled.expect("the sixth read is throttled");
    assert!(r.headers().get("retry-after").is_some());
    assert_eq!(error_of(r).await, (429, "TooManyRequests".into()));
    // Writes have their own bucket.
    let r = emu.call(Method::PATCH, &path, Some(&json!({"tags": {"a": "b"}}))).await;
    assert_eq!(r.status(), 201);
    assert!(r.headers().get("x-ms-ratelimit-remaining-subscription-writes").is_some());
}

#[tokio::test]
async fn injected_errors_and_locations_are_served() {
    let emu = demo().await;
    let v: Value = emu.call(Method::GET, &format!("/subscriptions/{}/locations", emu.sub), None).await.json().await.expect("json");
    let regions = v["value"].as_array().expect("value");
    assert_eq!(regions.len(), 57);
    assert!(regions.iter().any(|r| r["name"] == "westeurope" && r["metadata"]["pairedRegion"][0]["name"] == "northeurope"));

    let admin = format!("{}/emulator-admin/faults", emu.base);
    let r = emu.http.put(&admin).json(&json!({"errorRates": {"reads": 1.0}})).send().await.expect("admin");
    assert!(r.status().is_success());
    let r = emu.call(Method::GET, &format!("{}/registries/contoso", emu.rg_path("contoso-rg")), None).await;
    assert!(r.status() == 500 || r.status() == 503, "{}", r.status());
}

//! `regatlas emulator`: the standalone emulator prints its endpoints as the
//! first stdout line and takes faults and a state directory from the command line.

use std::{process::Stdio, time::Duration};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

struct Running {
    child: tokio::process::Child,
    info: Value,
}

async fn start(args: &[&str]) -> Running {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_regatlas"))
        .arg("emulator")
        .args(["--listen", "127.0.0.1:0", "--time-scale", "50"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn regatlas emulator");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await.expect("first line in time").expect("read").expect("a line");
    let info: Value = serde_json::from_str(&first).expect("the first line is one JSON object");
    Running { child, info }
}

async fn token(http: &reqwest::Client, info: &Value) -> String {
    let v: Value = http
        .get(format!("{}?api-version=2019-08-01&resource=https://management.azure.com", info["token_endpoint"].as_str().expect("token_endpoint")))
        .header(info["token_header"].as_str().expect("h"), info["token_header_value"].as_str().expect("v"))
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    v["access_token"].as_str().expect("access_token").to_string()
}

#[tokio::test]
async fn prints_its_endpoints_and_applies_faults_given_on_the_command_line() {
    let mut emu = start(&["--fault", "outage=eastus", "--fault", "latency-ms=1"]).await;
    let info = &emu.info;
    for key in ["arm_base_url", "token_endpoint", "token_header", "subscription_id", "admin_url"] {
        assert!(info[key].as_str().is_some_and(|s| !s.is_empty()), "{key} in {info}");
    }
    let contoso = &info["registries"]["contoso"];
    assert!(contoso["login_server"].as_str().is_some_and(|s| s.starts_with("127.0.0.1:")));
    let regions: Vec<&str> = contoso["regional_endpoints"].as_object().expect("map").keys().map(String::as_str).collect();
    assert_eq!(regions, vec!["canadacentral", "eastus", "westeurope", "westus"]);

    let http = reqwest::Client::builder().no_proxy().build().expect("client");
    let faults: Value = http.get(format!("{}/faults", info["admin_url"].as_str().expect("admin"))).send().await.expect("faults").json().await.expect("json");
    assert_eq!(faults["regionOutages"], serde_json::json!(["eastus"]));
    assert_eq!(faults["latencyMs"], 1);

    let tok = token(&http, info).await;
    let url = format!(
        "{}/subscriptions/{}/resourceGroups/contoso-rg/providers/Microsoft.ContainerRegistry/registries/contoso/replications/eastus?api-version=2025-11-01",
        info["arm_base_url"].as_str().expect("arm"),
        info["subscription_id"].as_str().expect("sub")
    );
    let rep: Value = http.get(url).bearer_auth(tok).send().await.expect("get").json().await.expect("json");
    assert_eq!(rep["properties"]["status"]["displayStatus"], "Unavailable", "{rep}");
    // The regional endpoint of the region in outage fails.
    let ep = contoso["regional_endpoints"]["eastus"].as_str().expect("ep");
    let r = http.get(format!("http://{ep}/v2/")).send().await.expect("get");
    assert!(r.status().is_server_error(), "{}", r.status());
    let _ = emu.child.kill().await;
}

#[tokio::test]
async fn a_bad_fault_flag_is_refused_with_a_reason() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_regatlas"))
        .args(["emulator", "--fault", "outage=atlantis"])
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("atlantis") && stderr.contains("not an Azure region"), "{stderr}");
}

//! The ARM client against the emulator over real HTTP, with a real
//! `azure_identity` managed-identity credential.

use std::time::Duration;

use regatlas_arm::{
    acr::NewReplication,
    credential,
    models::{ProvisioningState, SkuName},
    ArmClient, ArmClientConfig, ArmError, LroHandle, LroPoll, PollMode, RetryPolicy,
};
use regatlas_emulator::{EmulatorConfig, RunningEmulator};
use serde_json::json;

struct World {
    emu: RunningEmulator,
    client: ArmClient,
    sub: String,
    admin: String,
}

impl World {
    fn registry_id(&self, name: &str) -> String {
        format!("/subscriptions/{}/resourceGroups/contoso-rg/providers/Microsoft.ContainerRegistry/registries/{name}", self.sub)
    }
    async fn admin_put(&self, what: &str, body: serde_json::Value) {
        let r = reqwest::Client::new().put(format!("{}/{what}", self.admin)).json(&body).send().await.expect("admin");
        assert!(r.status().is_success());
    }
}

fn login(emu: &RunningEmulator) -> credential::EmulatorLogin {
    let info = emu.info();
    credential::EmulatorLogin {
        authority_host: info.login_url.clone(),
        tenant_id: info.tenant_id.clone(),
        client_id: info.client_id.clone(),
        client_secret: info.token_header_value.clone(),
        certificate_pem: info.login_certificate_pem.clone(),
    }
}

fn client_for(emu: &RunningEmulator, retry: RetryPolicy) -> ArmClient {
    let info = emu.info();
    let cred = credential::emulator(&login(emu)).expect("credential");
    let mut cfg = ArmClientConfig::new(&info.arm_base_url);
    cfg.retry = retry;
    ArmClient::new(cfg, cred).expect("client")
}

async fn world(mut cfg: EmulatorConfig) -> World {
    cfg.time_scale = 50.0;
    let emu = regatlas_emulator::start(cfg).await.expect("emulator");
    let client = client_for(&emu, RetryPolicy { max_attempts: 10, base_delay: Duration::from_millis(20), max_delay: Duration::from_secs(2) });
    let info = emu.info();
    World { sub: info.subscription_id.clone(), admin: info.admin_url.clone(), client, emu }
}

#[tokio::test]
async fn discovers_subscriptions_and_registries_across_pages() {
    let mut cfg = EmulatorConfig::demo();
    cfg.list_page_size = 2;
    let w = world(cfg).await;
    let subs = w.client.list_subscriptions().await.expect("subscriptions");
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].subscription_id, w.sub);
    let before = w.client.request_count();
    let regs = w.client.list_registries(&w.sub).await.expect("registries");
    assert_eq!(w.client.request_count() - before, 2, "three registries in pages of two: two reads");
    let names: Vec<&str> = regs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, vec!["contoso", "contosostd", "contosowesteu"]);
    let contoso = &regs[0];
    assert_eq!(contoso.sku.name, SkuName::Premium);
    assert_eq!(contoso.location, "westus");
    assert_eq!(contoso.resource_group(), Some("contoso-rg"));
    assert_eq!(contoso.properties.login_server.as_deref(), Some(w.emu.info().registries["contoso"].login_server.as_str()));
    let reps = w.client.list_replications(&contoso.id).await.expect("replications");
    assert_eq!(reps.len(), 4);
    assert!(reps.iter().all(|r| r.properties.provisioning_state == Some(ProvisioningState::Succeeded)));
    let stats = w.client.stats();
    assert!(stats[&w.sub.to_ascii_lowercase()].remaining_reads.is_some(), "quota header recorded: {stats:?}");
    let cr = w.client.list_connected_registries(&contoso.id).await.expect("connected");
    assert_eq!(cr.len(), 4, "the demo world's four connected registries");
    assert!(cr.iter().any(|c| c.name == "contosoOnPrem" && c.properties.mode.as_deref() == Some("ReadOnly")));
}

#[tokio::test]
async fn a_replica_is_created_observed_rerouted_and_deleted_through_lros() {
    let w = world(EmulatorConfig::demo()).await;
    let id = w.registry_id("contoso");
    let acc = w
        .client
        .begin_create_replication(&id, &NewReplication { location: "japaneast".into(), zone_redundancy: true, region_endpoint_enabled: true })
        .await
        .expect("accepted");
    assert_eq!(acc.status, 201);
    let h = acc.handle.expect("an LRO");
    assert_eq!(h.mode, PollMode::AsyncOperation);
    assert_eq!(acc.body.as_ref().map(|b| b["properties"]["provisioningState"].clone()), Some(json!("Creating")));
    match w.client.poll(&h).await.expect("poll") {
        LroPoll::InProgress { .. } => {}
        other => panic!("expected in progress at once, got {other:?}"),
    }
    // Resume from the persisted handle in a fresh client, as after a restart.
    let saved = serde_json::to_string(&h).expect("serialise");
    let restored: LroHandle = serde_json::from_str(&saved).expect("deserialise");
    let fresh = client_for(&w.emu, RetryPolicy::default());
    match fresh.wait(&restored).await.expect("wait") {
        LroPoll::Succeeded { resource: Some(r) } => assert_eq!(r["properties"]["provisioningState"], "Succeeded"),
        other => panic!("expected success with the final GET, got {other:?}"),
    }
    let rep = w.client.get_replication(&id, "japaneast").await.expect("get");
    assert_eq!(rep.properties.zone_redundancy.map(|z| z.to_string()).as_deref(), Some("Enabled"));

    let acc = w.client.begin_set_routing(&id, "japaneast", false).await.expect("patch");
    let h = acc.handle.expect("lro");
    assert!(matches!(w.client.wait(&h).await.expect("wait"), LroPoll::Succeeded { .. }));
    assert_eq!(w.client.get_replication(&id, "japaneast").await.expect("get").properties.region_endpoint_enabled, Some(false));

    let acc = w.client.begin_delete_replication(&id, "japaneast").await.expect("delete");
    assert_eq!(acc.status, 202);
    let h = acc.handle.expect("lro");
    assert!(matches!(w.client.wait(&h).await.expect("wait"), LroPoll::Succeeded { .. }));
    match w.client.get_replication(&id, "japaneast").await {
        Err(ArmError::Api { status: 404, .. }) => {}
        other => panic!("expected 404 after delete, got {other:?}"),
    }
}

#[tokio::test]
async fn arm_refusals_arrive_verbatim_with_their_code() {
    let w = world(EmulatorConfig::demo()).await;
    let home = w.client.begin_delete_replication(&w.registry_id("contoso"), "westus").await.expect_err("home replica");
    assert_eq!(home.status(), Some(400), "{home}");
    assert!(home.code().is_some_and(|c| !c.is_empty()));
    let std = w
        .client
        .begin_create_replication(
            &w.registry_id("contosostd"),
            &NewReplication { location: "eastus2".into(), zone_redundancy: false, region_endpoint_enabled: true },
        )
        .await
        .expect_err("standard SKU");
    assert!(std.to_string().contains("Premium"), "{std}");
}

#[tokio::test]
async fn a_429_storm_is_survived_by_waiting_as_arm_asks() {
    let w = world(EmulatorConfig::demo()).await;
    w.admin_put(
        "throttle",
        json!({"reads": {"burst": 3.0, "per_sec": 4.0}, "writes": {"burst": 200.0, "per_sec": 10.0}, "deletes": {"burst": 200.0, "per_sec": 10.0}}),
    )
    .await;
    let id = w.registry_id("contoso");
    for _ in 0..8 {
        w.client.list_replications(&id).await.expect("eventually served");
    }
    let s = &w.client.stats()[&w.sub.to_ascii_lowercase()];
    assert!(s.throttled > 0 && s.retries > 0, "throttled and retried: {s:?}");
}

#[tokio::test]
async fn bursts_of_5xx_are_retried_for_reads_but_a_post_is_never_retried_blindly() {
    let w = world(EmulatorConfig::demo()).await;
    w.admin_put("faults", json!({"errorRates": {"reads": 0.3}})).await;
    let id = w.registry_id("contoso");
    for _ in 0..20 {
        w.client.list_replications(&id).await.expect("retried to success");
    }
    assert!(w.client.stats()[&w.sub.to_ascii_lowercase()].retries > 0);

    w.admin_put("faults", json!({"errorRates": {"writes": 1.0}})).await;
    let before = w.client.request_count();
    let params = regatlas_arm::models::ImportImageParameters {
        source: regatlas_arm::models::ImportSource {
            resource_id: Some(w.registry_id("contosowesteu")),
            registry_uri: None,
            credentials: None,
            source_image: "hello-world:v1".into(),
        },
        target_tags: vec!["hello-world:copied".into()],
        untagged_target_repositories: vec![],
        mode: "NoForce".into(),
    };
    let e = w.client.begin_import_image(&id, &params).await.expect_err("server error");
    assert!(e.status().is_some_and(|s| s >= 500), "{e}");
    assert_eq!(w.client.request_count() - before, 1, "a POST that reached ARM is not sent twice");
}

/// `azure_identity`'s client-secret credential signs in at the emulated
/// Entra ID over TLS; a wrong secret is refused, and a credential that
/// trusts another emulator's certificate does not talk to this one.
#[tokio::test]
async fn the_client_secret_credential_signs_in_over_tls_and_trusts_only_its_certificate() {
    let emu = regatlas_emulator::start(EmulatorConfig::empty()).await.expect("emulator");
    let other = regatlas_emulator::start(EmulatorConfig::empty()).await.expect("emulator");
    let scope = ["https://management.azure.com/.default"];
    let good = credential::emulator(&login(&emu)).expect("credential");
    assert!(good.get_token(&scope, None).await.is_ok(), "the right secret gets a token");

    let wrong_secret = credential::emulator(&credential::EmulatorLogin { client_secret: "wrong".into(), ..login(&emu) }).expect("credential");
    let e = wrong_secret.get_token(&scope, None).await.expect_err("a wrong secret is refused");
    assert!(e.to_string().contains("AADSTS7000215"), "{e}");

    let wrong_cert =
        credential::emulator(&credential::EmulatorLogin { certificate_pem: other.info().login_certificate_pem.clone(), ..login(&emu) }).expect("credential");
    assert!(wrong_cert.get_token(&scope, None).await.is_err(), "another certificate is not trusted");
    emu.shutdown().await;
    other.shutdown().await;
}

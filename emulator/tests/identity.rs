//! The real `azure_identity` crate obtains a token from the emulator through
//! the App Service managed-identity protocol, and ARM accepts it.
//! (Its own test binary: the credential reads process environment variables.)

use azure_core::credentials::TokenCredential;
use regatlas_emulator::EmulatorConfig;

#[tokio::test]
async fn managed_identity_credential_gets_a_token_the_emulator_accepts() {
    let emu = regatlas_emulator::start(EmulatorConfig::demo()).await.expect("start");
    let info = emu.info();
    // SAFETY: this test binary has a single test; nothing else reads the environment concurrently.
    unsafe {
        std::env::set_var("IDENTITY_ENDPOINT", &info.token_endpoint);
        std::env::set_var("IDENTITY_HEADER", &info.token_header_value);
    }
    let cred = azure_identity::ManagedIdentityCredential::new(None).expect("credential");
    let token = cred.get_token(&["https://management.azure.com/.default"], None).await.expect("token");
    let http = reqwest::Client::builder().no_proxy().build().expect("client");
    let r = http
        .get(format!("{}/subscriptions/{}/providers/Microsoft.ContainerRegistry/registries?api-version=2025-11-01", info.arm_base_url, info.subscription_id))
        .bearer_auth(token.token.secret())
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    // A wrong identity header is refused by the token endpoint.
    unsafe {
        std::env::set_var("IDENTITY_HEADER", "wrong");
    }
    let cred = azure_identity::ManagedIdentityCredential::new(None).expect("credential");
    assert!(cred.get_token(&["https://management.azure.com/.default"], None).await.is_err());
    emu.shutdown().await;
}

//! The emulated Entra ID as an OpenID Connect provider: discovery, the
//! sign-in page's checks, and the code grant (PKCE, single use), with an ID
//! token that verifies against the published keys.

use base64::Engine as _;
use regatlas_emulator::EmulatorConfig;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

const VERIFIER: &str = "a-pkce-code-verifier-of-at-least-forty-three-characters-0123456789";
const REDIRECT: &str = "http://127.0.0.1:9/auth/callback";

fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

struct Idp {
    _emu: regatlas_emulator::RunningEmulator,
    info: regatlas_emulator::EmulatorInfo,
    tls: reqwest::Client,
    plain: reqwest::Client,
    discovery: Value,
}

async fn idp() -> Idp {
    let emu = regatlas_emulator::start(EmulatorConfig::empty()).await.expect("emulator");
    let info = emu.info();
    let cert = reqwest::Certificate::from_pem(info.login_certificate_pem.as_bytes()).expect("cert");
    let tls = reqwest::Client::builder().no_proxy().add_root_certificate(cert).build().expect("client");
    let plain = reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let discovery: Value =
        tls.get(format!("{}/.well-known/openid-configuration", info.oidc_issuer)).send().await.expect("discovery").json().await.expect("json");
    Idp { _emu: emu, info, tls, plain, discovery }
}

impl Idp {
    fn authorize(&self) -> String {
        self.discovery["authorization_endpoint"].as_str().expect("authorize").to_string()
    }

    /// The person at `index` chosen on the sign-in page: the redirect's query.
    async fn choose(&self, index: usize, pkce: Option<&str>, redirect: &str) -> reqwest::Response {
        let mut form = vec![
            ("client_id", self.info.client_id.clone()),
            ("redirect_uri", redirect.to_string()),
            ("response_type", "code".into()),
            ("scope", "openid profile".into()),
            ("state", "st".into()),
            ("nonce", "nn".into()),
            ("person", index.to_string()),
        ];
        if let Some(v) = pkce {
            form.push(("code_challenge", challenge(v)));
            form.push(("code_challenge_method", "S256".into()));
        }
        self.plain.post(self.authorize()).form(&form).send().await.expect("choose")
    }

    async fn code(&self, index: usize) -> String {
        let r = self.choose(index, Some(VERIFIER), REDIRECT).await;
        assert_eq!(r.status(), 303);
        let to = url::Url::parse(r.headers()["location"].to_str().expect("loc")).expect("url");
        assert!(to.as_str().starts_with(REDIRECT), "{to}");
        let q: std::collections::HashMap<_, _> = to.query_pairs().into_owned().collect();
        assert_eq!(q["state"], "st");
        q["code"].clone()
    }

    async fn redeem(&self, code: &str, verifier: &str) -> (u16, Value) {
        let r = self
            .tls
            .post(self.discovery["token_endpoint"].as_str().expect("token"))
            .basic_auth(&self.info.client_id, Some(&self.info.token_header_value))
            .form(&[("grant_type", "authorization_code"), ("code", code), ("redirect_uri", REDIRECT), ("code_verifier", verifier)])
            .send()
            .await
            .expect("token");
        (r.status().as_u16(), r.json().await.expect("json"))
    }
}

#[tokio::test]
async fn the_code_grant_needs_pkce_is_single_use_and_its_id_token_verifies() {
    let idp = idp().await;
    assert_eq!(idp.discovery["issuer"], idp.info.oidc_issuer.as_str());
    assert_eq!(idp.discovery["code_challenge_methods_supported"], serde_json::json!(["S256"]));

    // A redirect URI off loopback is an error page, never a redirect.
    let r = idp.choose(0, Some(VERIFIER), "https://evil.example/auth/callback").await;
    assert_eq!(r.status(), 400);
    // Without PKCE: the error goes back to the client.
    let r = idp.choose(0, None, REDIRECT).await;
    assert_eq!(r.status(), 303);
    assert!(r.headers()["location"].to_str().expect("loc").contains("error=invalid_request"));

    // The wrong verifier is refused, and the code is spent with it.
    let code = idp.code(1).await;
    let (s, v) = idp.redeem(&code, "another-verifier-that-does-not-match-the-challenge-000000").await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_grant")), "{v}");
    let (s, _) = idp.redeem(&code, VERIFIER).await;
    assert_eq!(s, 400);

    // The right one: an ID token for Oscar, once.
    let code = idp.code(1).await;
    let (s, v) = idp.redeem(&code, VERIFIER).await;
    assert_eq!(s, 200, "{v}");
    let (s, again) = idp.redeem(&code, VERIFIER).await;
    assert_eq!((s, again["error"].as_str()), (400, Some("invalid_grant")), "a code is used once");

    let id_token = v["id_token"].as_str().expect("id_token");
    let keys: jsonwebtoken::jwk::JwkSet =
        idp.tls.get(idp.discovery["jwks_uri"].as_str().expect("jwks")).send().await.expect("keys").json().await.expect("json");
    let kid = jsonwebtoken::decode_header(id_token).expect("header").kid.expect("kid");
    let key = jsonwebtoken::DecodingKey::from_jwk(keys.find(&kid).expect("published key")).expect("key");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[&idp.info.client_id]);
    validation.set_issuer(&[&idp.info.oidc_issuer]);
    let claims = jsonwebtoken::decode::<Value>(id_token, &key, &validation).expect("verifies").claims;
    assert_eq!(claims["name"], "Oscar Operator");
    assert_eq!(claims["nonce"], "nn");
    assert_eq!(claims["roles"], serde_json::json!(["Regatlas.Operator"]));
}

#[tokio::test]
async fn with_tls_arm_is_https_and_trusting_the_emulators_ca_alone_is_enough() {
    let emu = regatlas_emulator::start(EmulatorConfig { tls: true, ..EmulatorConfig::demo() }).await.expect("emulator");
    let info = emu.info();
    assert!(info.arm_base_url.starts_with("https://"), "{}", info.arm_base_url);
    let path = info.ca_pem_path.clone().expect("the CA's file is in the info");
    let pem = std::fs::read_to_string(&path).expect("CA file");
    assert_eq!(pem, info.login_certificate_pem, "one CA for ARM and the login endpoint");

    // Only that CA (no system roots): the managed-identity token, then ARM.
    let ca = reqwest::Certificate::from_pem(pem.as_bytes()).expect("pem");
    let http = reqwest::Client::builder().no_proxy().tls_built_in_root_certs(false).add_root_certificate(ca).build().expect("client");
    let tok: Value = http
        .get(format!("{}?api-version=2019-08-01&resource=https://management.azure.com", info.token_endpoint))
        .header(info.token_header.as_str(), info.token_header_value.as_str())
        .send()
        .await
        .expect("token over https")
        .json()
        .await
        .expect("json");
    let token = tok["access_token"].as_str().expect("token");
    let r = http
        .get(format!("{}/subscriptions/{}/providers/Microsoft.ContainerRegistry/registries?api-version=2025-11-01", info.arm_base_url, info.subscription_id))
        .bearer_auth(token)
        .send()
        .await
        .expect("ARM over https");
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    assert!(v["value"].as_array().is_some_and(|a| a.len() >= 3), "{v}");

    // A client that does not trust the CA cannot talk to it.
    let stranger = reqwest::Client::builder().no_proxy().build().expect("client");
    assert!(stranger.get(format!("{}/emulator-admin/login", info.arm_base_url)).send().await.is_err());
    emu.shutdown().await;
}

//! Real OCI clients against the emulator: Debian's `skopeo` copies a
//! multi-platform image in and out with identical digests, and `importImage`
//! pulls from a real CNCF Distribution registry (Debian's `docker-registry`)
//! on loopback. Both tools are installed by `scripts/install-deps.sh`.

use crate::oci_tools::{sha, skopeo, write_layout, Distribution};

use regatlas_emulator::EmulatorConfig;
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn skopeo_copies_a_multi_platform_image_in_and_out_with_identical_digests() {
    let emu = crate::common::start(EmulatorConfig::demo()).await;
    let login = emu.emu.info().registries["contoso"].login_server.clone();
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("src");
    let (index_digest, manifest_digests) = write_layout(&src, "v1");
    let creds = "contoso:demo-contoso-password";

    skopeo(
        tmp.path(),
        &[
            "copy",
            "--all",
            "--preserve-digests",
            "--dest-tls-verify=false",
            "--dest-creds",
            creds,
            &format!("oci:{}:v1", src.display()),
            &format!("docker://{login}/skopeo/app:v1"),
        ],
    )
    .await;

    // The index arrived byte for byte: same digest through the registry's API.
    let raw = skopeo(tmp.path(), &["inspect", "--raw", "--tls-verify=false", "--creds", creds, &format!("docker://{login}/skopeo/app:v1")]).await;
    assert_eq!(sha(raw.as_bytes()), index_digest);
    let r = emu
        .http
        .head(format!("http://{login}/v2/skopeo/app/manifests/v1"))
        .basic_auth("contoso", Some("demo-contoso-password"))
        .header("accept", "application/vnd.oci.image.index.v1+json")
        .send()
        .await
        .expect("head");
    assert_eq!(r.headers()["docker-content-digest"].to_str().expect("digest"), index_digest);

    // And back out into a fresh layout: identical digests for the index and each platform.
    let out = tmp.path().join("out");
    skopeo(
        tmp.path(),
        &[
            "copy",
            "--all",
            "--preserve-digests",
            "--src-tls-verify=false",
            "--src-creds",
            creds,
            &format!("docker://{login}/skopeo/app:v1"),
            &format!("oci:{}:v1", out.display()),
        ],
    )
    .await;
    let top: Value = serde_json::from_slice(&std::fs::read(out.join("index.json")).expect("index.json")).expect("json");
    assert_eq!(top["manifests"][0]["digest"], json!(index_digest));
    for d in &manifest_digests {
        let p = out.join("blobs/sha256").join(d.trim_start_matches("sha256:"));
        let bytes = std::fs::read(&p).unwrap_or_else(|_| panic!("platform manifest {d} copied out"));
        assert_eq!(&sha(&bytes), d);
    }
}

#[tokio::test]
async fn import_image_pulls_every_platform_from_a_cncf_distribution_registry() {
    let dist = Distribution::start().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("src");
    let (index_digest, manifest_digests) = write_layout(&src, "2.0");
    skopeo(
        tmp.path(),
        &[
            "copy",
            "--all",
            "--preserve-digests",
            "--dest-tls-verify=false",
            &format!("oci:{}:2.0", src.display()),
            &format!("docker://{}/library/app:2.0", dist.addr),
        ],
    )
    .await;

    let emu = crate::common::start(EmulatorConfig::demo()).await;
    let rg = emu.rg_path("contoso-rg");
    let r = emu
        .call(
            Method::POST,
            &format!("{rg}/registries/contoso/importImage"),
            Some(&json!({"source": {"registryUri": dist.addr, "sourceImage": "library/app:2.0"}, "targetTags": ["imported/app:2.0"], "mode": "NoForce"})),
        )
        .await;
    assert_eq!(r.status(), 202);
    let location = r.headers()["location"].to_str().expect("location").to_string();
    let done = emu.wait_location(&location).await;
    assert_eq!(done.status(), 200, "import finished: {}", done.text().await.unwrap_or_default());

    let login = emu.emu.info().registries["contoso"].login_server.clone();
    let get = |reference: String, accept: &'static str| {
        emu.http
            .get(format!("http://{login}/v2/imported/app/manifests/{reference}"))
            .basic_auth("contoso", Some("demo-contoso-password"))
            .header("accept", accept)
            .send()
    };
    let r = get("2.0".into(), "application/vnd.oci.image.index.v1+json").await.expect("get index");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["docker-content-digest"].to_str().expect("digest"), index_digest);
    for d in manifest_digests {
        let r = get(d.clone(), "application/vnd.oci.image.manifest.v1+json").await.expect("get platform");
        assert_eq!(r.status(), 200, "platform manifest {d} imported");
        assert_eq!(sha(&r.bytes().await.expect("body")), d);
    }

    // NoForce again: the target tag exists, so the import fails before copying.
    let r = emu
        .call(
            Method::POST,
            &format!("{rg}/registries/contoso/importImage"),
            Some(&json!({"source": {"registryUri": dist.addr, "sourceImage": "library/app:2.0"}, "targetTags": ["imported/app:2.0"], "mode": "NoForce"})),
        )
        .await;
    let location = r.headers()["location"].to_str().expect("location").to_string();
    let done = emu.wait_location(&location).await;
    assert_eq!(done.status(), 409);
}

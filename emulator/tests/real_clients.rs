//! Real OCI clients against the emulator: Debian's `skopeo` copies a
//! multi-platform image in and out with identical digests, and `importImage`
//! pulls from a real CNCF Distribution registry (Debian's `docker-registry`)
//! on loopback. Both tools are installed by `scripts/install-deps.sh`.

mod common;

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use regatlas_emulator::EmulatorConfig;
use reqwest::Method;
use serde_json::{json, Value};

fn sha(data: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

fn tool(name: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/local/bin", "/usr/sbin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!("{name} is not installed; run scripts/install-deps.sh");
}

/// Writes an OCI image layout holding a two-platform index tagged `tag`;
/// returns the index digest and its two manifest digests.
fn write_layout(dir: &Path, tag: &str) -> (String, Vec<String>) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("layout dir");
    let put = |data: &[u8]| -> String {
        let d = sha(data);
        std::fs::write(blobs.join(d.trim_start_matches("sha256:")), data).expect("write blob");
        d
    };
    let mut manifests = Vec::new();
    let mut entries = Vec::new();
    for arch in ["amd64", "arm64"] {
        let layer = format!("regatlas layer for {arch}\n").repeat(100).into_bytes();
        let config = json!({"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": [sha(&layer)]}}).to_string().into_bytes();
        let ld = put(&layer);
        let cd = put(&config);
        let m = json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": layer.len()}]
        })
        .to_string()
        .into_bytes();
        let md = put(&m);
        entries.push(json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": m.len(), "platform": {"architecture": arch, "os": "linux"}}));
        manifests.push(md);
    }
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries}).to_string().into_bytes();
    let id = put(&index);
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).expect("oci-layout");
    let top = json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": id, "size": index.len(), "annotations": {"org.opencontainers.image.ref.name": tag}}]});
    std::fs::write(dir.join("index.json"), top.to_string()).expect("index.json");
    (id, manifests)
}

async fn skopeo(home: &Path, args: &[&str]) -> String {
    let out = tokio::process::Command::new(tool("skopeo"))
        .arg("--insecure-policy")
        .args(args)
        .env("HOME", home)
        .env("XDG_RUNTIME_DIR", home)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn skopeo_copies_a_multi_platform_image_in_and_out_with_identical_digests() {
    let emu = common::start(EmulatorConfig::demo()).await;
    let login = emu.emu.info().registries["contoso"].login_server.clone();
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("src");
    let (index_digest, manifest_digests) = write_layout(&src, "v1");
    let creds = "contoso:demo-contoso-password";

    skopeo(
        tmp.path(),
        &["copy", "--all", "--preserve-digests", "--dest-tls-verify=false", "--dest-creds", creds, &format!("oci:{}:v1", src.display()), &format!("docker://{login}/skopeo/app:v1")],
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
        &["copy", "--all", "--preserve-digests", "--src-tls-verify=false", "--src-creds", creds, &format!("docker://{login}/skopeo/app:v1"), &format!("oci:{}:v1", out.display())],
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

/// A CNCF Distribution registry on a free loopback port, stopped on drop.
struct Distribution {
    child: tokio::process::Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Distribution {
    async fn start() -> Distribution {
        let dir = tempfile::tempdir().expect("tmp");
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
        let addr = format!("127.0.0.1:{port}");
        let config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            dir.path().join("data").display()
        );
        let cfg = dir.path().join("config.yml");
        std::fs::write(&cfg, config).expect("config");
        let child = tokio::process::Command::new(tool("docker-registry"))
            .arg("serve")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start docker-registry");
        let http = reqwest::Client::builder().no_proxy().build().expect("client");
        for _ in 0..100 {
            if http.get(format!("http://{addr}/v2/")).send().await.is_ok_and(|r| r.status() == 200) {
                return Distribution { child, addr, _dir: dir };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("docker-registry did not start on {addr}");
    }
}

impl Drop for Distribution {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

#[tokio::test]
async fn import_image_pulls_every_platform_from_a_cncf_distribution_registry() {
    let dist = Distribution::start().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("src");
    let (index_digest, manifest_digests) = write_layout(&src, "2.0");
    skopeo(tmp.path(), &["copy", "--all", "--preserve-digests", "--dest-tls-verify=false", &format!("oci:{}:2.0", src.display()), &format!("docker://{}/library/app:2.0", dist.addr)]).await;

    let emu = common::start(EmulatorConfig::demo()).await;
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

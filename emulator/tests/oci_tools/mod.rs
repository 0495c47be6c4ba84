//! Real OCI tools for tests, shared by the emulator's and the server's
//! tests: Debian's `skopeo`, a CNCF Distribution registry (Debian's
//! `docker-registry`) on a free loopback port, and an OCI image layout
//! with a two-platform index. Both tools come from `scripts/install-deps.sh`.
#![allow(dead_code)]

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use serde_json::json;

pub fn sha(data: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

pub fn tool(name: &str) -> PathBuf {
    let unpacked = concat!(env!("CARGO_MANIFEST_DIR"), "/../.tools/prometheus/usr/bin");
    for dir in ["/usr/bin", "/usr/local/bin", "/usr/sbin", unpacked] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!("{name} is not installed; run scripts/install-deps.sh");
}

/// Writes an OCI image layout holding a two-platform index tagged `tag`;
/// returns the index digest and its two manifest digests.
pub fn write_layout(dir: &Path, tag: &str) -> (String, Vec<String>) {
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

pub async fn skopeo(home: &Path, args: &[&str]) -> String {
    let out = tokio::process::Command::new(tool("skopeo"))
        .arg("--insecure-policy")
        .args(args)
        .env("HOME", home)
        .env("XDG_RUNTIME_DIR", home)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run skopeo");
    assert!(out.status.success(), "skopeo {args:?} failed: {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A CNCF Distribution registry on a free loopback port, stopped on drop.
pub struct Distribution {
    child: tokio::process::Child,
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl Distribution {
    pub async fn start() -> Distribution {
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

//! Kubeconfig files pointing clients (kubectl, kube-rs) at a fakekube server: one cluster
//! (`server: http://ADDR`), one user with a bearer token, one context (namespace `default`),
//! made current. fakekube accepts any token; the token only keeps clients that insist on
//! credentials happy.

use std::net::SocketAddr;
use std::path::Path;

use serde_json::json;

/// The context, cluster and user name written into the kubeconfig.
pub const CONTEXT: &str = "fakekube";
/// The bearer token written into the kubeconfig.
pub const TOKEN: &str = "fakekube-token";

/// The kubeconfig YAML for a server at `addr`.
pub fn render(addr: SocketAddr) -> String {
    let doc = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {"server": format!("http://{addr}")}}],
        "users": [{"name": CONTEXT, "user": {"token": TOKEN}}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": "default"}}],
        "current-context": CONTEXT,
        "preferences": {},
    });
    serde_yaml_ng::to_string(&doc).unwrap_or_default()
}

/// Write the kubeconfig for `addr` to `path` (creating parent directories).
pub fn write(path: &Path, addr: SocketAddr) -> std::io::Result<()> {
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, render(addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_usable_config() {
        let addr: SocketAddr = ([127, 0, 0, 1], 8080).into();
        let y = render(addr);
        let v: serde_json::Value = serde_yaml_ng::from_str(&y).unwrap_or_default();
        assert_eq!(
            v["clusters"][0]["cluster"]["server"],
            "http://127.0.0.1:8080"
        );
        assert_eq!(v["current-context"], CONTEXT);
        assert_eq!(v["users"][0]["user"]["token"], TOKEN);
    }
}

//! Per-registry transport: which scheme to speak and which certificates to trust.
//!
//! Trust roots are the system bundle plus every `*.crt` in `<certs.d>/HOST[:PORT]/` of each certs.d base
//! (`/etc/containers/certs.d`, then `/etc/docker/certs.d`; `$RBUILD_CERTS_DIRS`, colon-separated, replaces
//! both, for tests and unusual hosts). Registries on `localhost`, `127.0.0.0/8` or `::1` are insecure by
//! default, as in docker: HTTPS is tried first without verification, then plain HTTP. `--tls-verify=true`
//! makes them verified like any other host; `--tls-verify=false` (`--insecure`) makes any host insecure.
//! A client certificate for mutual TLS is a `NAME.cert` with its `NAME.key` in the same certs.d
//! directory (docker's and containers' convention); it is sent whether or not the server is verified.

use super::RegistryError;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};

const DEFAULT_CERTS_DIRS: &[&str] = &["/etc/containers/certs.d", "/etc/docker/certs.d"];
const SYSTEM_BUNDLES: &[&str] =
    &["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"];

/// Whether docker treats `registry` (host[:port]) as insecure without being told: loopback only.
pub fn insecure_by_default(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => registry.rsplit_once(':').map_or(registry, |(h, _)| h),
    };
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The certs.d base directories, in lookup order.
fn certs_dirs() -> Vec<PathBuf> {
    match std::env::var("RBUILD_CERTS_DIRS") {
        Ok(v) if !v.is_empty() => v.split(':').filter(|s| !s.is_empty()).map(PathBuf::from).collect(),
        _ => DEFAULT_CERTS_DIRS.iter().map(PathBuf::from).collect(),
    }
}

fn read_pem_certs(path: &Path, out: &mut Vec<Certificate<'static>>) -> Result<(), RegistryError> {
    let bytes = std::fs::read(path).map_err(|source| RegistryError::Io { path: path.to_path_buf(), source })?;
    for item in ureq::tls::parse_pem(&bytes) {
        match item {
            Ok(PemItem::Certificate(c)) => out.push(c),
            Ok(_) => {}
            Err(e) => {
                return Err(RegistryError::Certs { path: path.to_path_buf(), detail: format!("not a PEM file: {e}") })
            }
        }
    }
    Ok(())
}

/// The registry's own CA certificates from the certs.d directories (empty when it has none).
pub fn registry_cas(registry: &str) -> Result<Vec<Certificate<'static>>, RegistryError> {
    let mut out = Vec::new();
    for base in certs_dirs() {
        let dir = base.join(registry);
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let mut files: Vec<PathBuf> =
            entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "crt")).collect();
        files.sort();
        for f in files {
            read_pem_certs(&f, &mut out)?;
        }
    }
    Ok(out)
}

/// The registry's client certificate from the certs.d directories: the first `*.cert` (by name) with its
/// `*.key`. A certificate without its key, or a key without its certificate, is an error (as in docker).
pub fn client_cert(registry: &str) -> Result<Option<ClientCert>, RegistryError> {
    for base in certs_dirs() {
        let dir = base.join(registry);
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        files.sort();
        let has = |p: &Path, ext: &str| p.extension().is_some_and(|e| e == ext);
        for key in files.iter().filter(|p| has(p, "key")) {
            if !key.with_extension("cert").is_file() {
                let detail = format!("client key without its certificate {}", key.with_extension("cert").display());
                return Err(RegistryError::Certs { path: key.clone(), detail });
            }
        }
        let Some(cert) = files.iter().find(|p| has(p, "cert")) else { continue };
        let key = cert.with_extension("key");
        let mut chain = Vec::new();
        read_pem_certs(cert, &mut chain)?;
        let key_pem = std::fs::read(&key).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => RegistryError::Certs {
                path: cert.clone(),
                detail: format!("client certificate without its key {}", key.display()),
            },
            _ => RegistryError::Io { path: key.clone(), source },
        })?;
        let key_der = PrivateKey::from_pem(&key_pem)
            .map_err(|e| RegistryError::Certs { path: key.clone(), detail: format!("not a PEM private key: {e}") })?;
        if chain.is_empty() {
            return Err(RegistryError::Certs { path: cert.clone(), detail: "no certificate in the file".into() });
        }
        return Ok(Some(ClientCert::new_with_certs(&chain, key_der)));
    }
    Ok(None)
}

/// An agent for one registry. `verify: false` accepts any certificate (insecure registries only).
pub fn agent(registry: &str, verify: bool) -> Result<ureq::Agent, RegistryError> {
    let client = client_cert(registry)?;
    let tls = if verify {
        let extra = registry_cas(registry)?;
        let roots = match SYSTEM_BUNDLES.iter().map(Path::new).find(|p| p.is_file()) {
            Some(bundle) => {
                let mut all = Vec::new();
                read_pem_certs(bundle, &mut all)?;
                all.extend(extra);
                RootCerts::Specific(Arc::new(all))
            }
            None if extra.is_empty() => RootCerts::WebPki,
            None => RootCerts::Specific(Arc::new(extra)),
        };
        TlsConfig::builder().root_certs(roots).client_cert(client).build()
    } else {
        TlsConfig::builder().disable_verification(true).client_cert(client).build()
    };
    Ok(ureq::Agent::config_builder()
        .tls_config(tls)
        .timeout_connect(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        // Blob GETs redirect to storage (S3, CDNs); credentials must not follow them there.
        .max_redirects(10)
        .max_idle_connections_per_host(8)
        .build()
        .new_agent())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries_are_insecure_by_default() {
        for r in ["localhost", "localhost:5000", "127.0.0.1:5000", "127.1.2.3", "[::1]:5000"] {
            assert!(insecure_by_default(r), "{r}");
        }
        for r in ["docker.io", "10.0.0.1:5000", "localhost.example:5000", "[2001:db8::1]:443"] {
            assert!(!insecure_by_default(r), "{r}");
        }
    }
}

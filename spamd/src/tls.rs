//! TLS on the TCP listeners (`--ssl`, `ssl:` listen specs), with rustls.
//!
//! As SpamAssassin's spamd: the key and certificate default to
//! `certs/server-key.pem` and `certs/server-cert.pem` in the site
//! configuration directory; `--ssl-verify` (implied by `--ssl-ca-file` or
//! `--ssl-ca-path`) requires a client certificate signed by one of those CAs
//! (the system CA bundle when neither is given) and checks only the chain,
//! not the client's name (SpamAssassin sets `SSL_verifycn_scheme none`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

use crate::cli::Cli;

/// The system CA bundle on Debian, used by `--ssl-verify` without a CA.
const SYSTEM_CA_FILE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Is TLS asked for at all (then every TCP listener speaks it)?
pub fn wanted(cli: &Cli) -> bool {
    cli.ssl
        || cli.ssl_port.is_some()
        || cli.ssl_verify
        || cli.ssl_ca_file.is_some()
        || cli.ssl_ca_path.is_some()
}

fn site_dir(cli: &Cli) -> PathBuf {
    PathBuf::from(
        cli.siteconfigpath
            .clone()
            .unwrap_or_else(|| "/etc/spamassassin".to_string()),
    )
}

/// The certificate and key files spamd uses.
pub fn cert_and_key(cli: &Cli) -> (PathBuf, PathBuf) {
    let certs = site_dir(cli).join("certs");
    (
        cli.server_cert
            .as_ref()
            .map(PathBuf::from)
            .unwrap_or_else(|| certs.join("server-cert.pem")),
        cli.server_key
            .as_ref()
            .map(PathBuf::from)
            .unwrap_or_else(|| certs.join("server-key.pem")),
    )
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read certificates from {}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("bad certificate in {}: {e}", path.display()))?;
    Ok(certs)
}

/// Trusted client CAs: the file, every PEM file in the directory, or the
/// system bundle when neither is given.
fn client_roots(cli: &Cli) -> Result<RootCertStore, String> {
    let mut files: Vec<PathBuf> = Vec::new();
    if let Some(f) = &cli.ssl_ca_file {
        if !Path::new(f).exists() {
            return Err(format!("ssl-ca-file {f} does not exist"));
        }
        files.push(PathBuf::from(f));
    }
    if let Some(d) = &cli.ssl_ca_path {
        let entries =
            std::fs::read_dir(d).map_err(|e| format!("ssl-ca-path {d} does not exist: {e}"))?;
        let mut found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        found.sort();
        files.extend(found);
    }
    if cli.ssl_ca_file.is_none() && cli.ssl_ca_path.is_none() {
        files.push(PathBuf::from(SYSTEM_CA_FILE));
    }
    let mut roots = RootCertStore::empty();
    for f in &files {
        // A CA directory may hold other files (hash links, CRLs): skip
        // what does not parse; the file given by name must parse.
        match read_certs(f) {
            Ok(certs) => {
                for c in certs {
                    roots
                        .add(c)
                        .map_err(|e| format!("bad CA certificate in {}: {e}", f.display()))?;
                }
            }
            Err(e) if cli.ssl_ca_file.as_deref() == f.to_str() => return Err(e),
            Err(_) => {}
        }
    }
    if roots.is_empty() {
        return Err("no CA certificate found for --ssl-verify".into());
    }
    Ok(roots)
}

/// Build the acceptor for `--ssl`. Errors are start-up errors.
pub fn acceptor(cli: &Cli) -> Result<TlsAcceptor, String> {
    let (cert_path, key_path) = cert_and_key(cli);
    if !key_path.exists() {
        return Err(format!(
            "server key file {} does not exist",
            key_path.display()
        ));
    }
    if !cert_path.exists() {
        return Err(format!(
            "server certificate file {} does not exist",
            cert_path.display()
        ));
    }
    let certs = read_certs(&cert_path)?;
    if certs.is_empty() {
        return Err(format!("no certificate in {}", cert_path.display()));
    }
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .map_err(|e| format!("cannot read private key {}: {e}", key_path.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?;
    let verify = cli.ssl_verify || cli.ssl_ca_file.is_some() || cli.ssl_ca_path.is_some();
    let builder = if verify {
        let roots = client_roots(cli)?;
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| format!("TLS client verification setup: {e}"))?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let config = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("server certificate and key do not fit: {e}"))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// `TLSv1_3/TLS_AES_256_GCM_SHA384`: the version and OpenSSL's cipher name,
/// as SpamAssassin's `connection from` line ends.
pub fn describe(conn: &rustls::ServerConnection) -> String {
    let version = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1_3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1_2",
        _ => "TLS",
    };
    let suite = conn
        .negotiated_cipher_suite()
        .map(|s| openssl_name(&format!("{:?}", s.suite())))
        .unwrap_or_default();
    format!("{version}/{suite}")
}

/// rustls's IANA-style suite name as OpenSSL spells it.
fn openssl_name(iana: &str) -> String {
    if let Some(rest) = iana.strip_prefix("TLS13_") {
        return format!("TLS_{rest}");
    }
    let Some(rest) = iana.strip_prefix("TLS_") else {
        return iana.to_string();
    };
    // TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 -> ECDHE-RSA-AES256-GCM-SHA384
    let Some((kx, cipher)) = rest.split_once("_WITH_") else {
        return rest.to_string();
    };
    let cipher = cipher
        .replace("AES_128", "AES128")
        .replace("AES_256", "AES256")
        .replace("CHACHA20_POLY1305_SHA256", "CHACHA20-POLY1305");
    format!("{kx}-{cipher}").replace('_', "-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cipher_names() {
        assert_eq!(
            openssl_name("TLS13_AES_256_GCM_SHA384"),
            "TLS_AES_256_GCM_SHA384"
        );
        assert_eq!(
            openssl_name("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
            "ECDHE-RSA-AES256-GCM-SHA384"
        );
        assert_eq!(
            openssl_name("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"),
            "ECDHE-ECDSA-CHACHA20-POLY1305"
        );
    }
}

//! TLS to a `tcp://` buildkitd, as buildctl's `--tlscacert`, `--tlscert`,
//! `--tlskey` and `--tlsservername`: the daemon's certificate is checked
//! against the given CA (and the server name: by default the address's
//! host), and the client presents its own certificate when buildkitd asks
//! for one (buildkitd started with `--tlscacert` requires it: mutual TLS).
//! HTTP/2 is negotiated by ALPN (`h2`), as gRPC over TLS needs.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// The TLS options of a connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// The CA certificate(s) (PEM) that signed buildkitd's certificate.
    pub ca_cert: Option<PathBuf>,
    /// The client's certificate chain (PEM).
    pub cert: Option<PathBuf>,
    /// The client's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
    /// The name buildkitd's certificate must have (default: the address's host).
    pub server_name: Option<String>,
}

impl TlsOptions {
    /// Whether any option is given (TLS is used then).
    pub fn wanted(&self) -> bool {
        self.ca_cert.is_some() || self.cert.is_some() || self.key.is_some() || self.server_name.is_some()
    }
}

/// A ready TLS client: its configuration and the name to check.
#[derive(Clone)]
pub struct Tls {
    pub(crate) config: Arc<rustls::ClientConfig>,
    pub(crate) server_name: ServerName<'static>,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls").field("server_name", &self.server_name).finish_non_exhaustive()
    }
}

/// What is wrong with the TLS options.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read or holds no usable PEM.
    #[error("{flag} {}: {why}", path.display())]
    File {
        /// The option naming the file.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// The options do not go together.
    #[error("{0}")]
    Usage(String),
}

fn file_error(flag: &'static str, path: &Path) -> impl FnOnce(rustls::pki_types::pem::Error) -> TlsError {
    let path = path.to_path_buf();
    move |e| {
        let why = match e {
            rustls::pki_types::pem::Error::Io(io) => io.to_string(),
            rustls::pki_types::pem::Error::NoItemsFound => "no PEM item of the expected kind".to_string(),
            e => format!("invalid PEM: {e}"),
        };
        TlsError::File { flag, path, why }
    }
}

/// Reads the certificates and key of `opts` for a connection to `host`
/// (the address's host, the default server name).
pub fn load(opts: &TlsOptions, host: &str) -> Result<Tls, TlsError> {
    let Some(ca) = &opts.ca_cert else {
        return Err(TlsError::Usage(
            "TLS needs --tlscacert: the CA certificate that signed buildkitd's certificate".to_string(),
        ));
    };
    let mut roots = rustls::RootCertStore::empty();
    let cas: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca)
        .map_err(file_error("--tlscacert", ca))?
        .collect::<Result<_, _>>()
        .map_err(file_error("--tlscacert", ca))?;
    if cas.is_empty() {
        return Err(TlsError::File { flag: "--tlscacert", path: ca.clone(), why: "no certificate in it".to_string() });
    }
    for c in cas {
        roots.add(c).map_err(|e| TlsError::File {
            flag: "--tlscacert",
            path: ca.clone(),
            why: format!("not a usable CA certificate: {e}"),
        })?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Usage(format!("TLS: {e}")))?
        .with_root_certificates(roots);
    let mut config = match (&opts.cert, &opts.key) {
        (Some(cert), Some(key)) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
                .map_err(file_error("--tlscert", cert))?
                .collect::<Result<_, _>>()
                .map_err(file_error("--tlscert", cert))?;
            if chain.is_empty() {
                return Err(TlsError::File {
                    flag: "--tlscert",
                    path: cert.clone(),
                    why: "no certificate in it".to_string(),
                });
            }
            let k = PrivateKeyDer::from_pem_file(key).map_err(file_error("--tlskey", key))?;
            builder.with_client_auth_cert(chain, k).map_err(|e| TlsError::File {
                flag: "--tlskey",
                path: key.clone(),
                why: format!("does not go with --tlscert: {e}"),
            })?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => return Err(TlsError::Usage("--tlscert and --tlskey go together".to_string())),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    let name = opts.server_name.as_deref().filter(|n| !n.is_empty()).unwrap_or(host);
    let server_name = ServerName::try_from(name.to_string())
        .map_err(|e| TlsError::Usage(format!("TLS server name {name:?}: {e}")))?;
    Ok(Tls { config: Arc::new(config), server_name })
}

/// The host of `host:port` (`[v6]:port` too).
pub fn host_of(host_port: &str) -> &str {
    let host = host_port.rsplit_once(':').map_or(host_port, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// Says what a failed handshake most likely means.
pub(crate) fn explain(e: &std::io::Error, host: &str) -> String {
    let text = e.to_string();
    let hint = if text.contains("UnknownIssuer") || text.contains("unknown issuer") {
        " (buildkitd's certificate is not signed by the --tlscacert CA)"
    } else if text.contains("NotValidForName") || text.contains("not valid for name") {
        " (buildkitd's certificate does not name this host: see --tlsservername)"
    } else if text.contains("CertificateRequired") || text.contains("certificate required") {
        " (buildkitd wants a client certificate: --tlscert and --tlskey)"
    } else {
        ""
    };
    format!("TLS handshake with {host} failed: {text}{hint}")
}

/// What a TLS alert from buildkitd in `error` (an error's text) means,
/// for the alerts that refuse the client's certificate.
pub fn refusal_hint(error: &str) -> Option<&'static str> {
    ["BadCertificate", "CertificateRequired", "UnknownCA", "bad certificate", "certificate required"]
        .iter()
        .any(|a| error.contains(a))
        .then_some(
            "buildkitd refused this client's certificate over TLS (give --tlscert and --tlskey, \
             signed by a CA that buildkitd's --tlscacert trusts)",
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_explained() {
        let e = "transport error: received fatal alert: BadCertificate";
        assert!(refusal_hint(e).is_some_and(|h| h.contains("--tlscert")));
        assert_eq!(refusal_hint("connection refused"), None);
    }

    #[test]
    fn hosts() {
        assert_eq!(host_of("127.0.0.1:1234"), "127.0.0.1");
        assert_eq!(host_of("[::1]:1234"), "::1");
        assert_eq!(host_of("buildkitd.example:1234"), "buildkitd.example");
    }

    #[test]
    fn options_are_checked_before_connecting() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = load(&TlsOptions { cert: Some("c".into()), ..TlsOptions::default() }, "h").expect_err("no ca");
        assert!(e.to_string().contains("--tlscacert"), "{e}");
        let missing = dir.path().join("missing.pem");
        let e = load(&TlsOptions { ca_cert: Some(missing.clone()), ..TlsOptions::default() }, "h")
            .expect_err("missing file");
        assert!(e.to_string().starts_with(&format!("--tlscacert {}:", missing.display())), "{e}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not pem\n").expect("write");
        let e = load(&TlsOptions { ca_cert: Some(empty.clone()), ..TlsOptions::default() }, "h").expect_err("no pem");
        assert!(e.to_string().contains("no certificate") || e.to_string().contains("PEM"), "{e}");
        assert!(!TlsOptions::default().wanted());
        assert!(TlsOptions { server_name: Some("x".into()), ..TlsOptions::default() }.wanted());
    }
}

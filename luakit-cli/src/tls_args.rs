//! `luakit solve`'s TLS options, as buildctl's (for a `tcp://` buildkitd,
//! from `--addr` or `BUILDKIT_HOST`).

use std::path::PathBuf;

use clap::Args;
use luakit_client::Address;
use luakit_client::tls::{Tls, TlsOptions};

/// `--tlscacert`, `--tlscert`, `--tlskey`, `--tlsservername`.
#[derive(Debug, Args, Default)]
pub struct TlsArgs {
    /// CA certificate (PEM) that signed buildkitd's certificate: TLS to a tcp:// address.
    #[arg(long, value_name = "FILE")]
    tlscacert: Option<PathBuf>,

    /// Client certificate (PEM), for a buildkitd that requires one (with --tlskey).
    #[arg(long, value_name = "FILE", requires = "tlskey")]
    tlscert: Option<PathBuf>,

    /// Client private key (PEM), with --tlscert.
    #[arg(long, value_name = "FILE", requires = "tlscert")]
    tlskey: Option<PathBuf>,

    /// The name buildkitd's certificate must have (default: the address's host).
    #[arg(long, value_name = "NAME")]
    tlsservername: Option<String>,
}

impl TlsArgs {
    /// The TLS client for `addr`, when any option is given.
    pub fn load(&self, addr: &Address) -> anyhow::Result<Option<Tls>> {
        let opts = TlsOptions {
            ca_cert: self.tlscacert.clone(),
            cert: self.tlscert.clone(),
            key: self.tlskey.clone(),
            server_name: self.tlsservername.clone(),
        };
        if !opts.wanted() {
            return Ok(None);
        }
        let Address::Tcp(host_port) = addr else {
            anyhow::bail!("--tlscacert, --tlscert, --tlskey and --tlsservername need a tcp:// address, not {addr}");
        };
        Ok(Some(luakit_client::tls::load(&opts, luakit_client::tls::host_of(host_port))?))
    }
}

/// A failed solve on `tcp://`: over TLS, when buildkitd refused the
/// client (its alert arrives after the handshake, on the first request);
/// without TLS, when the daemon closed the connection (as a TLS port does
/// to plain HTTP/2), says so.
pub fn annotate(e: anyhow::Error, addr: &Address, tls: bool) -> anyhow::Error {
    if !matches!(addr, Address::Tcp(_)) {
        return e;
    }
    let text = format!("{e:#}");
    // What hyper reports when the peer drops the connection (varies with timing).
    let dropped = ["connection closed", "connection reset", "broken pipe", "transport error"];
    let dropped = dropped.iter().any(|d| text.contains(d));
    if tls {
        return match luakit_client::tls::refusal_hint(&text) {
            Some(hint) => e.context(hint),
            // The alert may be lost when the daemon closes at once.
            None if dropped => e.context(format!(
                "{addr} closed the TLS connection: buildkitd may have refused this client's certificate \
                 (give --tlscert and --tlskey, signed by a CA that buildkitd's --tlscacert trusts)"
            )),
            None => e,
        };
    }
    if dropped {
        let hint = format!(
            "{addr} closed the connection: if buildkitd serves TLS there, give --tlscacert \
             (and --tlscert/--tlskey)"
        );
        return e.context(hint);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_plain_connections_hint_at_tls() {
        let tcp = Address::Tcp("127.0.0.1:1".into());
        for why in ["hyper::Error(Canceled, \"connection closed\")", "stream closed because of a broken pipe"] {
            let e = annotate(anyhow::anyhow!("the daemon did not open the session: {why}"), &tcp, false);
            assert!(
                format!("{e:#}").starts_with("tcp://127.0.0.1:1 closed the connection: if buildkitd serves TLS"),
                "{e:#}"
            );
        }
        let unix = Address::Unix("/s".into());
        let e = annotate(anyhow::anyhow!("connection closed"), &unix, false);
        assert_eq!(format!("{e:#}"), "connection closed");
        for why in ["received fatal alert: BadCertificate", "hyper::Error(Canceled, \"connection closed\")"] {
            let e = annotate(anyhow::anyhow!("{why}"), &tcp, true);
            assert!(format!("{e:#}").contains("refused this client's certificate"), "{e:#}");
        }
        let e = annotate(anyhow::anyhow!("no such image"), &tcp, true);
        assert_eq!(format!("{e:#}"), "no such image");
    }
}

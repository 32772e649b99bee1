//! Loading an image into a Docker daemon: `POST /images/load` with a
//! `docker` exporter tarball as the body (what `docker load` sends), over
//! the daemon's unix socket or plain TCP. The answer is a stream of JSON
//! lines: `{"stream": "Loaded image: NAME\n"}` on success, an `error` field
//! on failure.

use std::path::{Path, PathBuf};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::addr::DEFAULT_DOCKER_SOCKET;

/// A Docker daemon's API endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerHost {
    /// A unix socket.
    Unix(PathBuf),
    /// `host:port`, plain HTTP.
    Tcp(String),
}

impl DockerHost {
    /// `DOCKER_HOST` (`unix:///PATH` or `tcp://HOST:PORT`), else
    /// `/var/run/docker.sock`.
    pub fn from_env() -> Result<DockerHost, LoadError> {
        match std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()) {
            Some(h) => DockerHost::parse(&h),
            None => Ok(DockerHost::Unix(PathBuf::from(DEFAULT_DOCKER_SOCKET))),
        }
    }

    /// Parses `unix:///PATH` or `tcp://HOST:PORT`.
    pub fn parse(text: &str) -> Result<DockerHost, LoadError> {
        if let Some(p) = text.strip_prefix("unix://").filter(|p| !p.is_empty()) {
            return Ok(DockerHost::Unix(PathBuf::from(p)));
        }
        if let Some(h) = text.strip_prefix("tcp://").filter(|h| h.contains(':')) {
            return Ok(DockerHost::Tcp(h.trim_end_matches('/').to_string()));
        }
        Err(LoadError(format!("invalid Docker host {text:?} (expected unix:///PATH or tcp://HOST:PORT)")))
    }
}

impl std::fmt::Display for DockerHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DockerHost::Unix(p) => write!(f, "unix://{}", p.display()),
            DockerHost::Tcp(h) => write!(f, "tcp://{h}"),
        }
    }
}

/// A failed load, with what the daemon said.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct LoadError(pub String);

/// Loads the tarball at `archive` into the daemon at `host`; returns the
/// daemon's messages (`Loaded image: NAME`, one a line).
pub async fn load(host: &DockerHost, archive: &Path) -> Result<String, LoadError> {
    let err = |what: &str, e: std::io::Error| LoadError(format!("{what}: {e}"));
    let mut file = tokio::fs::File::open(archive).await.map_err(|e| err(&archive.display().to_string(), e))?;
    let size = file.metadata().await.map_err(|e| err(&archive.display().to_string(), e))?.len();
    let head = format!(
        "POST /images/load?quiet=1 HTTP/1.1\r\nHost: docker\r\nContent-Type: application/x-tar\r\n\
         Content-Length: {size}\r\nConnection: close\r\n\r\n"
    );
    let connect = |e| err(&format!("cannot connect to the Docker daemon at {host}"), e);
    let mut response = Vec::new();
    match host {
        DockerHost::Unix(p) => {
            let mut s = tokio::net::UnixStream::connect(p).await.map_err(connect)?;
            exchange(&mut s, head.as_bytes(), &mut file, &mut response)
                .await
                .map_err(|e| err("POST /images/load", e))?;
        }
        DockerHost::Tcp(h) => {
            let mut s = tokio::net::TcpStream::connect(h.as_str()).await.map_err(connect)?;
            exchange(&mut s, head.as_bytes(), &mut file, &mut response)
                .await
                .map_err(|e| err("POST /images/load", e))?;
        }
    }
    parse_response(&response)
}

async fn exchange<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    s: &mut S,
    head: &[u8],
    body: &mut tokio::fs::File,
    response: &mut Vec<u8>,
) -> std::io::Result<()> {
    s.write_all(head).await?;
    tokio::io::copy(body, s).await?;
    s.flush().await?;
    s.read_to_end(response).await?;
    Ok(())
}

/// The status and messages of the daemon's HTTP answer.
fn parse_response(raw: &[u8]) -> Result<String, LoadError> {
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Err(LoadError("the Docker daemon's answer to POST /images/load has no HTTP head".to_string()));
    };
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut body = raw[split + 4..].to_vec();
    let status_line = head.lines().next().unwrap_or_default().to_string();
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    if chunked {
        body = dechunk(&body);
    }
    let text = String::from_utf8_lossy(&body);
    let ok = status_line.split_whitespace().nth(1) == Some("200");
    let mut messages = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            messages.push(line.trim().to_string());
            continue;
        };
        if let Some(e) = v.get("error").and_then(|e| e.as_str()).or_else(|| v.get("message").and_then(|e| e.as_str())) {
            return Err(LoadError(format!("the Docker daemon could not load the image: {e}")));
        }
        if let Some(s) = v.get("stream").and_then(|s| s.as_str()) {
            messages.push(s.trim().to_string());
        }
    }
    if !ok {
        return Err(LoadError(format!("the Docker daemon answered {status_line:?}: {}", text.trim())));
    }
    Ok(messages.join("\n"))
}

/// The body of a chunked transfer.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&raw[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or_default().trim(), 16).unwrap_or(0);
        raw = &raw[eol + 2..];
        if size == 0 || raw.len() < size {
            break;
        }
        out.extend_from_slice(&raw[..size]);
        raw = raw.get(size + 2..).unwrap_or_default();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_parse() {
        assert_eq!(DockerHost::parse("unix:///d.sock").ok(), Some(DockerHost::Unix("/d.sock".into())));
        assert_eq!(DockerHost::parse("tcp://h:2375").ok(), Some(DockerHost::Tcp("h:2375".into())));
        assert!(DockerHost::parse("ssh://h").is_err());
    }

    #[test]
    fn answers_parse_plain_and_chunked() {
        let plain = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"stream\":\"Loaded image: a:1\\n\"}\n";
        assert_eq!(parse_response(plain).expect("ok"), "Loaded image: a:1");
        let body = "{\"stream\":\"Loaded image ID: sha256:ab\\n\"}\r\n";
        let chunked =
            format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n", body.len());
        assert_eq!(parse_response(chunked.as_bytes()).expect("ok"), "Loaded image ID: sha256:ab");
        let failed = b"HTTP/1.1 200 OK\r\n\r\n{\"errorDetail\":{\"message\":\"bad\"},\"error\":\"unexpected EOF\"}\n";
        let e = parse_response(failed).expect_err("error line").0;
        assert!(e.contains("unexpected EOF"), "{e}");
        let refused = b"HTTP/1.1 500 Internal Server Error\r\n\r\n{\"message\":\"no\"}\n";
        assert!(parse_response(refused).is_err());
        assert!(parse_response(b"garbage").is_err());
    }
}

//! A minimal HTTP/1.1 client over `TcpStream`, for the local registries on
//! loopback: one request per connection (`Connection: close`), a body from
//! memory or streamed from a file, responses with `Content-Length`, chunked
//! or read-to-close bodies. No TLS, no redirects (the registry API needs
//! none: its `Location` headers are read by the caller).

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// A request body.
pub enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    /// Streamed from the file.
    File(&'a Path),
}

pub struct Response {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `method url` (`http://host:port/path?query`) with `headers` and
/// `body`, and reads the whole response.
pub fn request(method: &str, url: &str, headers: &[(&str, &str)], body: Body) -> Result<Response> {
    let rest = url.strip_prefix("http://").with_context(|| format!("not an http:// URL: {url}"))?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut stream = TcpStream::connect(host).with_context(|| format!("cannot connect to {host}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    stream.set_write_timeout(Some(Duration::from_secs(120)))?;
    let len = match &body {
        Body::Empty => 0,
        Body::Bytes(b) => b.len() as u64,
        Body::File(p) => fs::metadata(p).with_context(|| format!("cannot stat {}", p.display()))?.len(),
    };
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nUser-Agent: luakit-xtask\r\n");
    if method != "GET" && method != "HEAD" || len > 0 {
        head.push_str(&format!("Content-Length: {len}\r\n"));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let send = (|| -> std::io::Result<()> {
        stream.write_all(head.as_bytes())?;
        match &body {
            Body::Empty => {}
            Body::Bytes(b) => stream.write_all(b)?,
            Body::File(p) => {
                let mut f = fs::File::open(p)?;
                std::io::copy(&mut f, &mut stream)?;
            }
        }
        stream.flush()
    })();
    send.with_context(|| format!("sending {method} {url}"))?;
    read_response(stream, method == "HEAD").with_context(|| format!("reading the answer to {method} {url}"))
}

fn read_response(stream: TcpStream, head_only: bool) -> Result<Response> {
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line {line:?}"))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            bail!("connection closed in the headers");
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let resp = Response { status, headers, body: Vec::new() };
    if head_only || status == 204 || status == 304 || (100..200).contains(&status) {
        return Ok(resp);
    }
    let mut body = Vec::new();
    if resp.header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            line.clear();
            r.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .with_context(|| format!("bad chunk size {line:?}"))?;
            if size == 0 {
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            r.read_exact(&mut body[start..])?;
            line.clear();
            r.read_line(&mut line)?; // the CRLF after the chunk
        }
    } else if let Some(n) = resp.header("content-length") {
        let n: usize = n.parse().with_context(|| format!("bad Content-Length {n:?}"))?;
        body.resize(n, 0);
        r.read_exact(&mut body)?;
    } else {
        r.read_to_end(&mut body)?;
    }
    Ok(Response { body, ..resp })
}

/// Standard base64 (with padding), for `Authorization: Basic` and docker's
/// `config.json` `auth` field.
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 { T[(n >> 6) as usize & 63] as char } else { '=' });
        out.push(if chunk.len() > 2 { T[n as usize & 63] as char } else { '=' });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_vectors() {
        // RFC 4648, section 10.
        for (raw, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(raw.as_bytes()), enc);
        }
    }

    #[test]
    fn chunked_and_sized_bodies() {
        use std::io::Write;
        use std::net::TcpListener;
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let server = std::thread::spawn(move || {
            for answer in [
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: b\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
                "HTTP/1.1 201 Created\r\nContent-Length: 2\r\nLocation: /x?y=1\r\n\r\nok",
            ] {
                let (mut s, _) = l.accept().expect("accept");
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).expect("read");
                s.write_all(answer.as_bytes()).expect("write");
            }
        });
        let r = request("GET", &format!("http://{addr}/v2/"), &[], Body::Empty).expect("first");
        assert_eq!((r.status, r.text().as_str(), r.header("X-A")), (200, "abcde", Some("b")));
        let r = request("PUT", &format!("http://{addr}/up"), &[], Body::Bytes(b"data")).expect("second");
        assert_eq!((r.status, r.text().as_str(), r.header("location")), (201, "ok", Some("/x?y=1")));
        server.join().expect("server");
    }
}

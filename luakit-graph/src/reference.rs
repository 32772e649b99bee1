//! Image references, checked against the grammar Docker and BuildKit use
//! (the distribution project's `reference` package) and normalised the way
//! `docker pull` does: `alpine` → `docker.io/library/alpine:latest`.
//!
//! ```text
//! reference        := name [ ":" tag ] [ "@" digest ]
//! name             := [ domain "/" ] path
//! domain           := host [ ":" port ]
//! host             := domain-name | "[" IPv6 "]"
//! domain-name      := component ( "." component )*
//! component        := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
//! port             := [0-9]+
//! path             := path-component ( "/" path-component )*
//! path-component   := [a-z0-9]+ ( separator [a-z0-9]+ )*
//! separator        := "." | "_" | "__" | "-"+
//! tag              := [\w][\w.-]{0,127}
//! digest           := algorithm ":" hex     (sha256: 64, sha384: 96, sha512: 128 lowercase hex digits)
//! ```
//!
//! The first `/`-separated part of a name is its domain when it contains a
//! `.` or a `:`, is `localhost`, or has an upper-case letter; otherwise the
//! name is on Docker Hub (`docker.io`, and `library/` for a one-part path).
//! `index.docker.io` is Docker Hub's old name and becomes `docker.io`. The
//! whole name (domain and path) is at most 255 characters.

use crate::GraphError;

/// The longest name (domain and path) a registry accepts.
pub const NAME_MAX: usize = 255;

const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";

/// Normalises a docker reference the way `docker pull` does:
/// `alpine` → `docker.io/library/alpine:latest`, after checking it against
/// the reference grammar.
pub fn normalize_image_ref(reference: &str) -> Result<String, GraphError> {
    let bad = |reason: String| GraphError::InvalidImageRef { reference: reference.to_string(), reason };
    if reference.is_empty() {
        return Err(bad("identifier must not be empty".to_string()));
    }
    if reference.chars().any(char::is_whitespace) {
        return Err(bad("must not contain whitespace".to_string()));
    }
    if reference.len() == 64 && reference.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(bad(
            "a 64-digit hexadecimal string is an image ID, not a reference (name the image, e.g. name@sha256:…)"
                .to_string(),
        ));
    }
    if let Some(c) = reference.chars().find(|c| c.is_control()) {
        return Err(bad(format!("must not contain the control character U+{:04X}", u32::from(c))));
    }
    let (name_tag, digest) = match reference.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (reference, None),
    };
    if let Some(d) = digest {
        check_digest(d).map_err(bad)?;
    }
    // A tag is after the last ':' that follows the last '/'.
    let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match name_tag[last_slash..].rfind(':') {
        Some(i) => (&name_tag[..last_slash + i], Some(&name_tag[last_slash + i + 1..])),
        None => (name_tag, None),
    };
    if let Some(t) = tag
        && !is_tag(t)
    {
        return Err(bad(format!(
            "invalid tag '{t}' (up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-')"
        )));
    }
    if name.is_empty() {
        return Err(bad("repository name must not be empty".to_string()));
    }
    let (domain, path) = split_domain(name);
    if let Some(domain) = domain
        && !is_domain(domain)
    {
        return Err(bad(format!(
            "invalid registry '{domain}' (expected a host name, an IPv4 address or an [IPv6] address, with an optional :port)"
        )));
    }
    let domain = match domain {
        None | Some(LEGACY_DEFAULT_DOMAIN) => DEFAULT_DOMAIN,
        Some(d) => d,
    };
    let path =
        if domain == DEFAULT_DOMAIN && !path.contains('/') { format!("library/{path}") } else { path.to_string() };
    for comp in path.split('/') {
        if !is_path_component(comp) {
            return Err(bad(format!(
                "invalid repository name component '{comp}' (lowercase letters, digits and separators . _ - only)"
            )));
        }
    }
    let full_name = format!("{domain}/{path}");
    if full_name.len() > NAME_MAX {
        return Err(bad(format!(
            "repository name must not be more than {NAME_MAX} characters (got {}: '{}…')",
            full_name.len(),
            full_name.chars().take(40).collect::<String>()
        )));
    }
    let mut out = full_name;
    match (tag, digest) {
        (Some(t), _) => {
            out.push(':');
            out.push_str(t);
        }
        (None, None) => out.push_str(":latest"),
        (None, Some(_)) => {}
    }
    if let Some(d) = digest {
        out.push('@');
        out.push_str(d);
    }
    Ok(out)
}

/// The domain part of a name, if it has one, and the path.
fn split_domain(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first == "localhost"
                || first.contains('.')
                || first.contains(':')
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
    }
}

fn check_digest(d: &str) -> Result<(), String> {
    let Some((algo, hex)) = d.split_once(':') else {
        return Err("digest must look like sha256:<hex>".to_string());
    };
    let ok_len = match algo {
        "sha256" => hex.len() == 64,
        "sha384" => hex.len() == 96,
        "sha512" => hex.len() == 128,
        _ => false,
    };
    if !ok_len || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err("digest must look like sha256:<64 lowercase hex digits>".to_string());
    }
    Ok(())
}

/// `[\w][\w.-]{0,127}`
fn is_tag(t: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    !t.is_empty()
        && t.len() <= 128
        && t.bytes().next().is_some_and(word)
        && t.bytes().all(|b| word(b) || b == b'.' || b == b'-')
}

/// `host [":" port]`
fn is_domain(d: &str) -> bool {
    let (host, port) = if d.starts_with('[') {
        match d.find(']') {
            Some(i) => (&d[..=i], &d[i + 1..]),
            None => return false,
        }
    } else {
        match d.find(':') {
            Some(i) => (&d[..i], &d[i..]),
            None => (d, ""),
        }
    };
    let port_ok = port.is_empty()
        || port.strip_prefix(':').is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    port_ok && (is_ipv6(host) || is_domain_name(host))
}

/// `"[" [a-fA-F0-9:]+ "]"`
fn is_ipv6(h: &str) -> bool {
    h.strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .is_some_and(|inner| !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_hexdigit() || b == b':'))
}

/// `component ("." component)*`
fn is_domain_name(h: &str) -> bool {
    h.split('.').all(|c| {
        let b = c.as_bytes();
        !b.is_empty()
            && b.iter().all(|&x| x.is_ascii_alphanumeric() || x == b'-')
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
    })
}

/// `[a-z0-9]+ (separator [a-z0-9]+)*` with separators `.`, `_`, `__`, `-`+.
fn is_path_component(c: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let b = c.as_bytes();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(r: &str) -> String {
        match normalize_image_ref(r) {
            Ok(n) => panic!("{r:?} should be refused, got {n}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn accepted_like_docker() {
        let cases = [
            ("alpine:3.19", "docker.io/library/alpine:3.19"),
            ("alpine", "docker.io/library/alpine:latest"),
            ("user/app", "docker.io/user/app:latest"),
            ("docker.io/alpine", "docker.io/library/alpine:latest"),
            ("index.docker.io/library/alpine:3", "docker.io/library/alpine:3"),
            ("ghcr.io/o/r:v1", "ghcr.io/o/r:v1"),
            ("localhost/x", "localhost/x:latest"),
            ("localhost:5000/x", "localhost:5000/x:latest"),
            ("127.0.0.1:5000/x:1", "127.0.0.1:5000/x:1"),
            ("[::1]:5000/x", "[::1]:5000/x:latest"),
            ("[2001:db8::1]/team/x:v2", "[2001:db8::1]/team/x:v2"),
            ("Registry.Example/x", "Registry.Example/x:latest"),
            ("a/b__c/d--e/f.g_h:TAG_1.0-x", "docker.io/a/b__c/d--e/f.g_h:TAG_1.0-x"),
            ("x:_", "docker.io/library/x:_"),
        ];
        for (i, o) in cases {
            assert_eq!(normalize_image_ref(i).expect(i), o, "{i}");
        }
        let d = format!("alpine@sha256:{}", "a".repeat(64));
        assert_eq!(normalize_image_ref(&d).expect("digest"), format!("docker.io/library/{d}"));
        let td = format!("alpine:3@sha256:{}", "a".repeat(64));
        assert_eq!(normalize_image_ref(&td).expect("tag and digest"), format!("docker.io/library/{td}"));
        // The longest name that fits: 255 characters with the domain.
        let long = format!("r.io/{}", "a".repeat(NAME_MAX - 5));
        assert_eq!(normalize_image_ref(&long).expect("255"), format!("{long}:latest"));
        assert_eq!(normalize_image_ref(&format!("x:{}", "t".repeat(128))).map(|_| ()), Ok(()));
    }

    #[test]
    fn refused_like_docker() {
        for bad in [
            "",
            "Alpine",
            "alpine:",
            "a b",
            "alpine@sha256:xyz",
            "alpine:-x",
            "alpine:.x",
            "/x",
            "x/",
            "a//b",
            "a..b",
            "a._b",
            "a___b",
            "-a",
            "a-",
            "localhost:/x",
            "[::1/x",
            "[::1]x/y",
            "[]/x",
            "[::1]:/x",
            "host:abc/x",
            "-host.io/x",
            "host-.io/x",
            "ho_st.io/x",
            "a.io..b/x",
            "a:1:2/x",
            "x@md5:abc",
        ] {
            assert!(normalize_image_ref(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(normalize_image_ref(&format!("x:{}", "t".repeat(129))).is_err());
        assert!(normalize_image_ref(&"a".repeat(64)).is_err());
        assert!(normalize_image_ref(&format!("r.io/{}", "a".repeat(NAME_MAX - 4))).is_err());
        // 256 characters of Docker Hub name: 274 with docker.io/library/.
        assert!(normalize_image_ref(&"a".repeat(238)).is_err());
        assert!(normalize_image_ref(&"a".repeat(237)).is_ok());
    }

    #[test]
    fn messages_name_what_is_wrong() {
        assert_eq!(
            err("localhost:/x"),
            "invalid registry 'localhost:' (expected a host name, an IPv4 address or an [IPv6] address, with an optional :port)"
        );
        assert_eq!(
            err("[::1/x"),
            "invalid registry '[::1' (expected a host name, an IPv4 address or an [IPv6] address, with an optional :port)"
        );
        assert_eq!(
            err(&"a".repeat(256)),
            format!(
                "repository name must not be more than 255 characters (got 274: 'docker.io/library/{}…')",
                "a".repeat(22)
            )
        );
        assert_eq!(
            err("a..b"),
            "invalid repository name component 'a..b' (lowercase letters, digits and separators . _ - only)"
        );
        assert_eq!(
            err("x:.y"),
            "invalid tag '.y' (up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-')"
        );
        assert_eq!(err("x\u{7}y"), "must not contain the control character U+0007");
    }
}

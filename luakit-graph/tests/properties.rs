//! Properties of the parsers of luakit-graph, on generated inputs: image
//! references (Docker's grammar) and platform strings never panic, accept
//! what the grammar generates, and normalise idempotently.
//!
//! Fixed seed and a bounded number of cases: reproducible, and seconds long.

use luakit_graph::reference::NAME_MAX;
use luakit_graph::{Platform, normalize_image_ref};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed};

/// A fixed seed and `cases` cases, unless `PROPTEST_RNG_SEED` or
/// `PROPTEST_CASES` ask for others (for a longer run by hand).
fn config(cases: u32) -> Config {
    let default = Config::default();
    Config {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() { default.cases } else { cases },
        rng_seed: if std::env::var_os("PROPTEST_RNG_SEED").is_some() {
            default.rng_seed
        } else {
            RngSeed::Fixed(0x6c75_616b_6974_6772)
        },
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::ChaCha,
        ..default
    }
}

/// `[a-z0-9]+ (separator [a-z0-9]+)*`
fn path_component() -> impl Strategy<Value = String> {
    ("[a-z0-9]{1,6}", prop::collection::vec(("(\\.|_|__|-{1,3})", "[a-z0-9]{1,6}"), 0..3)).prop_map(|(head, rest)| {
        let mut s = head;
        for (sep, part) in rest {
            s.push_str(&sep);
            s.push_str(&part);
        }
        s
    })
}

fn domain() -> impl Strategy<Value = String> {
    let name = prop::collection::vec("[a-zA-Z0-9]([a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?", 1..4).prop_map(|c| c.join("."));
    let host = prop_oneof![
        name.prop_filter("a domain has a '.' or is localhost", |n| n.contains('.')),
        Just("localhost".to_string()),
        "\\[[0-9a-f]{0,4}:[0-9a-f:]{1,10}\\]",
        "(25[0-5]|1?[0-9]{1,2})\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}",
    ];
    (host, prop::option::of(0u16..=65535)).prop_map(|(h, port)| match port {
        Some(p) => format!("{h}:{p}"),
        None => h,
    })
}

/// References the grammar allows. Without a domain, a first path
/// component with a '.' would be read as one, so it has none.
fn reference() -> impl Strategy<Value = String> {
    (
        prop::option::of(domain()),
        prop::collection::vec(path_component(), 1..4),
        prop::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}"),
        prop::option::of("[0-9a-f]{64}"),
    )
        .prop_filter("no domain-like first component", |(domain, path, _, _)| {
            domain.is_some() || path.len() == 1 || !path[0].contains('.')
        })
        .prop_map(|(domain, path, tag, digest)| {
            let mut r = match domain {
                Some(d) => format!("{d}/{}", path.join("/")),
                None => path.join("/"),
            };
            if let Some(t) = tag {
                r.push(':');
                r.push_str(&t);
            }
            if let Some(d) = digest {
                r.push_str("@sha256:");
                r.push_str(&d);
            }
            r
        })
}

#[test]
fn image_references_never_panic_and_normalise_idempotently() {
    proptest!(config(1024), |(text in ".{0,80}")| {
        if let Ok(n) = normalize_image_ref(&text) {
            prop_assert_eq!(normalize_image_ref(&n), Ok(n.clone()), "normalising {} again changed it", n);
        }
    });
    // Text made of the characters references use, to reach deeper than random text.
    proptest!(config(1024), |(text in "[a-zA-Z0-9._:/@\\[\\]-]{0,40}")| {
        if let Ok(n) = normalize_image_ref(&text) {
            prop_assert_eq!(normalize_image_ref(&n), Ok(n.clone()));
            let name = n.split('@').next().unwrap_or_default();
            let name = match name.rfind(':') {
                Some(i) if !name[i..].contains('/') => &name[..i],
                _ => name,
            };
            prop_assert!(name.len() <= NAME_MAX);
        }
    });
}

#[test]
fn references_of_the_grammar_are_accepted() {
    proptest!(config(1024), |(r in reference())| {
        let first = r.split('/').next().unwrap_or_default();
        let has_domain = r.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
        let normalized = normalize_image_ref(&r);
        let hub_len = if has_domain { 0 } else { "docker.io/library/".len() };
        if r.split(['@']).next().unwrap_or_default().len() + hub_len <= NAME_MAX {
            let n = normalized.expect("a reference of the grammar is accepted");
            prop_assert!(n.contains('/'));
            prop_assert_eq!(normalize_image_ref(&n), Ok(n.clone()));
            if !has_domain {
                prop_assert!(n.starts_with("docker.io/"), "{} has no domain: {}", r, n);
            }
        }
    });
}

#[test]
fn upper_case_in_a_repository_path_is_refused() {
    proptest!(config(512), |(path in prop::collection::vec(path_component(), 1..3), at in any::<usize>(), upper in "[A-Z]")| {
        let mut parts = path;
        let n = parts.len();
        let i = at % n;
        parts[i] = format!("{}{upper}", parts[i]);
        let r = format!("docker.io/{}", parts.join("/"));
        prop_assert!(normalize_image_ref(&r).is_err(), "{} was accepted", r);
    });
}

#[test]
fn platform_strings_never_panic_and_round_trip() {
    proptest!(config(2048), |(text in "[a-zA-Z0-9_./ -]{0,24}")| {
        if let Ok(p) = Platform::parse(&text) {
            let again = Platform::parse(&p.to_string()).expect("a parsed platform's text parses");
            prop_assert_eq!(again.normalized(), p.normalized());
            prop_assert_eq!(p.normalized().normalized(), p.normalized());
        }
    });
    let os = prop::sample::select(vec!["linux", "windows", "darwin", "freebsd", "LINUX"]);
    let arch = prop::sample::select(vec![
        "amd64", "arm64", "arm", "386", "ppc64le", "s390x", "riscv64", "x86_64", "aarch64", "i386",
    ]);
    let variant = prop::sample::select(vec!["", "v5", "v6", "v7", "v8", "7"]);
    proptest!(config(512), |(os in os, arch in arch, variant in variant)| {
        let text = if variant.is_empty() { format!("{os}/{arch}") } else { format!("{os}/{arch}/{variant}") };
        let p = Platform::parse(&text).expect("known parts parse");
        prop_assert_eq!(p.os, os.to_ascii_lowercase());
    });
}

//! Properties of the option parsers of luakit-image-config, on generated
//! inputs: durations (Go's `time.ParseDuration` syntax) and `expose` port
//! specs never panic, and give the value the text spells.
//!
//! Fixed seed and a bounded number of cases: reproducible, and seconds long.

use std::time::Duration;

use luakit_image_config::{expand_port_spec, parse_duration};
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
            RngSeed::Fixed(0x6c75_616b_6974_6963)
        },
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::ChaCha,
        ..default
    }
}

const UNITS: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

#[test]
fn durations_never_panic() {
    proptest!(config(1024), |(text in ".{0,24}")| {
        let _ = parse_duration(&text);
    });
    proptest!(config(1024), |(text in "[0-9.+-]{0,6}(ns|us|µs|ms|s|m|h|x|){0,3}[0-9.]{0,4}(s|m|h)?")| {
        let _ = parse_duration(&text);
    });
}

#[test]
fn durations_give_the_value_they_spell() {
    let part = (0u64..100_000, prop::option::of("[0-9]{1,9}"), 0..UNITS.len());
    proptest!(config(512), |(parts in prop::collection::vec(part, 1..4))| {
        let mut text = String::new();
        let mut nanos: u128 = 0;
        for (whole, frac, unit) in &parts {
            let (name, scale) = UNITS[*unit];
            text.push_str(&whole.to_string());
            let mut n = u128::from(*whole) * scale;
            if let Some(f) = frac {
                text.push('.');
                text.push_str(f);
                // Go truncates the fraction to whole nanoseconds.
                let mut place = scale;
                for d in f.bytes() {
                    place /= 10;
                    n += u128::from(d - b'0') * place;
                }
            }
            text.push_str(name);
            nanos += n;
        }
        let got = parse_duration(&text);
        match u64::try_from(nanos) {
            Ok(n) => prop_assert_eq!(got.ok(), Some(Duration::from_nanos(n)), "{}", text),
            Err(_) => prop_assert!(got.is_err()),
        }
    });
}

#[test]
fn port_specs_never_panic_and_expand_to_their_range() {
    proptest!(config(1024), |(text in "[0-9a-zA-Z/-]{0,16}")| {
        if let Ok(ports) = expand_port_spec(&text) {
            prop_assert!(!ports.is_empty() && ports.len() <= 65535);
        }
    });
    let proto = prop::sample::select(vec!["", "/tcp", "/udp", "/sctp", "/UDP"]);
    proptest!(config(256), |(a in 1u16..=65535, len in 0u16..50, proto in proto)| {
        let b = a.saturating_add(len);
        let spec = if a == b { format!("{a}{proto}") } else { format!("{a}-{b}{proto}") };
        let ports = expand_port_spec(&spec).expect("a valid spec");
        prop_assert_eq!(ports.len(), usize::from(b - a) + 1);
        let want = if proto.is_empty() { "tcp".to_string() } else { proto[1..].to_ascii_lowercase() };
        let suffix = format!("/{want}");
        prop_assert!(ports.iter().all(|p| p.ends_with(&suffix)));
    });
}

//! Properties of the flag value parsers, on generated inputs: durations,
//! sizes, `NAME=VALUE` and platforms never panic, and give the value the
//! text spells.
//!
//! A fixed seed and a bounded number of cases: reproducible, and seconds long.

use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed};

use super::{duration, key_value, platforms, size};

/// A fixed seed and `cases` cases, unless `PROPTEST_RNG_SEED` or
/// `PROPTEST_CASES` ask for others (for a longer run by hand).
fn config(cases: u32) -> Config {
    let default = Config::default();
    Config {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() { default.cases } else { cases },
        rng_seed: if std::env::var_os("PROPTEST_RNG_SEED").is_some() {
            default.rng_seed
        } else {
            RngSeed::Fixed(0x6c75_616b_6974_636c)
        },
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::ChaCha,
        ..default
    }
}

#[test]
fn flag_values_never_panic() {
    proptest!(config(1024), |(text in ".{0,16}")| {
        if let Ok(d) = duration(&text) {
            prop_assert!(d > Duration::ZERO);
        }
        if let Ok(n) = size(&text) {
            prop_assert!(n > 0);
        }
        let _ = key_value(&text);
        let _ = platforms(&text);
    });
    proptest!(config(1024), |(text in "[0-9.]{0,12}( )?(ms|s|m|h|k|K|KiB|MiB|GiB|TiB|KB|MB|GB|TB|b|x)?")| {
        let _ = duration(&text);
        let _ = size(&text);
    });
}

#[test]
fn durations_give_the_value_they_spell() {
    let unit = prop::sample::select(vec![("ms", 1u64), ("s", 1000), ("", 1000), ("m", 60_000), ("h", 3_600_000)]);
    proptest!(config(512), |(n in 1u64..1_000_000, (name, millis) in unit)| {
        let text = format!("{n}{name}");
        let want = u128::from(n) * u128::from(millis) * 1_000_000;
        match duration(&text) {
            // Within a microsecond (the value goes through seconds as a float).
            Ok(got) => prop_assert!(got.as_nanos().abs_diff(want) <= 1_000, "{}: {:?}", text, got),
            Err(e) => {
                prop_assert!(want > 1_000_000_000 * 1_000_000_000, "{} refused: {}", text, e);
                prop_assert_eq!(e, format!("duration '{text}' is too large (at most 1000000000s, about 31 years)"));
            }
        }
    });
}

#[test]
fn sizes_give_the_value_they_spell() {
    let unit = prop::sample::select(vec![
        ("", 1u64),
        ("b", 1),
        ("k", 1 << 10),
        ("KiB", 1 << 10),
        ("MiB", 1 << 20),
        ("GiB", 1 << 30),
        ("TiB", 1 << 40),
        ("KB", 1_000),
        ("MB", 1_000_000),
        ("GB", 1_000_000_000),
    ]);
    proptest!(config(512), |(n in 1u64..1_000_000_000, (name, mult) in unit)| {
        let got = size(&format!("{n}{name}"));
        match n.checked_mul(mult).and_then(|b| usize::try_from(b).ok()) {
            Some(bytes) => prop_assert_eq!(got, Ok(bytes)),
            None => prop_assert!(got.is_err()),
        }
    });
}

#[test]
fn key_values_split_at_the_first_equals() {
    proptest!(config(512), |(key in "[A-Za-z_][A-Za-z0-9_]{0,8}", value in ".{0,12}")| {
        prop_assert_eq!(key_value(&format!("{key}={value}")), Ok((key.clone(), value.clone())));
    });
}

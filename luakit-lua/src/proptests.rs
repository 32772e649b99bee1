//! Properties of the option parsers of the `bk` API, on generated inputs:
//! file modes, owners, platforms and durations never panic, accept what
//! they document and give the value the text spells.
//!
//! Fixed seed and a bounded number of cases: reproducible, and seconds long.

use luakit_graph::UserRef;
use mlua::{Lua, Value};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed};

use crate::opts::{mode, owner, platform};

/// A fixed seed and `cases` cases, unless `PROPTEST_RNG_SEED` or
/// `PROPTEST_CASES` ask for others (for a longer run by hand).
fn config(cases: u32) -> Config {
    let default = Config::default();
    Config {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() { default.cases } else { cases },
        rng_seed: if std::env::var_os("PROPTEST_RNG_SEED").is_some() {
            default.rng_seed
        } else {
            RngSeed::Fixed(0x6c75_616b_6974_6f70)
        },
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::ChaCha,
        ..default
    }
}

fn string(lua: &Lua, s: &[u8]) -> Value {
    Value::String(lua.create_string(s).expect("string"))
}

#[test]
fn octal_mode_strings_give_their_value() {
    let lua = Lua::new();
    proptest!(config(512), |(m in 0u32..=0o7777, width in 1usize..=6, prefix in any::<bool>())| {
        let digits = format!("{m:0width$o}");
        let text = if prefix { format!("0o{digits}") } else { digits.clone() };
        if digits.len() <= 6 {
            prop_assert_eq!(mode(&string(&lua, text.as_bytes())), Ok(m), "{}", text);
        }
    });
}

#[test]
fn mode_text_never_panics_and_stays_in_range() {
    let lua = Lua::new();
    proptest!(config(1024), |(bytes in prop::collection::vec(any::<u8>(), 0..10))| {
        if let Ok(m) = mode(&string(&lua, &bytes)) {
            prop_assert!(m <= 0o7777);
        }
    });
    proptest!(config(1024), |(text in "(0o)?[0-9]{0,7}")| {
        match mode(&string(&lua, text.as_bytes())) {
            Ok(m) => {
                let digits = text.strip_prefix("0o").unwrap_or(&text);
                prop_assert_eq!(u32::from_str_radix(digits, 8).ok(), Some(m));
            }
            Err(e) => prop_assert!(e.starts_with("must be"), "{}", e),
        }
    });
}

#[test]
fn integer_modes_that_look_octal_are_refused_with_a_hint() {
    proptest!(config(1024), |(i in -10_000i64..20_000)| {
        let digits = i.to_string();
        let looks_octal = (3..=4).contains(&digits.len()) && digits.chars().all(|c| ('0'..='7').contains(&c));
        match mode(&Value::Integer(i)) {
            Ok(m) => prop_assert!(!looks_octal && (0..=0o7777).contains(&i) && i64::from(m) == i),
            Err(e) if looks_octal => prop_assert!(e.contains("probably meant as octal"), "{}", e),
            Err(e) => prop_assert!(!(0..=0o7777).contains(&i), "{} refused: {}", i, e),
        }
    });
    // Floats with an integral value count as integers.
    proptest!(config(256), |(i in 0i64..5000)| {
        let f = i as f64;
        prop_assert_eq!(mode(&Value::Number(f)), mode(&Value::Integer(i)));
    });
}

#[test]
fn owners_and_platforms_never_panic() {
    let lua = Lua::new();
    proptest!(config(1024), |(bytes in prop::collection::vec(any::<u8>(), 0..16))| {
        let v = string(&lua, &bytes);
        let _ = owner(&v);
        let _ = platform(&v);
    });
    proptest!(config(512), |(user in "[a-z0-9]{1,8}", group in prop::option::of("[a-z0-9]{1,8}"))| {
        let text = match &group {
            Some(g) => format!("{user}:{g}"),
            None => user.clone(),
        };
        let chown = owner(&string(&lua, text.as_bytes())).expect("user[:group] parses");
        // A number is an id, anything else a name.
        let expect = |s: &str| match s.parse::<u32>() {
            Ok(id) => UserRef::Id(id),
            Err(_) => UserRef::Name(s.to_string()),
        };
        prop_assert_eq!(chown.user, Some(expect(&user)));
        prop_assert_eq!(chown.group, group.as_deref().map(expect));
    });
}

#[test]
fn durations_never_panic() {
    proptest!(config(1024), |(text in ".{0,16}")| {
        let _ = crate::api::parse_duration(&text);
    });
}

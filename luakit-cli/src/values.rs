//! Parsers for flag values (`--timeout 30s`, `--memory-limit 512MiB`,
//! `--arg K=V`, `--platform linux/arm64`), used as clap value parsers so that
//! a bad value is a usage error (exit 2).

use std::time::Duration;

use luakit::Platform;

/// The longest `--timeout` accepted (about 31 years): far beyond any build,
/// and small enough that a deadline computed from it never overflows.
const MAX_DURATION_SECS: f64 = 1e9;

/// `500ms`, `30s`, `2m`, `1h`, or a bare number of seconds; decimals allowed.
pub fn duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("'{s}' is not a duration (examples: 500ms, 30s, 2m, 1h)"))?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        other => return Err(format!("unknown duration unit '{other}' in '{s}' (use ms, s, m or h)")),
    };
    if !secs.is_finite() || secs > MAX_DURATION_SECS {
        return Err(format!("duration '{s}' is too large (at most {MAX_DURATION_SECS:.0}s, about 31 years)"));
    }
    if secs <= 0.0 || Duration::from_secs_f64(secs).is_zero() {
        return Err(format!("duration '{s}' must be greater than zero"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// `1000000`, `64KiB`, `512MiB`, `1.5GiB` (binary units; `K`/`M`/`G`/`T`
/// mean the same), or `KB`/`MB`/`GB`/`TB` (decimal); case does not matter
/// and the number may have a fractional part.
pub fn size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let not_a_size = || format!("'{s}' is not a size (examples: 1000000, 64KiB, 512MiB, 1.5GiB)");
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => {
            return Err(format!(
                "unknown size unit in '{s}' (use KiB, MiB, GiB, TiB, KB, MB, GB, TB, K, M, G, T or plain bytes)"
            ));
        }
    };
    let too_large = || format!("size '{s}' is too large");
    let bytes: u64 = match num.parse::<u64>() {
        Ok(n) => n.checked_mul(mult).ok_or_else(too_large)?,
        Err(_) => {
            let n: f64 = num.parse().map_err(|_| not_a_size())?;
            let b = (n * mult as f64).floor();
            // 2^64 as f64: anything at or above it does not fit.
            if !b.is_finite() || b >= 18_446_744_073_709_551_616.0 {
                return Err(too_large());
            }
            b as u64
        }
    };
    let bytes = usize::try_from(bytes).map_err(|_| too_large())?;
    if bytes == 0 {
        return Err(format!("size '{s}' must be at least one byte"));
    }
    Ok(bytes)
}

/// `30s`, `1.5s`, `250ms` (as the evaluation's own messages show durations).
pub fn format_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d.as_millis() < 1000 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// `512 MiB`, `64 KiB`, `1000 bytes` (as the evaluator shows its limit).
pub use luakit::lua::format_bytes;

/// `NAME=VALUE` (the value may be empty and may contain `=`).
pub fn key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("'{s}' is not NAME=VALUE")),
    }
}

/// The platforms of a comma-separated `--platform` list, in order,
/// normalised, without duplicates (never empty).
#[derive(Debug, Clone, PartialEq)]
pub struct Platforms(pub Vec<Platform>);

/// Parses `--platform linux/amd64,linux/arm64`.
pub fn platforms(s: &str) -> Result<Platforms, String> {
    let list = luakit::parse_platforms(s).map_err(|e| e.to_string())?;
    if list.is_empty() {
        return Err("no platform given".to_string());
    }
    Ok(Platforms(list))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(duration("1.5s"), Ok(Duration::from_millis(1500)));
        for bad in ["", "s", "0s", "10x", "-1s", "1e9999s", ".", "0.0000000001ms"] {
            assert!(duration(bad).is_err(), "{bad:?}");
        }
        // Too large is not "must be greater than zero".
        for big in ["1000000h", "99999999999999999999999s", "1e400"] {
            let e = duration(big).expect_err(big);
            assert!(!e.contains("greater than zero"), "{big}: {e}");
        }
        assert!(duration("1000000h").is_err_and(|e| e.contains("too large")));
        assert_eq!(duration("277777h"), Ok(Duration::from_secs(277_777 * 3600)));
    }

    #[test]
    fn sizes() {
        assert_eq!(size("512MiB"), Ok(512 << 20));
        assert_eq!(size("1GiB"), Ok(1 << 30));
        assert_eq!(size("1000000"), Ok(1_000_000));
        assert_eq!(size("64k"), Ok(64 << 10));
        assert_eq!(size("2MB"), Ok(2_000_000));
        assert_eq!(size("1.5GiB"), Ok(3 << 29));
        assert_eq!(size("0.5k"), Ok(512));
        assert_eq!(size("1.5 MB"), Ok(1_500_000));
        assert_eq!(size("2g"), Ok(2 << 30));
        assert_eq!(size("3KB"), Ok(3_000));
        assert_eq!(size("1kib"), Ok(1024));
        for bad in ["", "MiB", "0", "0.1", ".", ".MiB", "1..5GiB", "12 parsecs", "99999999999999999999", "1e3"] {
            assert!(size(bad).is_err(), "{bad:?}");
        }
        assert!(size("99999999999999999999TiB").is_err_and(|e| e.contains("too large")));
        assert!(size("9999999999.5TiB").is_err_and(|e| e.contains("too large")));
    }

    #[test]
    fn key_values() {
        assert_eq!(key_value("A=b=c"), Ok(("A".into(), "b=c".into())));
        assert_eq!(key_value("A="), Ok(("A".into(), String::new())));
        assert!(key_value("=x").is_err());
        assert!(key_value("noequals").is_err());
    }

    #[test]
    fn platform_lists() {
        assert_eq!(platforms("linux/arm64/v8").map(|p| p.0[0].to_string()), Ok("linux/arm64".to_string()));
        assert_eq!(platforms("linux/amd64,linux/arm/v7").map(|p| p.0.len()), Ok(2));
        assert!(platforms(",").is_err());
        assert!(platforms("linux").is_err());
    }
}

#[cfg(test)]
#[path = "values_proptests.rs"]
mod proptests;

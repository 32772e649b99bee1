//! Parsers for flag values (`--timeout 30s`, `--memory-limit 512MiB`,
//! `--arg K=V`, `--platform linux/arm64`), used as clap value parsers so that
//! a bad value is a usage error (exit 2).

use std::time::Duration;

use luakit::Platform;

/// `500ms`, `30s`, `2m`, `1h`, or a bare number of seconds.
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
    if !(secs > 0.0 && secs.is_finite()) {
        return Err(format!("duration '{s}' must be greater than zero"));
    }
    if secs > 1e9 {
        return Err(format!("duration '{s}' is too long (at most 1000000000s)"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// `1000000`, `64KiB`, `512MiB`, `1GiB` (binary units; `K`/`M`/`G` mean the
/// same), or `KB`/`MB`/`GB` (decimal).
pub fn size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("'{s}' is not a size (examples: 1000000, 64KiB, 512MiB, 1GiB)"))?;
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
        _ => return Err(format!("unknown size unit in '{s}' (use KiB, MiB, GiB, KB, MB, GB or plain bytes)")),
    };
    let bytes =
        n.checked_mul(mult).and_then(|b| usize::try_from(b).ok()).ok_or_else(|| format!("size '{s}' is too large"))?;
    if bytes == 0 {
        return Err(format!("size '{s}' must be greater than zero"));
    }
    Ok(bytes)
}

/// `NAME=VALUE` (the value may be empty and may contain `=`).
pub fn key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("'{s}' is not NAME=VALUE")),
    }
}

/// `os/arch[/variant]`, normalised as BuildKit does (`linux/arm64/v8` → `linux/arm64`).
pub fn platform(s: &str) -> Result<Platform, String> {
    Platform::parse(s).map(|p| p.normalized()).map_err(|e| e.to_string())
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
        for bad in ["", "s", "0s", "10x", "-1s", "1e9999s"] {
            assert!(duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(size("512MiB"), Ok(512 << 20));
        assert_eq!(size("1GiB"), Ok(1 << 30));
        assert_eq!(size("1000000"), Ok(1_000_000));
        assert_eq!(size("64k"), Ok(64 << 10));
        assert_eq!(size("2MB"), Ok(2_000_000));
        for bad in ["", "MiB", "0", "1.5GiB", "12 parsecs", "99999999999999999999"] {
            assert!(size(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn key_values() {
        assert_eq!(key_value("A=b=c"), Ok(("A".into(), "b=c".into())));
        assert_eq!(key_value("A="), Ok(("A".into(), String::new())));
        assert!(key_value("=x").is_err());
        assert!(key_value("noequals").is_err());
    }

    #[test]
    fn platforms() {
        assert_eq!(platform("linux/arm64/v8").map(|p| p.to_string()), Ok("linux/arm64".to_string()));
        assert!(platform("linux").is_err());
    }
}

#[cfg(test)]
#[path = "values_proptests.rs"]
mod proptests;

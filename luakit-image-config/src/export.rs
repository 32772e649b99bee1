//! `bk.export` options and how they turn into an image config.
//!
//! [`build_config`] follows the Dockerfile frontend (moby/buildkit
//! `dockerfile2llb`): `FROM` clones the base config (dropping `created`,
//! the consumed `ONBUILD` triggers and metadata that described the base's
//! own build), the exported state's env, workdir and user replace the base's,
//! and each option then acts as the matching Dockerfile instruction and adds
//! a config-only (`empty_layer`) history entry, as the Dockerfile frontend's
//! `commitToHistory` does.

use std::collections::BTreeMap;
use std::time::Duration;

pub use luakit_graph::DEFAULT_PATH;

use crate::{ConfigError, HealthcheckConfig, History, ImageConfig};

/// The `comment` of the history entries luakit adds (the Dockerfile
/// frontend writes `buildkit.dockerfile.v0`).
pub const HISTORY_COMMENT: &str = "buildkit.luakit.v0";

/// Top-level keys of a base config that describe how the base itself was
/// built (or BuildKit metadata attached to it) and so are not inherited. The
/// Dockerfile frontend drops them too, by not modelling them.
const NOT_INHERITED: &[&str] =
    &["container", "container_config", "docker_version", "moby.buildkit.buildinfo.v1", "moby.buildkit.cache.v0"];

/// What `bk.export(state, opts)` says about the image config. Every field
/// left at its default leaves the inherited value alone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportOptions {
    /// `ENTRYPOINT`. Setting it without `cmd` clears an inherited `Cmd`, as
    /// Docker does; an empty list clears the entrypoint.
    pub entrypoint: Option<Vec<String>>,
    /// `CMD`; an empty list clears it.
    pub cmd: Option<Vec<String>>,
    /// `ENV`, applied in order: an existing key is replaced in place, a new
    /// one appended.
    pub env: Vec<(String, String)>,
    /// `WORKDIR`; a relative path is resolved against the current one.
    pub workdir: Option<String>,
    /// `USER` (`name`, `uid`, `name:group`, `uid:gid`).
    pub user: Option<String>,
    /// `EXPOSE`: `8080`, `8080/tcp`, `53/udp`, `8000-8010/tcp`; a port
    /// without protocol is TCP.
    pub expose: Vec<String>,
    /// `LABEL`: added to the base image's labels, replacing same-named ones.
    pub labels: BTreeMap<String, String>,
    /// `VOLUME`: mount points added to the base image's.
    pub volumes: Vec<String>,
    /// `STOPSIGNAL`: a name (`SIGTERM`, `TERM`) or number.
    pub stop_signal: Option<String>,
    /// `HEALTHCHECK`: replaces the inherited one as a whole.
    pub healthcheck: Option<Healthcheck>,
    /// The config's `os`; default: the target platform's.
    pub os: Option<String>,
    /// The config's `architecture`; default: the target platform's.
    pub arch: Option<String>,
    /// The config's `variant`; default: the target platform's (or none, when
    /// `arch` names another architecture).
    pub variant: Option<String>,
}

impl ExportOptions {
    /// Checks the options the way [`build_config`] would, without building
    /// a config: the same checks in the same order, so that `bk.export` can
    /// point at the script line of a mistake and the config is still built
    /// only once, after evaluation. `platform` is the exported state's
    /// `(os, arch, variant)`. No base config or state can make options that
    /// pass this check fail [`build_config`].
    pub fn validate(&self, platform: (&str, &str, &str)) -> Result<(), ConfigError> {
        resolve_platform(platform, self)?;
        for (key, value) in &self.env {
            check_env(key, value)?;
        }
        if self.workdir.as_deref() == Some("") {
            return Err(ConfigError::EmptyWorkdir);
        }
        if self.labels.keys().any(String::is_empty) {
            return Err(ConfigError::EmptyLabelKey);
        }
        for spec in &self.expose {
            expand_port_spec(spec)?;
        }
        if self.volumes.iter().any(String::is_empty) {
            return Err(ConfigError::EmptyVolume);
        }
        if let Some(signal) = &self.stop_signal {
            check_signal(signal)?;
        }
        if let Some(hc) = &self.healthcheck {
            healthcheck_config(hc)?;
        }
        Ok(())
    }
}

/// A `HEALTHCHECK`, as `bk.export{healthcheck = …}` gives it.
///
/// Durations are [`Duration`]s (the Lua adapter reads `"30s"` with
/// [`parse_duration`]); `None` or zero leaves the daemon's default
/// (interval 30 s, timeout 30 s, start period 0 s, 3 retries), exactly like
/// an omitted Dockerfile flag. A non-zero duration must be at least 1 ms,
/// as Docker requires.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Healthcheck {
    /// `["CMD", arg…]` (run directly), `["CMD-SHELL", command]` (run with the
    /// shell) or `["NONE"]` (disable the base image's healthcheck).
    pub test: Vec<String>,
    /// How long the daemon waits between two checks; `None` leaves its
    /// default (30 s).
    pub interval: Option<Duration>,
    /// Time after which a check counts as failed.
    pub timeout: Option<Duration>,
    /// Start-up time during which failures do not count.
    pub start_period: Option<Duration>,
    /// Time between checks during the start period (Docker 25+).
    pub start_interval: Option<Duration>,
    /// Consecutive failures before the container is unhealthy.
    pub retries: Option<u32>,
}

/// The process defaults of the exported state, as the graph resolved them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StateDefaults {
    /// `KEY=value` entries in order. When base configs are resolved this
    /// already holds the base image's env, so it replaces the base's `Env`.
    pub env: Vec<String>,
    /// Working directory (absolute; `/` or empty when never set).
    pub workdir: String,
    /// User; empty when never set.
    pub user: String,
}

/// Computes the image config of `bk.export(state, opts)`, as `docker build`
/// of the equivalent Dockerfile would.
///
/// 1. `FROM`: a clone of `base` (or an empty config), without `created`,
///    `ONBUILD` triggers (a Dockerfile build runs and consumes them; luakit
///    cannot run them) and the keys that described the base's own build.
/// 2. The exported state: its env replaces the base's `Env` (keys the base
///    had keep their place, as after a Dockerfile `ENV`; a `PATH` is added
///    when there is none, as the Dockerfile frontend does for every stage);
///    its workdir replaces `WorkingDir` unless it is `/` and the base
///    had none; a non-empty user replaces `User`.
/// 3. The options, in the order `ENV`, `WORKDIR`, `USER`, `LABEL`, `EXPOSE`,
///    `VOLUME`, `STOPSIGNAL`, `HEALTHCHECK`, `ENTRYPOINT`, `CMD`, each adding
///    one `empty_layer` history entry with comment [`HISTORY_COMMENT`].
/// 4. `os`/`architecture`/`variant` from the options, else from `platform`
///    (`(os, arch, variant)`, the target platform).
///
/// `rootfs` and the base's history are kept; BuildKit's exporter replaces
/// the diff ids and appends history entries for the layers the build added.
pub fn build_config(
    base: Option<&ImageConfig>,
    state: &StateDefaults,
    platform: (&str, &str, &str),
    opts: &ExportOptions,
) -> Result<ImageConfig, ConfigError> {
    let mut img = base.cloned().unwrap_or_default();
    img.created = None;
    img.config.on_build.clear();
    for key in NOT_INHERITED {
        img.extra.remove(*key);
    }

    let (os, arch, variant) = resolve_platform(platform, opts)?;

    // The exported state.
    img.config.env = merge_state_env(&img.config.env, &state.env);
    if os != "windows" && !img.config.env.iter().any(|e| env_key(e) == "PATH") {
        img.config.env.push(format!("PATH={DEFAULT_PATH}"));
    }
    if !state.workdir.is_empty() && (state.workdir != "/" || !img.config.working_dir.is_empty()) {
        img.config.working_dir = state.workdir.clone();
    }
    if !state.user.is_empty() {
        img.config.user = state.user.clone();
    }

    // The options, as Dockerfile instructions.
    let mut steps = Vec::new();
    if !opts.env.is_empty() {
        let mut step = String::from("ENV");
        for (key, value) in &opts.env {
            check_env(key, value)?;
            add_env(&mut img.config.env, key, value);
            step.push_str(&format!(" {key}={value}"));
        }
        steps.push(step);
    }
    if let Some(dir) = &opts.workdir {
        if dir.is_empty() {
            return Err(ConfigError::EmptyWorkdir);
        }
        img.config.working_dir = resolve_workdir(&img.config.working_dir, dir);
        steps.push(format!("WORKDIR {}", img.config.working_dir));
    }
    if let Some(user) = &opts.user {
        img.config.user = user.clone();
        steps.push(format!("USER {user}"));
    }
    if !opts.labels.is_empty() {
        let mut step = String::from("LABEL");
        for (key, value) in &opts.labels {
            if key.is_empty() {
                return Err(ConfigError::EmptyLabelKey);
            }
            img.config.labels.insert(key.clone(), value.clone());
            step.push_str(&format!(" {key}={value}"));
        }
        steps.push(step);
    }
    if !opts.expose.is_empty() {
        let mut step = String::from("EXPOSE");
        for spec in &opts.expose {
            for port in expand_port_spec(spec)? {
                step.push(' ');
                step.push_str(&port);
                img.config.exposed_ports.insert(port);
            }
        }
        steps.push(step);
    }
    if !opts.volumes.is_empty() {
        for volume in &opts.volumes {
            if volume.is_empty() {
                return Err(ConfigError::EmptyVolume);
            }
            img.config.volumes.insert(volume.clone());
        }
        steps.push(format!("VOLUME {}", json_list(&opts.volumes)));
    }
    if let Some(signal) = &opts.stop_signal {
        check_signal(signal)?;
        img.config.stop_signal = signal.clone();
        steps.push(format!("STOPSIGNAL {signal}"));
    }
    if let Some(hc) = &opts.healthcheck {
        let config = healthcheck_config(hc)?;
        steps.push(healthcheck_step(&config));
        img.config.healthcheck = Some(config);
    }
    if let Some(entrypoint) = &opts.entrypoint {
        img.config.entrypoint = entrypoint.clone();
        if opts.cmd.is_none() {
            img.config.cmd.clear();
        }
        steps.push(format!("ENTRYPOINT {}", json_list(entrypoint)));
    }
    if let Some(cmd) = &opts.cmd {
        img.config.cmd = cmd.clone();
        steps.push(format!("CMD {}", json_list(cmd)));
    }

    // The platform. OS version and features belong to the base's platform.
    let base_platform = base.map(|b| (b.os.as_str(), b.architecture.as_str()));
    if base_platform.is_some_and(|(bos, barch)| bos != os || barch != arch) {
        img.extra.remove("os.version");
        img.extra.remove("os.features");
    }
    img.os = os;
    img.architecture = arch;
    img.variant = variant;

    img.history.extend(steps.into_iter().map(|created_by| History {
        created_by,
        comment: HISTORY_COMMENT.to_string(),
        empty_layer: true,
        ..History::default()
    }));
    Ok(img)
}

/// Expands one `expose` entry into normalised `port/proto` keys:
/// `"8080"` → `["8080/tcp"]`, `"53/UDP"` → `["53/udp"]`,
/// `"8000-8002"` → `["8000/tcp", "8001/tcp", "8002/tcp"]` (as Docker's
/// `EXPOSE` expands ranges). Ports are 1–65535; protocols `tcp`, `udp`,
/// `sctp`.
pub fn expand_port_spec(spec: &str) -> Result<Vec<String>, ConfigError> {
    let bad = |reason| ConfigError::InvalidPort { port: spec.to_string(), reason };
    let (ports, proto) = match spec.split_once('/') {
        Some((ports, proto)) => (ports, proto.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(bad("the protocol must be tcp, udp or sctp"));
    }
    if ports.is_empty() {
        return Err(bad("expected a port number such as 8080 or 8080/tcp"));
    }
    let (start, end) = match ports.split_once('-') {
        Some((a, b)) => (parse_port(a).map_err(bad)?, parse_port(b).map_err(bad)?),
        None => {
            let p = parse_port(ports).map_err(bad)?;
            (p, p)
        }
    };
    if start > end {
        return Err(bad("the range's first port is greater than its last"));
    }
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

fn parse_port(s: &str) -> Result<u16, &'static str> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err("expected a port number such as 8080 or 8080/tcp");
    }
    match s.parse::<u32>() {
        Ok(p @ 1..=65535) => Ok(p as u16),
        _ => Err("a port must be between 1 and 65535"),
    }
}

fn resolve_platform(
    platform: (&str, &str, &str),
    opts: &ExportOptions,
) -> Result<(String, String, String), ConfigError> {
    let (pos, parch, pvariant) = platform;
    let os = opts.os.as_deref().unwrap_or(pos).to_string();
    let arch = opts.arch.as_deref().unwrap_or(parch).to_string();
    let variant = match &opts.variant {
        Some(v) => v.clone(),
        None if arch == parch => pvariant.to_string(),
        None => String::new(),
    };
    if os.is_empty() {
        return Err(ConfigError::EmptyPlatform { field: "os" });
    }
    if arch.is_empty() {
        return Err(ConfigError::EmptyPlatform { field: "arch" });
    }
    Ok((os, arch, variant))
}

fn env_key(entry: &str) -> &str {
    entry.split_once('=').map_or(entry, |(k, _)| k)
}

fn check_env(key: &str, value: &str) -> Result<(), ConfigError> {
    let bad = |reason| ConfigError::InvalidEnvKey { key: key.to_string(), reason };
    if key.is_empty() {
        return Err(bad("must not be empty"));
    }
    if key.contains('=') {
        return Err(bad("must not contain '='"));
    }
    if key.contains('\0') {
        return Err(bad("must not contain a NUL byte"));
    }
    if value.contains('\0') {
        return Err(ConfigError::InvalidEnvValue { key: key.to_string() });
    }
    Ok(())
}

/// The state's env is authoritative: the result holds exactly its entries.
/// They keep the base's order where the base had the key (as a Dockerfile's
/// `ENV` replaces in place), and come after in the state's order otherwise
/// (the state, like `client/llb`, moves a re-set key to the end).
fn merge_state_env(base: &[String], state: &[String]) -> Vec<String> {
    let mut latest: BTreeMap<&str, &String> = BTreeMap::new();
    for entry in state {
        latest.insert(env_key(entry), entry);
    }
    let mut out: Vec<String> = Vec::with_capacity(state.len());
    let mut placed: std::collections::BTreeSet<&str> = std::collections::BTreeSet::new();
    for entry in base {
        let key = env_key(entry);
        match latest.get(key) {
            Some(value) if placed.insert(key) => out.push((*value).clone()),
            _ => {}
        }
    }
    for entry in state {
        let key = env_key(entry);
        if placed.insert(key) {
            out.push(latest[key].clone());
        }
    }
    out
}

/// Dockerfile `ENV` on the image config: replace the key in place, or append.
fn add_env(env: &mut Vec<String>, key: &str, value: &str) {
    let entry = format!("{key}={value}");
    match env.iter_mut().find(|e| env_key(e) == key) {
        Some(existing) => *existing = entry,
        None => env.push(entry),
    }
}

/// Dockerfile `WORKDIR`: relative paths join the current directory; the
/// result is absolute and clean (no `.`, `..`, repeated or trailing `/`).
fn resolve_workdir(current: &str, requested: &str) -> String {
    let joined = if requested.starts_with('/') { requested.to_string() } else { format!("{current}/{requested}") };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Linux signal names as moby's `signal.ParseSignal` knows them (without
/// the `SIG` prefix).
const SIGNALS: &[&str] = &[
    "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL", "PIPE", "POLL",
    "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP", "TTIN", "TTOU", "URG", "USR1",
    "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ", "RTMIN", "RTMAX",
];

fn check_signal(signal: &str) -> Result<(), ConfigError> {
    let bad = || ConfigError::InvalidStopSignal { signal: signal.to_string() };
    if !signal.is_empty() && signal.bytes().all(|b| b.is_ascii_digit()) {
        return match signal.parse::<u8>() {
            Ok(1..=255) => Ok(()),
            _ => Err(bad()),
        };
    }
    let upper = signal.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let realtime = |prefix: &str, max: u8| {
        name.strip_prefix(prefix).and_then(|n| n.parse::<u8>().ok()).is_some_and(|n| (1..=max).contains(&n))
    };
    if SIGNALS.contains(&name) || realtime("RTMIN+", 15) || realtime("RTMAX-", 14) { Ok(()) } else { Err(bad()) }
}

fn healthcheck_config(hc: &Healthcheck) -> Result<HealthcheckConfig, ConfigError> {
    let bad = |reason| ConfigError::InvalidHealthcheck { reason };
    match hc.test.first().map(String::as_str) {
        None => {
            return Err(bad("test must not be empty: use {\"CMD\", …}, {\"CMD-SHELL\", \"…\"} or {\"NONE\"}"));
        }
        Some("NONE") => {
            let has_options = hc.interval.is_some()
                || hc.timeout.is_some()
                || hc.start_period.is_some()
                || hc.start_interval.is_some()
                || hc.retries.is_some();
            if hc.test.len() > 1 || has_options {
                return Err(bad("NONE disables the healthcheck and takes no command or other options"));
            }
        }
        Some("CMD") if hc.test.len() < 2 => return Err(bad("CMD needs a command after it")),
        Some("CMD-SHELL") if hc.test.len() != 2 => {
            return Err(bad("CMD-SHELL takes exactly one shell command string after it"));
        }
        Some("CMD" | "CMD-SHELL") => {}
        Some(_) => {
            return Err(bad(
                "test must start with \"CMD\" (run the arguments directly), \"CMD-SHELL\" (run one string with the shell) or \"NONE\"",
            ));
        }
    }
    Ok(HealthcheckConfig {
        test: hc.test.clone(),
        interval: nanos("interval", hc.interval)?,
        timeout: nanos("timeout", hc.timeout)?,
        start_period: nanos("start_period", hc.start_period)?,
        start_interval: nanos("start_interval", hc.start_interval)?,
        retries: i64::from(hc.retries.unwrap_or(0)),
        extra: BTreeMap::new(),
    })
}

/// Parses a duration as Go's `time.ParseDuration` (and so Docker's
/// `HEALTHCHECK --interval=…`) reads it: one or more decimal numbers, each
/// with a unit `ns`, `us` (or `µs`), `ms`, `s`, `m` or `h`, as in `30s`,
/// `1m30s`, `1.5h`, `500ms`; `0` alone is zero. Negative durations are
/// refused.
pub fn parse_duration(text: &str) -> Result<Duration, ConfigError> {
    let bad = || ConfigError::InvalidDurationText { text: text.to_string() };
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        let unit_len = after.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let scale: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(bad()),
        };
        let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && frac.is_empty() || frac.contains('.') {
            return Err(bad());
        }
        let whole: u128 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| bad())? };
        let mut nanos = whole.checked_mul(scale).ok_or_else(bad)?;
        // The fraction, truncated to whole nanoseconds as Go does.
        let mut place = scale;
        for digit in frac.bytes() {
            place /= 10;
            nanos += u128::from(digit - b'0') * place;
        }
        total = total.checked_add(nanos).ok_or_else(bad)?;
        rest = after;
    }
    let total = u64::try_from(total).map_err(|_| bad())?;
    Ok(Duration::from_nanos(total))
}

fn nanos(field: &'static str, d: Option<Duration>) -> Result<i64, ConfigError> {
    let Some(d) = d else { return Ok(0) };
    if !d.is_zero() && d < Duration::from_millis(1) {
        return Err(ConfigError::InvalidDuration { field, reason: "must be at least 1ms" });
    }
    i64::try_from(d.as_nanos())
        .map_err(|_| ConfigError::InvalidDuration { field, reason: "is too long (at most about 292 years)" })
}

fn healthcheck_step(hc: &HealthcheckConfig) -> String {
    let mut step = format!("HEALTHCHECK {}", json_list(&hc.test));
    for (name, ns) in [
        ("interval", hc.interval),
        ("timeout", hc.timeout),
        ("start-period", hc.start_period),
        ("start-interval", hc.start_interval),
    ] {
        if ns != 0 {
            step.push_str(&format!(" --{name}={}", format_nanos(ns)));
        }
    }
    if hc.retries != 0 {
        step.push_str(&format!(" --retries={}", hc.retries));
    }
    step
}

fn format_nanos(ns: i64) -> String {
    if ns % 1_000_000_000 == 0 {
        format!("{}s", ns / 1_000_000_000)
    } else if ns % 1_000_000 == 0 {
        format!("{}ms", ns / 1_000_000)
    } else {
        format!("{ns}ns")
    }
}

fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).expect("a list of strings always serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workdir_resolves_like_dockerfile() {
        assert_eq!(resolve_workdir("/", "app"), "/app");
        assert_eq!(resolve_workdir("/app", "src/"), "/app/src");
        assert_eq!(resolve_workdir("/app", "../srv/./x//"), "/srv/x");
        assert_eq!(resolve_workdir("/app", "/"), "/");
        assert_eq!(resolve_workdir("", "app"), "/app");
        assert_eq!(resolve_workdir("/a", "/b/../../c"), "/c");
    }

    #[test]
    fn env_replaces_in_place() {
        let mut env = vec!["A=1".to_string(), "B=2".to_string(), "C".to_string()];
        add_env(&mut env, "A", "x");
        add_env(&mut env, "C", "3");
        add_env(&mut env, "D", "4");
        assert_eq!(env, ["A=x", "B=2", "C=3", "D=4"]);
    }

    #[test]
    fn state_env_keeps_base_order_and_is_authoritative() {
        let v = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        // client/llb moved the re-set LANG to the end; a Dockerfile keeps its place.
        let merged = merge_state_env(&v(&["PATH=/bin", "LANG=C", "GPG=x"]), &v(&["PATH=/bin", "GPG=x", "LANG=en"]));
        assert_eq!(merged, ["PATH=/bin", "LANG=en", "GPG=x"]);
        // Keys only in the base go; keys only in the state follow in its order.
        let merged = merge_state_env(&v(&["OLD=1", "PATH=/bin"]), &v(&["B=2", "PATH=/usr/bin", "A=1"]));
        assert_eq!(merged, ["PATH=/usr/bin", "B=2", "A=1"]);
    }

    #[test]
    fn signals() {
        for ok in ["SIGTERM", "term", "SIGKILL", "9", "255", "SIGRTMIN+3", "RTMAX-14", "SIGWINCH"] {
            assert!(check_signal(ok).is_ok(), "{ok}");
        }
        for bad in ["", "0", "256", "SIGFOO", "RTMIN+16", "RTMAX-0", "-1", "SIG"] {
            assert!(check_signal(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn go_durations() {
        let ok = |s: &str| parse_duration(s).ok();
        assert_eq!(ok("30s"), Some(Duration::from_secs(30)));
        assert_eq!(ok("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(ok("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(ok("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(ok("2us"), Some(Duration::from_micros(2)));
        assert_eq!(ok("2µs"), Some(Duration::from_micros(2)));
        assert_eq!(ok(".5s"), Some(Duration::from_millis(500)));
        assert_eq!(ok("1.s"), Some(Duration::from_secs(1)));
        assert_eq!(ok("1.0000000019s"), Some(Duration::from_nanos(1_000_000_001)));
        assert_eq!(ok("0"), Some(Duration::ZERO));
        assert_eq!(ok("+5m"), Some(Duration::from_secs(300)));
        for bad in ["", "30", "s", "-1s", "1.2.3s", "1d", "1 s", ".s", "99999999999999999999h", "5m0"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_duration("30").map_err(|e| e.to_string()),
            Err("invalid duration '30': expected a number with a unit, such as \"30s\", \"1m30s\" or \"500ms\"".into())
        );
    }

    #[test]
    fn durations() {
        assert_eq!(format_nanos(30_000_000_000), "30s");
        assert_eq!(format_nanos(1_500_000_000), "1500ms");
        assert_eq!(format_nanos(1_500), "1500ns");
        assert_eq!(nanos("interval", Some(Duration::from_secs(2))).ok(), Some(2_000_000_000));
        assert_eq!(nanos("interval", Some(Duration::ZERO)).ok(), Some(0));
        assert!(nanos("interval", Some(Duration::from_micros(10))).is_err());
        assert!(nanos("interval", Some(Duration::from_secs(u64::MAX))).is_err());
    }
}

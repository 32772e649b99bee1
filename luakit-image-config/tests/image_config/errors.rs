//! Bad input gives an error that names the value and says what is wrong.

use std::collections::BTreeMap;
use std::time::Duration;

use luakit_image_config::{
    ConfigError, ExportOptions, Healthcheck, ImageConfig, StateDefaults, build_config, expand_port_spec,
};

use crate::{AMD64, strings};

fn err(opts: ExportOptions) -> String {
    match build_config(None, &StateDefaults::default(), AMD64, &opts) {
        Ok(img) => panic!("expected an error, got {}", img.to_json_pretty()),
        Err(e) => e.to_string(),
    }
}

fn expose(port: &str) -> String {
    err(ExportOptions { expose: vec![port.to_string()], ..ExportOptions::default() })
}

#[test]
fn invalid_ports() {
    assert_eq!(expose("0"), "invalid port '0' in expose: a port must be between 1 and 65535");
    assert_eq!(expose("65536/tcp"), "invalid port '65536/tcp' in expose: a port must be between 1 and 65535");
    assert_eq!(expose("80/icmp"), "invalid port '80/icmp' in expose: the protocol must be tcp, udp or sctp");
    assert_eq!(expose("http"), "invalid port 'http' in expose: expected a port number such as 8080 or 8080/tcp");
    assert_eq!(expose("/tcp"), "invalid port '/tcp' in expose: expected a port number such as 8080 or 8080/tcp");
    assert_eq!(expose(""), "invalid port '' in expose: expected a port number such as 8080 or 8080/tcp");
    assert_eq!(expose(" 80"), "invalid port ' 80' in expose: expected a port number such as 8080 or 8080/tcp");
    assert_eq!(expose("+80"), "invalid port '+80' in expose: expected a port number such as 8080 or 8080/tcp");
    assert_eq!(expose("90-80"), "invalid port '90-80' in expose: the range's first port is greater than its last");
    assert_eq!(expose("80-"), "invalid port '80-' in expose: expected a port number such as 8080 or 8080/tcp");
    assert_eq!(expose("80/tcp/udp"), "invalid port '80/tcp/udp' in expose: the protocol must be tcp, udp or sctp");
    assert!(matches!(expand_port_spec("1.5"), Err(ConfigError::InvalidPort { .. })));
    assert_eq!(expand_port_spec("65535/SCTP").ok(), Some(strings(&["65535/sctp"])));
}

#[test]
fn invalid_env() {
    let env =
        |k: &str, v: &str| err(ExportOptions { env: vec![(k.to_string(), v.to_string())], ..ExportOptions::default() });
    assert_eq!(env("", "x"), "invalid environment variable name '': must not be empty");
    assert_eq!(env("A=B", "x"), "invalid environment variable name 'A=B': must not contain '='");
    assert_eq!(env("A\0", "x"), "invalid environment variable name 'A\0': must not contain a NUL byte");
    assert_eq!(env("A", "x\0"), "invalid value for environment variable 'A': must not contain a NUL byte");
}

#[test]
fn invalid_volume_label_workdir_signal_platform() {
    let e = err(ExportOptions { volumes: strings(&["/ok", ""]), ..ExportOptions::default() });
    assert_eq!(e, "volume path must not be empty");
    let e =
        err(ExportOptions { labels: BTreeMap::from([(String::new(), "x".to_string())]), ..ExportOptions::default() });
    assert_eq!(e, "label name must not be empty");
    let e = err(ExportOptions { workdir: Some(String::new()), ..ExportOptions::default() });
    assert_eq!(e, "workdir must not be empty");
    let e = err(ExportOptions { stop_signal: Some("SIGSTOPP".into()), ..ExportOptions::default() });
    assert_eq!(
        e,
        "invalid stop signal 'SIGSTOPP': expected a signal name such as \"SIGTERM\" or a number from 1 to 255"
    );
    let e = err(ExportOptions { arch: Some(String::new()), ..ExportOptions::default() });
    assert_eq!(e, "image platform arch must not be empty");
    let e = build_config(None, &StateDefaults::default(), ("", "amd64", ""), &ExportOptions::default())
        .map(|_| ())
        .map_err(|e| e.to_string());
    assert_eq!(e, Err("image platform os must not be empty".to_string()));
}

#[test]
fn invalid_healthchecks() {
    let hc = |test: &[&str], interval: Option<Duration>| {
        err(ExportOptions {
            healthcheck: Some(Healthcheck { test: strings(test), interval, ..Healthcheck::default() }),
            ..ExportOptions::default()
        })
    };
    assert!(hc(&[], None).starts_with("invalid healthcheck: test must not be empty"));
    assert!(
        hc(&["curl", "-f", "http://localhost/"], None).starts_with("invalid healthcheck: test must start with \"CMD\"")
    );
    assert_eq!(hc(&["CMD"], None), "invalid healthcheck: CMD needs a command after it");
    assert_eq!(
        hc(&["CMD-SHELL", "a", "b"], None),
        "invalid healthcheck: CMD-SHELL takes exactly one shell command string after it"
    );
    assert_eq!(
        hc(&["NONE", "x"], None),
        "invalid healthcheck: NONE disables the healthcheck and takes no command or other options"
    );
    assert_eq!(
        hc(&["NONE"], Some(Duration::from_secs(1))),
        "invalid healthcheck: NONE disables the healthcheck and takes no command or other options"
    );
    assert_eq!(
        hc(&["CMD", "true"], Some(Duration::from_micros(500))),
        "invalid healthcheck interval: must be at least 1ms"
    );
    assert_eq!(
        hc(&["CMD", "true"], Some(Duration::from_secs(u64::MAX))),
        "invalid healthcheck interval: is too long (at most about 292 years)"
    );
}

#[test]
fn invalid_json() {
    for bad in ["", "{", "[]", r#"{"architecture": 5}"#, r#"{"config": {"Env": "PATH=/bin"}}"#] {
        match ImageConfig::from_json(bad.as_bytes()) {
            Err(e @ ConfigError::InvalidJson { .. }) => {
                assert!(e.to_string().starts_with("invalid image config JSON: "), "{e}");
                assert!(std::error::Error::source(&e).is_some());
            }
            other => panic!("{bad:?} gave {other:?}"),
        }
    }
}

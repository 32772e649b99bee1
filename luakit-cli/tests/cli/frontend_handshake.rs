//! `luakit frontend` talking to something that is not BuildKit: a silent
//! peer times out, garbage is a one-line error (no debug dump), exit 1.

use std::io::Write as _;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::util::R;

fn frontend() -> std::process::Command {
    let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("luakit"));
    c.arg("frontend").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    c
}

#[test]
fn a_silent_peer_times_out() -> R {
    // stdin stays open and silent, like `sleep 100 | luakit frontend`.
    let mut child = frontend().spawn()?;
    let stdin = child.stdin.take();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break Some(s);
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(stdin);
    let out = child.wait_with_output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(status.is_some(), "still waiting after 60 s: {err}");
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no BuildKit gateway on stdin/stdout: nothing answered within 10s"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    Ok(())
}

#[test]
fn garbage_is_a_clean_one_line_error() -> R {
    for input in [&b"garbage\n"[..], &[0xffu8; 4096][..], b"HTTP/1.1 200 OK\r\n\r\n"] {
        let mut child = frontend().spawn()?;
        let mut stdin = child.stdin.take().ok_or("stdin")?;
        let _ = stdin.write_all(input);
        drop(stdin);
        let out = child.wait_with_output()?;
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.starts_with("error: no BuildKit gateway on stdin/stdout: "), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        for dump in ["tonic::", "Custom {", "source:", "kind:", "Error("] {
            assert!(!err.contains(dump), "debug dump {dump:?} in: {err}");
        }
    }
    Ok(())
}

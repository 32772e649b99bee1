//! No input makes luakit panic: mutated versions of every fixture script
//! (bytes flipped, lines dropped, tokens swapped in) and plain garbage either
//! evaluate and marshal, or fail with a located error.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use luakit_llb::{MarshalOptions, marshal};
use luakit_lua::EvalOptions;

use crate::common::{fixtures, opts};

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const TOKENS: &[&str] = &[
    "nil",
    "0644",
    "-1",
    "1e308",
    "\"\"",
    "{}",
    "{{}}",
    "bk.scratch()",
    "bk.image(\"\")",
    "...",
    "end",
    "(",
    ")",
    "]]",
    "\"/\"",
    "\"..\"",
    "math.huge",
    "0/0",
    "true",
    "bk",
    "bk.export(bk.scratch())",
    "string.rep(\"x\", 1e6)",
];

fn mutate(src: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut s = src.to_vec();
    for _ in 0..1 + rng.below(3) {
        match rng.below(4) {
            0 if !s.is_empty() => {
                let i = rng.below(s.len());
                s[i] = (rng.next() & 0xff) as u8;
            }
            1 => {
                let lines: Vec<&[u8]> = s.split(|b| *b == b'\n').collect();
                let drop = rng.below(lines.len());
                s = lines
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != drop)
                    .map(|(_, l)| *l)
                    .collect::<Vec<_>>()
                    .join(&b'\n');
            }
            _ => {
                let i = rng.below(s.len() + 1);
                let t = TOKENS[rng.below(TOKENS.len())].as_bytes();
                s.splice(i..i, t.iter().copied());
            }
        }
    }
    s
}

fn scripts() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for dir in ["conformance", "guide"] {
        let root = fixtures().join(dir);
        let mut paths: Vec<_> = walk(&root);
        paths.sort();
        for p in paths {
            out.push(std::fs::read(p).expect("fixture readable"));
        }
    }
    assert!(out.len() >= 30, "fixture scripts found: {}", out.len());
    out
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("fixture dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "lua") {
            out.push(p);
        }
    }
    out
}

#[test]
fn mutated_and_garbage_scripts_never_panic() {
    let o = EvalOptions { timeout: Duration::from_millis(500), memory_limit: 64 << 20, ..opts() };
    let mopts = MarshalOptions::new(o.target_platform.clone());
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut inputs: Vec<Vec<u8>> = Vec::new();
    for s in scripts() {
        for _ in 0..40 {
            inputs.push(mutate(&s, &mut rng));
        }
    }
    for _ in 0..50 {
        let len = rng.below(200);
        inputs.push((0..len).map(|_| (rng.next() & 0xff) as u8).collect());
    }
    let (mut ok, mut failed) = (0, 0);
    for input in &inputs {
        let outcome = catch_unwind(AssertUnwindSafe(|| match luakit_lua::evaluate("build.lua", input, &o) {
            Ok(ev) => marshal(&ev.state, &mopts).map(|_| ()).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        }));
        match outcome {
            Err(_) => panic!("luakit panicked on:\n{}", String::from_utf8_lossy(input)),
            Ok(Ok(())) => ok += 1,
            Ok(Err(msg)) => {
                assert!(!msg.is_empty(), "empty error message for:\n{}", String::from_utf8_lossy(input));
                assert!(msg.starts_with("build.lua"), "error does not name the script: {msg}");
                failed += 1;
            }
        }
    }
    // Both paths were exercised.
    assert!(ok > 0 && failed > 0, "ok {ok}, failed {failed}");
}

//! Showing a build's progress from BuildKit's `Control.Status` stream, as
//! buildctl and buildx do: `plain` (one line per event: `#N name`, `#N 0.123
//! output`, `#N DONE 0.4s`, `#N CACHED`, `#N ERROR: …`), `rawjson` (each
//! status message as one JSON line, buildctl's `--progress=rawjson`
//! layout), or nothing. The printer also keeps the last lines each step
//! printed, for the report of a failed step.

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::pb::moby::buildkit::v1 as control;

pub mod tty;

/// How many lines of a step's output are kept for its failure report.
pub(crate) const LOG_TAIL: usize = 10;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One line per event.
    Plain,
    /// Every status message as a JSON line.
    RawJson,
    /// A live view redrawn in place ([`tty`]) when standard error is a
    /// terminal, else [`Mode::Plain`].
    Tty,
    /// No progress output; failed steps are still collected for the
    /// failure report.
    Quiet,
}

/// A step as the printer knows it.
#[derive(Debug, Default)]
struct Step {
    number: usize,
    name: String,
    started: Option<f64>,
    announced: bool,
    finished: bool,
    error: String,
    tail: VecDeque<String>,
    partial: String,
}

/// A failed step: its name, BuildKit's error and the last lines it printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedStep {
    /// The step's name (`[build.lua:N] …` for a luakit step).
    pub name: String,
    /// BuildKit's error for the step.
    pub error: String,
    /// Its last lines of output (at most ten).
    pub tail: Vec<String>,
}

/// Turns status messages into output.
#[derive(Debug)]
pub struct Printer {
    mode: Mode,
    steps: BTreeMap<String, Step>,
    next: usize,
    failed: Option<String>,
    live: Option<tty::Live>,
}

fn seconds(t: &Option<prost_types::Timestamp>) -> Option<f64> {
    t.as_ref().map(|t| t.seconds as f64 + f64::from(t.nanos) / 1e9)
}

/// RFC 3339 (UTC, nanoseconds) of a timestamp, as Go's JSON encoder writes `time.Time`.
fn rfc3339(t: &Option<prost_types::Timestamp>) -> Value {
    let Some(t) = t else { return Value::Null };
    let days = t.seconds.div_euclid(86_400);
    let secs = t.seconds.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    Value::String(format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:09}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
        t.nanos
    ))
}

impl Printer {
    /// A printer in `mode`.
    pub fn new(mode: Mode) -> Self {
        let (mode, live) = match mode {
            Mode::Tty => match tty::Live::start() {
                Some(live) => (Mode::Tty, Some(live)),
                None => (Mode::Plain, None),
            },
            m => (m, None),
        };
        Printer { mode, steps: BTreeMap::new(), next: 1, failed: None, live }
    }

    /// The mode in use (`Tty` becomes `Plain` when standard error is not a terminal).
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Ends the live view, leaving its final frame on screen (nothing in
    /// the other modes). Call it before printing anything else.
    pub fn finish(&mut self) {
        if let Some(live) = &mut self.live {
            live.finish();
        }
    }

    /// The first step that failed, with its output's tail.
    pub fn failed_step(&self) -> Option<FailedStep> {
        let s = self.steps.get(self.failed.as_ref()?)?;
        let mut tail: Vec<String> = s.tail.iter().cloned().collect();
        if !s.partial.is_empty() {
            tail.push(s.partial.clone());
        }
        let skip = tail.len().saturating_sub(LOG_TAIL);
        Some(FailedStep { name: s.name.clone(), error: s.error.clone(), tail: tail.split_off(skip) })
    }

    /// Shows one status message on `out` (errors writing are ignored:
    /// progress never fails a build).
    pub fn show(&mut self, msg: &control::StatusResponse, out: &mut dyn Write) {
        if self.mode == Mode::RawJson {
            let _ = writeln!(out, "{}", raw_json(msg));
        }
        if let Some(live) = &self.live {
            live.update(msg);
        }
        let plain = self.mode == Mode::Plain;
        for v in &msg.vertexes {
            let step = self.steps.entry(v.digest.clone()).or_default();
            step.name.clone_from(&v.name);
            if step.started.is_none() {
                step.started = seconds(&v.started);
            }
            if (v.started.is_some() || v.cached || !v.error.is_empty()) && !step.announced {
                // Numbered in the order steps start, as buildx does.
                step.announced = true;
                step.number = self.next;
                self.next += 1;
                if plain {
                    let _ = writeln!(out, "#{} {}", step.number, step.name);
                }
            }
            if step.finished || !step.announced {
                continue;
            }
            if !v.error.is_empty() {
                step.finished = true;
                step.error.clone_from(&v.error);
                if self.failed.is_none() {
                    self.failed = Some(v.digest.clone());
                }
                if plain {
                    let _ = writeln!(out, "#{} ERROR: {}", step.number, v.error);
                }
            } else if v.cached {
                step.finished = true;
                if plain {
                    let _ = writeln!(out, "#{} CACHED", step.number);
                }
            } else if let (Some(done), Some(start)) = (seconds(&v.completed), step.started) {
                step.finished = true;
                if plain {
                    let _ = writeln!(out, "#{} DONE {:.1}s", step.number, (done - start).max(0.0));
                }
            }
        }
        for log in &msg.logs {
            let Some(step) = self.steps.get_mut(&log.vertex) else { continue };
            let at = match (seconds(&log.timestamp), step.started) {
                (Some(t), Some(s)) => (t - s).max(0.0),
                _ => 0.0,
            };
            let text = format!("{}{}", step.partial, String::from_utf8_lossy(&log.msg));
            let mut lines: Vec<&str> = text.split('\n').collect();
            let rest = lines.pop().unwrap_or_default().to_string();
            for line in lines {
                let line = line.trim_end_matches('\r');
                if plain {
                    let _ = writeln!(out, "#{} {at:.3} {line}", step.number);
                }
                step.tail.push_back(line.to_string());
                if step.tail.len() > LOG_TAIL {
                    step.tail.pop_front();
                }
            }
            step.partial = rest;
        }
        let _ = out.flush();
    }
}

/// One status message in buildctl's `rawjson` layout.
pub(crate) fn raw_json(msg: &control::StatusResponse) -> Value {
    let vertexes: Vec<Value> = msg
        .vertexes
        .iter()
        .map(|v| {
            let mut o = json!({ "digest": v.digest, "name": v.name });
            if !v.inputs.is_empty() {
                o["inputs"] = json!(v.inputs);
            }
            if v.cached {
                o["cached"] = json!(true);
            }
            if v.started.is_some() {
                o["started"] = rfc3339(&v.started);
            }
            if v.completed.is_some() {
                o["completed"] = rfc3339(&v.completed);
            }
            if !v.error.is_empty() {
                o["error"] = json!(v.error);
            }
            o
        })
        .collect();
    let statuses: Vec<Value> = msg
        .statuses
        .iter()
        .map(|s| {
            json!({
                "id": s.id, "vertex": s.vertex, "name": s.name, "current": s.current, "total": s.total,
                "timestamp": rfc3339(&s.timestamp), "started": rfc3339(&s.started), "completed": rfc3339(&s.completed),
            })
        })
        .collect();
    let logs: Vec<Value> = msg
        .logs
        .iter()
        .map(|l| {
            json!({
                "vertex": l.vertex, "stream": l.stream,
                "data": base64::engine::general_purpose::STANDARD.encode(&l.msg),
                "timestamp": rfc3339(&l.timestamp),
            })
        })
        .collect();
    let mut o = json!({});
    if !vertexes.is_empty() {
        o["vertexes"] = Value::Array(vertexes);
    }
    if !statuses.is_empty() {
        o["statuses"] = Value::Array(statuses);
    }
    if !logs.is_empty() {
        o["logs"] = Value::Array(logs);
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(seconds: i64, nanos: i32) -> Option<prost_types::Timestamp> {
        Some(prost_types::Timestamp { seconds, nanos })
    }

    fn vertex(started: bool, completed: bool, cached: bool, error: &str) -> control::Vertex {
        control::Vertex {
            digest: "sha256:a".to_string(),
            name: "[build.lua:3] run echo hi".to_string(),
            started: if started { ts(100, 0) } else { None },
            completed: if completed { ts(101, 500_000_000) } else { None },
            cached,
            error: error.to_string(),
            ..Default::default()
        }
    }

    fn log(text: &str) -> control::VertexLog {
        control::VertexLog { vertex: "sha256:a".into(), timestamp: ts(100, 250_000_000), stream: 1, msg: text.into() }
    }

    #[test]
    fn plain_prints_each_event_once_as_buildx() {
        let mut p = Printer::new(Mode::Plain);
        let mut out = Vec::new();
        for msg in [
            control::StatusResponse { vertexes: vec![vertex(true, false, false, "")], ..Default::default() },
            control::StatusResponse { logs: vec![log("hello\nwor"), log("ld\n")], ..Default::default() },
            control::StatusResponse { vertexes: vec![vertex(true, false, false, "")], ..Default::default() },
            control::StatusResponse { vertexes: vec![vertex(true, true, false, "")], ..Default::default() },
            control::StatusResponse { vertexes: vec![vertex(true, true, false, "")], ..Default::default() },
        ] {
            p.show(&msg, &mut out);
        }
        assert_eq!(
            String::from_utf8_lossy(&out),
            "#1 [build.lua:3] run echo hi\n#1 0.250 hello\n#1 0.250 world\n#1 DONE 1.5s\n"
        );
        assert_eq!(p.failed_step(), None);
    }

    #[test]
    fn steps_are_numbered_as_they_start() {
        let mut p = Printer::new(Mode::Plain);
        let mut out = Vec::new();
        let mut b = vertex(false, false, false, "");
        b.digest = "sha256:b".into();
        b.name = "second".into();
        p.show(
            &control::StatusResponse {
                vertexes: vec![b.clone(), vertex(true, false, false, "")],
                ..Default::default()
            },
            &mut out,
        );
        b.started = ts(102, 0);
        p.show(&control::StatusResponse { vertexes: vec![b], ..Default::default() }, &mut out);
        assert_eq!(String::from_utf8_lossy(&out), "#1 [build.lua:3] run echo hi\n#2 second\n");
    }

    #[test]
    fn a_failed_step_keeps_its_tail() {
        let mut p = Printer::new(Mode::Quiet);
        let mut out = Vec::new();
        p.show(
            &control::StatusResponse { vertexes: vec![vertex(true, false, false, "")], ..Default::default() },
            &mut out,
        );
        let many: String = (1..=15).map(|i| format!("line {i}\n")).collect();
        p.show(&control::StatusResponse { logs: vec![log(&many), log("last")], ..Default::default() }, &mut out);
        p.show(
            &control::StatusResponse {
                vertexes: vec![vertex(true, true, false, "exit code: 1")],
                ..Default::default()
            },
            &mut out,
        );
        assert!(out.is_empty());
        let f = p.failed_step().expect("failed");
        assert_eq!(f.error, "exit code: 1");
        assert_eq!(f.tail.len(), LOG_TAIL);
        assert_eq!(f.tail.first().map(String::as_str), Some("line 7"));
        assert_eq!(f.tail.last().map(String::as_str), Some("last"));
    }

    #[test]
    fn rawjson_is_one_line_per_message() {
        let mut p = Printer::new(Mode::RawJson);
        let mut out = Vec::new();
        let msg = control::StatusResponse {
            vertexes: vec![vertex(true, true, true, "")],
            logs: vec![log("hi\n")],
            ..Default::default()
        };
        p.show(&msg, &mut out);
        let text = String::from_utf8_lossy(&out);
        assert_eq!(text.lines().count(), 1, "{text}");
        let v: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(v["vertexes"][0]["started"], "1970-01-01T00:01:40.000000000Z");
        assert_eq!(v["vertexes"][0]["cached"], true);
        assert_eq!(v["logs"][0]["data"], "aGkK");
    }
}

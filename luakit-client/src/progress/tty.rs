//! The live terminal view of `--progress tty`: a compact frame redrawn in
//! place, as buildx draws it:
//!
//! ```text
//! [+] Building 3.2s (4/7)
//!  => CACHED [build.lua:2] image alpine:3.19                0.0s
//!  => [build.lua:5] run make                                2.1s
//!  => => # cc -c main.c
//!  => ERROR [build.lua:9] run false                         0.3s
//! ```
//!
//! [`View`] is the state (fed the same `Control.Status` messages as the
//! plain printer) and draws a frame as lines for a given time and size, so
//! the drawing is tested without a terminal; [`Live`] redraws it on a
//! terminal (on every message and every [`TICK`], for the running clocks)
//! and leaves the final frame, without the logs, on screen.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::pb::moby::buildkit::v1 as control;

/// How often the running clocks are redrawn.
pub const TICK: Duration = Duration::from_millis(150);

/// How many output lines of a running step are shown under it.
pub const TAIL_LINES: usize = 6;

fn seconds(t: &Option<prost_types::Timestamp>) -> Option<f64> {
    t.as_ref().map(|t| t.seconds as f64 + f64::from(t.nanos) / 1e9)
}

/// The current time as BuildKit stamps it (seconds since the Unix epoch).
pub fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or_default()
}

/// One vertex as the view knows it.
#[derive(Debug, Default, Clone)]
struct Step {
    name: String,
    /// Order of first start (0: not started).
    order: usize,
    started: Option<f64>,
    completed: Option<f64>,
    /// Time of earlier runs of the vertex.
    earlier: f64,
    cached: bool,
    error: String,
    tail: VecDeque<String>,
    partial: String,
    /// Sub-progress (transfers, extractions) by id, in arrival order.
    statuses: Vec<(String, i64, i64, bool)>,
}

impl Step {
    fn done(&self) -> bool {
        self.completed.is_some() || self.cached || !self.error.is_empty()
    }
}

/// The state of the live view.
#[derive(Debug, Default)]
pub struct View {
    steps: BTreeMap<String, Step>,
    next: usize,
    /// When the view began (seconds since the epoch), for the header's clock.
    begun: f64,
}

impl View {
    /// An empty view whose header clock starts at `begun` (see [`now`]).
    pub fn new(begun: f64) -> Self {
        View { steps: BTreeMap::new(), next: 1, begun }
    }

    /// Takes in one status message.
    pub fn update(&mut self, msg: &control::StatusResponse) {
        for v in &msg.vertexes {
            let step = self.steps.entry(v.digest.clone()).or_default();
            step.name.clone_from(&v.name);
            // Each update is the vertex's whole state; a vertex may run
            // again (BuildKit starts a local source to resolve it, then to
            // transfer it): earlier runs add to its time.
            let started = seconds(&v.started);
            if let (Some(new), Some(old), Some(done)) = (started, step.started, step.completed)
                && new > old
            {
                step.earlier += (done - old).max(0.0);
            }
            if started.is_some() {
                step.started = started;
            }
            step.completed = seconds(&v.completed);
            step.cached |= v.cached;
            if !v.error.is_empty() {
                step.error.clone_from(&v.error);
            }
            if step.order == 0 && (step.started.is_some() || step.done()) {
                step.order = self.next;
                self.next += 1;
            }
        }
        for st in &msg.statuses {
            let Some(step) = self.steps.get_mut(&st.vertex) else { continue };
            let done = st.completed.is_some();
            match step.statuses.iter_mut().find(|(id, ..)| *id == st.id) {
                Some(s) => *s = (st.id.clone(), st.current, st.total, done),
                None => step.statuses.push((st.id.clone(), st.current, st.total, done)),
            }
        }
        for log in &msg.logs {
            let Some(step) = self.steps.get_mut(&log.vertex) else { continue };
            let text = format!("{}{}", step.partial, String::from_utf8_lossy(&log.msg));
            let mut lines: Vec<&str> = text.split('\n').collect();
            let rest = lines.pop().unwrap_or_default().to_string();
            for line in lines {
                step.tail.push_back(line.trim_end_matches('\r').to_string());
                if step.tail.len() > TAIL_LINES {
                    step.tail.pop_front();
                }
            }
            step.partial = rest;
        }
    }

    /// `(done, total)` steps.
    pub fn counts(&self) -> (usize, usize) {
        (self.steps.values().filter(|s| s.done()).count(), self.steps.len())
    }

    /// The frame at time `now`, at most `width` columns wide and `height`
    /// lines high (the oldest finished steps give way first). `last`: the
    /// final frame (no logs, the build is over).
    pub fn frame(&self, now: f64, width: usize, height: usize, last: bool) -> Vec<String> {
        let (done, total) = self.counts();
        let verb = if last { "Finished" } else { "Building" };
        let header = format!("[+] {verb} {:.1}s ({done}/{total})", (now - self.begun).max(0.0));
        let mut shown: Vec<&Step> = self.steps.values().filter(|s| s.order != 0).collect();
        shown.sort_by_key(|s| s.order);
        let mut body: Vec<(bool, String)> = Vec::new();
        for s in shown {
            let running = !s.done();
            let elapsed = s.earlier
                + match (s.started, s.completed) {
                    (Some(a), Some(b)) => (b - a).max(0.0),
                    (Some(a), None) if running && !last => (now - a).max(0.0),
                    _ => 0.0,
                };
            let mark = if !s.error.is_empty() {
                "ERROR "
            } else if s.cached {
                "CACHED "
            } else {
                ""
            };
            let left = format!(" => {mark}{}", s.name.replace(['\n', '\r'], " "));
            body.push((!running, fit(&left, &format!("{elapsed:.1}s"), width)));
            if running && !last {
                for (id, current, total, done) in &s.statuses {
                    let amount = match (*total > 0, *done) {
                        (true, false) => format!("{} / {}", human(*current), human(*total)),
                        _ => human(*current),
                    };
                    let mark = if *done { " done" } else { "" };
                    body.push((false, clip(&format!(" => => {id} {amount}{mark}"), width)));
                }
                let mut tail: Vec<&str> = s.tail.iter().map(String::as_str).collect();
                if !s.partial.is_empty() {
                    tail.push(&s.partial);
                }
                let skip = tail.len().saturating_sub(TAIL_LINES);
                for line in &tail[skip..] {
                    body.push((false, clip(&format!(" => => # {line}"), width)));
                }
            }
        }
        // Too high: drop the oldest finished steps, then the oldest lines.
        let room = height.saturating_sub(1).max(1);
        while body.len() > room {
            match body.iter().position(|(finished, _)| *finished) {
                Some(i) => {
                    body.remove(i);
                }
                None => {
                    body.remove(0);
                }
            }
        }
        let mut out = vec![clip(&header, width)];
        out.extend(body.into_iter().map(|(_, l)| l));
        out
    }
}

/// A byte count as buildx shows it (`12.34MB`, decimal units).
fn human(n: i64) -> String {
    let n = n.max(0) as f64;
    match n {
        n if n >= 1e9 => format!("{:.2}GB", n / 1e9),
        n if n >= 1e6 => format!("{:.2}MB", n / 1e6),
        n if n >= 1e3 => format!("{:.2}kB", n / 1e3),
        n => format!("{n}B"),
    }
}

/// `left` and `right` on one line of `width` columns, `left` cut to fit.
fn fit(left: &str, right: &str, width: usize) -> String {
    let rw = console::measure_text_width(right);
    let room = width.saturating_sub(rw + 1);
    let left = console::truncate_str(left, room, "…");
    let pad = width.saturating_sub(console::measure_text_width(&left) + rw).max(1);
    format!("{left}{}{right}", " ".repeat(pad))
}

/// `line` cut to `width` columns (control characters become spaces).
fn clip(line: &str, width: usize) -> String {
    let clean: String = line.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    console::truncate_str(&clean, width, "…").into_owned()
}

/// The view drawn live on standard error.
#[derive(Debug)]
pub struct Live {
    shared: Arc<Shared>,
    ticker: Option<std::thread::JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<Drawn>,
    stop: AtomicBool,
}

#[derive(Debug)]
struct Drawn {
    view: View,
    term: console::Term,
    /// Lines of the frame on screen now.
    lines: usize,
    last_draw: Option<Instant>,
}

impl Drawn {
    fn draw(&mut self, last: bool) {
        let (rows, cols) = self.term.size();
        let frame = self.view.frame(now(), usize::from(cols).max(20), usize::from(rows).max(4) - 2, last);
        // Errors writing are ignored: progress never fails a build.
        let _ = self.term.clear_last_lines(self.lines);
        for line in &frame {
            let _ = self.term.write_line(line);
        }
        let _ = self.term.flush();
        self.lines = frame.len();
        self.last_draw = Some(Instant::now());
    }
}

impl Live {
    /// Starts the live view on standard error if it is a terminal, else `None`.
    pub fn start() -> Option<Live> {
        let term = console::Term::stderr();
        if !term.is_term() {
            return None;
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(Drawn { view: View::new(now()), term, lines: 0, last_draw: None }),
            stop: AtomicBool::new(false),
        });
        let ticking = shared.clone();
        let ticker = std::thread::Builder::new()
            .name("luakit-progress".to_string())
            .spawn(move || {
                while !ticking.stop.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    if let Ok(mut d) = ticking.state.lock() {
                        if !ticking.stop.load(Ordering::Relaxed) && d.last_draw.is_none_or(|t| t.elapsed() >= TICK) {
                            d.draw(false);
                        }
                    }
                }
            })
            .ok();
        Some(Live { shared, ticker })
    }

    /// Takes in a status message and redraws (at most once per [`TICK`]).
    pub fn update(&self, msg: &control::StatusResponse) {
        if let Ok(mut d) = self.shared.state.lock() {
            d.view.update(msg);
            if d.last_draw.is_none_or(|t| t.elapsed() >= TICK) {
                d.draw(false);
            }
        }
    }

    /// Stops the clock and leaves the final frame on screen.
    pub fn finish(&mut self) {
        if self.shared.stop.swap(true, Ordering::Relaxed) {
            return;
        }
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
        if let Ok(mut d) = self.shared.state.lock() {
            d.draw(true);
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: f64) -> Option<prost_types::Timestamp> {
        Some(prost_types::Timestamp { seconds: s.trunc() as i64, nanos: (s.fract() * 1e9).round() as i32 })
    }

    fn v(digest: &str, name: &str, started: Option<f64>, completed: Option<f64>) -> control::Vertex {
        control::Vertex {
            digest: digest.into(),
            name: name.into(),
            started: started.and_then(ts),
            completed: completed.and_then(ts),
            ..Default::default()
        }
    }

    fn msg(vertexes: Vec<control::Vertex>) -> control::StatusResponse {
        control::StatusResponse { vertexes, ..Default::default() }
    }

    fn log(digest: &str, text: &str) -> control::StatusResponse {
        control::StatusResponse {
            logs: vec![control::VertexLog { vertex: digest.into(), msg: text.into(), stream: 1, ..Default::default() }],
            ..Default::default()
        }
    }

    /// A build of three steps: one cached, one running with output, one
    /// not started; then the running one finishes and the third fails.
    fn events() -> Vec<control::StatusResponse> {
        let mut cached = v("a", "[build.lua:1] image alpine", Some(100.0), Some(100.0));
        cached.cached = true;
        let mut failed = v("c", "[build.lua:3] run false", Some(103.0), Some(103.5));
        failed.error = "exit code: 1".into();
        vec![
            msg(vec![
                v("a", "[build.lua:1] image alpine", None, None),
                v("b", "[build.lua:2] run make", None, None),
                v("c", "[build.lua:3] run false", None, None),
            ]),
            msg(vec![cached]),
            msg(vec![v("b", "[build.lua:2] run make", Some(100.5), None)]),
            log("b", "cc -c a.c\ncc -c b"),
            log("b", ".c\nlinking"),
            msg(vec![v("b", "[build.lua:2] run make", Some(100.5), Some(102.75))]),
            msg(vec![v("c", "[build.lua:3] run false", Some(103.0), None)]),
            msg(vec![failed]),
        ]
    }

    #[test]
    fn frames_follow_the_build() {
        let ev = events();
        let mut view = View::new(99.0);
        for m in &ev[..5] {
            view.update(m);
        }
        assert_eq!(
            view.frame(101.7, 50, 20, false),
            [
                "[+] Building 2.7s (1/3)",
                " => CACHED [build.lua:1] image alpine         0.0s",
                " => [build.lua:2] run make                    1.2s",
                " => => # cc -c a.c",
                " => => # cc -c b.c",
                " => => # linking",
            ]
        );
        for m in &ev[5..] {
            view.update(m);
        }
        assert_eq!(view.counts(), (3, 3));
        assert_eq!(
            view.frame(104.0, 50, 20, true),
            [
                "[+] Finished 5.0s (3/3)",
                " => CACHED [build.lua:1] image alpine         0.0s",
                " => [build.lua:2] run make                    2.2s",
                " => ERROR [build.lua:3] run false             0.5s",
            ]
        );
    }

    #[test]
    fn a_small_terminal_keeps_the_running_steps() {
        let ev = events();
        let mut view = View::new(99.0);
        for m in &ev[..5] {
            view.update(m);
        }
        // Height 3: the header and two lines; the finished step gives way first.
        let f = view.frame(101.0, 30, 3, false);
        assert_eq!(f, ["[+] Building 2.0s (1/3)", " => => # cc -c b.c", " => => # linking"]);
        // Narrow: names are cut, the clock stays at the right edge.
        let f = view.frame(101.0, 24, 20, false);
        assert_eq!(f[2], " => [build.lua:2] … 0.5s");
        assert!(f.iter().all(|l| console::measure_text_width(l) <= 24), "{f:?}");
    }

    #[test]
    fn transfers_show_under_their_step() {
        let mut view = View::new(0.0);
        view.update(&msg(vec![v("ctx", "[build.lua:1] local://context", Some(0.0), None)]));
        let status = |current: i64, done: bool| control::StatusResponse {
            statuses: vec![control::VertexStatus {
                id: "transferring context:".into(),
                vertex: "ctx".into(),
                current,
                total: if done { 0 } else { 200_000_000 },
                completed: if done { ts(2.0) } else { None },
                ..Default::default()
            }],
            ..Default::default()
        };
        view.update(&status(12_340_000, false));
        let f = view.frame(1.0, 80, 10, false);
        assert_eq!(f[2], " => => transferring context: 12.34MB / 200.00MB");
        view.update(&status(200_000_000, true));
        let f = view.frame(2.0, 80, 10, false);
        assert_eq!(f.len(), 3, "one line per status id: {f:?}");
        assert_eq!(f[2], " => => transferring context: 200.00MB done");
        assert_eq!(human(999), "999B");
        assert_eq!(human(1_500), "1.50kB");
    }

    #[test]
    fn a_vertex_started_again_runs_again() {
        let mut view = View::new(0.0);
        view.update(&msg(vec![v("l", "local://context", Some(1.0), Some(1.5))]));
        assert_eq!(view.counts(), (1, 1));
        view.update(&msg(vec![v("l", "local://context", Some(2.0), None)]));
        assert_eq!(view.counts(), (0, 1), "running again");
        let line = |t: &str| format!(" => local://context{}{t}", " ".repeat(17));
        assert_eq!(view.frame(3.0, 40, 10, false)[1], line("1.5s"));
        view.update(&msg(vec![v("l", "local://context", Some(2.0), Some(4.0))]));
        assert_eq!(view.frame(5.0, 40, 10, true)[1], line("2.5s"));
    }

    #[test]
    fn logs_of_unknown_steps_and_control_characters_are_harmless() {
        let mut view = View::new(0.0);
        view.update(&log("nobody", "x\n"));
        view.update(&msg(vec![v("a", "run", Some(0.0), None)]));
        view.update(&log("a", "bell\x07 and \x1b[31mred\r\n"));
        let f = view.frame(1.0, 80, 10, false);
        assert_eq!(f.last().map(String::as_str), Some(" => => # bell  and  [31mred"));
        assert_eq!(view.counts(), (0, 1));
    }
}

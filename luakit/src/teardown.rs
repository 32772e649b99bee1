//! Freeing a large graph off the critical path.
//!
//! A graph of tens of thousands of nodes takes milliseconds to free, node
//! by node. Once it is marshalled nothing needs it, so a large one is
//! handed to a short-lived thread of its own, at the lowest priority: the
//! build returns at once, the freeing never takes a core from the work
//! that follows, and a process that exits right after (the CLI) never
//! waits for it.

/// Graphs of at least this many ops are freed in the background; smaller
/// ones are freed in place (starting a thread would cost more).
pub(crate) const BACKGROUND_FROM_OPS: usize = 500;

/// Drops `value` on a thread of its own when `ops` says the graph is large,
/// else here; or never, when the process's exit is to take it back
/// (`leave_to_exit`, see [`luakit_lua::EvalOptions::leave_to_exit`]).
pub(crate) fn release<T: Send + 'static>(value: T, ops: usize, leave_to_exit: bool) {
    if leave_to_exit {
        std::mem::forget(value);
        return;
    }
    if ops < BACKGROUND_FROM_OPS {
        drop(value);
        return;
    }
    // When no thread can be started, the closure (and the value with it)
    // is dropped here by `spawn` itself.
    let _ = std::thread::Builder::new().name("luakit-free".to_string()).spawn(move || {
        luakit_lua::lower_thread_priority();
        drop(value);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    struct Flag(Arc<AtomicBool>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[test]
    fn small_values_are_freed_in_place() {
        let dropped = Arc::new(AtomicBool::new(false));
        release(Flag(dropped.clone()), 1, false);
        assert!(dropped.load(Ordering::SeqCst));
    }

    #[test]
    fn values_left_to_the_exit_are_never_freed() {
        for ops in [1, BACKGROUND_FROM_OPS] {
            let dropped = Arc::new(AtomicBool::new(false));
            release(Flag(dropped.clone()), ops, true);
            // Long enough for a background thread to have run.
            std::thread::sleep(Duration::from_millis(50));
            assert!(!dropped.load(Ordering::SeqCst), "a value left to the exit was freed ({ops} ops)");
        }
    }

    #[test]
    fn large_values_are_freed_on_another_thread() {
        let dropped = Arc::new(AtomicBool::new(false));
        release(Flag(dropped.clone()), BACKGROUND_FROM_OPS, false);
        let until = Instant::now() + Duration::from_secs(10);
        while !dropped.load(Ordering::SeqCst) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(dropped.load(Ordering::SeqCst), "the value was never freed");
    }
}

//! The thread heap reservation can be turned off (a program whose global
//! allocator is not glibc's does so): then it allocates nothing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The system allocator, counting this thread's allocations.
struct Counting;

thread_local! {
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded to the system allocator unchanged.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATED.try_with(|n| n.set(n.get() + layout.size()));
        // SAFETY: the caller's contract is passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `alloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// Bytes this thread allocates while running `f`.
fn allocated_by(f: impl FnOnce()) -> usize {
    let before = ALLOCATED.with(Cell::get);
    f();
    ALLOCATED.with(Cell::get) - before
}

#[test]
fn the_reservation_allocates_megabytes_unless_turned_off() {
    // One test (the switch is process-wide), on a thread of its own.
    let checked = std::thread::spawn(|| {
        let on = allocated_by(luakit_graph::reserve_thread_heap);
        assert!(on >= 8 << 20, "the reservation allocated {on} bytes");
        luakit_graph::set_thread_heap_reservation(false);
        let off = allocated_by(luakit_graph::reserve_thread_heap);
        assert_eq!(off, 0, "turned off, the reservation still allocated");
        luakit_graph::set_thread_heap_reservation(true);
        let again = allocated_by(luakit_graph::reserve_thread_heap);
        assert_eq!(again, on, "turned back on");
    })
    .join();
    if let Err(failure) = checked {
        std::panic::resume_unwind(failure);
    }
}

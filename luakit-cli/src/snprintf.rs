//! The executable's own `snprintf` (`csrc/snprintf.c`, built on Linux with
//! glibc): Lua's integers become text without glibc's general formatting.

#[cfg(test)]
use std::ffi::c_char;
use std::ffi::c_int;

#[allow(unsafe_code)]
unsafe extern "C" {
    fn luakit_snprintf_linked() -> c_int;
    #[cfg(test)]
    fn snprintf(s: *mut c_char, n: usize, fmt: *const c_char, ...) -> c_int;
}

/// Keeps the C object in the link: nothing else names a symbol of it, and
/// its `snprintf` replaces the C library's only if it is linked.
#[used]
#[allow(unsafe_code)]
static LINKED: unsafe extern "C" fn() -> c_int = luakit_snprintf_linked;

#[cfg(test)]
#[allow(unsafe_code)]
mod tests {
    use super::*;

    /// What `snprintf(buf, size, fmt, n)` writes and returns.
    fn format(fmt: &std::ffi::CStr, n: i64, size: usize) -> (Vec<u8>, c_int) {
        let mut buf = vec![0x55u8; 48];
        // SAFETY: `buf` has room for `size` bytes (at most 48), the format
        // takes one long long.
        let r = unsafe { snprintf(buf.as_mut_ptr().cast::<c_char>(), size, fmt.as_ptr(), n) };
        (buf, r)
    }

    #[test]
    fn integers_are_written_as_the_c_library_writes_them() {
        let mut values = vec![0, 1, -1, 9, 10, -10, 99, 100, 1234567890, i64::MAX, i64::MIN, i64::MIN + 1];
        values.extend((0..64).map(|b| 1i64 << b));
        values.extend((0..64).map(|b| (1i64 << b).wrapping_neg()));
        for n in values {
            let text = n.to_string();
            let (buf, r) = format(c"%lld", n, 44);
            assert_eq!(r as usize, text.len(), "{n}");
            assert_eq!(&buf[..text.len()], text.as_bytes(), "{n}");
            assert_eq!(buf[text.len()], 0, "{n}");
            // Cut short: as many bytes as fit, then NUL; the full length returned.
            let (buf, r) = format(c"%lld", n, 3);
            assert_eq!(r as usize, text.len(), "{n}");
            let kept = text.len().min(2);
            assert_eq!(&buf[..kept], &text.as_bytes()[..kept], "{n}");
            assert_eq!(buf[kept], 0, "{n}");
            assert_eq!(buf[kept + 1], 0x55, "{n}: wrote past the size");
        }
        // Size 0 writes nothing.
        let (buf, r) = format(c"%lld", -42, 0);
        assert_eq!((buf[0], r), (0x55, 3));
    }

    #[test]
    fn other_formats_go_to_the_c_library() {
        let (buf, r) = format(c"[%5lld]", 42, 44);
        assert_eq!((&buf[..7], buf[7], r), (&b"[   42]"[..], 0, 7));
        let (buf, r) = format(c"%llx", 255, 44);
        assert_eq!((&buf[..2], buf[2], r), (&b"ff"[..], 0, 2));
    }
}

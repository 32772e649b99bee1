/*
 * snprintf for the luakit binary, with a short path for one decimal integer.
 *
 * Lua turns every integer it concatenates or passes to tostring into text
 * with snprintf(buf, size, "%lld", n) (lua_integer2str in luaconf.h). A
 * build script does that for most names it makes ("f" .. i), and glibc's
 * snprintf spends some 700 instructions on it in its general formatting
 * machinery: a fifth of the evaluation of a 10,000-op build. This
 * definition, linked into the executable, is the one the executable's code
 * (Lua among it) calls. The format "%lld" is written here, digit by digit;
 * every other format goes to the C library's vsnprintf. The result is the
 * same text and return value as the C library's snprintf.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

/* Referenced from Rust, so that this object is always linked. */
int luakit_snprintf_linked(void) { return 1; }

int snprintf(char *restrict s, size_t n, const char *restrict fmt, ...) {
    va_list ap;
    int r;
    va_start(ap, fmt);
    if (fmt[0] == '%' && fmt[1] == 'l' && fmt[2] == 'l' && fmt[3] == 'd' && fmt[4] == '\0') {
        long long v = va_arg(ap, long long);
        /* The magnitude as unsigned: right for the most negative value too. */
        unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
        char digits[24];
        size_t len = 0, i, w;
        do {
            digits[len++] = (char)('0' + (int)(u % 10));
            u /= 10;
        } while (u != 0);
        if (v < 0) {
            digits[len++] = '-';
        }
        if (n > 0) {
            w = len < n - 1 ? len : n - 1;
            for (i = 0; i < w; i++) {
                s[i] = digits[len - 1 - i];
            }
            s[w] = '\0';
        }
        r = (int)len;
    } else {
        r = vsnprintf(s, n, fmt, ap);
    }
    va_end(ap);
    return r;
}

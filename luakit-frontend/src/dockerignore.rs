//! `.dockerignore` files, read as BuildKit's Dockerfile frontend reads them
//! (`dockerignore.ReadAll`): one pattern a line; a line starting with `#`
//! is a comment; surrounding whitespace is trimmed; `!` re-includes; each
//! pattern is cleaned (`path.Clean`) and a leading `/` dropped, so patterns
//! are relative to the context. The patterns are then given to BuildKit as
//! the context local's exclude patterns, where the client's file sync
//! matches them with Docker's semantics (`*`, `?`, `**`, `!`, in order, the
//! last match winning).

/// The name of the context's ignore file.
pub const DOCKERIGNORE: &str = ".dockerignore";

/// The exclude patterns of a `.dockerignore` file's bytes, in order.
pub fn read_all(data: &[u8]) -> Vec<String> {
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    let text = String::from_utf8_lossy(data);
    let mut out = Vec::new();
    for line in text.split('\n') {
        // Go's line scanner drops a final `\r`.
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.starts_with('#') {
            continue;
        }
        let mut pattern = line.trim();
        if pattern.is_empty() {
            continue;
        }
        let invert = pattern.starts_with('!');
        if invert {
            pattern = pattern[1..].trim();
        }
        let mut cleaned = String::new();
        if !pattern.is_empty() {
            cleaned = luakit::graph::state::clean_path(pattern);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
        }
        out.push(if invert { format!("!{cleaned}") } else { cleaned });
    }
    out
}

/// The ignore file that applies: `<script>.dockerignore` (next to the
/// script) wins over the context's `.dockerignore`, as for a Dockerfile.
pub fn choose(script_specific: Option<Vec<u8>>, context: Option<Vec<u8>>) -> Vec<String> {
    script_specific.or(context).map(|d| read_all(&d)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_as_buildkit_does() {
        let file = "\u{feff}# comment\n*.log  \n\n  !keep.log\n/abs/path\n./a/../b//c/\n # not a comment\n!\n**/tmp\r\n/\n! /x\n";
        assert_eq!(
            read_all(file.as_bytes()),
            ["*.log", "!keep.log", "abs/path", "b/c", "# not a comment", "!", "**/tmp", "/", "!x"]
        );
    }

    #[test]
    fn the_scripts_own_file_wins() {
        assert_eq!(choose(Some(b"a".to_vec()), Some(b"b".to_vec())), ["a"]);
        assert_eq!(choose(None, Some(b"b".to_vec())), ["b"]);
        assert!(choose(None, None).is_empty());
    }
}

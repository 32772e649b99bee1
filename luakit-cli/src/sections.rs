//! `luakit dag --platform a,b`: one rendered graph per platform, each
//! clearly headed, joined in the form of the output format (text sections,
//! DOT graphs one after another, a JSON array).

use luakit::inspect::Format;

/// Joins `(platform, rendered graph)` pairs, in order.
pub fn join(format: Format, sections: &[(String, String)]) -> String {
    let mut out = String::new();
    match format {
        Format::Json => {
            out.push_str("[\n");
            for (i, (platform, json)) in sections.iter().enumerate() {
                if i > 0 {
                    out.push_str(",\n");
                }
                let name = serde_json::Value::String(platform.clone());
                out.push_str(&format!("{{\"platform\": {name}, \"dag\": {}}}", json.trim_end()));
            }
            out.push_str("\n]\n");
        }
        Format::Dot => {
            for (platform, dot) in sections {
                out.push_str(&format!("// platform {platform}\n{dot}"));
                if !dot.ends_with('\n') {
                    out.push('\n');
                }
            }
        }
        Format::Text => {
            for (i, (platform, text)) in sections.iter().enumerate() {
                if i > 0 {
                    out.push('\n');
                }
                out.push_str(&format!("=== platform {platform} ===\n{text}"));
                if !text.ends_with('\n') {
                    out.push('\n');
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two() -> Vec<(String, String)> {
        vec![("linux/amd64".into(), "A\n".into()), ("linux/arm64".into(), "B\n".into())]
    }

    #[test]
    fn text_sections_are_headed() {
        assert_eq!(join(Format::Text, &two()), "=== platform linux/amd64 ===\nA\n\n=== platform linux/arm64 ===\nB\n");
    }

    #[test]
    fn json_is_an_array_of_platform_and_dag() {
        let s = join(Format::Json, &[("linux/amd64".into(), "{\"ops\": []}\n".into())]);
        let v: serde_json::Value = serde_json::from_str(&s).expect("valid JSON");
        assert_eq!(v[0]["platform"], "linux/amd64");
        assert_eq!(v[0]["dag"]["ops"], serde_json::json!([]));
    }

    #[test]
    fn dot_graphs_follow_each_other() {
        assert_eq!(join(Format::Dot, &two()), "// platform linux/amd64\nA\n// platform linux/arm64\nB\n");
    }
}

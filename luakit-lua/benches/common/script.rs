//! The generated scripts of the evaluate and build benchmarks: straight-line
//! scripts of `n` ops (mixed run/mkdir/mkfile/copy over a few images).

/// A script of `n` op-creating lines.
pub fn script(n: usize) -> String {
    let mut s = String::from(
        "local base = bk.image(\"alpine:3.19\")\nlocal tools = bk.image(\"busybox:latest\")\nlocal ctx = bk.local_(\"context\")\nlocal s = base\n",
    );
    for i in 3..n {
        let line = match i % 5 {
            0 => format!("s = s:run(\"make step-{i}\", {{ cwd = \"/src\", env = {{ STEP = \"{i}\" }} }})\n"),
            1 => format!("s = s:mkdir(\"/work/d{i}\", {{ mode = \"0750\" }})\n"),
            2 => format!("s = s:mkfile(\"/work/f{i}\", \"content {i}\")\n"),
            3 => format!("s = s:copy(ctx, \"src/{i}\", \"/app/\")\n"),
            _ => format!("s = s:copy(tools, \"/bin/busybox\", \"/bin/b{i}\")\n"),
        };
        s.push_str(&line);
    }
    s.push_str("bk.export(s)\n");
    s
}

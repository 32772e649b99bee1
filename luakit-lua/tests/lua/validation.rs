//! Wrong values are refused where the script gives them, with the file, the
//! line, the function and the argument or option named — never accepted
//! silently and turned into something else in the build graph.

use crate::common::{err, eval, render};

/// Every `bk` entry point that takes text, with `X` where the text goes:
/// (script, function, what the message calls the value).
const TEXT_ARGUMENTS: &[(&str, &str, &str)] = &[
    ("bk.image(X)", "bk.image", "argument 1 (reference)"),
    ("bk.local_(X)", "bk.local_", "argument 1 (name)"),
    ("bk.local_('c', { include = { X } })", "bk.local_", "option 'include' item 1"),
    ("bk.local_('c', { exclude = X })", "bk.local_", "option 'exclude'"),
    ("bk.local_('c', { shared_key_hint = X })", "bk.local_", "option 'shared_key_hint'"),
    ("bk.git(X)", "bk.git", "argument 1 (url)"),
    ("bk.git('https://h/r.git', { ref = X })", "bk.git", "option 'ref'"),
    ("bk.git('https://h/r.git', { subdir = X })", "bk.git", "option 'subdir'"),
    ("bk.git('git@h:r.git', { known_ssh_hosts = X })", "bk.git", "option 'known_ssh_hosts'"),
    ("bk.http(X)", "bk.http", "argument 1 (url)"),
    ("bk.http('https://h/f', { headers = { A = X } })", "bk.http", "option 'headers' value for 'A'"),
    ("bk.http('https://h/f', { filename = X })", "bk.http", "option 'filename'"),
    ("bk.http('https://h/f', { auth_header_secret = X })", "bk.http", "option 'auth_header_secret'"),
    ("bk.cache(X)", "bk.cache", "argument 1 (dest)"),
    ("bk.cache('/c', { id = X })", "bk.cache", "option 'id'"),
    ("bk.secret(X)", "bk.secret", "argument 1 (dest)"),
    ("bk.secret('/s', { id = X })", "bk.secret", "option 'id'"),
    ("bk.ssh({ id = X })", "bk.ssh", "option 'id'"),
    ("bk.ssh({ dest = X })", "bk.ssh", "option 'dest'"),
    ("bk.tmpfs(X)", "bk.tmpfs", "argument 1 (dest)"),
    ("bk.bind(bk.scratch(), X)", "bk.bind", "argument 2 (dest)"),
    ("bk.bind(bk.scratch(), '/b', { selector = X })", "bk.bind", "option 'selector'"),
    ("bk.arg(X)", "bk.arg", "argument 1 (name)"),
    ("bk.platform(X, 'amd64')", "bk.platform", "argument 1 (os)"),
    ("s:run(X)", "bk.run", "argument 1 (command)"),
    ("s:run({ 'sh', X })", "bk.run", "argument 1 (command) item 2"),
    ("s:run('x', { cwd = X })", "bk.run", "option 'cwd'"),
    ("s:run('x', { user = X })", "bk.run", "option 'user'"),
    ("s:run('x', { hostname = X })", "bk.run", "option 'hostname'"),
    ("s:run('x', { env = { A = X } })", "bk.run", "option 'env' value for 'A'"),
    ("s:run('x', { env = { X } })", "bk.run", "option 'env' entry 1"),
    ("s:run('x', { secret_env = { A = X } })", "bk.run", "option 'secret_env' value for 'A'"),
    ("s:run('x', { secret_env = { A = { id = X } } })", "bk.run", "option 'secret_env' entry 'A': option 'id'"),
    ("s:run('x', { extra_hosts = { h = X } })", "bk.run", "option 'extra_hosts' value for 'h'"),
    ("s:copy(bk.scratch(), X, '/d')", "bk.copy", "argument 2 (src)"),
    ("s:copy(bk.scratch(), '/s', X)", "bk.copy", "argument 3 (dest)"),
    ("s:copy(bk.scratch(), '/s', '/d', { include = { X } })", "bk.copy", "option 'include' item 1"),
    ("s:copy(bk.scratch(), '/s', '/d', { owner = X })", "bk.copy", "option 'owner'"),
    ("s:copy(bk.scratch(), '/s', '/d', { owner = { user = X } })", "bk.copy", "option 'owner' user"),
    ("s:mkdir(X)", "bk.mkdir", "argument 1 (path)"),
    ("s:mkfile(X, '')", "bk.mkfile", "argument 1 (path)"),
    ("s:rm(X)", "bk.rm", "argument 1 (path)"),
    ("s:symlink(X, '/b')", "bk.symlink", "argument 1 (oldpath)"),
    ("s:symlink('/a', X)", "bk.symlink", "argument 2 (newpath)"),
    ("s:with_env(X, 'v')", "bk.with_env", "argument 1 (key)"),
    ("s:with_env('K', X)", "bk.with_env", "argument 2 (value)"),
    ("s:with_env({ K = X })", "bk.with_env", "argument 1 value for 'K'"),
    ("s:with_workdir(X)", "bk.with_workdir", "argument 1 (path)"),
    ("s:with_user(X)", "bk.with_user", "argument 1 (user)"),
    ("s:with_metadata({ description = X })", "bk.with_metadata", "option 'description'"),
    ("s:with_metadata({ progress_group = X })", "bk.with_metadata", "option 'progress_group'"),
    ("s:run('x'):output(X)", "bk.output", "argument 1 (dest)"),
    ("bk.export(s, { entrypoint = { X } })", "bk.export", "option 'entrypoint' item 1"),
    ("bk.export(s, { cmd = X })", "bk.export", "option 'cmd'"),
    ("bk.export(s, { env = { A = X } })", "bk.export", "option 'env' value for 'A'"),
    ("bk.export(s, { labels = { A = X } })", "bk.export", "option 'labels' value for 'A'"),
    ("bk.export(s, { volumes = { X } })", "bk.export", "option 'volumes' item 1"),
    ("bk.export(s, { user = X })", "bk.export", "option 'user'"),
    ("bk.export(s, { workdir = X })", "bk.export", "option 'workdir'"),
    ("bk.export(s, { stop_signal = X })", "bk.export", "option 'stop_signal'"),
    ("bk.export(s, { expose = { X } })", "bk.export", "option 'expose' item 1"),
    ("bk.export(s, { healthcheck = { test = X } })", "bk.export", "option 'healthcheck' test"),
    ("bk.export(s, { os = X })", "bk.export", "option 'os'"),
    ("require(X)", "require", "module name"),
];

#[test]
fn text_that_is_not_utf8_or_holds_nul_is_refused_everywhere() {
    let bad = [
        ("'a\\xffb'", "is not valid UTF-8 text (byte 0xff at offset 1)"),
        ("'a\\0b'", "contains a NUL byte (at offset 1)"),
        ("'a\\xc3'", "is not valid UTF-8 text (byte 0xc3 at offset 1)"),
    ];
    let mut wrong = Vec::new();
    for (template, function, what) in TEXT_ARGUMENTS {
        for (value, problem) in bad {
            if *function == "require" && value.contains("\\0") {
                // A NUL in a module name is reported with the name itself
                // (inputs.rs: a_nul_in_a_module_name_is_named_and_escaped).
                continue;
            }
            let script = format!("local s = bk.image('alpine')\n{}", template.replace('X', value));
            let want = format!("build.lua:2: {function}: {what} {problem}");
            let got = match eval(&script) {
                Ok(_) => "accepted".to_string(),
                Err(e) => e.to_string(),
            };
            if got != want {
                wrong.push(format!("{script}\n  want: {want}\n  got:  {got}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{} of {} differ:\n{}", wrong.len(), TEXT_ARGUMENTS.len() * bad.len(), wrong.join("\n"));
}

#[test]
fn keys_that_are_not_text_are_refused_with_the_key_shown() {
    let cases = [
        (
            "bk.image('a'):run('x', { env = { ['A\\0'] = 'v' } })",
            "build.lua:1: bk.run: option 'env' has a key 'A\\0' that contains a NUL byte (at offset 1)",
        ),
        (
            "bk.export(bk.scratch(), { labels = { ['k\\xff'] = 'v' } })",
            "build.lua:1: bk.export: option 'labels' has a key 'k\u{fffd}' that is not valid UTF-8 text (byte 0xff at offset 1)",
        ),
        (
            "bk.image('a'):run('x', { secret_env = { ['S\\0'] = 'id' } })",
            "build.lua:1: bk.run: option 'secret_env' has a variable name 'S\\0' that contains a NUL byte (at offset 1)",
        ),
    ];
    for (src, want) in cases {
        assert_eq!(err(src), want, "{src}");
    }
}

#[test]
fn non_ascii_text_and_binary_file_data_reach_the_graph_unchanged() {
    let ev = eval(
        "bk.export(bk.image('alpine'):run({ 'echo', 'héllo ✓' }, { env = { GREETING = 'grüß' } })\
         :mkfile('/bin.dat', 'a\\0\\xff\\xfe'))",
    )
    .expect("valid");
    let text = render(&ev);
    assert!(text.contains("exec [\"echo\", \"héllo ✓\"]"), "{text}");
    assert!(text.contains("GREETING=grüß"), "{text}");
    // The file keeps its bytes (protobuf bytes, not a string).
    let luakit_graph::Op::File(f) = &ev.state.output().expect("file op").node.op else { panic!("not a file op") };
    let luakit_graph::FileAction::Mkfile { data, .. } = &f.actions[0] else { panic!("not mkfile") };
    assert_eq!(data, b"a\0\xff\xfe");
}

#[test]
fn image_references_follow_dockers_grammar() {
    let cases = [
        (
            "bk.image(string.rep('a', 256))",
            "build.lua:1: bk.image: repository name must not be more than 255 characters (got 274: 'docker.io/library/aaaaaaaaaaaaaaaaaaaaaa…')",
        ),
        (
            "bk.image('localhost:/x')",
            "build.lua:1: bk.image: invalid registry 'localhost:' (expected a host name, an IPv4 address or an [IPv6] address, with an optional :port)",
        ),
        (
            "bk.image('[::1/x')",
            "build.lua:1: bk.image: invalid registry '[::1' (expected a host name, an IPv4 address or an [IPv6] address, with an optional :port)",
        ),
        (
            "bk.image('a__-b')",
            "build.lua:1: bk.image: invalid repository name component 'a__-b' (lowercase letters, digits and separators . _ - only)",
        ),
        (
            "bk.image('x:' .. string.rep('t', 129))",
            "build.lua:1: bk.image: invalid tag 'ttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt' (up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-')",
        ),
    ];
    for (src, want) in cases {
        assert_eq!(err(src), want, "{src}");
    }
    let ev = eval("bk.export(bk.image('[::1]:5000/team/app:v1'))").expect("IPv6 registry");
    assert!(render(&ev).contains("source docker-image://[::1]:5000/team/app:v1"), "{}", render(&ev));
}

#[test]
fn git_urls_with_credentials_are_refused() {
    const HTTP: &str = "credentials in the URL are refused: they would be stored in the build graph; put a token in a build secret and pass its id as auth_token_secret (or an Authorization header value as auth_header_secret), as BuildKit's git auth expects";
    const SSH: &str = "credentials in the URL are refused: they would be stored in the build graph; SSH remotes authenticate through the SSH agent (mount_ssh_sock), HTTPS remotes through a build secret named by auth_token_secret";
    for (url, hint) in [
        ("https://user:password@host/r.git", HTTP),
        ("https://ghp_token@github.com/o/r.git", HTTP),
        ("http://user:pw@host/r.git#main", HTTP),
        ("git://user@host/r.git", HTTP),
        ("ssh://git:secret@host/r.git", SSH),
        ("user:pw@host:r.git", HTTP),
        ("token@host/r.git", HTTP),
    ] {
        assert_eq!(err(&format!("bk.git('{url}')")), format!("build.lua:1: bk.git: {hint}"), "{url}");
    }
    for url in [
        "git@github.com:o/r.git",
        "ssh://git@github.com/o/r.git",
        "https://github.com/o/r.git",
        "https://github.com/o/r.git#v1:sub@dir",
        "github.com/o/r",
        "git@github.com:o/r.git#v1@x",
        "deploy_1@git.example.com:team/r.git",
    ] {
        let ev = eval(&format!("bk.export(bk.git('{url}'))"));
        assert!(ev.is_ok(), "{url}: {:?}", ev.err());
    }
}

#[test]
fn run_and_http_options_out_of_range_are_refused() {
    let cases = [
        (
            "bk.http('https://h/f', { headers = { ['X-A'] = 'a\\r\\nInjected: 1' } })",
            "build.lua:1: bk.http: option 'headers' value for 'X-A' contains the control character CR (U+000D) (line breaks and other control characters cannot be sent in an HTTP header)",
        ),
        (
            "bk.http('https://h/f', { headers = { A = 'x\\ny' } })",
            "build.lua:1: bk.http: option 'headers' value for 'A' contains the control character LF (U+000A) (line breaks and other control characters cannot be sent in an HTTP header)",
        ),
        (
            "bk.image('a'):run('x', { ulimits = { nofile = { soft = 10, hard = 5 } } })",
            "build.lua:1: bk.run: option 'ulimits' entry 'nofile': the soft limit 10 is above the hard limit 5",
        ),
        (
            "bk.image('a'):run('x', { ulimits = { nofile = { soft = -1, hard = 5 } } })",
            "build.lua:1: bk.run: option 'ulimits' entry 'nofile': the soft limit -1 (unlimited) is above the hard limit 5",
        ),
        (
            "bk.image('a'):run('x', { ulimits = { core = -2 } })",
            "build.lua:1: bk.run: option 'ulimits' entry 'core': the soft limit must be 0 or more (or -1 for unlimited), got -2",
        ),
        (
            "bk.image('a'):run('x', { valid_exit_codes = { 0, 300 } })",
            "build.lua:1: bk.run: option 'valid_exit_codes' must list exit codes from 0 to 255, got 300",
        ),
        (
            "bk.image('a'):run('x', { valid_exit_codes = -1 })",
            "build.lua:1: bk.run: option 'valid_exit_codes' must list exit codes from 0 to 255, got -1",
        ),
        (
            "bk.image('a'):run('x', { hostname = 'web\\n10.0.0.1 evil' })",
            "build.lua:1: bk.run: option 'hostname' 'web\\n10.0.0.1 evil' contains LF (U+000A): a host name has letters, digits, '.', '-' and '_' only",
        ),
        (
            "bk.image('a'):run('x', { extra_hosts = { ['db evil'] = '10.0.0.2' } })",
            "build.lua:1: bk.run: option 'extra_hosts' host name 'db evil' contains a space (U+0020): a host name has letters, digits, '.', '-' and '_' only",
        ),
        (
            "bk.image('a'):run('x', { extra_hosts = { ['db/x'] = '10.0.0.2' } })",
            "build.lua:1: bk.run: option 'extra_hosts' host name 'db/x' contains '/': a host name has letters, digits, '.', '-' and '_' only",
        ),
    ];
    for (src, want) in cases {
        assert_eq!(err(src), want, "{src}");
    }
    let ev = eval(
        "bk.export(bk.image('a'):run('x', { valid_exit_codes = { 0, 255 }, hostname = 'build-1.local',\
         ulimits = { nofile = { soft = 1024, hard = -1 }, core = -1, nproc = { soft = 5, hard = 5 } },\
         extra_hosts = { db_1 = '10.0.0.2' } }))",
    )
    .expect("in range");
    let text = render(&ev);
    assert!(text.contains("ulimit nofile 1024:-1") && text.contains("ulimit core -1:-1"), "{text}");
    assert!(text.contains("valid_exit_codes [0, 255]"), "{text}");
    let ev = eval("bk.export(bk.http('https://h/f', { headers = { A = 'tab\\there' } }))");
    assert!(ev.is_ok(), "a tab is allowed in a header value: {:?}", ev.err());
}

#[test]
fn export_platform_is_checked_like_bk_platform() {
    let cases = [
        (
            "bk.export(bk.image('alpine'), { arch = 'z80' })",
            "build.lua:1: bk.export: option 'arch': invalid platform 'linux/z80': unknown architecture 'z80'",
        ),
        (
            "bk.export(bk.image('alpine'), { os = 'plan10' })",
            "build.lua:1: bk.export: option 'os': invalid platform 'plan10/amd64': unknown operating system 'plan10'",
        ),
        (
            "bk.export(bk.image('alpine'), { os = 'linux', arch = 'arm', variant = 'v7 x' })",
            "build.lua:1: bk.export: option 'variant': invalid platform 'linux/arm/v7 x': only letters, digits, '_', '-' and '.' are allowed",
        ),
    ];
    for (src, want) in cases {
        assert_eq!(err(src), want, "{src}");
    }
    // Given parts are written in their canonical spelling.
    let ev = eval("bk.export(bk.image('alpine'), { os = 'Linux', arch = 'x86_64' })").expect("aliases");
    assert_eq!((ev.export.os.as_deref(), ev.export.arch.as_deref()), (Some("linux"), Some("amd64")));
    let ev = eval("bk.export(bk.image('alpine'), { arch = 'arm64', variant = 'v8' })").expect("variant");
    assert_eq!((ev.export.arch.as_deref(), ev.export.variant.as_deref()), (Some("arm64"), Some("v8")));
}

#[test]
fn pairs_skips_fields_cleared_during_the_traversal() {
    // Stock Lua allows assigning nil to existing fields while traversing and
    // never yields a key whose value is nil; the order stays luakit's.
    let ev = eval(
        r#"
local services = { api = "8080", db = "5432", cache = "6379", web = "80" }
local seen = {}
for name, port in pairs(services) do
  seen[#seen + 1] = name .. "=" .. tostring(port)
  if name == "api" then
    services.db = nil      -- a later key, cleared before it is reached
    services.api = nil     -- the current key, cleared while on it
  end
end
local left = {}
for name in pairs(services) do left[#left + 1] = name end
bk.export(bk.scratch():mkfile("/seen", table.concat(seen, ",") .. ";" .. table.concat(left, ",")))
"#,
    )
    .expect("runs");
    assert!(render(&ev).contains(r#"data="api=8080,cache=6379,web=80;cache,web""#), "{}", render(&ev));
}

#[test]
fn pairs_over_a_table_emptied_while_traversed_ends() {
    let ev = eval(
        r#"
local t = {}
for i = 1, 50 do t["k" .. i] = i end
local n = 0
for k in pairs(t) do
  n = n + 1
  for k2 in pairs(t) do t[k2] = nil end
end
assert(n == 1, n)
assert(next(t) == nil)
local order = {}
for k, v in pairs({ [3] = "c", [1] = "a", b = true, a = false, [2.5] = "x" }) do order[#order + 1] = tostring(k) end
assert(table.concat(order, " ") == "1 2.5 3 a b", table.concat(order, " "))
bk.export(bk.scratch())
"#,
    );
    assert!(ev.is_ok(), "{:?}", ev.err());
}

//! Bad scripts and their exact error messages: file:line, the function,
//! what was wrong.

use crate::common::{err, eval};

/// (script, the whole error message).
const CASES: &[(&str, &str)] = &[
    ("bk.image('')", "build.lua:1: bk.image: identifier must not be empty"),
    (
        "local s = bk.image('alpine')\ns:run('make', { cdw = '/app' })",
        "build.lua:2: bk.run: unknown option 'cdw' (did you mean 'cwd'?)",
    ),
    ("bk.image('alpine'):run('make', { cwd = 1 })", "build.lua:1: bk.run: option 'cwd' must be a string, got number"),
    (
        "bk.image('alpine'):mkdir('/a', { mode = 755 })",
        "build.lua:1: bk.mkdir: option 'mode' is the decimal number 755, which is probably meant as octal: Lua has no octal literals, write \"0755\" (a string)",
    ),
    (
        "bk.image('alpine'):mkfile('/a', '', { mode = 644 })",
        "build.lua:1: bk.mkfile: option 'mode' is the decimal number 644, which is probably meant as octal: Lua has no octal literals, write \"0644\" (a string)",
    ),
    (
        "bk.image('alpine'):mkdir('/a', { mode = '0999' })",
        "build.lua:1: bk.mkdir: option 'mode' must be an octal mode such as \"0755\", got \"0999\"",
    ),
    (
        "bk.image('Alpine')",
        "build.lua:1: bk.image: invalid repository name component 'Alpine' (lowercase letters, digits and separators . _ - only)",
    ),
    (
        "bk.image('alpine', { platform = 'linux/z80' })",
        "build.lua:1: bk.image: option 'platform': invalid platform 'linux/z80': unknown architecture 'z80'",
    ),
    (
        "bk.image('alpine', { resolve = 'sometimes' })",
        "build.lua:1: bk.image: option 'resolve' must be one of 'default', 'always', 'never', got 'sometimes'",
    ),
    ("bk.image(42)", "build.lua:1: bk.image: argument 1 (reference) must be a string, got number"),
    (
        "local s = bk.image('alpine')\ns.run('make')",
        "build.lua:2: bk.run: call it as a method, with ':' (state:run(…)), not with '.'",
    ),
    ("bk.image('alpine'):rnu('make')", "build.lua:1: state:rnu: a state has no such method (did you mean state:run?)"),
    ("bk.imag('alpine')", "build.lua:1: bk.imag: there is no such function in the bk API (did you mean bk.image?)"),
    (
        "bk.image('alpine'):run()",
        "build.lua:1: bk.run: argument 1 (command) is missing: expected a string (run by /bin/sh -c) or a list of arguments",
    ),
    (
        "bk.image('alpine'):run({'a', 1})",
        "build.lua:1: bk.run: argument 1 (command) must be a list of strings, but item 2 is a number",
    ),
    (
        "bk.image('alpine'):run('x', { network = 'hots' })",
        "build.lua:1: bk.run: option 'network' must be one of 'sandbox', 'host', 'none', got 'hots' (did you mean 'host'?)",
    ),
    (
        "bk.image('alpine'):run('x', { mounts = { 'cache' } })",
        "build.lua:1: bk.run: option 'mounts' must list mounts (bk.cache, bk.secret, bk.ssh, bk.tmpfs, bk.bind), but item 1 is a string",
    ),
    (
        "bk.image('alpine'):run('x', { mounts = { bk.cache('/a'), bk.tmpfs('/a') } })",
        "build.lua:1: bk.run: two mounts at '/a'",
    ),
    (
        "bk.image('alpine'):run('x', { env = { A = 1 } })",
        "build.lua:1: bk.run: option 'env' value for 'A' must be a string, got number",
    ),
    (
        "bk.image('alpine'):run('x', { env = { 'NOEQUALS' } })",
        "build.lua:1: bk.run: option 'env' entry 1 'NOEQUALS' must look like \"NAME=value\"",
    ),
    (
        "bk.image('alpine'):run('x', { extra_hosts = { db = 'not-an-ip' } })",
        "build.lua:1: bk.run: option 'extra_hosts': 'not-an-ip' (for 'db') is not an IP address",
    ),
    (
        "bk.image('alpine'):copy('ctx', '.', '/app')",
        "build.lua:1: bk.copy: argument 1 (from) must be a state, got string (use bk.image(…) or bk.local_(…) to make one)",
    ),
    (
        "bk.image('alpine'):copy(bk.local_('c'), '.', '/app', { owner = { usr = 'x' } })",
        "build.lua:1: bk.copy: option 'owner': unknown option 'usr' (did you mean 'user'?)",
    ),
    (
        "bk.image('alpine'):output('/out')",
        "build.lua:1: bk.output: only the result of a run has mount outputs (call it on what st:run(…) returned, before any other method)",
    ),
    ("bk.merge(bk.image('alpine'))", "build.lua:1: bk.merge: needs at least two states, got 1"),
    ("bk.merge({ bk.image('alpine'), 5 })", "build.lua:1: bk.merge: item 2 of the list must be a state, got number"),
    (
        "bk.http('https://example.com/f', { username = 'u', password = 'p' })",
        "build.lua:1: bk.http: option 'username' is refused: credentials must not go into the build graph; put an Authorization header value in a build secret and pass its id as auth_header_secret",
    ),
    (
        "bk.https('https://user:pw@example.com/f')",
        "build.lua:1: bk.https: credentials in the URL are refused: they would be stored in the build graph; put an Authorization header value in a build secret and pass its id as auth_header_secret",
    ),
    (
        "bk.http('https://example.com/f', { checksum = 'md5:abc' })",
        "build.lua:1: bk.http: option 'checksum' must be \"sha256:\" and 64 lowercase hex digits, got \"md5:abc\"",
    ),
    (
        "bk.export(bk.image('alpine'))\nbk.export(bk.image('alpine'))",
        "build.lua:2: bk.export: called a second time (the first call is at build.lua:1): a script builds one image, like the last stage of a Dockerfile. To export several images from one script, give each export a target name (bk.export(state, { target = \"api\" })) and pick one with --target; otherwise copy what the image needs from other stages with st:copy(stage, src, dest) (bk.merge(a, b) exports one image holding both filesystems, if that is what you meant)",
    ),
    ("local x = 1", "build.lua: no bk.export() call — nothing to build"),
    (
        "bk.export(bk.image('alpine'), { expose = { '99999' } })",
        "build.lua:1: bk.export: invalid port '99999' in expose: a port must be between 1 and 65535",
    ),
    (
        "bk.export(bk.image('alpine'), { entrypint = {'x'} })",
        "build.lua:1: bk.export: unknown option 'entrypint' (did you mean 'entrypoint'?)",
    ),
    (
        "bk.export(bk.image('alpine'), { stop_signal = 'SIGFOO' })",
        "build.lua:1: bk.export: invalid stop signal 'SIGFOO': expected a signal name such as \"SIGTERM\" or a number from 1 to 255",
    ),
    (
        "bk.cache('/x', { sharing = 'exclusive' })",
        "build.lua:1: bk.cache: option 'sharing' must be one of 'shared', 'private', 'locked', got 'exclusive'",
    ),
    (
        "bk.secret('/x', { mode = 400 })",
        "build.lua:1: bk.secret: option 'mode' is the decimal number 400, which is probably meant as octal: Lua has no octal literals, write \"0400\" (a string)",
    ),
    ("bk.platform('linux')", "build.lua:1: bk.platform: argument 2 (arch) is missing: expected a string"),
    (
        "bk.scratch():with_metadata({ description = 'x' })",
        "build.lua:1: bk.with_metadata: scratch has no operation to attach metadata to",
    ),
    (
        "bk.image('alpine'):run('x', { ulimits = { nofiles = 10 } })",
        "build.lua:1: bk.run: option 'ulimits': unknown limit 'nofiles' (did you mean 'nofile'?)",
    ),
    (
        "bk.image('alpine'):run('x', { [1] = 'a' })",
        "build.lua:1: bk.run: unexpected positional value [1] in the options table (options are written name = value)",
    ),
    (
        "bk.image('alpine'):mkdir('/a', { owner = 'a:' })",
        "build.lua:1: bk.mkdir: option 'owner' group must not be empty",
    ),
    ("local x = \nbk.export(", "build.lua:2: unexpected symbol near <eof>"),
    ("error('boom')", "build.lua:1: boom"),
    ("local t = nil\nt.x = 1", "build.lua:2: attempt to index a nil value (local 't')"),
    ("local function f()\n  bk.image('x y')\nend\nf()", "build.lua:2: bk.image: must not contain whitespace"),
    ("local ok, e = pcall(bk.image, '')\nerror(e, 0)", "build.lua:1: bk.image: identifier must not be empty"),
    (
        "require('nothere')",
        "build.lua:1: require: module 'nothere' not found (searched nothere.lua and nothere/init.lua, relative to the script's directory)",
    ),
    (
        "bk.cache('/c', { selector = 'sub' })",
        "build.lua:1: bk.cache: option 'selector' needs option 'from' (the state whose sub-path seeds the cache)",
    ),
    ("bk.cache('/c', { from = 'alpine' })", "build.lua:1: bk.cache: option 'from' must be a state, got string"),
    (
        "bk.bind(bk.scratch(), '/o', { output = true })",
        "build.lua:1: bk.bind: option 'output = true' needs 'readonly = false' (a read-only mount has no output)",
    ),
    ("bk.git('ssh://#main')", "build.lua:1: bk.git: invalid git URL 'ssh://#main': no host or path"),
    (
        "bk.git('git@github.com:o/r.git', { known_ssh_hosts = { 'a', 1 } })",
        "build.lua:1: bk.git: option 'known_ssh_hosts' must be a list of strings, but item 2 is a number",
    ),
    (
        "bk.image('alpine'):run('x', { readonly_root = 'yes' })",
        "build.lua:1: bk.run: option 'readonly_root' must be a boolean (true or false), got string",
    ),
    (
        "local r = bk.image('alpine'):run('x', { readonly_root = true, mounts = { bk.bind(bk.scratch(), '/o', { readonly = false, output = false }) } })\nr:output('/')",
        "build.lua:2: bk.output: '/' is not a writable mount of this run (writable mounts: none)",
    ),
];

#[test]
fn bad_scripts_give_exact_messages() {
    assert!(CASES.len() >= 25);
    let mut wrong = Vec::new();
    for (script, want) in CASES {
        let got = err(script);
        if got != *want {
            wrong.push(format!("script: {script}\n  want: {want}\n  got:  {got}"));
        }
    }
    assert!(wrong.is_empty(), "{} of {} messages differ:\n{}", wrong.len(), CASES.len(), wrong.join("\n"));
}

#[test]
fn api_errors_carry_typed_fields() {
    let e = eval("\n\nbk.image('')").expect_err("must fail");
    match e {
        luakit_lua::ScriptError::Api { file, line, function, message } => {
            assert_eq!((file.as_str(), line, function.as_str()), ("build.lua", 3, "bk.image"));
            assert_eq!(message, "identifier must not be empty");
        }
        other => panic!("unexpected {other:?}"),
    }
    let e = eval("local x = = 1").expect_err("must fail");
    assert!(matches!(e, luakit_lua::ScriptError::Syntax { line: Some(1), .. }), "{e:?}");
    assert_eq!(e.file(), Some("build.lua"));
}

#[test]
fn errors_in_modules_name_the_module() {
    let dir = crate::common::fixtures().join("modules");
    let e = crate::common::eval_in(&dir, "local m = require('libs.bad')\nm.broken()", crate::common::opts())
        .expect_err("must fail");
    assert_eq!(
        e.to_string(),
        "libs/bad.lua:4: bk.run: option 'env' must be a table {NAME = \"value\"} or a list {\"NAME=value\"}, got string"
    );
}

/// What a Dockerfile user writes first, as a multi-line script: the error
/// names the line of the offending option and the luakit word for it.
const DOCKERFILE_HABITS: &[(&str, &str)] = &[
    (
        "local app = bk.image('alpine')\n  :run('make', {\n    env = { A = 'b' },\n    workdir = '/app',\n  })\nbk.export(app)",
        "build.lua:4: bk.run: unknown option 'workdir' (did you mean 'cwd'?)",
    ),
    (
        "bk.export(bk.image('alpine'), {\n  entrypoint = { '/app' },\n  ports = { '8080' },\n})",
        "build.lua:3: bk.export: unknown option 'ports' (did you mean 'expose'?)",
    ),
    (
        "bk.export(bk.image('alpine'), {\n  port = 8080,\n})",
        "build.lua:2: bk.export: unknown option 'port' (did you mean 'expose'?)",
    ),
    (
        "bk.export(bk.image('alpine'), {\n  user = 'app',\n  entry_point = { '/app' },\n})",
        "build.lua:3: bk.export: unknown option 'entry_point' (did you mean 'entrypoint'?)",
    ),
    (
        "bk.image('alpine'):run('make', {\n  cwd = '/src',\n  mount = { bk.cache('/root/.cache') },\n})",
        "build.lua:3: bk.run: unknown option 'mount' (did you mean 'mounts'?)",
    ),
    (
        "bk.image('alpine'):run('make', {\n  cwd = '/src',\n  envs = { A = 'b' },\n})",
        "build.lua:3: bk.run: unknown option 'envs' (did you mean 'env'?)",
    ),
    (
        "bk.export(bk.image('alpine'), {\n  environment = { A = 'b' },\n})",
        "build.lua:2: bk.export: unknown option 'environment' (did you mean 'env'?)",
    ),
    (
        "bk.export(bk.image('alpine'), {\n  working_dir = '/app',\n})",
        "build.lua:2: bk.export: unknown option 'working_dir' (did you mean 'workdir'?)",
    ),
    (
        "bk.image('alpine'):run('make', {\n  working_dir = '/app',\n})",
        "build.lua:2: bk.run: unknown option 'working_dir' (did you mean 'cwd'?)",
    ),
    (
        "bk.image('alpine'):run('make', {\n  cmd = 'make',\n})",
        "build.lua:2: bk.run: unknown option 'cmd' (the command is st:run's first argument: st:run(\"make\", { … }))",
    ),
    (
        "bk.export(bk.image('alpine'), {\n  volume = { '/data' },\n  label = { a = 'b' },\n})",
        "build.lua:3: bk.export: unknown option 'label' (did you mean 'labels'?)",
    ),
    (
        "bk.export(bk.image('alpine'), {\n  stopsignal = 'SIGINT',\n})",
        "build.lua:2: bk.export: unknown option 'stopsignal' (did you mean 'stop_signal'?)",
    ),
    (
        "bk.export(bk.image('alpine'), {\n  health_check = { test = 'true' },\n})",
        "build.lua:2: bk.export: unknown option 'health_check' (did you mean 'healthcheck'?)",
    ),
    (
        "bk.export(bk.image('alpine'), {\n  healthcheck = {\n    cmd = { 'true' },\n  },\n})",
        "build.lua:3: bk.export: option 'healthcheck': unknown option 'cmd' (did you mean 'test'?)",
    ),
    (
        "local ctx = bk.local_('context')\nbk.image('alpine'):copy(ctx, '.', '/app', {\n  chown = 'app',\n})",
        "build.lua:3: bk.copy: unknown option 'chown' (did you mean 'owner'?)",
    ),
    (
        "local ctx = bk.local_('context')\nbk.image('alpine'):copy(ctx, '.', '/app', {\n  chmod = '0755',\n})",
        "build.lua:3: bk.copy: unknown option 'chmod' (did you mean 'mode'?)",
    ),
    (
        "local b = bk.image('golang')\nbk.image('alpine'):copy(b, '/out', '/app', {\n  from = 'builder',\n})",
        "build.lua:3: bk.copy: unknown option 'from' (the state to copy from is st:copy's first argument: st:copy(from, src, dest, { … }))",
    ),
    (
        "bk.image('alpine'):run('npm ci', {\n  secret = 'npmrc',\n})",
        "build.lua:2: bk.run: unknown option 'secret' (a secret is a mount: mounts = { bk.secret(dest, { id = \"…\" }) }, or secret_env = { VAR = \"id\" })",
    ),
    (
        "bk.image('alpine'):run('npm ci', {\n  cache = '/root/.npm',\n})",
        "build.lua:2: bk.run: unknown option 'cache' (a cache is a mount: mounts = { bk.cache(dest) })",
    ),
    (
        "bk.image('alpine'):run('make', {\n  privileged = true,\n})",
        "build.lua:2: bk.run: unknown option 'privileged' (use security = \"insecure\")",
    ),
    (
        "bk.image('alpine', {\n  platforms = 'linux/arm64',\n})",
        "build.lua:2: bk.image: unknown option 'platforms' (did you mean 'platform'?)",
    ),
    (
        "bk.git('https://github.com/moby/buildkit.git', {\n  branch = 'master',\n})",
        "build.lua:2: bk.git: unknown option 'branch' (did you mean 'ref'?)",
    ),
    (
        "bk.image('alpine'):run('serve', {\n  cwd = '/app',\n  ports = { 8080 },\n})",
        "build.lua:3: bk.run: unknown option 'ports' (exposed ports belong to the image: bk.export(state, { expose = { … } }))",
    ),
    // a single mount where a list is expected
    (
        "bk.image('alpine'):run('npm ci', {\n  cwd = '/app',\n  mounts = bk.cache('/root/.npm'),\n})",
        "build.lua:3: bk.run: option 'mounts' must be a list of mounts, got a single mount: wrap it in { }, as in mounts = { bk.cache(…) }",
    ),
    (
        "bk.image('alpine'):run('git fetch', {\n  mounts = bk.ssh(),\n})",
        "build.lua:2: bk.run: option 'mounts' must be a list of mounts, got a single mount: wrap it in { }, as in mounts = { bk.ssh() }",
    ),
    // type errors point at their option too
    (
        "bk.image('alpine'):run('make', {\n  env = { A = 'b' },\n  cwd = 1,\n})",
        "build.lua:3: bk.run: option 'cwd' must be a string, got number",
    ),
    (
        "bk.export(bk.image('alpine'), {\n  cmd = { 'x' },\n  expose = { '99999' },\n})",
        "build.lua:3: bk.export: invalid port '99999' in expose: a port must be between 1 and 65535",
    ),
    (
        "bk.export(bk.image('alpine'), {\n  cmd = { 'x' },\n  stop_signal = 'SIGFOO',\n})",
        "build.lua:3: bk.export: invalid stop signal 'SIGFOO': expected a signal name such as \"SIGTERM\" or a number from 1 to 255",
    ),
    (
        "bk.export(bk.image('alpine'), {\n  healthcheck = {\n    test = 'true',\n    interval = 'often',\n  },\n})",
        "build.lua:4: bk.export: option 'healthcheck' interval must be a duration such as \"30s\", \"1m30s\" or \"500ms\", got \"often\"",
    ),
    // an options table built elsewhere: the call's line
    (
        "local opts = {\n  workdir = '/app',\n}\nbk.image('alpine'):run('make', opts)",
        "build.lua:4: bk.run: unknown option 'workdir' (did you mean 'cwd'?)",
    ),
    // bk.local is a syntax error: local is a Lua keyword
    (
        "local base = bk.image('alpine')\nlocal ctx = bk.local(\"context\")\nbk.export(base:copy(ctx, '.', '/app'))",
        "build.lua:2: bk.local(\"context\") is not valid Lua, because local is a keyword: use bk.local_(\"context\") or bk[\"local\"](\"context\")",
    ),
    (
        "local ctx = bk.local(\n  'context')",
        "build.lua:1: bk.local(…) is not valid Lua, because local is a keyword: use bk.local_(…) or bk[\"local\"](…)",
    ),
];

#[test]
fn dockerfile_habits_name_the_option_line_and_the_luakit_word() {
    let mut wrong = Vec::new();
    for (script, want) in DOCKERFILE_HABITS {
        let got = err(script);
        if got != *want {
            wrong.push(format!("script:\n{script}\n  want: {want}\n  got:  {got}"));
        }
    }
    assert!(wrong.is_empty(), "{} of {} differ:\n{}", wrong.len(), DOCKERFILE_HABITS.len(), wrong.join("\n"));
}

#[test]
fn bk_local_in_a_module_is_explained_too() {
    let dir = tempdir("local-module");
    std::fs::create_dir_all(dir.join("libs")).expect("mkdir");
    std::fs::write(dir.join("libs/ctx.lua"), "return {\n  src = bk.local('context'),\n}\n").expect("write");
    let e = crate::common::eval_in(&dir, "local c = require('libs.ctx')", crate::common::opts()).expect_err("fails");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(matches!(e, luakit_lua::ScriptError::Syntax { line: Some(2), .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "libs/ctx.lua:2: bk.local('context') is not valid Lua, because local is a keyword: use bk.local_('context') or bk[\"local\"]('context')"
    );
}

#[test]
fn a_missing_module_suggests_the_nearest_one() {
    let dir = crate::common::fixtures().join("modules");
    let cases = [
        (
            "require('libs.og')",
            "build.lua:1: require: module 'libs.og' not found (searched libs/og.lua and libs/og/init.lua, relative to the script's directory; did you mean 'libs.go'?)",
        ),
        (
            "require('libs/utl')",
            "build.lua:1: require: module 'libs/utl' not found (searched libs/utl.lua and libs/utl/init.lua, relative to the script's directory; did you mean 'libs/util'?)",
        ),
        (
            "require('go')",
            "build.lua:1: require: module 'go' not found (searched go.lua and go/init.lua, relative to the script's directory; did you mean 'libs.go'?)",
        ),
        (
            "require('zzz')",
            "build.lua:1: require: module 'zzz' not found (searched zzz.lua and zzz/init.lua, relative to the script's directory)",
        ),
    ];
    for (src, want) in cases {
        let got = crate::common::eval_in(&dir, src, crate::common::opts()).expect_err(src).to_string();
        assert_eq!(got, want, "{src}");
    }
}

fn tempdir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("luakit-lua-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("mkdir");
    d
}

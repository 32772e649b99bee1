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
        "build.lua:2: bk.export: called a second time (the first call is at build.lua:1); a script exports exactly one state — use bk.merge to combine states",
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

//! Integration tests of the `luakit` command, run as a process: every
//! subcommand, every exit code, output safety (terminal refusal, atomic
//! files), flag plumbing, and conformance of `luakit build` output.

mod build;
mod conformance;
mod dag;
mod examples;
mod frontend;
mod help;
mod solve;
mod test_cmd;
mod tools;
mod util;
mod validate;

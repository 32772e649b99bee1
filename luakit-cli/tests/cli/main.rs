//! Integration tests of the `luakit` command, run as a process: every
//! subcommand, every exit code, output safety (terminal refusal, atomic
//! files), flag plumbing, and conformance of `luakit build` output.

mod build;
mod conformance;
mod dag;
mod examples;
mod frontend;
mod frontend_handshake;
mod help;
mod inputs;
mod limits;
mod outputs;
mod solve;
mod test_budget;
mod test_cmd;
mod util;
mod validate;

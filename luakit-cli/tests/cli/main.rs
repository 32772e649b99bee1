//! Integration tests of the `luakit` command, run as a process: every
//! subcommand, every exit code, output safety (terminal refusal, atomic
//! files), flag plumbing, conformance of `luakit build` output, and the
//! same image from the CLI route and the frontend route.

#[path = "../../../luakit-frontend/tests/frontend/bridge.rs"]
mod bridge;
mod build;
mod conformance;
mod dag;
mod docs;
mod examples;
#[cfg(feature = "registry")]
#[path = "../../../luakit-resolve/tests/resolve/fake.rs"]
mod fake;
mod frontend;
mod frontend_handshake;
mod help;
mod inputs;
mod limits;
mod lock;
#[cfg(feature = "registry")]
mod lock_registry;
mod outputs;
mod routes;
mod solve;
mod targets;
mod test_budget;
mod test_cmd;
mod tools;
mod util;
mod validate;

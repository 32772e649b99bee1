//! Integration tests of luakit-lua: the user guide's examples, error
//! messages, the sandbox, limits, the conformance scripts, `require`,
//! source maps, image resolution and the test runner.

mod common;
mod conformance;
mod errors;
mod features;
mod guide;
mod inputs;
mod limits;
mod locations;
mod properties;
mod robustness;
mod sandbox;
mod targets;
mod test_budget;
mod test_runner;
mod validation;

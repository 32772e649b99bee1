//! Integration tests of the luakit library: the build pipeline, resolvers,
//! and conformance of what `luakit::build` produces with BuildKit's own
//! encoder.

#[path = "../../../luakit-llb/tests/llb/compare.rs"]
mod compare;
mod conformance;
mod pipeline;
mod platforms;
mod rust_api;
mod scale;

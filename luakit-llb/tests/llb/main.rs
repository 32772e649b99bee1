//! Integration tests of luakit-llb: conformance against BuildKit's own
//! encoder, round trips, determinism.

mod caps;
mod compare;
mod conformance_lua;
mod conformance_rust;
mod pb_wire;
mod properties;
mod roundtrip;

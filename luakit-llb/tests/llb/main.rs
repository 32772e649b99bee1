//! Integration tests of luakit-llb: conformance against BuildKit's own
//! encoder, round trips, determinism.

mod caps;
mod compare;
mod conformance_rust;
mod naming;
mod pb_wire;
mod pipeline;
mod properties;
mod reasoned;
mod roundtrip;

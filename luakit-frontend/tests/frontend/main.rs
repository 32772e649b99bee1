//! Tests of the gateway frontend that need no daemon: options from the
//! environment, caps from `Ping`, result metadata, op naming, wire bytes.

mod gateway_wire;
mod opts;
mod result;

//! Tests of the gateway frontend that need no daemon: options from the
//! environment, caps from `Ping`, result metadata, wire bytes, and whole
//! builds against an in-process fake gateway.

mod bridge;
mod gateway;
mod gateway_wire;
mod multi;
mod opts;
mod result;

//! BuildKit LLB for luakit: the protobuf types of BuildKit's `solver/pb`
//! (`ops.proto`), generated at build time with prost.

#[rustfmt::skip]
#[allow(missing_docs, clippy::all)]
pub mod pb;

pub mod caps;
pub mod digest;
pub mod marshal;

pub use caps::CapSet;
pub use digest::Digest;
pub use marshal::{MarshalError, MarshalOptions, encode, marshal, marshal_full};

//! BuildKit frontend gateway for luakit: the `LLBBridge` gRPC client and the
//! message types of BuildKit's `frontend/gateway/pb/gateway.proto`, generated at
//! build time. LLB types (`pb.*`) come from [`luakit_llb::pb`].

#[rustfmt::skip]
#[allow(missing_docs, clippy::all)]
pub mod pb;

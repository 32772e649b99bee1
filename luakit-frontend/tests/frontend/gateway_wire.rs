//! Wire checks for the generated gateway types; expected bytes are worked out by
//! hand from the field numbers in `gateway.proto`.

use luakit::pb;
use luakit_frontend::pb::google::rpc::Status;
use luakit_frontend::pb::moby::buildkit::v1::frontend as gw;
use prost::Message;

#[test]
fn solve_request_uses_llb_definition() {
    let req = gw::SolveRequest {
        definition: Some(pb::Definition { def: vec![vec![0x01]], ..Default::default() }),
        allow_result_return: true,
        ..Default::default()
    };
    // Definition = 1 { def = 1 [01] }, allowResultReturn = 5 (varint, 0x28).
    assert_eq!(req.encode_to_vec(), [0x0a, 0x03, 0x0a, 0x01, 0x01, 0x28, 0x01]);
}

#[test]
fn return_request_carries_rpc_status() {
    let req =
        gw::ReturnRequest { result: None, error: Some(Status { code: 2, message: "x".into(), details: Vec::new() }) };
    // error = 2 { code = 1 (2), message = 2 "x" }
    let bytes = req.encode_to_vec();
    assert_eq!(bytes, [0x12, 0x05, 0x08, 0x02, 0x12, 0x01, b'x']);
    assert_eq!(gw::ReturnRequest::decode(bytes.as_slice()).expect("decode"), req);
}

#[test]
fn client_type_is_generated() {
    // Only the client side is generated, with no transport-specific constructor.
    let none: Option<gw::llb_bridge_client::LlbBridgeClient<()>> = None;
    assert!(none.is_none());
}

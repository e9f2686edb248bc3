//! The control protocol end to end, in process: every line of the input is a request
//! line for `proto::decode_request`; what decodes is answered by a `Router` with two
//! ports with addresses, as `control/tests/router_soft.rs` builds it, on
//! `fibre_fuzz::FuzzBackend` (the software backend without cores and its 32 MiB
//! pool: `core_add` is refused by the backend, after the handler's checks), and every answer — a reply, a refusal, or the
//! decoder's own error — is encoded with `encode_response` and must decode back to
//! the same id and response. A decoded request re-encodes to a line that decodes to
//! the same request. A refused request changes nothing the router shows (routes,
//! nexthops, addresses). The lines of one input share one fresh router, so an input
//! is a session (add, then replace, then delete...) and a crash reproduces alone.

#![no_main]

use control::proto::{decode_request, decode_response, encode_request, encode_response, Response};
use fibre_fuzz::{router, visible};
use libfuzzer_sys::fuzz_target;
use std::time::Instant;

/// Lines after this many are ignored: a session, not a load test.
const MAX_LINES: usize = 64;

fn round_trip(id: Option<u64>, response: &Response) {
    let mut line = Vec::new();
    encode_response(id, response, &mut line);
    assert_eq!(line.last(), Some(&b'\n'));
    assert!(
        !line[..line.len() - 1].contains(&b'\n'),
        "one response, one line"
    );
    let (back_id, back) = decode_response(&line).expect("an encoded response decodes");
    assert_eq!(back_id, id, "id round trip");
    assert_eq!(&back, response, "response round trip");
}

fuzz_target!(|data: &[u8]| {
    let mut session = None;
    for line in data.split(|&b| b == b'\n').take(MAX_LINES) {
        match decode_request(line) {
            Err(e) => round_trip(e.id, &Err(e.error)),
            Ok((id, request)) => {
                let mut again = Vec::new();
                encode_request(id, &request, &mut again);
                let (id2, request2) = decode_request(&again).expect("an encoded request decodes");
                assert_eq!((id2, &request2), (id, &request), "request round trip");
                let r = session.get_or_insert_with(router);
                let before = visible(r);
                let response = r.handle(request);
                if response.is_err() {
                    assert_eq!(visible(r), before, "a refused request changed state");
                }
                round_trip(Some(id), &response);
                r.turn(Instant::now(), 32);
            }
        }
    }
});

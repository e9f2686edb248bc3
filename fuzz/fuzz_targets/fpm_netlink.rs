//! The FPM source's input path over an arbitrary byte stream from "zebra": FPM
//! framing (`FrameReader`), the netlink messages in each frame (`decode::decode_frame`,
//! which runs the shared route decoder `source::netlink::route::decode` and
//! `forwarding`, and decodes nexthop objects) and the state that turns them into
//! requests (`FpmState::apply_batch`, inside a resync as on connect).
//!
//! Invariants: no panic; frames do not depend on how the stream was cut into reads
//! (the first byte picks the read size); a netlink frame's payload is its length
//! minus the header; the requests made keep fibre exactly equal to the source's view
//! (`FibModel`) at every step. The stream is applied three times, as zebra sends
//! it: once, then whole again in a resync (after a reconnect), which must end with
//! the same routes, then every other frame in a resync (what was not resent is
//! deleted); a final `clear` leaves nothing behind.

#![no_main]

use control::source::fpm::decode::decode_frame;
use control::source::fpm::framing::{Frame, FrameError, FrameReader, HEADER_LEN};
use control::source::fpm::state::FpmState;
use control::source::SourceRoute;
use fibre_fuzz::FibModel;
use libfuzzer_sys::fuzz_target;

type Step = Result<Frame, FrameError>;

/// Every frame until the reader wants more bytes, or its first error.
fn drain(reader: &mut FrameReader, out: &mut Vec<Step>) -> bool {
    while let Some(step) = reader.next_frame() {
        let broken = step.is_err();
        out.push(step);
        if broken {
            // Broken for good: the same error again.
            assert_eq!(reader.next_frame().as_ref(), out.last());
            return true;
        }
    }
    false
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, stream)) = data.split_first() else {
        return;
    };
    let mut whole = Vec::new();
    let mut reader = FrameReader::new();
    reader.push(stream);
    drain(&mut reader, &mut whole);

    let mut pieces = Vec::new();
    let mut reader = FrameReader::new();
    for chunk in stream.chunks(usize::from(cut) + 1) {
        reader.push(chunk);
        if drain(&mut reader, &mut pieces) {
            break;
        }
    }
    assert_eq!(whole, pieces, "frames depend on read sizes");

    let frames: Vec<&[u8]> = whole
        .iter()
        .map_while(|step| match step {
            Ok(Frame::Netlink(payload)) => Some(Some(&payload[..])),
            Ok(Frame::Skipped { len, .. }) => {
                assert!(*len >= HEADER_LEN);
                Some(None)
            }
            Err(_) => None,
        })
        .flatten()
        .collect();

    let mut state = FpmState::new(None);
    let mut model = FibModel::new(fib::Protocol::Frr);
    let feed =
        |state: &mut FpmState, model: &mut FibModel, frames: &mut dyn Iterator<Item = &&[u8]>| {
            let mut out = Vec::new();
            for payload in frames {
                let msgs: Vec<_> = decode_frame(payload).into_iter().flatten().collect();
                state.apply_batch(&msgs, &mut out);
                model.apply(&out);
                out.clear();
                model.check(state.view());
            }
        };
    // Zebra's stream...
    feed(&mut state, &mut model, &mut frames.iter());
    let first = routes(&state);
    // ...sent again whole after a reconnect: the same routes in the end.
    state.begin_resync();
    feed(&mut state, &mut model, &mut frames.iter());
    model.apply(&state.end_resync());
    model.check(state.view());
    assert_eq!(
        routes(&state),
        first,
        "an identical resend changed the routes"
    );
    // ...and in part: what was not resent is deleted.
    state.begin_resync();
    feed(&mut state, &mut model, &mut frames.iter().step_by(2));
    model.apply(&state.end_resync());
    model.check(state.view());
    assert!(!state.resyncing());
    model.apply(&state.clear());
    assert!(model.is_empty() && state.view().is_empty());
});

fn routes(state: &FpmState) -> Vec<SourceRoute> {
    let mut v: Vec<_> = state.view().routes().cloned().collect();
    v.sort_by_key(|r| (r.table, r.prefix.addr(), r.prefix.len()));
    v
}

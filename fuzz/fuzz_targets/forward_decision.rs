//! The per-packet forward path over arbitrary frames: no panic; a frame that is transmitted
//! carries the adjacency's MACs and a valid IPv4 header with TTL decremented; a frame that is
//! not transmitted is left untouched.

#![no_main]

use dataplane::forward::{forward, rewrite, Adjacency, Outcome};
use dataplane::wire::EthernetAddress;
use libfuzzer_sys::fuzz_target;

const LOCAL: [u32; 2] = [0xc000_0201, 0xc633_6401];

fn checksum_ok(header: &[u8]) -> bool {
    let mut sum: u32 = 0;
    for pair in header.chunks(2) {
        sum += (u32::from(pair[0]) << 8) | u32::from(*pair.get(1).unwrap_or(&0));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum == 0xffff
}

fuzz_target!(|data: &[u8]| {
    // The first two bytes pick the MTU, the rest is the frame.
    let (mtu, frame) = match data {
        [a, b, rest @ ..] => (u16::from_be_bytes([*a, *b]), rest),
        _ => return,
    };
    let adjacency = Adjacency {
        port: 1,
        dst_mac: EthernetAddress([2, 0, 0, 0, 0, 0xaa]),
        src_mac: EthernetAddress([2, 0, 0, 0, 0, 0xbb]),
        mtu,
    };
    // The ingress port's MAC is the frame's destination, so fuzzing gets past the
    // l2_other_host check to the IPv4 ones (that check has its own proptests).
    let port_mac = EthernetAddress::from_bytes(frame.get(..6).unwrap_or(&[2, 0, 0, 0, 0, 1]))
        .expect("six bytes");
    let mut buffer = frame.to_vec();
    match forward(&mut buffer, port_mac, &LOCAL[..], |_| Some(adjacency)) {
        Outcome::Transmit { port } => {
            assert_eq!(port, 1);
            assert_eq!(buffer.len(), frame.len());
            assert_eq!(buffer[0..6], adjacency.dst_mac.0);
            assert_eq!(buffer[6..12], adjacency.src_mac.0);
            let l2 = if buffer[12..14] == [0x81, 0x00] {
                18
            } else {
                14
            };
            let ip = &buffer[l2..];
            assert_eq!(ip[0], 0x45);
            let total_len = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
            assert!(total_len >= 20 && total_len <= ip.len() && total_len <= usize::from(mtu));
            assert!(checksum_ok(&ip[..20]));
            assert!(ip[8] >= 1 && ip[8] == frame[l2 + 8] - 1);
            assert_eq!(
                buffer[l2 + 12..],
                frame[l2 + 12..],
                "addresses or payload touched"
            );
        }
        _ => assert_eq!(&buffer[..], frame),
    }
    // rewrite on an unclassified frame must not panic either.
    let mut buffer = frame.to_vec();
    let _ = rewrite(&mut buffer, &adjacency);
});

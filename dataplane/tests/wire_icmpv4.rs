//! ICMPv4 view and Repr: echo, destination unreachable (fragmentation needed with the
//! next-hop MTU), time exceeded; the error builder's quoting rule and RFC 1812 §4.3.2.7.

use std::net::Ipv4Addr;

use dataplane::wire::icmpv4::{
    emit_error, may_send_error_about, quote_of, ErrorKind, MAX_ERROR_DATAGRAM_LEN, MAX_QUOTE_LEN,
};
use dataplane::wire::{
    DstUnreachable, Icmpv4Message, Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Packet, Ipv4Repr,
    TimeExceeded, WireError,
};
use proptest::prelude::*;

fn emit(repr: &Icmpv4Repr) -> Vec<u8> {
    let mut bytes = vec![0u8; repr.buffer_len()];
    assert_eq!(repr.emit(&mut bytes).unwrap(), bytes.len());
    bytes
}

/// A UDP datagram of `payload_len` bytes from 198.51.100.7 to 203.0.113.9.
fn udp_datagram(payload_len: usize) -> Vec<u8> {
    let repr = Ipv4Repr::new(
        Ipv4Addr::new(198, 51, 100, 7),
        Ipv4Addr::new(203, 0, 113, 9),
        IpProtocol::UDP,
        payload_len,
        1,
    );
    let mut bytes = vec![0u8; repr.buffer_len()];
    repr.emit(&mut bytes).unwrap();
    for (i, byte) in bytes[20..].iter_mut().enumerate() {
        *byte = i as u8;
    }
    bytes
}

#[test]
fn echo_request_bytes_and_round_trip() {
    let repr = Icmpv4Repr::EchoRequest {
        ident: 0x1234,
        seq_no: 7,
        data: b"ping",
    };
    let bytes = emit(&repr);
    assert_eq!(&bytes[..2], &[8, 0]);
    assert_eq!(&bytes[4..8], &[0x12, 0x34, 0, 7]);
    assert_eq!(&bytes[8..], b"ping");
    let packet = Icmpv4Packet::new_checked(&bytes[..]).unwrap();
    assert!(packet.verify_checksum());
    assert_eq!(packet.msg_type(), Icmpv4Message::ECHO_REQUEST);
    assert_eq!(Icmpv4Repr::parse(&packet).unwrap(), repr);
}

#[test]
fn echo_reply_round_trip() {
    let repr = Icmpv4Repr::EchoReply {
        ident: 1,
        seq_no: 0xffff,
        data: &[0xaa; 56],
    };
    let bytes = emit(&repr);
    assert_eq!(bytes[0], 0);
    assert_eq!(
        Icmpv4Repr::parse(&Icmpv4Packet::new_checked(&bytes[..]).unwrap()).unwrap(),
        repr
    );
}

#[test]
fn frag_needed_carries_next_hop_mtu() {
    let original = udp_datagram(100);
    let repr = Icmpv4Repr::DstUnreachable {
        reason: DstUnreachable::FragRequired,
        next_hop_mtu: 1400,
        quote: &original[..28],
    };
    let bytes = emit(&repr);
    assert_eq!(&bytes[..2], &[3, 4]);
    assert_eq!(&bytes[4..8], &[0, 0, 0x05, 0x78]);
    let packet = Icmpv4Packet::new_checked(&bytes[..]).unwrap();
    assert_eq!(packet.next_hop_mtu(), 1400);
    assert_eq!(packet.data(), &original[..28]);
    assert_eq!(Icmpv4Repr::parse(&packet).unwrap(), repr);
}

#[test]
fn other_unreachable_codes_emit_zero_mtu() {
    let repr = Icmpv4Repr::DstUnreachable {
        reason: DstUnreachable::NetUnreachable,
        next_hop_mtu: 1400,
        quote: &[],
    };
    let bytes = emit(&repr);
    assert_eq!(&bytes[..8], &[3, 0, bytes[2], bytes[3], 0, 0, 0, 0]);
    let parsed = Icmpv4Repr::parse(&Icmpv4Packet::new_checked(&bytes[..]).unwrap()).unwrap();
    assert_eq!(
        parsed,
        Icmpv4Repr::DstUnreachable {
            reason: DstUnreachable::NetUnreachable,
            next_hop_mtu: 0,
            quote: &[],
        }
    );
}

#[test]
fn time_exceeded_round_trip() {
    let original = udp_datagram(8);
    let repr = Icmpv4Repr::TimeExceeded {
        reason: TimeExceeded::TtlExpired,
        quote: &original,
    };
    let bytes = emit(&repr);
    assert_eq!(&bytes[..2], &[11, 0]);
    assert_eq!(&bytes[4..8], &[0; 4]);
    assert_eq!(
        Icmpv4Repr::parse(&Icmpv4Packet::new_checked(&bytes[..]).unwrap()).unwrap(),
        repr
    );
}

#[test]
fn parse_refuses_bad_checksum_unknown_types_and_truncation() {
    let mut bytes = emit(&Icmpv4Repr::EchoRequest {
        ident: 1,
        seq_no: 1,
        data: &[],
    });
    assert_eq!(
        Icmpv4Packet::new_checked(&bytes[..7]).unwrap_err(),
        WireError::Truncated
    );
    bytes[5] ^= 0x40;
    assert_eq!(
        Icmpv4Repr::parse(&Icmpv4Packet::new_checked(&bytes[..]).unwrap()),
        Err(WireError::BadChecksum)
    );
    for (msg_type, code) in [(13u8, 0u8), (3, 16), (11, 2), (8, 1)] {
        let mut bytes = [msg_type, code, 0, 0, 0, 0, 0, 0];
        let mut packet = Icmpv4Packet::new_checked(&mut bytes[..]).unwrap();
        packet.fill_checksum();
        assert!(
            matches!(
                Icmpv4Repr::parse(&Icmpv4Packet::new_checked(&bytes[..]).unwrap()),
                Err(WireError::Unsupported(_))
            ),
            "type {msg_type} code {code}"
        );
    }
}

#[test]
fn quote_is_whole_datagram_when_small() {
    let original = udp_datagram(8);
    assert_eq!(quote_of(&original), &original[..]);
    // Ethernet padding past the total length is not quoted.
    let mut padded = original.clone();
    padded.extend([0; 18]);
    assert_eq!(quote_of(&padded), &original[..]);
}

#[test]
fn quote_is_capped_so_error_fits_576() {
    assert_eq!(MAX_QUOTE_LEN, 548);
    let original = udp_datagram(1480);
    assert_eq!(quote_of(&original), &original[..548]);
}

#[test]
fn time_exceeded_error_datagram() {
    let original = udp_datagram(1480);
    let router = Ipv4Addr::new(192, 0, 2, 1);
    let mut out = [0u8; 600];
    let len = emit_error(
        ErrorKind::TimeExceeded(TimeExceeded::TtlExpired),
        &original,
        router,
        64,
        &mut out,
    )
    .unwrap();
    assert_eq!(len, MAX_ERROR_DATAGRAM_LEN);
    let ip = Ipv4Packet::new_checked(&out[..len]).unwrap();
    let ip_repr = Ipv4Repr::parse(&ip).unwrap();
    assert_eq!(ip_repr.src_addr, router);
    assert_eq!(ip_repr.dst_addr, Ipv4Addr::new(198, 51, 100, 7));
    assert_eq!(ip_repr.protocol, IpProtocol::ICMP);
    assert_eq!(ip_repr.ttl, 64);
    let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
    assert_eq!(
        Icmpv4Repr::parse(&icmp).unwrap(),
        Icmpv4Repr::TimeExceeded {
            reason: TimeExceeded::TtlExpired,
            quote: &original[..548],
        }
    );
}

#[test]
fn frag_needed_error_datagram_of_small_original() {
    let original = udp_datagram(8);
    let mut out = [0u8; 576];
    let len = emit_error(
        ErrorKind::DstUnreachable {
            reason: DstUnreachable::FragRequired,
            next_hop_mtu: 1280,
        },
        &original,
        Ipv4Addr::new(192, 0, 2, 1),
        255,
        &mut out,
    )
    .unwrap();
    assert_eq!(len, 20 + 8 + 28);
    let ip = Ipv4Packet::new_checked(&out[..len]).unwrap();
    let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
    assert_eq!(icmp.next_hop_mtu(), 1280);
    assert_eq!(icmp.data(), &original[..]);
}

#[test]
fn emit_error_refuses_small_buffer_and_garbage() {
    let original = udp_datagram(8);
    let kind = ErrorKind::TimeExceeded(TimeExceeded::TtlExpired);
    assert_eq!(
        emit_error(kind, &original, Ipv4Addr::LOCALHOST, 64, &mut [0u8; 55]),
        Err(WireError::BufferTooSmall { need: 56, have: 55 })
    );
    assert!(emit_error(
        kind,
        &original[..10],
        Ipv4Addr::LOCALHOST,
        64,
        &mut [0u8; 600]
    )
    .is_err());
}

fn with_addresses(src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
    let mut bytes = udp_datagram(8);
    let mut packet = Ipv4Packet::new_checked(&mut bytes[..]).unwrap();
    packet.set_src_addr(Ipv4Addr::from(src));
    packet.set_dst_addr(Ipv4Addr::from(dst));
    packet.fill_checksum();
    bytes
}

#[test]
fn rfc1812_4_3_2_7_when_not_to_send_errors() {
    let allowed = |bytes: &[u8]| may_send_error_about(&Ipv4Packet::new_checked(bytes).unwrap());
    assert!(allowed(&udp_datagram(8)));
    assert!(!allowed(&with_addresses(
        [198, 51, 100, 7],
        [255, 255, 255, 255]
    )));
    assert!(!allowed(&with_addresses([198, 51, 100, 7], [224, 0, 0, 5])));
    assert!(!allowed(&with_addresses([0, 0, 0, 0], [203, 0, 113, 9])));
    assert!(!allowed(&with_addresses([127, 0, 0, 1], [203, 0, 113, 9])));
    assert!(!allowed(&with_addresses([240, 0, 0, 1], [203, 0, 113, 9])));

    let mut fragment = udp_datagram(8);
    let mut packet = Ipv4Packet::new_checked(&mut fragment[..]).unwrap();
    packet.set_frag_offset(8);
    packet.fill_checksum();
    assert!(!allowed(&fragment));

    // An ICMP error about an ICMP error: never; about an echo request: yes.
    let icmp_datagram = |icmp: Icmpv4Repr| {
        let ip = Ipv4Repr::new(
            Ipv4Addr::new(198, 51, 100, 7),
            Ipv4Addr::new(203, 0, 113, 9),
            IpProtocol::ICMP,
            icmp.buffer_len(),
            1,
        );
        let mut bytes = vec![0u8; ip.buffer_len()];
        ip.emit(&mut bytes).unwrap();
        icmp.emit(&mut bytes[20..]).unwrap();
        bytes
    };
    assert!(!allowed(&icmp_datagram(Icmpv4Repr::TimeExceeded {
        reason: TimeExceeded::TtlExpired,
        quote: &[],
    })));
    assert!(allowed(&icmp_datagram(Icmpv4Repr::EchoRequest {
        ident: 1,
        seq_no: 1,
        data: &[],
    })));
}

proptest! {
    #[test]
    fn echo_round_trip(request in any::<bool>(), ident in any::<u16>(), seq_no in any::<u16>(),
                       data in proptest::collection::vec(any::<u8>(), 0..100)) {
        let repr = if request {
            Icmpv4Repr::EchoRequest { ident, seq_no, data: &data }
        } else {
            Icmpv4Repr::EchoReply { ident, seq_no, data: &data }
        };
        let bytes = emit(&repr);
        prop_assert_eq!(Icmpv4Repr::parse(&Icmpv4Packet::new_checked(&bytes[..]).unwrap()).unwrap(), repr);
    }

    #[test]
    fn error_round_trip(code in 0u8..16, mtu in any::<u16>(), quote in proptest::collection::vec(any::<u8>(), 0..600)) {
        let reason = DstUnreachable::try_from(code).unwrap();
        let next_hop_mtu = if reason == DstUnreachable::FragRequired { mtu } else { 0 };
        let repr = Icmpv4Repr::DstUnreachable { reason, next_hop_mtu, quote: &quote };
        let bytes = emit(&repr);
        prop_assert_eq!(Icmpv4Repr::parse(&Icmpv4Packet::new_checked(&bytes[..]).unwrap()).unwrap(), repr);
    }

    #[test]
    fn error_datagram_never_exceeds_576(payload_len in 0usize..2000) {
        let original = udp_datagram(payload_len);
        let mut out = [0u8; 1024];
        let len = emit_error(ErrorKind::TimeExceeded(TimeExceeded::TtlExpired), &original,
                             Ipv4Addr::new(192, 0, 2, 1), 64, &mut out).unwrap();
        prop_assert!(len <= MAX_ERROR_DATAGRAM_LEN);
        prop_assert_eq!(len, 28 + original.len().min(MAX_QUOTE_LEN));
    }

    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(packet) = Icmpv4Packet::new_checked(&bytes[..]) {
            let _ = Icmpv4Repr::parse(&packet);
        }
        let _ = quote_of(&bytes);
        let _ = emit_error(ErrorKind::TimeExceeded(TimeExceeded::TtlExpired), &bytes,
                           Ipv4Addr::LOCALHOST, 64, &mut [0u8; 128]);
        if let Ok(packet) = Ipv4Packet::new_checked(&bytes[..]) {
            let _ = may_send_error_about(&packet);
        }
    }
}

/// Found by fuzzing: one's complement has two zeros. A message whose checksum field holds
/// 0xffff where a sender would compute 0x0000 still verifies (RFC 1071), so it parses; it is
/// re-emitted with the canonical 0x0000.
#[test]
fn checksum_negative_zero_verifies_and_reemits_canonical() {
    let received = [0u8, 0, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0xff];
    let packet = Icmpv4Packet::new_checked(&received[..]).unwrap();
    assert!(packet.verify_checksum());
    let repr = Icmpv4Repr::parse(&packet).unwrap();
    let bytes = emit(&repr);
    assert_eq!(&bytes[2..4], &[0, 0]);
    assert_eq!(bytes[4..], received[4..]);
}

//! IPv4 view: getters, setters, length checks, Repr round trips.

use std::net::Ipv4Addr;

use dataplane::wire::checksum;
use dataplane::wire::{IpProtocol, Ipv4Packet, Ipv4Repr, WireError};
use proptest::prelude::*;

/// A UDP datagram header with total length 0x73 (115); checksum 0xb861.
const HEADER: [u8; 20] = [
    0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01,
    0xc0, 0xa8, 0x00, 0xc7,
];

fn datagram() -> Vec<u8> {
    let mut bytes = HEADER.to_vec();
    bytes.extend((0..95).map(|i| i as u8));
    bytes
}

#[test]
fn getters_read_the_known_header() {
    let bytes = datagram();
    let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
    assert_eq!(packet.version(), 4);
    assert_eq!(packet.ihl(), 5);
    assert_eq!(packet.header_len(), 20);
    assert_eq!(packet.dscp(), 0);
    assert_eq!(packet.ecn(), 0);
    assert_eq!(packet.total_len(), 115);
    assert_eq!(packet.ident(), 0);
    assert!(packet.dont_frag());
    assert!(!packet.more_frags());
    assert!(!packet.reserved_flag());
    assert_eq!(packet.frag_offset(), 0);
    assert!(!packet.is_fragment());
    assert_eq!(packet.ttl(), 64);
    assert_eq!(packet.protocol(), IpProtocol::UDP);
    assert_eq!(packet.checksum(), 0xb861);
    assert_eq!(packet.src_addr(), Ipv4Addr::new(192, 168, 0, 1));
    assert_eq!(packet.dst_addr(), Ipv4Addr::new(192, 168, 0, 199));
    assert_eq!(packet.dst_addr_u32(), 0xc0a8_00c7);
    assert!(packet.options().is_empty());
    assert!(packet.verify_checksum());
    assert_eq!(packet.payload().len(), 95);
}

#[test]
fn setters_write_each_field() {
    let mut bytes = datagram();
    let mut packet = Ipv4Packet::new_checked(&mut bytes[..]).unwrap();
    packet.set_dscp(46);
    packet.set_ecn(3);
    packet.set_ident(0xbeef);
    packet.set_dont_frag(false);
    packet.set_more_frags(true);
    packet.set_frag_offset(1480);
    packet.set_ttl(7);
    packet.set_protocol(IpProtocol::TCP);
    packet.set_src_addr(Ipv4Addr::new(10, 0, 0, 1));
    packet.set_dst_addr(Ipv4Addr::new(10, 0, 0, 2));
    packet.fill_checksum();
    assert_eq!(packet.dscp(), 46);
    assert_eq!(packet.ecn(), 3);
    assert_eq!(packet.ident(), 0xbeef);
    assert!(!packet.dont_frag());
    assert!(packet.more_frags());
    assert_eq!(packet.frag_offset(), 1480);
    assert!(packet.is_fragment());
    assert_eq!(packet.ttl(), 7);
    assert_eq!(packet.protocol(), IpProtocol::TCP);
    assert_eq!(packet.src_addr(), Ipv4Addr::new(10, 0, 0, 1));
    assert_eq!(packet.dst_addr(), Ipv4Addr::new(10, 0, 0, 2));
    assert!(packet.verify_checksum());
    assert_eq!(packet.version(), 4);
    assert_eq!(packet.total_len(), 115);
    // The payload is untouched by header setters.
    assert_eq!(&bytes[20..], &datagram()[20..]);
}

#[test]
fn options_region_follows_ihl() {
    let mut bytes = [0u8; 32];
    bytes[0] = 0x47; // IHL 7: 8 bytes of options
    bytes[2..4].copy_from_slice(&32u16.to_be_bytes());
    bytes[20..28].copy_from_slice(&[0x94, 0x04, 0, 0, 1, 1, 1, 0]); // router alert, nop, eol
    let mut packet = Ipv4Packet::new_checked(&mut bytes[..]).unwrap();
    packet.fill_checksum();
    assert_eq!(packet.header_len(), 28);
    assert_eq!(packet.options(), &[0x94, 0x04, 0, 0, 1, 1, 1, 0]);
    assert_eq!(packet.payload().len(), 4);
    assert!(packet.verify_checksum());
    packet.options_mut()[4] = 0;
    assert!(!packet.verify_checksum());
}

#[test]
fn check_len_errors() {
    let bytes = datagram();
    assert_eq!(
        Ipv4Packet::new_checked(&bytes[..19]).unwrap_err(),
        WireError::Truncated
    );
    // total length 115 but only 100 bytes
    assert_eq!(
        Ipv4Packet::new_checked(&bytes[..100]).unwrap_err(),
        WireError::Truncated
    );
    let mut low_ihl = bytes.clone();
    low_ihl[0] = 0x44;
    assert!(matches!(
        Ipv4Packet::new_checked(&low_ihl[..]),
        Err(WireError::Malformed(_))
    ));
    let mut long_ihl = bytes[..40].to_vec();
    long_ihl[0] = 0x4f; // 60-byte header in 40 bytes
    assert_eq!(
        Ipv4Packet::new_checked(&long_ihl[..]).unwrap_err(),
        WireError::Truncated
    );
    let mut short_total = bytes.clone();
    short_total[2..4].copy_from_slice(&19u16.to_be_bytes());
    assert!(matches!(
        Ipv4Packet::new_checked(&short_total[..]),
        Err(WireError::Malformed(_))
    ));
}

#[test]
fn padding_past_total_length_is_not_payload() {
    let mut bytes = datagram();
    bytes.extend([0xee; 10]);
    let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
    assert_eq!(packet.payload().len(), 95);
}

#[test]
fn repr_parse_refuses_bad_version_and_checksum() {
    let mut bytes = datagram();
    bytes[11] ^= 1;
    assert_eq!(
        Ipv4Repr::parse(&Ipv4Packet::new_checked(&bytes[..]).unwrap()),
        Err(WireError::BadChecksum)
    );
    let mut bytes = datagram();
    bytes[0] = 0x65;
    assert!(matches!(
        Ipv4Repr::parse(&Ipv4Packet::new_checked(&bytes[..]).unwrap()),
        Err(WireError::Malformed(_))
    ));
}

#[test]
fn repr_parses_the_known_header() {
    let bytes = datagram();
    let repr = Ipv4Repr::parse(&Ipv4Packet::new_checked(&bytes[..]).unwrap()).unwrap();
    let mut expected = Ipv4Repr::new(
        Ipv4Addr::new(192, 168, 0, 1),
        Ipv4Addr::new(192, 168, 0, 199),
        IpProtocol::UDP,
        95,
        64,
    );
    expected.dont_frag = true;
    assert_eq!(repr, expected);
    let mut emitted = vec![0u8; repr.buffer_len()];
    repr.emit(&mut emitted).unwrap();
    assert_eq!(emitted[..20], HEADER);
}

#[test]
fn repr_emit_refuses_oversize() {
    let repr = Ipv4Repr::new(
        Ipv4Addr::LOCALHOST,
        Ipv4Addr::LOCALHOST,
        IpProtocol::UDP,
        65516,
        1,
    );
    assert!(matches!(
        repr.emit(&mut [0u8; 20]),
        Err(WireError::Malformed(_))
    ));
    let repr = Ipv4Repr::new(
        Ipv4Addr::LOCALHOST,
        Ipv4Addr::LOCALHOST,
        IpProtocol::UDP,
        0,
        1,
    );
    assert_eq!(
        repr.emit(&mut [0u8; 19]),
        Err(WireError::BufferTooSmall { need: 20, have: 19 })
    );
}

#[test]
fn decrement_ttl_from_zero_wraps_consistently() {
    let mut bytes = datagram();
    let mut packet = Ipv4Packet::new_checked(&mut bytes[..]).unwrap();
    packet.set_ttl(0);
    packet.fill_checksum();
    assert_eq!(packet.decrement_ttl(), 255);
    assert!(packet.verify_checksum());
}

prop_compose! {
    fn arb_repr()(
        src in any::<u32>(),
        dst in any::<u32>(),
        protocol in any::<u8>(),
        payload_len in 0usize..128,
        ttl in any::<u8>(),
        dscp in 0u8..64,
        ecn in 0u8..4,
        ident in any::<u16>(),
        dont_frag in any::<bool>(),
        more_frags in any::<bool>(),
        frag_units in 0u16..0x2000,
    ) -> Ipv4Repr {
        Ipv4Repr {
            src_addr: Ipv4Addr::from(src),
            dst_addr: Ipv4Addr::from(dst),
            protocol: IpProtocol(protocol),
            payload_len,
            ttl,
            dscp,
            ecn,
            ident,
            dont_frag,
            more_frags,
            frag_offset: frag_units * 8,
        }
    }
}

proptest! {
    #[test]
    fn repr_round_trip(repr in arb_repr()) {
        let mut bytes = vec![0u8; repr.buffer_len()];
        repr.emit(&mut bytes).unwrap();
        let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        prop_assert!(packet.verify_checksum());
        prop_assert_eq!(checksum::checksum(&bytes[..20]), 0);
        prop_assert_eq!(Ipv4Repr::parse(&packet).unwrap(), repr);
    }

    #[test]
    fn ttl_decrement_keeps_checksum_valid(repr in arb_repr()) {
        prop_assume!(repr.ttl > 0);
        let mut bytes = vec![0u8; repr.buffer_len()];
        repr.emit(&mut bytes).unwrap();
        let mut packet = Ipv4Packet::new_checked(&mut bytes[..]).unwrap();
        prop_assert_eq!(packet.decrement_ttl(), repr.ttl - 1);
        let incremental = packet.checksum();
        packet.fill_checksum();
        prop_assert_eq!(incremental, packet.checksum());
    }

    #[test]
    fn checked_view_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        if let Ok(packet) = Ipv4Packet::new_checked(&bytes[..]) {
            let _ = (packet.options(), packet.payload(), packet.verify_checksum());
            let _ = Ipv4Repr::parse(&packet);
        }
    }
}

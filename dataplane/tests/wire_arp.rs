//! ARP view and Repr: Ethernet/IPv4 only, everything else refused.

use std::net::Ipv4Addr;

use dataplane::wire::{ArpOperation, ArpPacket, ArpRepr, EthernetAddress, WireError};
use proptest::prelude::*;

fn request() -> ArpRepr {
    ArpRepr {
        operation: ArpOperation::Request,
        source_hardware_addr: EthernetAddress([2, 0, 0, 0, 0, 1]),
        source_protocol_addr: Ipv4Addr::new(192, 0, 2, 1),
        target_hardware_addr: EthernetAddress::ZERO,
        target_protocol_addr: Ipv4Addr::new(192, 0, 2, 254),
    }
}

fn emitted(repr: &ArpRepr) -> Vec<u8> {
    let mut bytes = vec![0u8; repr.buffer_len()];
    let mut packet = ArpPacket::new_checked(&mut bytes[..]).unwrap();
    repr.emit(&mut packet);
    bytes
}

#[test]
fn request_bytes_are_rfc826() {
    let bytes = emitted(&request());
    assert_eq!(
        bytes,
        [
            0, 1, 8, 0, 6, 4, 0, 1, // htype ptype hlen plen oper
            2, 0, 0, 0, 0, 1, 192, 0, 2, 1, // sha spa
            0, 0, 0, 0, 0, 0, 192, 0, 2, 254, // tha tpa
        ]
    );
}

#[test]
fn round_trip_and_reply() {
    let bytes = emitted(&request());
    let packet = ArpPacket::new_checked(&bytes[..]).unwrap();
    assert!(packet.is_ethernet_ipv4());
    assert_eq!(ArpRepr::parse(&packet).unwrap(), request());

    let ours = EthernetAddress([2, 0, 0, 0, 0, 0xfe]);
    let reply = request().reply(ours);
    assert_eq!(reply.operation, ArpOperation::Reply);
    assert_eq!(reply.source_hardware_addr, ours);
    assert_eq!(reply.source_protocol_addr, Ipv4Addr::new(192, 0, 2, 254));
    assert_eq!(reply.target_hardware_addr, request().source_hardware_addr);
    assert_eq!(reply.target_protocol_addr, request().source_protocol_addr);
    let bytes = emitted(&reply);
    assert_eq!(
        ArpRepr::parse(&ArpPacket::new_checked(&bytes[..]).unwrap()).unwrap(),
        reply
    );
}

#[test]
fn padding_after_packet_is_ignored() {
    let mut bytes = emitted(&request());
    bytes.resize(46, 0xaa);
    let packet = ArpPacket::new_checked(&bytes[..]).unwrap();
    assert_eq!(ArpRepr::parse(&packet).unwrap(), request());
}

#[test]
fn truncated_refused() {
    let bytes = emitted(&request());
    assert_eq!(
        ArpPacket::new_checked(&bytes[..27]).unwrap_err(),
        WireError::Truncated
    );
}

#[test]
fn non_ethernet_hardware_refused() {
    let mut bytes = emitted(&request());
    bytes[1] = 6; // IEEE 802 networks
    let packet = ArpPacket::new_checked(&bytes[..]).unwrap();
    assert!(!packet.is_ethernet_ipv4());
    assert!(matches!(
        ArpRepr::parse(&packet),
        Err(WireError::Unsupported(_))
    ));
}

#[test]
fn non_ipv4_protocol_refused() {
    let mut bytes = emitted(&request());
    bytes[2..4].copy_from_slice(&[0x86, 0xdd]);
    assert!(matches!(
        ArpRepr::parse(&ArpPacket::new_checked(&bytes[..]).unwrap()),
        Err(WireError::Unsupported(_))
    ));
}

#[test]
fn wrong_address_lengths_refused() {
    for (at, value) in [(4, 8u8), (5, 16u8)] {
        let mut bytes = emitted(&request());
        bytes[at] = value;
        assert!(matches!(
            ArpRepr::parse(&ArpPacket::new_checked(&bytes[..]).unwrap()),
            Err(WireError::Unsupported(_))
        ));
    }
}

#[test]
fn unknown_opcode_refused() {
    let mut bytes = emitted(&request());
    bytes[7] = 3; // RARP request
    let packet = ArpPacket::new_checked(&bytes[..]).unwrap();
    assert_eq!(packet.operation(), ArpOperation::Unknown(3));
    assert!(matches!(
        ArpRepr::parse(&packet),
        Err(WireError::Unsupported(_))
    ));
}

proptest! {
    #[test]
    fn repr_round_trip(
        reply in any::<bool>(),
        sha in any::<[u8; 6]>(),
        spa in any::<u32>(),
        tha in any::<[u8; 6]>(),
        tpa in any::<u32>(),
    ) {
        let repr = ArpRepr {
            operation: if reply { ArpOperation::Reply } else { ArpOperation::Request },
            source_hardware_addr: EthernetAddress(sha),
            source_protocol_addr: Ipv4Addr::from(spa),
            target_hardware_addr: EthernetAddress(tha),
            target_protocol_addr: Ipv4Addr::from(tpa),
        };
        let bytes = emitted(&repr);
        prop_assert_eq!(ArpRepr::parse(&ArpPacket::new_checked(&bytes[..]).unwrap()).unwrap(), repr);
    }

    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
        if let Ok(packet) = ArpPacket::new_checked(&bytes[..]) {
            let _ = ArpRepr::parse(&packet);
        }
    }
}

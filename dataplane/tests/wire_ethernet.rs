//! Ethernet II / 802.1Q views, the MAC address type, and Repr round trips.

use dataplane::wire::{
    EtherType, EthernetAddress, EthernetFrame, EthernetRepr, VlanTag, WireError,
};
use proptest::prelude::*;

const DST: EthernetAddress = EthernetAddress([0x02, 0x00, 0x00, 0x00, 0x00, 0x01]);
const SRC: EthernetAddress = EthernetAddress([0x02, 0x00, 0x00, 0x00, 0x00, 0x02]);

#[test]
fn mac_display_and_parse() {
    let mac: EthernetAddress = "0a:1B:2c:3d:4e:5F".parse().unwrap();
    assert_eq!(mac, EthernetAddress([0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f]));
    assert_eq!(mac.to_string(), "0a:1b:2c:3d:4e:5f");
    assert_eq!("0a-1b-2c-3d-4e-5f".parse::<EthernetAddress>().unwrap(), mac);
    for bad in [
        "",
        "0a:1b:2c:3d:4e",
        "0a:1b:2c:3d:4e:5f:60",
        "0a:1b:2c:3d:4e:5g",
        "a:1b:2c:3d:4e:5f0",
        "0a:1b-2c:3d:4e:5f",
        "+a:1b:2c:3d:4e:5f",
    ] {
        assert!(bad.parse::<EthernetAddress>().is_err(), "{bad:?} accepted");
    }
}

#[test]
fn mac_classes() {
    assert!(EthernetAddress::BROADCAST.is_broadcast());
    assert!(EthernetAddress::BROADCAST.is_multicast());
    assert!(EthernetAddress([0x01, 0x00, 0x5e, 0, 0, 1]).is_multicast());
    assert!(!EthernetAddress([0x01, 0x00, 0x5e, 0, 0, 1]).is_broadcast());
    assert!(DST.is_unicast() && DST.is_local());
    assert_eq!(EthernetAddress::from_bytes(&[1, 2, 3]), None);
}

#[test]
fn untagged_frame_fields() {
    let mut bytes = [0u8; 20];
    bytes[0..6].copy_from_slice(&DST.0);
    bytes[6..12].copy_from_slice(&SRC.0);
    bytes[12..14].copy_from_slice(&[0x08, 0x00]);
    bytes[14..].copy_from_slice(&[1, 2, 3, 4, 5, 6]);
    let frame = EthernetFrame::new_checked(&bytes[..]).unwrap();
    assert_eq!(frame.dst_addr(), DST);
    assert_eq!(frame.src_addr(), SRC);
    assert_eq!(frame.ethertype(), EtherType::IPV4);
    assert!(!frame.is_vlan_tagged());
    assert_eq!(frame.vlan_id(), None);
    assert_eq!(frame.header_len(), 14);
    assert_eq!(frame.payload(), &[1, 2, 3, 4, 5, 6]);
}

#[test]
fn tagged_frame_fields() {
    let mut bytes = [0u8; 22];
    bytes[0..6].copy_from_slice(&DST.0);
    bytes[6..12].copy_from_slice(&SRC.0);
    bytes[12..14].copy_from_slice(&[0x81, 0x00]);
    // pcp 5, dei 1, vid 0x123
    bytes[14..16].copy_from_slice(&[0xb1, 0x23]);
    bytes[16..18].copy_from_slice(&[0x08, 0x06]);
    bytes[18..].copy_from_slice(&[9, 8, 7, 6]);
    let mut frame = EthernetFrame::new_checked(&mut bytes[..]).unwrap();
    assert!(frame.is_vlan_tagged());
    assert_eq!(frame.outer_ethertype(), EtherType::VLAN);
    assert_eq!(frame.ethertype(), EtherType::ARP);
    assert_eq!(
        frame.vlan_tag(),
        Some(VlanTag {
            pcp: 5,
            dei: true,
            vid: 0x123
        })
    );
    assert_eq!(frame.vlan_id(), Some(0x123));
    assert_eq!(frame.header_len(), 18);
    assert_eq!(frame.payload(), &[9, 8, 7, 6]);

    frame.set_ethertype(EtherType::IPV4);
    frame.set_vlan_tag(VlanTag {
        pcp: 0,
        dei: false,
        vid: 7,
    });
    frame.set_dst_addr(SRC);
    frame.set_src_addr(DST);
    assert_eq!(frame.outer_ethertype(), EtherType::VLAN);
    assert_eq!(frame.ethertype(), EtherType::IPV4);
    assert_eq!(frame.vlan_id(), Some(7));
    assert_eq!(frame.dst_addr(), SRC);
    assert_eq!(frame.src_addr(), DST);
    assert_eq!(frame.payload(), &[9, 8, 7, 6]);
}

#[test]
fn truncated_frames_refused() {
    assert_eq!(
        EthernetFrame::new_checked(&[0u8; 13][..]).unwrap_err(),
        WireError::Truncated
    );
    let mut tagged = [0u8; 17];
    tagged[12] = 0x81;
    assert_eq!(
        EthernetFrame::new_checked(&tagged[..]).unwrap_err(),
        WireError::Truncated
    );
    // 14 bytes untagged is a complete (empty-payload) header.
    assert!(EthernetFrame::new_checked(&[0u8; 14][..]).is_ok());
}

#[test]
fn repr_emit_too_small_buffer() {
    let repr = EthernetRepr {
        src_addr: SRC,
        dst_addr: DST,
        vlan: Some(VlanTag::default()),
        ethertype: EtherType::IPV4,
    };
    assert_eq!(
        repr.emit(&mut [0u8; 17]),
        Err(WireError::BufferTooSmall { need: 18, have: 17 })
    );
}

fn arb_mac() -> impl Strategy<Value = EthernetAddress> {
    any::<[u8; 6]>().prop_map(EthernetAddress)
}

proptest! {
    #[test]
    fn mac_string_round_trip(mac in arb_mac()) {
        prop_assert_eq!(mac.to_string().parse::<EthernetAddress>().unwrap(), mac);
    }

    #[test]
    fn repr_round_trip(
        src_addr in arb_mac(),
        dst_addr in arb_mac(),
        vlan in proptest::option::of((0u8..8, any::<bool>(), 0u16..4096)),
        ethertype in any::<u16>().prop_filter("not a TPID", |t| *t != 0x8100),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let repr = EthernetRepr {
            src_addr,
            dst_addr,
            vlan: vlan.map(|(pcp, dei, vid)| VlanTag { pcp, dei, vid }),
            ethertype: EtherType(ethertype),
        };
        let mut buffer = vec![0u8; repr.header_len() + payload.len()];
        let header_len = repr.emit(&mut buffer).unwrap();
        buffer[header_len..].copy_from_slice(&payload);
        let frame = EthernetFrame::new_checked(&buffer[..]).unwrap();
        prop_assert_eq!(EthernetRepr::parse(&frame).unwrap(), repr);
        prop_assert_eq!(frame.payload(), &payload[..]);
    }

    #[test]
    fn views_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
        if let Ok(frame) = EthernetFrame::new_checked(&bytes[..]) {
            let _ = (frame.dst_addr(), frame.src_addr(), frame.ethertype(), frame.vlan_tag());
            prop_assert_eq!(frame.payload().len(), bytes.len() - frame.header_len());
            prop_assert!(EthernetRepr::parse(&frame).is_ok());
        }
    }
}

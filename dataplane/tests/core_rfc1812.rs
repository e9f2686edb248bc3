//! Every RFC 1812 malformation and exception, each in its own test, through a
//! forwarding core over software ports: the frame is dropped or punted under the
//! right counter, never forwarded, and a punted frame reaches the control plane
//! exactly as it arrived.

mod core_support;

use std::net::Ipv4Addr;

use core_support::*;
use dataplane::forward::{DropReason, PuntReason};
use dataplane::wire::checksum;
use dataplane::wire::{EtherType, EthernetAddress, VlanTag};

/// What must happen to a frame.
enum Expect {
    Drop(DropReason),
    Punt(PuntReason),
}

fn refresh_checksum(frame: &mut [u8], l2: usize, header_len: usize) {
    frame[l2 + 10] = 0;
    frame[l2 + 11] = 0;
    let sum = checksum::checksum(&frame[l2..l2 + header_len]);
    frame[l2 + 10..l2 + 12].copy_from_slice(&sum.to_be_bytes());
}

fn with_ip_byte(at: usize, value: u8) -> Vec<u8> {
    let mut frame = Spec::default().build();
    frame[14 + at] = value;
    refresh_checksum(&mut frame, 14, 20);
    frame
}

fn addressed(src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    Spec::default()
        .with(|s| {
            s.ip.src_addr = src;
            s.ip.dst_addr = dst;
        })
        .build()
}

fn to(dst: Ipv4Addr) -> Vec<u8> {
    addressed(SRC, dst)
}

fn with_options() -> Vec<u8> {
    let mut frame = Spec::default().build();
    frame[14] = 0x46;
    frame[14 + 20..14 + 24].copy_from_slice(&[0x94, 0x04, 0x00, 0x00]);
    refresh_checksum(&mut frame, 14, 24);
    frame
}

/// Sends each frame through a fresh core; asserts nothing was transmitted, the
/// frame was counted under `expect` and nothing else, and a punted frame arrived on
/// the punt ring unmodified.
fn check(frames: Vec<Vec<u8>>, expect: Expect) {
    let mut rig = rig();
    for frame in &frames {
        let out = rig.through(frame);
        assert!(out.is_empty(), "forwarded {frame:02x?}");
        if let Expect::Punt(reason) = expect {
            let punted = rig.handle.next_punt().expect("punted");
            assert_eq!(punted.reason, reason);
            assert_eq!(punted.ingress, 0);
            assert_eq!(dataplane::port::Packet::data(&punted.packet), &frame[..]);
        }
        assert!(rig.handle.next_punt().is_none());
    }
    let stats = rig.stats();
    let n = frames.len() as u64;
    assert_eq!(stats.forwarded, 0, "{stats:?}");
    match expect {
        Expect::Drop(reason) => {
            assert_eq!(stats.dropped(reason), n, "{:?}", stats.reasons());
            assert_eq!(stats.total_dropped(), n, "{:?}", stats.reasons());
            assert_eq!(stats.total_punted(), 0, "{:?}", stats.reasons());
        }
        Expect::Punt(reason) => {
            assert_eq!(stats.punted(reason), n, "{:?}", stats.reasons());
            assert_eq!(stats.total_punted(), n, "{:?}", stats.reasons());
            assert_eq!(stats.total_dropped(), 0, "{:?}", stats.reasons());
        }
    }
    assert_eq!(stats.port(0).rx_packets, n);
    assert_accounted(&stats);
}

macro_rules! rfc1812_cases {
    ($( $name:ident: $frames:expr => $expect:expr; )+) => {
        $(
            #[test]
            fn $name() {
                check($frames, $expect);
            }
        )+
    };
}

use Expect::{Drop, Punt};

rfc1812_cases! {
    // Link layer.
    drop_frame_shorter_than_ethernet_header:
        (0..14).map(|n| Spec::default().build()[..n].to_vec()).collect() => Drop(DropReason::TooShort);
    drop_tagged_frame_shorter_than_tag:
        (14..18).map(|n| Spec::default().with(|s| s.vlan = Some(VlanTag::default())).build()[..n].to_vec()).collect()
        => Drop(DropReason::TooShort);
    drop_ipv6_ethertype:
        vec![Spec::default().with(|s| s.ethertype = EtherType::IPV6).build()] => Drop(DropReason::NotIpv4);
    drop_qinq_outer_tag:
        vec![{ let mut f = Spec::default().build(); f[12..14].copy_from_slice(&[0x88, 0xa8]); f }]
        => Drop(DropReason::NotIpv4);
    drop_stacked_8021q_tags:
        vec![Spec::default().with(|s| { s.vlan = Some(VlanTag::default()); s.ethertype = EtherType::VLAN; }).build()]
        => Drop(DropReason::NotIpv4);
    // RFC 1812 5.2.2: validation.
    drop_ipv4_header_shorter_than_20_bytes:
        (14..34).map(|n| Spec::default().build()[..n].to_vec()).collect() => Drop(DropReason::TooShort);
    drop_version_not_4:
        [0u8, 1, 5, 6, 15].iter().map(|v| with_ip_byte(0, (v << 4) | 5)).collect() => Drop(DropReason::BadVersion);
    drop_ihl_below_5:
        (0u8..5).map(|ihl| with_ip_byte(0, 0x40 | ihl)).collect() => Drop(DropReason::BadIhl);
    drop_header_longer_than_frame:
        vec![with_ip_byte(0, 0x4f)] => Drop(DropReason::TooShort);
    drop_total_length_shorter_than_header:
        [0u16, 1, 19].iter().map(|&t| { let mut f = Spec::default().build();
            f[16..18].copy_from_slice(&t.to_be_bytes()); refresh_checksum(&mut f, 14, 20); f }).collect()
        => Drop(DropReason::BadTotalLength);
    drop_total_length_beyond_frame:
        vec![{ let mut f = Spec::default().build(); let carried = (f.len() - 14) as u16;
            f[16..18].copy_from_slice(&(carried + 1).to_be_bytes()); refresh_checksum(&mut f, 14, 20); f },
             { let f = Spec::default().build(); f[..f.len() - 1].to_vec() }]
        => Drop(DropReason::BadTotalLength);
    drop_bad_checksum:
        vec![{ let mut f = Spec::default().build(); f[14 + 11] ^= 1; f }] => Drop(DropReason::BadChecksum);
    drop_bad_checksum_over_options:
        vec![{ let mut f = with_options(); f[14 + 21] ^= 0x80; f }] => Drop(DropReason::BadChecksum);
    drop_field_corrupted_in_transit:
        vec![{ let mut f = Spec::default().build(); f[14 + 8] = 200; f }] => Drop(DropReason::BadChecksum);
    // RFC 1812 5.3.7: addresses.
    drop_source_this_network:
        vec![addressed(Ipv4Addr::new(0, 0, 0, 0), DST), addressed(Ipv4Addr::new(0, 1, 2, 3), DST)]
        => Drop(DropReason::MartianSource);
    drop_source_loopback:
        vec![addressed(Ipv4Addr::new(127, 0, 0, 1), DST)] => Drop(DropReason::MartianSource);
    drop_source_multicast:
        vec![addressed(Ipv4Addr::new(224, 0, 0, 1), DST), addressed(Ipv4Addr::new(239, 1, 1, 1), DST)]
        => Drop(DropReason::MartianSource);
    drop_source_class_e_and_broadcast:
        vec![addressed(Ipv4Addr::new(240, 0, 0, 1), DST), addressed(Ipv4Addr::BROADCAST, DST)]
        => Drop(DropReason::MartianSource);
    drop_martian_source_even_to_a_local_address:
        vec![addressed(Ipv4Addr::new(127, 0, 0, 1), Ipv4Addr::from(LOCAL[0]))] => Drop(DropReason::MartianSource);
    drop_destination_this_network:
        vec![to(Ipv4Addr::new(0, 0, 0, 0)), to(Ipv4Addr::new(0, 9, 9, 9))] => Drop(DropReason::MartianDestination);
    drop_destination_loopback:
        vec![to(Ipv4Addr::new(127, 0, 0, 1))] => Drop(DropReason::MartianDestination);
    drop_destination_class_e:
        vec![to(Ipv4Addr::new(240, 0, 0, 1)), to(Ipv4Addr::new(255, 255, 255, 254))]
        => Drop(DropReason::MartianDestination);
    drop_limited_broadcast_destination:
        vec![to(Ipv4Addr::BROADCAST)] => Drop(DropReason::LimitedBroadcast);
    drop_multicast_destination:
        vec![to(Ipv4Addr::new(224, 0, 0, 5)), to(Ipv4Addr::new(239, 255, 255, 250))]
        => Drop(DropReason::MulticastDestination);
    // RFC 1812 5.3.4.
    drop_unicast_datagram_in_link_layer_broadcast:
        vec![Spec::default().with(|s| s.dst_mac = EthernetAddress::BROADCAST).build(),
             Spec::default().with(|s| s.dst_mac = EthernetAddress([0x01, 0, 0x5e, 0, 0, 1])).build()]
        => Drop(DropReason::L2Multicast);
    // A unicast frame for another station (promiscuous port, flooding switch): checked
    // first, whatever the rest of the frame (here: valid, to a local address, ARP).
    drop_unicast_frame_for_another_station:
        vec![Spec::default().with(|s| s.dst_mac = SENDER_MAC).build(),
             Spec::default().with(|s| s.dst_mac = EGRESS_MAC).build(),
             Spec::default().with(|s| s.dst_mac = EthernetAddress([0x02, 0xf1, 0, 0, 0, 0])).build(),
             Spec::default().with(|s| { s.dst_mac = SENDER_MAC; s.ip.dst_addr = Ipv4Addr::from(LOCAL[0]); }).build(),
             Spec::default().with(|s| { s.dst_mac = SENDER_MAC; s.ethertype = EtherType::ARP; }).build()]
        => Drop(DropReason::L2OtherHost);
    // Blackhole routes.
    drop_blackhole_route:
        vec![to(DST_BLACKHOLE)] => Drop(DropReason::Blackhole);
    // Exceptions for the control plane.
    punt_arp:
        vec![Spec::default().with(|s| s.ethertype = EtherType::ARP).build()] => Punt(PuntReason::Arp);
    punt_tagged_arp:
        vec![Spec::default().with(|s| { s.vlan = Some(VlanTag::default()); s.ethertype = EtherType::ARP; }).build()]
        => Punt(PuntReason::Arp);
    punt_destination_local:
        LOCAL.iter().map(|&a| to(Ipv4Addr::from(a))).collect() => Punt(PuntReason::Local);
    punt_local_with_ttl_1_as_local_not_expired:
        vec![Spec::default().with(|s| { s.ip.dst_addr = Ipv4Addr::from(LOCAL[0]); s.ip.ttl = 1; }).build(),
             Spec::default().with(|s| { s.ip.dst_addr = Ipv4Addr::from(LOCAL[1]); s.ip.ttl = 0; }).build()]
        => Punt(PuntReason::Local);
    punt_local_in_link_layer_broadcast:
        vec![Spec::default().with(|s| { s.ip.dst_addr = Ipv4Addr::from(LOCAL[0]); s.dst_mac = EthernetAddress::BROADCAST; }).build()]
        => Punt(PuntReason::Local);
    punt_ttl_1:
        vec![Spec::default().with(|s| s.ip.ttl = 1).build()] => Punt(PuntReason::TtlExceeded);
    punt_ttl_0:
        vec![Spec::default().with(|s| s.ip.ttl = 0).build()] => Punt(PuntReason::TtlExceeded);
    punt_ip_options:
        vec![with_options()] => Punt(PuntReason::IpOptions);
    punt_no_route:
        vec![to(DST_NO_ROUTE)] => Punt(PuntReason::NoRoute);
    punt_unresolved_gateway:
        vec![to(DST_UNRESOLVED)] => Punt(PuntReason::Unresolved);
    punt_connected_destination_for_arp:
        vec![to(DST_CONNECTED)] => Punt(PuntReason::Unresolved);
    punt_frag_needed_when_too_big_with_df:
        vec![Spec::default().with(|s| s.ip.payload_len = usize::from(EGRESS_MTU) - 19).build()]
        => Punt(PuntReason::FragNeeded);
    punt_fragment_when_too_big_without_df:
        vec![Spec::default().with(|s| { s.ip.payload_len = usize::from(EGRESS_MTU) - 19; s.ip.dont_frag = false; }).build()]
        => Punt(PuntReason::Fragment);
}

#[test]
fn frag_needed_carries_the_egress_mtu_and_nexthop() {
    let mut rig = rig();
    let frame = Spec::default()
        .with(|s| s.ip.payload_len = usize::from(EGRESS_MTU) - 19)
        .build();
    assert!(rig.through(&frame).is_empty());
    let punted = rig.handle.next_punt().unwrap();
    assert_eq!(punted.reason, PuntReason::FragNeeded);
    assert_eq!(punted.egress_mtu, EGRESS_MTU);
    assert_eq!(punted.nexthop, Some(rig.ids.0));
}

#[test]
fn local_punt_names_the_local_nexthop() {
    let mut rig = rig();
    assert!(rig.through(&to(Ipv4Addr::from(LOCAL[0]))).is_empty());
    let punted = rig.handle.next_punt().unwrap();
    assert_eq!(punted.reason, PuntReason::Local);
    assert_eq!(punted.nexthop, Some(rig.ids.2));
    assert_eq!(punted.egress_mtu, 0);
}

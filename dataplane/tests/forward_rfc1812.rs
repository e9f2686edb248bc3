//! The per-packet forwarding decision: byte-exact forwarding, and every RFC 1812
//! malformation or exception in its own test, with the reason it must be counted under.

mod forward_support;

use std::net::Ipv4Addr;

use dataplane::forward::{
    classify, forward, rewrite, Adjacency, DropReason, Outcome, PuntReason, Verdict,
};
use dataplane::wire::checksum;
use dataplane::wire::{EtherType, EthernetAddress, IpProtocol, VlanTag};
use forward_support::*;

fn lookup(_dst: u32) -> Option<Adjacency> {
    Some(adjacency())
}

/// Runs the whole path and asserts the frame was left byte for byte as received.
fn untouched_outcome(frame: &[u8]) -> Outcome {
    let mut buffer = frame.to_vec();
    let outcome = forward(&mut buffer, INGRESS_MAC, &LOCAL[..], lookup);
    assert!(
        !matches!(outcome, Outcome::Transmit { .. }),
        "forwarded: {outcome:?}"
    );
    assert_eq!(buffer, frame, "a frame that was not forwarded was modified");
    outcome
}

fn assert_dropped(frame: &[u8], reason: DropReason) {
    assert_eq!(untouched_outcome(frame), Outcome::Drop(reason));
}

fn assert_punted(frame: &[u8], reason: PuntReason) {
    assert_eq!(untouched_outcome(frame), Outcome::Punt(reason));
}

/// Sets IPv4 header byte `at` (after the Ethernet header) and refreshes the checksum, so
/// the test isolates the field it is about.
fn with_ip_byte(spec: &Spec, at: usize, value: u8) -> Vec<u8> {
    let mut frame = spec.build();
    let l2 = spec.l2_len();
    frame[l2 + at] = value;
    refresh_checksum(&mut frame, l2, 20);
    frame
}

fn refresh_checksum(frame: &mut [u8], l2: usize, header_len: usize) {
    frame[l2 + 10] = 0;
    frame[l2 + 11] = 0;
    let sum = checksum::checksum(&frame[l2..l2 + header_len]);
    frame[l2 + 10..l2 + 12].copy_from_slice(&sum.to_be_bytes());
}

fn with_addresses(src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    Spec::default()
        .with(|s| {
            s.ip.src_addr = src;
            s.ip.dst_addr = dst;
        })
        .build()
}

// ---- forwarded ----

#[test]
fn forwards_byte_exact() {
    let before = Spec::default().build();
    assert_eq!(
        classify(&before, INGRESS_MAC, &LOCAL[..]),
        Verdict::Forward {
            dst: u32::from(DST)
        }
    );
    let mut after = before.clone();
    assert_eq!(
        rewrite(&mut after, &adjacency()),
        Outcome::Transmit { port: 3 }
    );

    let mut expected = before.clone();
    expected[0..6].copy_from_slice(&NEXTHOP_MAC.0);
    expected[6..12].copy_from_slice(&EGRESS_MAC.0);
    expected[14 + 8] = 63;
    expected[14 + 10] = 0;
    expected[14 + 11] = 0;
    let from_scratch = checksum::checksum(&expected[14..34]);
    expected[14 + 10..14 + 12].copy_from_slice(&from_scratch.to_be_bytes());
    assert_eq!(after, expected);
    assert_eq!(after[34..], before[34..], "payload touched");
    check_forwarded(&before, &after, &adjacency()).unwrap();
}

#[test]
fn forwards_tagged_frame_keeping_its_tag() {
    let tag = VlanTag {
        pcp: 3,
        dei: false,
        vid: 100,
    };
    let spec = Spec::default().with(|s| s.vlan = Some(tag));
    let before = spec.build();
    let mut after = before.clone();
    assert_eq!(
        forward(&mut after, INGRESS_MAC, &LOCAL[..], lookup),
        Outcome::Transmit { port: 3 }
    );
    assert_eq!(after[12..18], before[12..18], "tag or ethertype changed");
    assert_eq!(after[18 + 8], 63);
    check_forwarded(&before, &after, &adjacency()).unwrap();
}

#[test]
fn forwards_with_ethernet_padding_kept() {
    let spec = Spec::default().with(|s| {
        s.ip.payload_len = 0;
        s.padding = 26;
    });
    let before = spec.build();
    assert_eq!(before.len(), 60);
    let mut after = before.clone();
    assert_eq!(
        forward(&mut after, INGRESS_MAC, &LOCAL[..], lookup),
        Outcome::Transmit { port: 3 }
    );
    check_forwarded(&before, &after, &adjacency()).unwrap();
}

#[test]
fn forwards_fragments_without_reassembly() {
    let before = Spec::default()
        .with(|s| {
            s.ip.dont_frag = false;
            s.ip.more_frags = true;
            s.ip.frag_offset = 1480;
        })
        .build();
    let mut after = before.clone();
    assert_eq!(
        forward(&mut after, INGRESS_MAC, &LOCAL[..], lookup),
        Outcome::Transmit { port: 3 }
    );
    check_forwarded(&before, &after, &adjacency()).unwrap();
}

#[test]
fn forwards_ttl_2_as_ttl_1() {
    let before = Spec::default().with(|s| s.ip.ttl = 2).build();
    let mut after = before.clone();
    assert_eq!(
        forward(&mut after, INGRESS_MAC, &LOCAL[..], lookup),
        Outcome::Transmit { port: 3 }
    );
    assert_eq!(after[14 + 8], 1);
    check_forwarded(&before, &after, &adjacency()).unwrap();
}

#[test]
fn forwards_datagram_of_exactly_the_mtu() {
    let before = Spec::default().with(|s| s.ip.payload_len = 1480).build();
    let mut after = before.clone();
    assert_eq!(
        forward(&mut after, INGRESS_MAC, &LOCAL[..], lookup),
        Outcome::Transmit { port: 3 }
    );
    check_forwarded(&before, &after, &adjacency()).unwrap();
}

#[test]
fn forwards_every_protocol_alike() {
    for protocol in [
        IpProtocol::ICMP,
        IpProtocol::TCP,
        IpProtocol(47),
        IpProtocol(255),
    ] {
        let before = Spec::default().with(|s| s.ip.protocol = protocol).build();
        let mut after = before.clone();
        assert_eq!(
            forward(&mut after, INGRESS_MAC, &LOCAL[..], lookup),
            Outcome::Transmit { port: 3 }
        );
        check_forwarded(&before, &after, &adjacency()).unwrap();
    }
}

// ---- dropped: link layer ----

#[test]
fn drop_frame_shorter_than_ethernet_header() {
    let frame = Spec::default().build();
    for len in 0..14 {
        assert_dropped(&frame[..len], DropReason::TooShort);
    }
}

#[test]
fn drop_tagged_frame_shorter_than_tag() {
    let frame = Spec::default()
        .with(|s| s.vlan = Some(VlanTag::default()))
        .build();
    for len in 14..18 {
        assert_dropped(&frame[..len], DropReason::TooShort);
    }
}

#[test]
fn drop_ipv6_ethertype() {
    let frame = Spec::default()
        .with(|s| s.ethertype = EtherType(0x86dd))
        .build();
    assert_dropped(&frame, DropReason::NotIpv4);
}

#[test]
fn drop_stacked_vlan_tags() {
    // QinQ outer tag: not understood, not IPv4.
    let mut frame = Spec::default().build();
    frame[12..14].copy_from_slice(&[0x88, 0xa8]);
    assert_dropped(&frame, DropReason::NotIpv4);
    // 802.1Q inside 802.1Q.
    let frame = Spec::default()
        .with(|s| {
            s.vlan = Some(VlanTag::default());
            s.ethertype = EtherType::VLAN;
        })
        .build();
    assert_dropped(&frame, DropReason::NotIpv4);
}

// ---- dropped: RFC 1812 5.2.2 validation ----

#[test]
fn drop_ipv4_header_shorter_than_20_bytes() {
    let frame = Spec::default().build();
    for len in 14..34 {
        assert_dropped(&frame[..len], DropReason::TooShort);
    }
}

#[test]
fn drop_version_not_4() {
    for version in [0u8, 1, 5, 6, 15] {
        let frame = with_ip_byte(&Spec::default(), 0, (version << 4) | 5);
        assert_dropped(&frame, DropReason::BadVersion);
    }
}

#[test]
fn drop_ihl_below_5() {
    for ihl in 0u8..5 {
        let frame = with_ip_byte(&Spec::default(), 0, 0x40 | ihl);
        assert_dropped(&frame, DropReason::BadIhl);
    }
}

#[test]
fn drop_header_longer_than_frame() {
    // IHL 15 (60 bytes) in a 46-byte datagram.
    let frame = with_ip_byte(&Spec::default(), 0, 0x4f);
    assert_dropped(&frame, DropReason::TooShort);
}

#[test]
fn drop_total_length_shorter_than_header() {
    for total_len in [0u16, 1, 19] {
        let spec = Spec::default();
        let mut frame = spec.build();
        frame[16..18].copy_from_slice(&total_len.to_be_bytes());
        refresh_checksum(&mut frame, 14, 20);
        assert_dropped(&frame, DropReason::BadTotalLength);
    }
}

#[test]
fn drop_total_length_beyond_frame() {
    let spec = Spec::default();
    let mut frame = spec.build();
    let carried = (frame.len() - 14) as u16;
    frame[16..18].copy_from_slice(&(carried + 1).to_be_bytes());
    refresh_checksum(&mut frame, 14, 20);
    assert_dropped(&frame, DropReason::BadTotalLength);
    // A truncated frame of a correct datagram is the same case.
    let frame = spec.build();
    assert_dropped(&frame[..frame.len() - 1], DropReason::BadTotalLength);
}

#[test]
fn drop_total_length_covering_options_only() {
    // IHL 6 with total length 22: shorter than the 24-byte header.
    let mut frame = Spec::default().build();
    frame[14] = 0x46;
    frame[16..18].copy_from_slice(&22u16.to_be_bytes());
    refresh_checksum(&mut frame, 14, 24);
    assert_dropped(&frame, DropReason::BadTotalLength);
}

#[test]
fn drop_bad_checksum() {
    let mut frame = Spec::default().build();
    frame[14 + 11] ^= 0x01;
    assert_dropped(&frame, DropReason::BadChecksum);
}

#[test]
fn drop_bad_checksum_over_options() {
    // Options are covered by the checksum: a flipped option byte is caught.
    let mut frame = Spec::default().build();
    frame[14] = 0x46;
    refresh_checksum(&mut frame, 14, 24);
    frame[14 + 21] ^= 0x80;
    assert_dropped(&frame, DropReason::BadChecksum);
}

#[test]
fn drop_corrupted_field_under_valid_looking_checksum() {
    // A TTL changed in transit without a checksum update.
    let mut frame = Spec::default().build();
    frame[14 + 8] = 200;
    assert_dropped(&frame, DropReason::BadChecksum);
}

// ---- dropped: RFC 1812 5.3.7 addresses ----

#[test]
fn drop_source_this_network() {
    assert_dropped(
        &with_addresses(Ipv4Addr::new(0, 0, 0, 0), DST),
        DropReason::MartianSource,
    );
    assert_dropped(
        &with_addresses(Ipv4Addr::new(0, 1, 2, 3), DST),
        DropReason::MartianSource,
    );
}

#[test]
fn drop_source_loopback() {
    assert_dropped(
        &with_addresses(Ipv4Addr::new(127, 0, 0, 1), DST),
        DropReason::MartianSource,
    );
}

#[test]
fn drop_source_multicast() {
    assert_dropped(
        &with_addresses(Ipv4Addr::new(224, 0, 0, 5), DST),
        DropReason::MartianSource,
    );
    assert_dropped(
        &with_addresses(Ipv4Addr::new(239, 255, 255, 250), DST),
        DropReason::MartianSource,
    );
}

#[test]
fn drop_source_class_e_and_broadcast() {
    assert_dropped(
        &with_addresses(Ipv4Addr::new(240, 0, 0, 1), DST),
        DropReason::MartianSource,
    );
    assert_dropped(
        &with_addresses(Ipv4Addr::BROADCAST, DST),
        DropReason::MartianSource,
    );
}

#[test]
fn drop_martian_source_even_to_a_local_address() {
    let local = Ipv4Addr::from(LOCAL[0]);
    assert_dropped(
        &with_addresses(Ipv4Addr::new(127, 0, 0, 1), local),
        DropReason::MartianSource,
    );
}

#[test]
fn drop_destination_this_network() {
    assert_dropped(
        &with_addresses(SRC, Ipv4Addr::new(0, 0, 0, 0)),
        DropReason::MartianDestination,
    );
    assert_dropped(
        &with_addresses(SRC, Ipv4Addr::new(0, 9, 9, 9)),
        DropReason::MartianDestination,
    );
}

#[test]
fn drop_destination_loopback() {
    assert_dropped(
        &with_addresses(SRC, Ipv4Addr::new(127, 0, 0, 1)),
        DropReason::MartianDestination,
    );
}

#[test]
fn drop_destination_class_e() {
    assert_dropped(
        &with_addresses(SRC, Ipv4Addr::new(240, 0, 0, 1)),
        DropReason::MartianDestination,
    );
    assert_dropped(
        &with_addresses(SRC, Ipv4Addr::new(255, 255, 255, 254)),
        DropReason::MartianDestination,
    );
}

#[test]
fn drop_limited_broadcast_destination() {
    assert_dropped(
        &with_addresses(SRC, Ipv4Addr::BROADCAST),
        DropReason::LimitedBroadcast,
    );
}

#[test]
fn drop_multicast_destination() {
    assert_dropped(
        &with_addresses(SRC, Ipv4Addr::new(224, 0, 0, 1)),
        DropReason::MulticastDestination,
    );
    assert_dropped(
        &with_addresses(SRC, Ipv4Addr::new(239, 1, 2, 3)),
        DropReason::MulticastDestination,
    );
}

#[test]
fn drop_unicast_datagram_in_link_layer_broadcast() {
    // RFC 1812 5.3.4: a link-layer broadcast is not forwarded as unicast.
    let frame = Spec::default()
        .with(|s| s.dst_mac = EthernetAddress::BROADCAST)
        .build();
    assert_dropped(&frame, DropReason::L2Multicast);
    let frame = Spec::default()
        .with(|s| s.dst_mac = EthernetAddress([0x01, 0x00, 0x5e, 0, 0, 1]))
        .build();
    assert_dropped(&frame, DropReason::L2Multicast);
}

#[test]
fn drop_unicast_frame_for_another_station() {
    // A frame a promiscuous port or a flooding switch delivers to us although it is
    // addressed to another host on the segment (Linux: PACKET_OTHERHOST): not forwarded.
    for other in [
        SENDER_MAC,
        EGRESS_MAC,
        EthernetAddress([0x02, 0xf1, 0x00, 0x00, 0x00, 0x00]),
        EthernetAddress([0x00, 0x00, 0x00, 0x00, 0x00, 0x00]),
        // Every byte of the port's MAC, one at a time.
        EthernetAddress([0x06, 0xf1, 0x00, 0x00, 0x00, 0x01]),
        EthernetAddress([0x02, 0xf0, 0x00, 0x00, 0x00, 0x01]),
        EthernetAddress([0x02, 0xf1, 0x80, 0x00, 0x00, 0x01]),
        EthernetAddress([0x02, 0xf1, 0x00, 0x01, 0x00, 0x01]),
        EthernetAddress([0x02, 0xf1, 0x00, 0x00, 0x10, 0x01]),
        EthernetAddress([0x02, 0xf1, 0x00, 0x00, 0x00, 0x81]),
    ] {
        let frame = Spec::default().with(|s| s.dst_mac = other).build();
        assert_dropped(&frame, DropReason::L2OtherHost);
        assert_eq!(
            classify(&frame, INGRESS_MAC, &LOCAL[..]),
            Verdict::Drop(DropReason::L2OtherHost)
        );
        // The same frame on a port that has that MAC is forwarded.
        assert!(matches!(
            classify(&frame, other, &LOCAL[..]),
            Verdict::Forward { .. }
        ));
    }
}

#[test]
fn drop_for_another_station_before_any_other_check() {
    // Checked first, as Linux drops PACKET_OTHERHOST before any protocol sees the frame:
    // tagged, ARP, not IPv4, to one of our addresses, malformed.
    let other = |s: &mut Spec| s.dst_mac = SENDER_MAC;
    let tagged = Spec::default()
        .with(other)
        .with(|s| {
            s.vlan = Some(VlanTag {
                pcp: 0,
                dei: false,
                vid: 42,
            })
        })
        .build();
    assert_dropped(&tagged, DropReason::L2OtherHost);
    let arp = Spec::default()
        .with(other)
        .with(|s| s.ethertype = EtherType::ARP)
        .build();
    assert_dropped(&arp, DropReason::L2OtherHost);
    let ipv6 = Spec::default()
        .with(other)
        .with(|s| s.ethertype = EtherType(0x86dd))
        .build();
    assert_dropped(&ipv6, DropReason::L2OtherHost);
    let local = Spec::default()
        .with(other)
        .with(|s| s.ip.dst_addr = Ipv4Addr::from(LOCAL[0]))
        .build();
    assert_dropped(&local, DropReason::L2OtherHost);
    let mut bad_checksum = Spec::default().with(other).build();
    bad_checksum[24] ^= 0xff;
    assert_dropped(&bad_checksum, DropReason::L2OtherHost);
    let ttl_1 = Spec::default().with(other).with(|s| s.ip.ttl = 1).build();
    assert_dropped(&ttl_1, DropReason::L2OtherHost);
    // Shorter than an Ethernet header: too short, whatever its first bytes.
    assert_dropped(&tagged[..13], DropReason::TooShort);
}

#[test]
fn group_addressed_frames_are_not_for_another_station() {
    // Broadcast and multicast frames pass the MAC check and meet the IPv4 rules.
    for group in [
        EthernetAddress::BROADCAST,
        EthernetAddress([0x01, 0x00, 0x5e, 0x00, 0x00, 0x01]),
        EthernetAddress([0x33, 0x33, 0x00, 0x00, 0x00, 0x01]),
    ] {
        let frame = Spec::default().with(|s| s.dst_mac = group).build();
        assert_dropped(&frame, DropReason::L2Multicast);
        let frame = Spec::default()
            .with(|s| {
                s.dst_mac = group;
                s.ip.dst_addr = Ipv4Addr::BROADCAST;
            })
            .build();
        assert_dropped(&frame, DropReason::LimitedBroadcast);
        let frame = Spec::default()
            .with(|s| {
                s.dst_mac = group;
                s.ip.dst_addr = Ipv4Addr::new(224, 0, 0, 5);
            })
            .build();
        assert_dropped(&frame, DropReason::MulticastDestination);
        let mut arp = Spec::default().with(|s| s.dst_mac = group).build();
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_punted(&arp, PuntReason::Arp);
    }
}

// ---- punted ----

#[test]
fn punt_arp() {
    let mut frame = Spec::default().build();
    frame[12..14].copy_from_slice(&[0x08, 0x06]);
    assert_punted(&frame, PuntReason::Arp);
}

#[test]
fn punt_tagged_arp() {
    let frame = Spec::default()
        .with(|s| {
            s.vlan = Some(VlanTag {
                pcp: 0,
                dei: false,
                vid: 42,
            });
            s.ethertype = EtherType::ARP;
        })
        .build();
    assert_punted(&frame, PuntReason::Arp);
}

#[test]
fn punt_destination_local() {
    for local in LOCAL {
        assert_punted(
            &with_addresses(SRC, Ipv4Addr::from(local)),
            PuntReason::Local,
        );
    }
}

#[test]
fn punt_local_even_with_ttl_1_or_broadcast_mac() {
    let frame = Spec::default()
        .with(|s| {
            s.ip.dst_addr = Ipv4Addr::from(LOCAL[0]);
            s.ip.ttl = 1;
            s.dst_mac = EthernetAddress::BROADCAST;
        })
        .build();
    assert_punted(&frame, PuntReason::Local);
}

#[test]
fn punt_local_with_closure() {
    let frame = with_addresses(SRC, DST);
    let is_ours = |addr: u32| addr == u32::from(DST);
    assert_eq!(
        classify(&frame, INGRESS_MAC, &is_ours),
        Verdict::Punt(PuntReason::Local)
    );
}

#[test]
fn punt_ttl_1() {
    let frame = Spec::default().with(|s| s.ip.ttl = 1).build();
    assert_punted(&frame, PuntReason::TtlExceeded);
}

#[test]
fn punt_ttl_0() {
    let frame = Spec::default().with(|s| s.ip.ttl = 0).build();
    assert_punted(&frame, PuntReason::TtlExceeded);
}

#[test]
fn punt_ip_options() {
    // IHL 6 with a 4-byte router alert option; total length covers it.
    let spec = Spec::default();
    let mut frame = spec.build();
    frame[14] = 0x46;
    frame[14 + 20..14 + 24].copy_from_slice(&[0x94, 0x04, 0x00, 0x00]);
    refresh_checksum(&mut frame, 14, 24);
    assert_punted(&frame, PuntReason::IpOptions);
}

#[test]
fn punt_frag_needed_when_too_big_with_df() {
    let frame = Spec::default().with(|s| s.ip.payload_len = 1481).build();
    assert_punted(&frame, PuntReason::FragNeeded);
}

#[test]
fn punt_fragment_when_too_big_without_df() {
    let frame = Spec::default()
        .with(|s| {
            s.ip.payload_len = 1481;
            s.ip.dont_frag = false;
        })
        .build();
    assert_punted(&frame, PuntReason::Fragment);
}

#[test]
fn punt_no_route() {
    let frame = Spec::default().build();
    let mut buffer = frame.clone();
    assert_eq!(
        forward(&mut buffer, INGRESS_MAC, &LOCAL[..], |_| None),
        Outcome::Punt(PuntReason::NoRoute)
    );
    assert_eq!(buffer, frame);
}

// ---- rewrite on its own ----

#[test]
fn rewrite_never_emits_ttl_0() {
    // rewrite() called on a frame classify() would have punted: it punts too.
    let frame = Spec::default().with(|s| s.ip.ttl = 1).build();
    let mut buffer = frame.clone();
    assert_eq!(
        rewrite(&mut buffer, &adjacency()),
        Outcome::Punt(PuntReason::TtlExceeded)
    );
    assert_eq!(buffer, frame);
}

#[test]
fn rewrite_refuses_short_frames() {
    let frame = Spec::default().build();
    for len in 0..34 {
        let mut buffer = frame[..len].to_vec();
        assert_eq!(
            rewrite(&mut buffer, &adjacency()),
            Outcome::Drop(DropReason::TooShort)
        );
        assert_eq!(buffer, frame[..len]);
    }
}

// ---- reasons ----

#[test]
fn reasons_are_dense_indexable_and_named() {
    assert_eq!(DropReason::COUNT, DropReason::ALL.len());
    assert_eq!(PuntReason::COUNT, PuntReason::ALL.len());
    for (i, reason) in DropReason::ALL.iter().enumerate() {
        assert_eq!(reason.index(), i);
        assert_eq!(DropReason::from_index(i), Some(*reason));
        assert_eq!(reason.to_string(), reason.name());
    }
    for (i, reason) in PuntReason::ALL.iter().enumerate() {
        assert_eq!(reason.index(), i);
        assert_eq!(PuntReason::from_index(i), Some(*reason));
    }
    assert_eq!(DropReason::from_index(DropReason::COUNT), None);
    let names: Vec<&str> = DropReason::ALL
        .iter()
        .map(|r| r.name())
        .chain(PuntReason::ALL.iter().map(|r| r.name()))
        .collect();
    for name in &names {
        assert!(
            name.bytes()
                .all(|c| c.is_ascii_lowercase() || c == b'_' || c.is_ascii_digit()),
            "{name} is not snake_case"
        );
    }
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "reason names collide");
    // Names are part of the counter export: pin a few.
    assert_eq!(DropReason::BadChecksum.name(), "bad_checksum");
    assert_eq!(PuntReason::TtlExceeded.name(), "ttl_exceeded");
    assert_eq!(PuntReason::FragNeeded.name(), "frag_needed");
}

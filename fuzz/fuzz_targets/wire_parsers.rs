//! Every wire view and Repr parser over arbitrary bytes: no panic, and whatever parses
//! re-emits to bytes that parse to the same Repr.

#![no_main]

use std::net::Ipv4Addr;

use dataplane::wire::icmpv4::{emit_error, may_send_error_about, quote_of, ErrorKind};
use dataplane::wire::{
    ArpPacket, ArpRepr, EthernetFrame, EthernetRepr, Icmpv4Packet, Icmpv4Repr, Ipv4Packet,
    Ipv4Repr, TimeExceeded,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = EthernetFrame::new_checked(data) {
        let repr = EthernetRepr::parse(&frame).expect("checked frame parses");
        let mut out = vec![0u8; repr.header_len()];
        repr.emit(&mut out).expect("sized buffer");
        // A tagged repr re-emits the tag; an untagged one the ethertype.
        assert_eq!(
            EthernetRepr::parse(&EthernetFrame::new_checked(&out[..]).unwrap()).unwrap(),
            repr
        );
        let _ = frame.payload();
    }

    if let Ok(packet) = ArpPacket::new_checked(data) {
        if let Ok(repr) = ArpRepr::parse(&packet) {
            let mut out = [0u8; 28];
            repr.emit(&mut ArpPacket::new_checked(&mut out[..]).unwrap());
            assert_eq!(
                ArpRepr::parse(&ArpPacket::new_checked(&out[..]).unwrap()).unwrap(),
                repr
            );
        }
    }

    if let Ok(packet) = Ipv4Packet::new_checked(data) {
        let _ = (packet.options(), packet.payload(), packet.verify_checksum());
        let _ = may_send_error_about(&packet);
        if let Ok(repr) = Ipv4Repr::parse(&packet) {
            let mut out = vec![0u8; repr.buffer_len()];
            repr.emit(&mut out).expect("sized buffer");
            let reparsed = Ipv4Repr::parse(&Ipv4Packet::new_checked(&out[..]).unwrap()).unwrap();
            assert_eq!(reparsed, repr);
        }
        let mut out = [0u8; 600];
        if let Ok(len) = emit_error(
            ErrorKind::TimeExceeded(TimeExceeded::TtlExpired),
            data,
            Ipv4Addr::new(192, 0, 2, 1),
            64,
            &mut out,
        ) {
            assert!(len <= 576);
            let error = Ipv4Packet::new_checked(&out[..len]).unwrap();
            assert!(Ipv4Repr::parse(&error).is_ok());
            assert!(
                Icmpv4Repr::parse(&Icmpv4Packet::new_checked(error.payload()).unwrap()).is_ok()
            );
        }
    }
    let _ = quote_of(data);

    if let Ok(packet) = Icmpv4Packet::new_checked(data) {
        if let Ok(repr) = Icmpv4Repr::parse(&packet) {
            let mut out = vec![0u8; repr.buffer_len()];
            repr.emit(&mut out).expect("sized buffer");
            // Type, code and data re-emit unchanged. The checksum may not: one's complement
            // has two zeros, so a received 0xffff where 0x0000 is canonical (or the reverse)
            // verifies too and is re-emitted canonical. Nor may bytes 4..8 of the errors:
            // unused bits, and the MTU field of codes other than "fragmentation needed",
            // are emitted as zero.
            assert_eq!(out.len(), data.len());
            assert_eq!(out[..2], data[..2]);
            assert_eq!(
                out[8..],
                data[8..],
                "a valid message re-emits its data unchanged"
            );
            let reparsed = Icmpv4Packet::new_checked(&out[..]).unwrap();
            assert_eq!(Icmpv4Repr::parse(&reparsed).unwrap(), repr);
        }
    }
});

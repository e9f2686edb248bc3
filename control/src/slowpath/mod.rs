//! The control plane's side of the exception path: what it does with a frame a
//! forwarding core punted.
//!
//! - ARP: answers requests for the router's interface addresses and learns the
//!   sender (RFC 826's merge rule); replies teach it the neighbours it asked for.
//! - Packets for the router: ICMP echo is answered; UDP gets port unreachable (so a
//!   `traceroute` to the router ends); other protocols get protocol unreachable;
//!   TCP is dropped (fibre runs no TCP service on its interfaces).
//! - RFC 1812 errors: TTL expired → time exceeded; no route → network unreachable;
//!   too big with DF → fragmentation needed carrying the egress MTU (RFC 1191).
//!   Every error obeys RFC 1812 §4.3.2.7 (never about an ICMP error, a non-first
//!   fragment, a broadcast or multicast, or a martian source) and a token-bucket rate
//!   limit (§4.3.2.8), separate from the one for echo replies.
//! - An unresolved nexthop asks the caller to resolve the destination (it knows the
//!   FIB: the gateway for a gateway route, the host itself for a connected one).
//!
//! Replies go back out of the ingress port to the frame's sender, keeping any
//! 802.1Q tag: the previous hop is on that link, and an ICMP error routed anywhere
//! else would be a second lookup for no gain. Fragmenting (DF clear, too big) and
//! IP options are not implemented: such frames are counted and dropped.
//!
//! Nothing here is on a core's hot path; it allocates its replies.

pub mod punts;

use crate::interfaces::InterfaceAddr;
use dataplane::forward::PuntReason;
use dataplane::wire::arp::{self, Operation as ArpOperation, Packet as ArpPacket, Repr as ArpRepr};
use dataplane::wire::ethernet::{EtherType, EthernetAddress, Frame, Repr as EthernetRepr};
use dataplane::wire::icmpv4::{
    self, DstUnreachable, ErrorKind, Packet as IcmpPacket, Repr as IcmpRepr, TimeExceeded,
};
use dataplane::wire::ipv4::{Packet as Ipv4Packet, Protocol as IpProtocol, Repr as Ipv4Repr};
use fib::PortId;
use std::net::Ipv4Addr;
use std::time::Instant;

/// TTL of the datagrams the router originates.
pub const ORIGINATED_TTL: u8 = 64;

/// One interface address of the router, with the port it is on and that port's MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interface {
    pub port: PortId,
    pub addr: InterfaceAddr,
    pub mac: EthernetAddress,
}

/// Token bucket: `rate` tokens per second, at most `burst` saved up.
#[derive(Debug, Clone)]
pub struct RateLimit {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Option<Instant>,
}

impl RateLimit {
    pub fn new(rate_per_sec: u32, burst: u32) -> Self {
        RateLimit {
            rate: f64::from(rate_per_sec),
            burst: f64::from(burst),
            tokens: f64::from(burst),
            last: None,
        }
    }

    /// Takes a token if one is there.
    pub fn allow(&mut self, now: Instant) -> bool {
        if let Some(last) = self.last {
            let dt = now.saturating_duration_since(last).as_secs_f64();
            self.tokens = (self.tokens + dt * self.rate).min(self.burst);
        }
        self.last = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What the slow path wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlowAction {
    /// Transmit this frame on this port.
    Send { port: PortId, frame: Vec<u8> },
    /// A neighbour announced itself (ARP): record its MAC.
    Learned {
        port: PortId,
        addr: Ipv4Addr,
        mac: EthernetAddress,
    },
    /// A packet waits on an unresolved neighbour: resolve the route's neighbour for `dst`.
    Resolve { port: PortId, dst: Ipv4Addr },
}

/// What the slow path did, by outcome. Every punted frame lands in exactly one.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SlowPathCounters {
    pub arp_replies: u64,
    pub arp_learned: u64,
    pub arp_ignored: u64,
    pub echo_replies: u64,
    pub icmp_errors: u64,
    pub rate_limited: u64,
    /// RFC 1812 §4.3.2.7 forbids an error about this datagram.
    pub error_suppressed: u64,
    pub resolve_requests: u64,
    pub local_tcp_dropped: u64,
    /// ICMP to the router other than echo requests.
    pub local_ignored: u64,
    pub fragmentation_unsupported: u64,
    pub ip_options_unsupported: u64,
    pub malformed: u64,
    pub no_interface: u64,
}

/// The exception handler of one router.
#[derive(Debug)]
pub struct SlowPath {
    interfaces: Vec<Interface>,
    errors: RateLimit,
    echoes: RateLimit,
    counters: SlowPathCounters,
}

impl SlowPath {
    /// `error_rate`/`error_burst` limit ICMP errors; echo replies get ten times that.
    pub fn new(interfaces: Vec<Interface>, error_rate: u32, error_burst: u32) -> Self {
        SlowPath {
            interfaces,
            errors: RateLimit::new(error_rate, error_burst),
            echoes: RateLimit::new(
                error_rate.saturating_mul(10),
                error_burst.saturating_mul(10),
            ),
            counters: SlowPathCounters::default(),
        }
    }

    pub fn counters(&self) -> SlowPathCounters {
        self.counters
    }

    pub fn interfaces(&self) -> &[Interface] {
        &self.interfaces
    }

    pub fn set_interfaces(&mut self, interfaces: Vec<Interface>) {
        self.interfaces = interfaces;
    }

    fn interface_on(&self, port: PortId) -> Option<&Interface> {
        self.interfaces.iter().find(|i| i.port == port)
    }

    fn is_ours(&self, addr: Ipv4Addr) -> bool {
        self.interfaces.iter().any(|i| i.addr.addr == addr)
    }

    /// Handles one punted frame received on `port`. `mtu` is the egress MTU for
    /// `frag_needed` (ignored otherwise).
    pub fn handle(
        &mut self,
        port: PortId,
        reason: PuntReason,
        mtu: u16,
        frame: &[u8],
        now: Instant,
    ) -> Vec<SlowAction> {
        let mut out = Vec::new();
        let Ok(eth) = Frame::new_checked(frame) else {
            self.counters.malformed += 1;
            return out;
        };
        let Ok(eth_repr) = EthernetRepr::parse(&eth) else {
            self.counters.malformed += 1;
            return out;
        };
        if reason == PuntReason::Arp {
            self.arp(port, &eth_repr, eth.payload(), &mut out);
            return out;
        }
        let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) else {
            self.counters.malformed += 1;
            return out;
        };
        let Some(iface) = self.interface_on(port).copied() else {
            self.counters.no_interface += 1;
            return out;
        };
        let error = match reason {
            PuntReason::Local => return self.local(port, &eth_repr, &iface, &ip, now),
            PuntReason::TtlExceeded => ErrorKind::TimeExceeded(TimeExceeded::TtlExpired),
            PuntReason::NoRoute => ErrorKind::DstUnreachable {
                reason: DstUnreachable::NetUnreachable,
                next_hop_mtu: 0,
            },
            PuntReason::FragNeeded => ErrorKind::DstUnreachable {
                reason: DstUnreachable::FragRequired,
                next_hop_mtu: mtu,
            },
            PuntReason::Unresolved => {
                self.counters.resolve_requests += 1;
                out.push(SlowAction::Resolve {
                    port,
                    dst: ip.dst_addr(),
                });
                return out;
            }
            PuntReason::Fragment => {
                self.counters.fragmentation_unsupported += 1;
                return out;
            }
            PuntReason::IpOptions => {
                self.counters.ip_options_unsupported += 1;
                return out;
            }
            PuntReason::Arp => unreachable!("handled above"),
        };
        if let Some(frame) = self.icmp_error(error, &eth_repr, &iface, &ip, now) {
            out.push(SlowAction::Send { port, frame });
        }
        out
    }

    fn arp(&mut self, port: PortId, eth: &EthernetRepr, payload: &[u8], out: &mut Vec<SlowAction>) {
        let Ok(repr) = ArpPacket::new_checked(payload).and_then(|p| ArpRepr::parse(&p)) else {
            self.counters.malformed += 1;
            return;
        };
        let Some(iface) = self
            .interfaces
            .iter()
            .find(|i| i.port == port && i.addr.on_subnet(repr.source_protocol_addr))
            .copied()
        else {
            self.counters.arp_ignored += 1;
            return;
        };
        let sender_ok = repr.source_hardware_addr.is_unicast()
            && !repr.source_protocol_addr.is_unspecified()
            && repr.source_protocol_addr != iface.addr.addr;
        if sender_ok {
            self.counters.arp_learned += 1;
            out.push(SlowAction::Learned {
                port,
                addr: repr.source_protocol_addr,
                mac: repr.source_hardware_addr,
            });
        }
        let for_us = self
            .interfaces
            .iter()
            .any(|i| i.port == port && i.addr.addr == repr.target_protocol_addr);
        if repr.operation == ArpOperation::Request && for_us && sender_ok {
            let reply = repr.reply(iface.mac);
            let eth_reply = EthernetRepr {
                src_addr: iface.mac,
                dst_addr: repr.source_hardware_addr,
                vlan: eth.vlan,
                ethertype: EtherType::ARP,
            };
            let mut frame = vec![0u8; eth_reply.header_len() + arp::PACKET_LEN];
            let hl = eth_reply.emit(&mut frame).expect("sized");
            let mut view = ArpPacket::new_checked(&mut frame[hl..]).expect("sized");
            reply.emit(&mut view);
            self.counters.arp_replies += 1;
            out.push(SlowAction::Send { port, frame });
        } else if !sender_ok {
            self.counters.arp_ignored += 1;
        }
    }

    fn local(
        &mut self,
        port: PortId,
        eth: &EthernetRepr,
        iface: &Interface,
        ip: &Ipv4Packet<&[u8]>,
        now: Instant,
    ) -> Vec<SlowAction> {
        let mut out = Vec::new();
        let proto = ip.protocol();
        if proto == IpProtocol::ICMP {
            let Ok(icmp) = IcmpPacket::new_checked(ip.payload()) else {
                self.counters.malformed += 1;
                return out;
            };
            if let Ok(IcmpRepr::EchoRequest {
                ident,
                seq_no,
                data,
            }) = IcmpRepr::parse(&icmp)
            {
                if !self.echoes.allow(now) {
                    self.counters.rate_limited += 1;
                    return out;
                }
                let reply = IcmpRepr::EchoReply {
                    ident,
                    seq_no,
                    data,
                };
                let ip_reply = Ipv4Repr::new(
                    ip.dst_addr(),
                    ip.src_addr(),
                    IpProtocol::ICMP,
                    reply.buffer_len(),
                    ORIGINATED_TTL,
                );
                let frame = self.frame_back(eth, iface, &ip_reply, |buf| {
                    reply.emit(buf).map(|_| ()).is_ok()
                });
                if let Some(frame) = frame {
                    self.counters.echo_replies += 1;
                    out.push(SlowAction::Send { port, frame });
                }
            } else {
                // Echo replies, errors and other ICMP to us: nothing to answer.
                self.counters.local_ignored += 1;
            }
            return out;
        }
        if proto == IpProtocol::TCP {
            self.counters.local_tcp_dropped += 1;
            return out;
        }
        let reason = if proto == IpProtocol::UDP {
            DstUnreachable::PortUnreachable
        } else {
            DstUnreachable::ProtoUnreachable
        };
        let kind = ErrorKind::DstUnreachable {
            reason,
            next_hop_mtu: 0,
        };
        // Errors about datagrams to us come from the address they were sent to.
        let from = Interface {
            addr: InterfaceAddr {
                addr: ip.dst_addr(),
                ..iface.addr
            },
            ..*iface
        };
        if let Some(frame) = self.icmp_error(kind, eth, &from, ip, now) {
            out.push(SlowAction::Send { port, frame });
        }
        out
    }

    fn icmp_error(
        &mut self,
        kind: ErrorKind,
        eth: &EthernetRepr,
        iface: &Interface,
        ip: &Ipv4Packet<&[u8]>,
        now: Instant,
    ) -> Option<Vec<u8>> {
        if !icmpv4::may_send_error_about(ip) || eth.dst_addr.is_multicast() {
            self.counters.error_suppressed += 1;
            return None;
        }
        if !self.errors.allow(now) {
            self.counters.rate_limited += 1;
            return None;
        }
        let offending = ip.clone().into_inner();
        let mut datagram = [0u8; icmpv4::MAX_ERROR_DATAGRAM_LEN];
        let Ok(n) = icmpv4::emit_error(
            kind,
            offending,
            iface.addr.addr,
            ORIGINATED_TTL,
            &mut datagram,
        ) else {
            self.counters.malformed += 1;
            return None;
        };
        let reply_eth = EthernetRepr {
            src_addr: iface.mac,
            dst_addr: eth.src_addr,
            vlan: eth.vlan,
            ethertype: EtherType::IPV4,
        };
        let mut frame = vec![0u8; reply_eth.header_len() + n];
        let hl = reply_eth.emit(&mut frame).expect("sized");
        frame[hl..].copy_from_slice(&datagram[..n]);
        self.counters.icmp_errors += 1;
        Some(frame)
    }

    /// An IPv4 datagram in an Ethernet frame back to the sender of `eth`.
    fn frame_back(
        &self,
        eth: &EthernetRepr,
        iface: &Interface,
        ip: &Ipv4Repr,
        payload: impl FnOnce(&mut [u8]) -> bool,
    ) -> Option<Vec<u8>> {
        let reply_eth = EthernetRepr {
            src_addr: iface.mac,
            dst_addr: eth.src_addr,
            vlan: eth.vlan,
            ethertype: EtherType::IPV4,
        };
        let mut frame = vec![0u8; reply_eth.header_len() + ip.buffer_len()];
        let hl = reply_eth.emit(&mut frame).ok()?;
        let ihl = ip.emit(&mut frame[hl..]).ok()?;
        payload(&mut frame[hl + ihl..]).then_some(frame)
    }

    /// A broadcast ARP request for `target` from the port's interface address.
    pub fn arp_request(&self, port: PortId, target: Ipv4Addr) -> Option<Vec<u8>> {
        let iface = self
            .interfaces
            .iter()
            .find(|i| i.port == port && i.addr.on_subnet(target))
            .or_else(|| self.interface_on(port))?;
        let req = ArpRepr {
            operation: ArpOperation::Request,
            source_hardware_addr: iface.mac,
            source_protocol_addr: iface.addr.addr,
            target_hardware_addr: EthernetAddress::ZERO,
            target_protocol_addr: target,
        };
        let eth = EthernetRepr {
            src_addr: iface.mac,
            dst_addr: EthernetAddress::BROADCAST,
            vlan: None,
            ethertype: EtherType::ARP,
        };
        let mut frame = vec![0u8; eth.header_len() + arp::PACKET_LEN];
        let hl = eth.emit(&mut frame).ok()?;
        let mut view = ArpPacket::new_checked(&mut frame[hl..]).ok()?;
        req.emit(&mut view);
        Some(frame)
    }

    /// Is `addr` one of the router's addresses?
    pub fn owns(&self, addr: Ipv4Addr) -> bool {
        self.is_ours(addr)
    }
}

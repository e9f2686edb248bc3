//! Why a packet left the fast path: one enum for drops, one for punts to the control plane.
//!
//! Both are `#[repr(u8)]` with dense discriminants from 0, so a core keeps one counter per
//! reason in a `[u64; DropReason::COUNT]` indexed by [`DropReason::index`]. The snake_case
//! [`name`](DropReason::name)s are stable: counters are exported and displayed under them.

use core::fmt;

macro_rules! reason_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$variant_meta:meta])* $variant:ident => $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(u8)]
        pub enum $name {
            $( $(#[$variant_meta])* $variant, )+
        }

        impl $name {
            /// Every reason, in discriminant order: `ALL[r.index()] == r`.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// Number of reasons: the length of a per-reason counter array.
            pub const COUNT: usize = Self::ALL.len();

            /// Position in a per-reason counter array (the discriminant).
            #[inline]
            pub const fn index(self) -> usize {
                self as usize
            }

            /// The reason at `index`, if there is one.
            pub fn from_index(index: usize) -> Option<$name> {
                Self::ALL.get(index).copied()
            }

            /// Stable snake_case name, as counters are displayed.
            pub const fn name(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

reason_enum! {
    /// Why a frame was dropped (counted, nothing else done with it).
    pub enum DropReason {
        /// Shorter than an Ethernet header (18 bytes when tagged), than a 20-byte IPv4 header,
        /// or than the IPv4 header length its IHL declares.
        TooShort => "too_short",
        /// Ethertype neither IPv4 nor ARP (IPv6, LLDP, stacked VLAN tags, ...).
        NotIpv4 => "not_ipv4",
        /// IP version field is not 4.
        BadVersion => "bad_version",
        /// IHL below 5.
        BadIhl => "bad_ihl",
        /// Total length shorter than the header, or longer than the frame carries.
        BadTotalLength => "bad_total_length",
        /// Header checksum does not verify.
        BadChecksum => "bad_checksum",
        /// Source is 0/8, 127/8, or 224/4 and above (multicast, class E, broadcast).
        MartianSource => "martian_source",
        /// Destination is 0/8, 127/8 or class E (240/4 but 255.255.255.255).
        MartianDestination => "martian_destination",
        /// Destination is 255.255.255.255: never forwarded, and fibre has no local consumer.
        LimitedBroadcast => "limited_broadcast",
        /// Destination is 224/4: fibre does not route multicast.
        MulticastDestination => "multicast_destination",
        /// Unicast IP destination received in a link-layer broadcast/multicast frame.
        L2Multicast => "l2_multicast",
        /// Unicast destination MAC other than the ingress port's: a frame for another
        /// station on the segment (promiscuous port, flooding switch), which Linux drops as
        /// `PACKET_OTHERHOST`. Checked before anything else in the frame.
        L2OtherHost => "l2_other_host",
        /// The route's nexthop is a blackhole: dropped on purpose.
        Blackhole => "blackhole",
    }
}

reason_enum! {
    /// Why a frame was handed to the control plane instead of being forwarded.
    pub enum PuntReason {
        /// ARP request or reply: the control plane resolves neighbours and answers for us.
        Arp => "arp",
        /// Destination is one of the router's own addresses.
        Local => "local",
        /// TTL 0 or 1 on a datagram to forward: ICMP time exceeded.
        TtlExceeded => "ttl_exceeded",
        /// IP options present (IHL above 5): processed in the slow path, if at all.
        IpOptions => "ip_options",
        /// The route lookup found nothing: ICMP destination unreachable. Set by the caller
        /// after its lookup; the per-packet functions never return it.
        NoRoute => "no_route",
        /// Longer than the egress MTU with DF set: ICMP fragmentation needed, with the MTU.
        FragNeeded => "frag_needed",
        /// Longer than the egress MTU with DF clear: the control plane fragments it
        /// (slow path) or drops it under its own counter.
        Fragment => "fragment",
        /// The nexthop's neighbour MAC is not known yet (or the destination is on a
        /// connected subnet and needs ARP): the control plane resolves it.
        Unresolved => "unresolved",
    }
}

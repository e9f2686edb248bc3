//! What serde reads from the file: every value a later check may complain about
//! keeps its source span (`toml::Spanned`).

use dataplane::wire::ethernet::EthernetAddress;
use fib::Ipv4Prefix;
use serde::Deserialize;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub(super) eal: Vec<String>,
    #[serde(default)]
    pub(super) control_socket: Option<Spanned<PathBuf>>,
    #[serde(default)]
    pub(super) state_file: Option<Spanned<PathBuf>>,
    #[serde(default, rename = "port")]
    pub(super) ports: Vec<RawPort>,
    #[serde(default)]
    pub(super) cores: Option<Spanned<RawCores>>,
    #[serde(default)]
    pub(super) journal: Option<Spanned<RawJournal>>,
    #[serde(default)]
    pub(super) fib: RawFib,
    #[serde(default, rename = "nexthop")]
    pub(super) nexthops: Vec<Spanned<RawTarget>>,
    #[serde(default, rename = "route")]
    pub(super) routes: Vec<Spanned<RawTarget>>,
    #[serde(default, rename = "neighbour")]
    pub(super) neighbours: Vec<RawNeighbour>,
    #[serde(default)]
    pub(super) kernel: Option<RawKernel>,
    #[serde(default)]
    pub(super) fpm: Option<RawFpm>,
    #[serde(default)]
    pub(super) metrics: Option<RawMetrics>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetrics {
    #[serde(default)]
    pub(super) enabled: Option<bool>,
    #[serde(default)]
    pub(super) listen: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKernel {
    #[serde(default)]
    pub(super) netns: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) table: Option<u32>,
    #[serde(default)]
    pub(super) into_table: Option<u32>,
    #[serde(default)]
    pub(super) distance: Option<u8>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFpm {
    #[serde(default)]
    pub(super) listen: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) distance: Option<u8>,
}

/// `addr = "a/len"` or `addr = ["a/len", ...]`. (Not a serde untagged enum: that
/// buffers the value and loses its span.)
pub(super) struct AddrList(pub(super) Vec<String>);

impl<'de> Deserialize<'de> for AddrList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        pub(super) struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = AddrList;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an address \"a.b.c.d/len\" or a list of them")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<AddrList, E> {
                Ok(AddrList(vec![v.to_owned()]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<AddrList, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    out.push(s);
                }
                Ok(AddrList(out))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPort {
    pub(super) name: Spanned<String>,
    #[serde(default)]
    pub(super) dpdk: Option<Spanned<String>>,
    #[serde(default, deserialize_with = "spanned_text::opt")]
    pub(super) mac: Option<Spanned<EthernetAddress>>,
    #[serde(default)]
    pub(super) mtu: Option<Spanned<u16>>,
    #[serde(default)]
    pub(super) addr: Option<Spanned<AddrList>>,
    #[serde(default)]
    pub(super) table: Option<Spanned<u32>>,
    #[serde(default)]
    pub(super) promiscuous: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCores {
    #[serde(default)]
    pub(super) cpus: Option<Spanned<Vec<Spanned<usize>>>>,
    #[serde(default)]
    pub(super) count: Option<Spanned<usize>>,
    #[serde(default)]
    pub(super) rx_ring: Option<Spanned<u32>>,
    #[serde(default)]
    pub(super) tx_ring: Option<Spanned<u32>>,
    #[serde(default)]
    pub(super) burst: Option<Spanned<u32>>,
    #[serde(default)]
    pub(super) idle: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) count_bytes: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawJournal {
    #[serde(default)]
    pub(super) fsync: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) compact_bytes: Option<Spanned<u64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFib {
    pub(super) max_nexthops: Option<u32>,
    pub(super) max_tbl8_groups: Option<Spanned<u32>>,
    pub(super) max_resyncs_in_a_row: Option<u32>,
    pub(super) ring_size: Option<Spanned<usize>>,
    pub(super) audit_interval: Option<Spanned<u64>>,
}

/// A `[[nexthop]]` (with `name`) or a `[[route]]` (with `prefix`): the same target keys.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTarget {
    #[serde(default)]
    pub(super) name: Option<Spanned<String>>,
    #[serde(default, deserialize_with = "spanned_text::opt")]
    pub(super) prefix: Option<Spanned<Ipv4Prefix>>,
    #[serde(default)]
    pub(super) table: Option<Spanned<u32>>,
    #[serde(default)]
    pub(super) via: Option<Spanned<Ipv4Addr>>,
    #[serde(default)]
    pub(super) port: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) blackhole: Option<Spanned<bool>>,
    #[serde(default)]
    pub(super) nexthop: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) distance: Option<u8>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNeighbour {
    pub(super) addr: Spanned<Ipv4Addr>,
    #[serde(deserialize_with = "spanned_text::deserialize")]
    pub(super) mac: Spanned<EthernetAddress>,
    pub(super) port: Spanned<String>,
}

/// A value read as a string and parsed with `FromStr` (for types without serde:
/// `Ipv4Prefix`, `EthernetAddress`), keeping the string's span.
mod spanned_text {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer};
    use std::fmt::Display;
    use std::str::FromStr;
    use toml::Spanned;

    pub fn deserialize<'de, T, D>(d: D) -> Result<Spanned<T>, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        let s = Spanned::<String>::deserialize(d)?;
        let span = s.span();
        let value = s.get_ref().parse::<T>().map_err(D::Error::custom)?;
        Ok(Spanned::new(span, value))
    }

    pub fn opt<'de, T, D>(d: D) -> Result<Option<Spanned<T>>, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        deserialize(d).map(Some)
    }
}

//! `fibred`'s configuration file (TOML), documented in `docs/CONFIG.md`.
//!
//! Loading is two passes. Serde reads the file into `Raw*` structs that keep the
//! source span of every value a later check may complain about (`toml::Spanned`);
//! syntax and type errors come from the `toml` crate with their position. Then
//! [`Config::from_str`] checks what serde cannot (unknown port names, duplicates,
//! gateways outside every interface subnet, ...) and names the line and column of
//! the offending value. The result is a [`Config`] with ports resolved to indexes.

use crate::proto::{InterfaceAddr, Mac};
use fib::{Ipv4Prefix, TableId};
use serde::Deserialize;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The control socket's default path.
pub const DEFAULT_CONTROL_SOCKET: &str = crate::cli::DEFAULT_SOCKET;

/// A refused configuration: where, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct ConfigError {
    /// The file name as given (or `<string>`).
    pub file: String,
    /// 1-based; 0 when the error has no position (the file could not be read).
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// How a port is driven.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortBackend {
    /// DPDK devargs (`net_memif0,role=server,socket=...`) or a PCI address.
    Dpdk(String),
    /// fibre's software port (tests, demos).
    Soft,
}

/// A port; its index in [`Config::ports`] is its `PortId`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortConfig {
    pub name: String,
    pub backend: PortBackend,
    /// Overrides the NIC's own MAC.
    pub mac: Option<Mac>,
    pub mtu: u16,
    pub addrs: Vec<InterfaceAddr>,
    /// Table (VRF) the port's traffic is routed in.
    pub table: u32,
}

/// Which CPUs forwarding cores run on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoreSet {
    /// Pinned, one core per listed CPU.
    Cpus(Vec<usize>),
    /// This many cores, placed by the daemon.
    Count(usize),
}

/// Forwarding cores and their queues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoresConfig {
    pub set: CoreSet,
    pub rx_ring: u32,
    pub tx_ring: u32,
    pub burst: u32,
    /// Cores yield the CPU when a loop iteration found no work (a system call per
    /// idle iteration): for machines where cores share CPUs with other work, such as
    /// tests and demos. Production cores spin (the default).
    pub yield_when_idle: bool,
    /// Cores count bytes per port (`stats`' per-core `rx_bytes`/`tx_bytes`): a
    /// read of every packet's length on receive and transmit. Off (the default) saves
    /// it; the devices' own byte counts (`link show`) are kept either way.
    pub count_bytes: bool,
}

/// FIB limits; `None` keeps the built-in default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FibLimits {
    pub max_nexthops: Option<u32>,
    pub max_tbl8_groups: Option<u32>,
    pub max_resyncs_in_a_row: Option<u32>,
    /// Events per listener ring.
    pub ring_size: Option<usize>,
}

/// Where a configured nexthop or route sends traffic. Ports are indexes into
/// [`Config::ports`]; gateways always have their port (found from the subnets when
/// the file omits it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Via {
        gateway: Ipv4Addr,
        port: u16,
    },
    Dev {
        port: u16,
    },
    Blackhole,
    /// A named nexthop of [`Config::nexthops`], by index.
    Nexthop(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NexthopConfig {
    pub name: String,
    pub target: Target,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteConfig {
    pub table: u32,
    pub prefix: Ipv4Prefix,
    pub target: Target,
    pub distance: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighbourConfig {
    pub addr: Ipv4Addr,
    pub mac: Mac,
    pub port: u16,
}

/// `[kernel]`: mirror a Linux routing table over rtnetlink (`docs/SOURCES.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelSourceConfig {
    /// The network namespace whose table is mirrored (a name under
    /// `/var/run/netns`); `None`: fibred's own namespace.
    pub netns: Option<String>,
    /// The kernel table mirrored (254, `main`, by default).
    pub table: u32,
    /// The fibre table the routes go into (254, `main`, by default).
    pub into_table: u32,
    /// Administrative distance of mirrored routes; the `kernel` protocol's default
    /// when `None`.
    pub distance: Option<u8>,
}

/// `[fpm]`: the FPM server FRR's zebra (`dplane_fpm_nl`) connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FpmSourceConfig {
    /// Where to listen (127.0.0.1:2620, zebra's default, when not given).
    pub listen: std::net::SocketAddr,
    /// Administrative distance of FRR's routes; the `frr` protocol's default when
    /// `None`.
    pub distance: Option<u8>,
}

/// A validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub eal: Vec<String>,
    pub control_socket: PathBuf,
    /// Where runtime changes are saved to survive a restart (`None`: not saved).
    pub state_file: Option<PathBuf>,
    pub ports: Vec<PortConfig>,
    pub cores: CoresConfig,
    pub fib: FibLimits,
    pub nexthops: Vec<NexthopConfig>,
    pub routes: Vec<RouteConfig>,
    pub neighbours: Vec<NeighbourConfig>,
    pub kernel: Option<KernelSourceConfig>,
    pub fpm: Option<FpmSourceConfig>,
}

impl Config {
    /// The port index of a name.
    pub fn port_index(&self, name: &str) -> Option<u16> {
        self.ports
            .iter()
            .position(|p| p.name == name)
            .and_then(|i| u16::try_from(i).ok())
    }

    /// Reads and validates a file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            line: 0,
            column: 0,
            message: format!("cannot read the configuration: {e}"),
        })?;
        Self::parse(&text, &file)
    }

    /// Validates a configuration's text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((0, 0));
            ConfigError {
                file: file.to_owned(),
                line,
                column,
                // The toml crate's message repeats the source excerpt; the first
                // line after its header says what is wrong.
                message: e.message().trim().to_owned(),
            }
        })?;
        Validator { text, file }.validate(raw)
    }
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let column = text
        .get(line_start..offset)
        .map_or(offset - line_start, |s| s.chars().count())
        + 1;
    (line, column)
}

// ---------------------------------------------------------------------------
// What serde reads.
// ---------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    eal: Vec<String>,
    #[serde(default)]
    control_socket: Option<Spanned<PathBuf>>,
    #[serde(default)]
    state_file: Option<Spanned<PathBuf>>,
    #[serde(default, rename = "port")]
    ports: Vec<RawPort>,
    #[serde(default)]
    cores: Option<Spanned<RawCores>>,
    #[serde(default)]
    fib: RawFib,
    #[serde(default, rename = "nexthop")]
    nexthops: Vec<Spanned<RawTarget>>,
    #[serde(default, rename = "route")]
    routes: Vec<Spanned<RawTarget>>,
    #[serde(default, rename = "neighbour")]
    neighbours: Vec<RawNeighbour>,
    #[serde(default)]
    kernel: Option<RawKernel>,
    #[serde(default)]
    fpm: Option<RawFpm>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKernel {
    #[serde(default)]
    netns: Option<Spanned<String>>,
    #[serde(default)]
    table: Option<u32>,
    #[serde(default)]
    into_table: Option<u32>,
    #[serde(default)]
    distance: Option<u8>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFpm {
    #[serde(default)]
    listen: Option<Spanned<String>>,
    #[serde(default)]
    distance: Option<u8>,
}

/// `addr = "a/len"` or `addr = ["a/len", ...]`. (Not a serde untagged enum: that
/// buffers the value and loses its span.)
struct AddrList(Vec<String>);

impl<'de> Deserialize<'de> for AddrList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
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
struct RawPort {
    name: Spanned<String>,
    #[serde(default)]
    dpdk: Option<Spanned<String>>,
    #[serde(default)]
    soft: Option<Spanned<bool>>,
    #[serde(default)]
    mac: Option<Spanned<Mac>>,
    #[serde(default)]
    mtu: Option<Spanned<u16>>,
    #[serde(default)]
    addr: Option<Spanned<AddrList>>,
    #[serde(default)]
    table: Option<Spanned<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCores {
    #[serde(default)]
    cpus: Option<Spanned<Vec<Spanned<usize>>>>,
    #[serde(default)]
    count: Option<Spanned<usize>>,
    #[serde(default)]
    rx_ring: Option<Spanned<u32>>,
    #[serde(default)]
    tx_ring: Option<Spanned<u32>>,
    #[serde(default)]
    burst: Option<Spanned<u32>>,
    #[serde(default)]
    idle: Option<Spanned<String>>,
    #[serde(default)]
    count_bytes: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFib {
    max_nexthops: Option<u32>,
    max_tbl8_groups: Option<u32>,
    max_resyncs_in_a_row: Option<u32>,
    ring_size: Option<Spanned<usize>>,
}

/// A `[[nexthop]]` (with `name`) or a `[[route]]` (with `prefix`): the same target keys.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    #[serde(default)]
    name: Option<Spanned<String>>,
    #[serde(default, with = "spanned_prefix")]
    prefix: Option<Spanned<Ipv4Prefix>>,
    #[serde(default)]
    table: Option<Spanned<u32>>,
    #[serde(default)]
    via: Option<Spanned<Ipv4Addr>>,
    #[serde(default)]
    port: Option<Spanned<String>>,
    #[serde(default)]
    blackhole: Option<Spanned<bool>>,
    #[serde(default)]
    nexthop: Option<Spanned<String>>,
    #[serde(default)]
    distance: Option<u8>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNeighbour {
    addr: Spanned<Ipv4Addr>,
    mac: Spanned<Mac>,
    port: Spanned<String>,
}

/// `Ipv4Prefix` has no serde; read it as a string, keep its span.
mod spanned_prefix {
    use super::*;
    use serde::de::Error as _;
    use serde::Deserializer;

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Spanned<Ipv4Prefix>>, D::Error> {
        let Some(s) = Option::<Spanned<String>>::deserialize(d)? else {
            return Ok(None);
        };
        let span = s.span();
        let prefix = s
            .get_ref()
            .parse::<Ipv4Prefix>()
            .map_err(D::Error::custom)?;
        Ok(Some(Spanned::new(span, prefix)))
    }
}

// ---------------------------------------------------------------------------
// Semantic checks.
// ---------------------------------------------------------------------------

struct Validator<'a> {
    text: &'a str,
    file: &'a str,
}

const MTU_RANGE: std::ops::RangeInclusive<u16> = 68..=9216;
const RING_RANGE: std::ops::RangeInclusive<u32> = 64..=32768;
const BURST_RANGE: std::ops::RangeInclusive<u32> = 1..=256;

impl Validator<'_> {
    fn err(&self, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        let (line, column) = line_col(self.text, span.start);
        ConfigError {
            file: self.file.to_owned(),
            line,
            column,
            message: message.into(),
        }
    }

    fn validate(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        let ports = self.ports(raw.ports)?;
        let cores = self.cores(raw.cores)?;
        let port_names: HashMap<&str, u16> = ports
            .iter()
            .enumerate()
            .map(|(i, p)| (p.name.as_str(), i as u16))
            .collect();

        let mut nexthops: Vec<NexthopConfig> = Vec::new();
        for nh in &raw.nexthops {
            let entry = nh.span();
            let nh = nh.get_ref();
            let Some(name) = &nh.name else {
                return Err(self.err(entry, "every [[nexthop]] needs a name"));
            };
            if let Some(p) = &nh.prefix {
                return Err(self.err(
                    p.span(),
                    "a [[nexthop]] has no prefix (did you mean [[route]]?)",
                ));
            }
            if nexthops.iter().any(|n| n.name == *name.get_ref()) {
                return Err(self.err(
                    name.span(),
                    format!("duplicate nexthop {:?}", name.get_ref()),
                ));
            }
            if nh.nexthop.is_some() {
                return Err(self.err(name.span(), "a nexthop cannot point at another nexthop"));
            }
            let target = self.target(nh, name.span(), &ports, &port_names, &nexthops)?;
            nexthops.push(NexthopConfig {
                name: name.get_ref().clone(),
                target,
            });
        }

        let mut routes: Vec<RouteConfig> = Vec::new();
        let mut seen: HashMap<(u32, Ipv4Prefix), ()> = HashMap::new();
        for r in &raw.routes {
            let entry = r.span();
            let r = r.get_ref();
            if let Some(n) = &r.name {
                return Err(self.err(
                    n.span(),
                    "a [[route]] has no name (did you mean [[nexthop]]?)",
                ));
            }
            let Some(prefix) = &r.prefix else {
                return Err(self.err(entry, "every [[route]] needs a prefix"));
            };
            let table = r.table.as_ref().map_or(TableId::MAIN.0, |t| *t.get_ref());
            if seen.insert((table, *prefix.get_ref()), ()).is_some() {
                return Err(self.err(
                    prefix.span(),
                    format!(
                        "duplicate route {} in table {}",
                        prefix.get_ref(),
                        TableId(table)
                    ),
                ));
            }
            let target = self.target(r, prefix.span(), &ports, &port_names, &nexthops)?;
            routes.push(RouteConfig {
                table,
                prefix: *prefix.get_ref(),
                target,
                distance: r.distance,
            });
        }

        let mut neighbours: Vec<NeighbourConfig> = Vec::new();
        for n in &raw.neighbours {
            let port = self.port_ref(&n.port, &port_names)?;
            let addr = *n.addr.get_ref();
            if !ports[port as usize]
                .addrs
                .iter()
                .any(|a| a.subnet().contains(u32::from(addr)))
            {
                return Err(self.err(
                    n.addr.span(),
                    format!(
                        "neighbour {addr} is not in any subnet of port {:?}",
                        n.port.get_ref()
                    ),
                ));
            }
            let mac = *n.mac.get_ref();
            if mac.is_multicast() || mac.is_zero() {
                return Err(self.err(
                    n.mac.span(),
                    format!("neighbour MAC {mac} must be a unicast address"),
                ));
            }
            if neighbours.iter().any(|x| x.addr == addr && x.port == port) {
                return Err(self.err(
                    n.addr.span(),
                    format!("duplicate neighbour {addr} on port {:?}", n.port.get_ref()),
                ));
            }
            neighbours.push(NeighbourConfig { addr, mac, port });
        }

        if let Some(r) = &raw.fib.ring_size {
            if !r.get_ref().is_power_of_two() || *r.get_ref() < 64 {
                return Err(self.err(
                    r.span(),
                    format!(
                        "fib.ring_size {} must be a power of two, at least 64",
                        r.get_ref()
                    ),
                ));
            }
        }
        let control_socket = match raw.control_socket {
            Some(p) if p.get_ref().as_os_str().is_empty() => {
                return Err(self.err(p.span(), "control_socket must not be empty"))
            }
            Some(p) => p.into_inner(),
            None => PathBuf::from(DEFAULT_CONTROL_SOCKET),
        };
        let state_file = match raw.state_file {
            Some(p) if p.get_ref().as_os_str().is_empty() => {
                return Err(self.err(
                    p.span(),
                    "state_file must not be empty (leave it out to not save state)",
                ))
            }
            p => p.map(Spanned::into_inner),
        };
        let kernel = match raw.kernel {
            None => None,
            Some(k) => {
                if let Some(n) = &k.netns {
                    let name = n.get_ref();
                    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
                        return Err(self.err(
                            n.span(),
                            format!("kernel.netns {name:?} is not a namespace name"),
                        ));
                    }
                }
                Some(KernelSourceConfig {
                    netns: k.netns.map(Spanned::into_inner),
                    table: k.table.unwrap_or(TableId::MAIN.0),
                    into_table: k.into_table.unwrap_or(TableId::MAIN.0),
                    distance: k.distance,
                })
            }
        };
        let fpm = match raw.fpm {
            None => None,
            Some(f) => Some(FpmSourceConfig {
                listen: match &f.listen {
                    None => std::net::SocketAddr::from(([127, 0, 0, 1], 2620)),
                    Some(l) => l.get_ref().parse().map_err(|e| {
                        self.err(
                            l.span(),
                            format!("fpm.listen {:?}: {e} (want ADDR:PORT)", l.get_ref()),
                        )
                    })?,
                },
                distance: f.distance,
            }),
        };
        Ok(Config {
            eal: raw.eal,
            control_socket,
            state_file,
            ports,
            cores,
            fib: FibLimits {
                max_nexthops: raw.fib.max_nexthops,
                max_tbl8_groups: raw.fib.max_tbl8_groups,
                max_resyncs_in_a_row: raw.fib.max_resyncs_in_a_row,
                ring_size: raw.fib.ring_size.map(Spanned::into_inner),
            },
            nexthops,
            routes,
            neighbours,
            kernel,
            fpm,
        })
    }

    fn ports(&self, raw: Vec<RawPort>) -> Result<Vec<PortConfig>, ConfigError> {
        let mut ports: Vec<PortConfig> = Vec::new();
        // Every address and subnet so far, with the port that has it.
        let mut addrs: Vec<(InterfaceAddr, String)> = Vec::new();
        for p in raw {
            let name = p.name.get_ref();
            if name.is_empty() || name.bytes().all(|b| b.is_ascii_digit()) {
                return Err(self.err(p.name.span(), format!("port name {name:?} must be non-empty and not a number (numbers are port indexes)")));
            }
            if ports.iter().any(|q| q.name == *name) {
                return Err(self.err(p.name.span(), format!("duplicate port {name:?}")));
            }
            let backend = match (&p.dpdk, &p.soft) {
                (Some(d), None) if d.get_ref().trim().is_empty() => {
                    return Err(self.err(d.span(), "dpdk devargs must not be empty"))
                }
                (Some(d), None) => PortBackend::Dpdk(d.get_ref().clone()),
                (None, Some(s)) if *s.get_ref() => PortBackend::Soft,
                (None, Some(s)) => {
                    return Err(self.err(s.span(), "soft = false: give dpdk = \"devargs\" instead"))
                }
                (Some(_), Some(s)) => {
                    return Err(self.err(
                        s.span(),
                        format!("port {name:?} has both dpdk and soft; choose one"),
                    ))
                }
                (None, None) => {
                    return Err(self.err(
                        p.name.span(),
                        format!(
                            "port {name:?} needs dpdk = \"devargs or PCI address\" or soft = true"
                        ),
                    ))
                }
            };
            let mtu = match p.mtu {
                Some(m) if !MTU_RANGE.contains(m.get_ref()) => {
                    return Err(self.err(
                        m.span(),
                        format!(
                            "mtu {} out of range {}..={}",
                            m.get_ref(),
                            MTU_RANGE.start(),
                            MTU_RANGE.end()
                        ),
                    ))
                }
                Some(m) => *m.get_ref(),
                None => 1500,
            };
            if let Some(m) = &p.mac {
                if m.get_ref().is_multicast() || m.get_ref().is_zero() {
                    return Err(self.err(
                        m.span(),
                        format!("port MAC {} must be a unicast address", m.get_ref()),
                    ));
                }
            }
            let mut port_addrs = Vec::new();
            let (addr_span, addr_list) = match p.addr {
                Some(a) => (a.span(), a.into_inner().0),
                None => (0..0, Vec::new()),
            };
            for text in addr_list {
                let ia: InterfaceAddr = text
                    .parse()
                    .map_err(|e| self.err(addr_span.clone(), format!("{e}")))?;
                if let Some((_, other)) = addrs.iter().find(|(b, _)| b.addr == ia.addr) {
                    return Err(self.err(
                        addr_span.clone(),
                        format!("address {} is already on port {other:?}", ia.addr),
                    ));
                }
                if let Some((b, other)) = addrs.iter().find(|(b, _)| {
                    b.subnet().covers(&ia.subnet()) || ia.subnet().covers(&b.subnet())
                }) {
                    if other != name {
                        return Err(self.err(
                            addr_span.clone(),
                            format!(
                                "subnet {} overlaps {} on port {other:?}",
                                ia.subnet(),
                                b.subnet()
                            ),
                        ));
                    }
                }
                if ia.len < 31
                    && (u32::from(ia.addr) == ia.subnet().first()
                        || u32::from(ia.addr) == ia.subnet().last())
                {
                    return Err(self.err(
                        addr_span.clone(),
                        format!(
                            "{ia} is the subnet's network or broadcast address, not a host address"
                        ),
                    ));
                }
                addrs.push((ia, name.clone()));
                port_addrs.push(ia);
            }
            ports.push(PortConfig {
                name: name.clone(),
                backend,
                mac: p.mac.map(Spanned::into_inner),
                mtu,
                addrs: port_addrs,
                table: p.table.map_or(TableId::MAIN.0, Spanned::into_inner),
            });
        }
        if ports.len() > usize::from(u16::MAX) {
            return Err(self.err(0..0, "too many ports"));
        }
        Ok(ports)
    }

    fn cores(&self, raw: Option<Spanned<RawCores>>) -> Result<CoresConfig, ConfigError> {
        let Some(raw) = raw else {
            return Ok(CoresConfig {
                set: CoreSet::Count(1),
                rx_ring: 1024,
                tx_ring: 1024,
                burst: 32,
                yield_when_idle: false,
                count_bytes: false,
            });
        };
        let span = raw.span();
        let raw = raw.into_inner();
        let set = match (raw.cpus, raw.count) {
            (Some(_), Some(c)) => {
                return Err(self.err(c.span(), "give cores.cpus or cores.count, not both"))
            }
            (Some(cpus), None) => {
                let list_span = cpus.span();
                let cpus = cpus.into_inner();
                if cpus.is_empty() {
                    return Err(self.err(
                        list_span,
                        "cores.cpus is empty: at least one forwarding core is needed",
                    ));
                }
                let mut out: Vec<usize> = Vec::new();
                for c in cpus {
                    if out.contains(c.get_ref()) {
                        return Err(
                            self.err(c.span(), format!("CPU {} is listed twice", c.get_ref()))
                        );
                    }
                    out.push(c.into_inner());
                }
                CoreSet::Cpus(out)
            }
            (None, Some(c)) if *c.get_ref() == 0 => {
                return Err(self.err(c.span(), "cores.count must be at least 1"))
            }
            (None, Some(c)) => CoreSet::Count(c.into_inner()),
            (None, None) => return Err(self.err(span, "[cores] needs cpus = [...] or count = N")),
        };
        let ring = |r: Option<Spanned<u32>>, what: &str| -> Result<u32, ConfigError> {
            match r {
                None => Ok(1024),
                Some(r) if !r.get_ref().is_power_of_two() || !RING_RANGE.contains(r.get_ref()) => {
                    Err(self.err(
                        r.span(),
                        format!(
                            "cores.{what} {} must be a power of two in {}..={}",
                            r.get_ref(),
                            RING_RANGE.start(),
                            RING_RANGE.end()
                        ),
                    ))
                }
                Some(r) => Ok(r.into_inner()),
            }
        };
        let burst = match raw.burst {
            None => 32,
            Some(b) if !BURST_RANGE.contains(b.get_ref()) => {
                return Err(self.err(
                    b.span(),
                    format!(
                        "cores.burst {} out of range {}..={}",
                        b.get_ref(),
                        BURST_RANGE.start(),
                        BURST_RANGE.end()
                    ),
                ))
            }
            Some(b) => b.into_inner(),
        };
        let yield_when_idle = match raw.idle {
            None => false,
            Some(i) => match i.get_ref().as_str() {
                "spin" => false,
                "yield" => true,
                other => {
                    return Err(self.err(
                        i.span(),
                        format!("cores.idle = {other:?}: expected \"spin\" or \"yield\""),
                    ))
                }
            },
        };
        Ok(CoresConfig {
            set,
            rx_ring: ring(raw.rx_ring, "rx_ring")?,
            tx_ring: ring(raw.tx_ring, "tx_ring")?,
            burst,
            yield_when_idle,
            count_bytes: raw.count_bytes.unwrap_or(false),
        })
    }

    fn port_ref(
        &self,
        name: &Spanned<String>,
        ports: &HashMap<&str, u16>,
    ) -> Result<u16, ConfigError> {
        ports.get(name.get_ref().as_str()).copied().ok_or_else(|| {
            let mut known: Vec<&str> = ports.keys().copied().collect();
            known.sort_unstable();
            self.err(
                name.span(),
                if known.is_empty() {
                    format!("unknown port {:?}: no ports are configured", name.get_ref())
                } else {
                    format!(
                        "unknown port {:?} (ports: {})",
                        name.get_ref(),
                        known.join(", ")
                    )
                },
            )
        })
    }

    /// The target keys of a `[[route]]` or `[[nexthop]]`: exactly one of `via`
    /// (with optional `port`), `port` alone, `blackhole = true`, `nexthop = "name"`.
    fn target(
        &self,
        t: &RawTarget,
        whole: Range<usize>,
        ports: &[PortConfig],
        names: &HashMap<&str, u16>,
        nexthops: &[NexthopConfig],
    ) -> Result<Target, ConfigError> {
        let blackhole = t.blackhole.as_ref().map(|b| (*b.get_ref(), b.span()));
        if let Some((false, span)) = blackhole {
            return Err(self.err(span, "blackhole = false means nothing; leave it out"));
        }
        let given = [t.via.is_some(), blackhole.is_some(), t.nexthop.is_some()]
            .iter()
            .filter(|&&g| g)
            .count();
        if given > 1 {
            return Err(self.err(whole, "give one of via, blackhole or nexthop"));
        }
        if let Some(nh) = &t.nexthop {
            if let Some(p) = &t.port {
                return Err(self.err(
                    p.span(),
                    "a route to a named nexthop takes its port from the nexthop",
                ));
            }
            let i = nexthops.iter().position(|n| n.name == *nh.get_ref()).ok_or_else(|| {
                self.err(nh.span(), format!("unknown nexthop {:?} (nexthops are declared with [[nexthop]] before use)", nh.get_ref()))
            })?;
            return Ok(Target::Nexthop(i));
        }
        if blackhole.is_some() {
            if let Some(p) = &t.port {
                return Err(self.err(p.span(), "a blackhole route has no port"));
            }
            return Ok(Target::Blackhole);
        }
        let port = t
            .port
            .as_ref()
            .map(|p| self.port_ref(p, names))
            .transpose()?;
        match (&t.via, port) {
            (Some(via), Some(port)) => {
                let gw = *via.get_ref();
                if !ports[port as usize].addrs.iter().any(|a| a.subnet().contains(u32::from(gw))) {
                    return Err(self.err(via.span(), format!("gateway {gw} is not in any subnet of port {:?}", ports[port as usize].name)));
                }
                Ok(Target::Via { gateway: gw, port })
            }
            (Some(via), None) => {
                let gw = *via.get_ref();
                let port = ports
                    .iter()
                    .position(|p| p.addrs.iter().any(|a| a.subnet().contains(u32::from(gw))))
                    .ok_or_else(|| self.err(via.span(), format!("gateway {gw} is not in any interface subnet; give an addr on its port, or port = \"...\"")))?;
                Ok(Target::Via { gateway: gw, port: port as u16 })
            }
            (None, Some(port)) => Ok(Target::Dev { port }),
            (None, None) => Err(self.err(whole, "no target: give via = \"GATEWAY\", port = \"PORT\", blackhole = true or nexthop = \"NAME\"")),
        }
    }
}

//! The checks serde cannot make (unknown port names, duplicates, gateways outside
//! every interface subnet, ranges), each naming the line and column of the
//! offending value.

use super::raw::{RawConfig, RawPort, RawTarget};
use super::*;
use crate::interfaces::{port_for_gateway, PortRef};
use fib::TableId;
use std::collections::HashMap;
use std::ops::Range;
use toml::Spanned;

/// The longest `[fib] audit_interval`, in seconds.
const MAX_AUDIT_INTERVAL: u64 = 7 * 24 * 3600;

pub(super) struct Validator<'a> {
    pub(super) text: &'a str,
    pub(super) file: &'a str,
    /// The machine's online CPUs, which `[cores] cpus` must be among.
    pub(super) online: &'a [usize],
}

const MTU_RANGE: std::ops::RangeInclusive<u16> = 68..=9216;

impl Validator<'_> {
    pub(super) fn err(&self, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        let (line, column) = line_col(self.text, span.start);
        ConfigError {
            file: self.file.to_owned(),
            line,
            column,
            message: message.into(),
        }
    }

    pub(super) fn validate(&self, raw: RawConfig) -> Result<Config, ConfigError> {
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
            if !ports[port as usize].addrs.iter().any(|a| a.on_subnet(addr)) {
                return Err(self.err(
                    n.addr.span(),
                    format!(
                        "neighbour {addr} is not in any subnet of port {:?}",
                        n.port.get_ref()
                    ),
                ));
            }
            let mac = *n.mac.get_ref();
            if !mac.is_unicast() || mac == EthernetAddress::ZERO {
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

        if let Some(g) = &raw.fib.max_tbl8_groups {
            if *g.get_ref() > fib::dir24::MAX_TBL8_GROUPS {
                return Err(self.err(
                    g.span(),
                    format!(
                        "fib.max_tbl8_groups = {}: the DIR-24-8 layout addresses at most {}",
                        g.get_ref(),
                        fib::dir24::MAX_TBL8_GROUPS
                    ),
                ));
            }
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
        if let Some(a) = &raw.fib.audit_interval {
            if *a.get_ref() > MAX_AUDIT_INTERVAL {
                return Err(self.err(
                    a.span(),
                    format!(
                        "fib.audit_interval = {} s: at most {MAX_AUDIT_INTERVAL} s (a week); 0 turns audits off",
                        a.get_ref()
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
        let raw_state_file_missing = state_file.is_none();
        let journal = match raw.journal {
            None => JournalConfig::default(),
            Some(j) => {
                let span = j.span();
                let j = j.into_inner();
                if raw_state_file_missing {
                    return Err(self.err(
                        span,
                        "[journal] needs state_file (the journal is where state_file's changes are saved)",
                    ));
                }
                JournalConfig {
                    fsync: match &j.fsync {
                        None => Fsync::default(),
                        Some(f) => match f.get_ref().as_str() {
                            "always" => Fsync::Always,
                            "never" => Fsync::Never,
                            other => {
                                return Err(self.err(
                                    f.span(),
                                    format!(
                                        "journal.fsync {other:?}: want \"always\" or \"never\""
                                    ),
                                ))
                            }
                        },
                    },
                    compact_bytes: match &j.compact_bytes {
                        None => DEFAULT_COMPACT_BYTES,
                        Some(b) if *b.get_ref() != 0 && *b.get_ref() < 4096 => {
                            return Err(self.err(
                                b.span(),
                                format!(
                                "journal.compact_bytes = {}: at least 4096 (or 0: never compact)",
                                b.get_ref()
                            ),
                            ))
                        }
                        Some(b) => *b.get_ref(),
                    },
                }
            }
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
        let metrics = match raw.metrics {
            None => MetricsConfig::default(),
            Some(m) if m.enabled == Some(false) => MetricsConfig {
                listen: None,
                required: false,
            },
            Some(m) => match &m.listen {
                None => MetricsConfig::default(),
                Some(l) => MetricsConfig {
                    listen: Some(l.get_ref().parse().map_err(|e| {
                        self.err(
                            l.span(),
                            format!("metrics.listen {:?}: {e} (want ADDR:PORT)", l.get_ref()),
                        )
                    })?),
                    required: true,
                },
            },
        };
        Ok(Config {
            eal: raw.eal,
            control_socket,
            state_file,
            journal,
            ports,
            cores,
            fib: FibLimits {
                max_nexthops: raw.fib.max_nexthops,
                max_tbl8_groups: raw.fib.max_tbl8_groups.map(Spanned::into_inner),
                max_resyncs_in_a_row: raw.fib.max_resyncs_in_a_row,
                ring_size: raw.fib.ring_size.map(Spanned::into_inner),
                audit_interval: raw.fib.audit_interval.map(Spanned::into_inner),
            },
            nexthops,
            routes,
            neighbours,
            kernel,
            fpm,
            metrics,
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
            let device = match &p.dpdk {
                Some(d) if d.get_ref().trim().is_empty() => {
                    return Err(self.err(d.span(), "dpdk devargs must not be empty"))
                }
                Some(d) => d.get_ref().clone(),
                None => {
                    return Err(self.err(
                        p.name.span(),
                        format!("port {name:?} needs dpdk = \"devargs or PCI address\""),
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
                if !m.get_ref().is_unicast() || *m.get_ref() == EthernetAddress::ZERO {
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
                device,
                mac: p.mac.map(Spanned::into_inner),
                mtu,
                addrs: port_addrs,
                table: p.table.map_or(TableId::MAIN.0, Spanned::into_inner),
                promiscuous: p.promiscuous.unwrap_or(false),
            });
        }
        if ports.len() > usize::from(u16::MAX) {
            return Err(self.err(0..0, "too many ports"));
        }
        Ok(ports)
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
    ) -> Result<RouteTarget, ConfigError> {
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
            return Ok(nexthops[i].target.clone());
        }
        if blackhole.is_some() {
            if let Some(p) = &t.port {
                return Err(self.err(p.span(), "a blackhole route has no port"));
            }
            return Ok(RouteTarget::Blackhole);
        }
        let port = t
            .port
            .as_ref()
            .map(|p| self.port_ref(p, names))
            .transpose()?;
        match (&t.via, port) {
            (Some(via), Some(port)) => {
                let gw = *via.get_ref();
                if !ports[port as usize].addrs.iter().any(|a| a.on_subnet(gw)) {
                    return Err(self.err(via.span(), format!("gateway {gw} is not in any subnet of port {:?}", ports[port as usize].name)));
                }
                Ok(gateway_on(gw, port))
            }
            (Some(via), None) => {
                let gw = *via.get_ref();
                let addrs = ports
                    .iter()
                    .enumerate()
                    .flat_map(|(i, p)| p.addrs.iter().map(move |a| (i, a)));
                let port = port_for_gateway(addrs, gw)
                    .ok_or_else(|| self.err(via.span(), format!("gateway {gw} is not in any interface subnet; give an addr on its port, or port = \"...\"")))?;
                Ok(gateway_on(gw, port as u16))
            }
            (None, Some(port)) => Ok(RouteTarget::Dev(PortRef::Index(port))),
            (None, None) => Err(self.err(whole, "no target: give via = \"GATEWAY\", port = \"PORT\", blackhole = true or nexthop = \"NAME\"")),
        }
    }
}

/// A gateway on a port, by index.
fn gateway_on(gateway: Ipv4Addr, port: u16) -> RouteTarget {
    RouteTarget::Via {
        gateway,
        port: Some(PortRef::Index(port)),
    }
}

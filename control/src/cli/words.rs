//! Keyword arguments after a verb, iproute2 style (`via GW dev PORT table 7`):
//! every command's words are read by one parser that accepts only the keywords
//! the command names, so all commands spell and check them the same way.

use super::failure::{usage, Failure};
use crate::proto::{main_table, PortRef, RouteTarget};
use clap::Args;
use dataplane::wire::ethernet::EthernetAddress;
use fib::{Ipv4Prefix, Protocol};
use std::net::Ipv4Addr;

// The words after a command's positional arguments (clap gathers them; this
// module gives them meaning). No doc comment: clap would show it as help.
#[derive(Args)]
pub struct Words {
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    words: Vec<String>,
}

/// `main` or a table number, as `table T` and `--table T` take it.
pub fn parse_table(s: &str) -> Result<u32, String> {
    if s == "main" {
        return Ok(main_table());
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("invalid table {s:?}: expected main or a number"));
    }
    s.parse()
        .map_err(|_| format!("invalid table {s:?}: expected main or a number"))
}

/// The keyword words of one command, consumed as they are recognised.
struct KeyWords {
    words: std::vec::IntoIter<String>,
    verb: &'static str,
}

impl KeyWords {
    fn value(&mut self, key: &str) -> Result<String, Failure> {
        self.words
            .next()
            .ok_or_else(|| usage(format!("{}: `{key}` needs a value", self.verb)))
    }

    fn parsed<T: std::str::FromStr>(&mut self, key: &str) -> Result<T, Failure>
    where
        T::Err: std::fmt::Display,
    {
        let v = self.value(key)?;
        v.parse()
            .map_err(|e| usage(format!("{}: invalid {key} {v:?}: {e}", self.verb)))
    }

    fn unexpected(&self, word: &str) -> Failure {
        usage(format!("{}: unexpected argument {word:?}", self.verb))
    }
}

/// What a command's words said; each command reads the fields it allowed.
#[derive(Default)]
pub struct RouteWords {
    pub via: Option<Ipv4Addr>,
    /// Every `via GW [dev PORT]` in order: more than one makes a multipath route.
    pub paths: Vec<(Ipv4Addr, Option<PortRef>)>,
    pub dev: Option<PortRef>,
    pub blackhole: bool,
    pub nexthop: Option<u32>,
    pub table: Option<u32>,
    pub protocol: Option<Protocol>,
    pub distance: Option<u8>,
    pub root: Option<Ipv4Prefix>,
    pub limit: Option<usize>,
    pub core: Option<u32>,
    /// `lladdr MAC`: the one place the CLI parses a MAC address.
    pub lladdr: Option<EthernetAddress>,
    pub cpu: Option<usize>,
}

/// The keywords of a route's target and attributes (`route add`, `route replace`).
pub const TARGET_WORDS: &[&str] = &[
    "via",
    "dev",
    "blackhole",
    "nexthop",
    "table",
    "proto",
    "metric",
    "distance",
];

impl RouteWords {
    /// Parses `words` allowing only the keywords in `allowed`.
    pub fn parse(w: Words, verb: &'static str, allowed: &[&str]) -> Result<Self, Failure> {
        let mut k = KeyWords {
            words: w.words.into_iter(),
            verb,
        };
        let mut r = RouteWords::default();
        while let Some(word) = k.words.next() {
            let key = word.as_str();
            if !allowed.contains(&key) {
                return Err(k.unexpected(key));
            }
            match key {
                "via" => {
                    let gateway = k.parsed("via")?;
                    r.via.get_or_insert(gateway);
                    r.paths.push((gateway, None));
                }
                "dev" => {
                    let port: PortRef = k.parsed("dev")?;
                    match r.paths.last_mut() {
                        Some((_, dev @ None)) => *dev = Some(port.clone()),
                        Some((gw, Some(_))) => {
                            return Err(usage(format!("{verb}: via {gw} has two devs")))
                        }
                        None => {}
                    }
                    if r.paths.len() <= 1 {
                        r.dev = Some(port);
                    }
                }
                "blackhole" => r.blackhole = true,
                "nexthop" => r.nexthop = Some(k.parsed("nexthop")?),
                "table" => {
                    let v = k.value("table")?;
                    r.table = Some(parse_table(&v).map_err(|e| usage(format!("{verb}: {e}")))?)
                }
                "proto" => r.protocol = Some(k.parsed("proto")?),
                "metric" | "distance" => r.distance = Some(k.parsed("metric")?),
                "root" => r.root = Some(k.parsed("root")?),
                "limit" => r.limit = Some(k.parsed("limit")?),
                "core" => r.core = Some(k.parsed("core")?),
                "lladdr" => r.lladdr = Some(k.parsed("lladdr")?),
                "cpu" => r.cpu = Some(k.parsed("cpu")?),
                _ => return Err(k.unexpected(key)),
            }
        }
        Ok(r)
    }

    /// Where the words send traffic: one of via (several make a multipath route),
    /// dev alone (on-link), blackhole or nexthop.
    pub fn target(&self, verb: &str) -> Result<RouteTarget, Failure> {
        let kinds = [self.via.is_some(), self.blackhole, self.nexthop.is_some()]
            .iter()
            .filter(|&&b| b)
            .count();
        if kinds > 1 {
            return Err(usage(format!(
                "{verb}: give one of via, blackhole or nexthop"
            )));
        }
        if self.paths.len() > 1 {
            return Ok(RouteTarget::Multipath(
                self.paths
                    .iter()
                    .map(|(gateway, port)| RouteTarget::Via {
                        gateway: *gateway,
                        port: port.clone(),
                    })
                    .collect(),
            ));
        }
        Ok(match (self.via, &self.dev, self.blackhole, self.nexthop) {
            (Some(gateway), port, _, _) => RouteTarget::Via {
                gateway,
                port: port.clone(),
            },
            (None, Some(_), true, _) | (None, Some(_), _, Some(_)) => {
                return Err(usage(format!(
                    "{verb}: dev goes with via, or alone for an on-link route"
                )))
            }
            (None, Some(p), false, None) => RouteTarget::Dev(p.clone()),
            (None, None, true, _) => RouteTarget::Blackhole,
            (None, None, false, Some(id)) => RouteTarget::Nexthop(id),
            (None, None, false, None) => {
                return Err(usage(format!(
                    "{verb}: where to? give via GW [dev PORT], dev PORT, blackhole or nexthop ID"
                )))
            }
        })
    }

    /// `dev PORT`, for the commands that cannot do without it.
    pub fn port_required(&self, verb: &str) -> Result<PortRef, Failure> {
        self.dev
            .clone()
            .ok_or_else(|| usage(format!("{verb}: dev PORT is required")))
    }
}

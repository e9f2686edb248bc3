//! The route files `fibrectl route load` reads: one route per line, blank lines and
//! `#` or `;` comments skipped.
//!
//! - RouteViews / pyasn: `prefix/len<TAB>asn` ([`fib::routefile`]); the command's
//!   `--nexthop` or `--via` options say where the origin AS's routes go.
//! - iproute2-like: `prefix via GATEWAY [dev PORT]`, `prefix dev PORT`,
//!   `prefix blackhole`, ports by index (what `scripts/run-router` writes to move
//!   routes).
//!
//! Files may mix the two.

use crate::proto::{BatchRoute, PortRef, RouteTarget};
use fib::routefile::{self, RouteLineError as RouteViewsError};
use fib::{Ipv4Prefix, PrefixError};
use std::net::Ipv4Addr;

/// One parsed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteLine {
    /// A route with its own target.
    Route(BatchRoute),
    /// A RouteViews line: where it goes is the command's choice.
    OriginAs { prefix: Ipv4Prefix, asn: u32 },
}

/// Why a line was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteLineError {
    #[error(transparent)]
    Prefix(#[from] PrefixError),
    #[error("expected `prefix/len<TAB>asn`, `prefix via GATEWAY [dev PORT]`, `prefix dev PORT` or `prefix blackhole`, got {0:?}")]
    Syntax(String),
    #[error(transparent)]
    RouteViews(RouteViewsError),
    #[error("invalid gateway {0:?}")]
    Gateway(String),
    #[error("invalid port {0:?}: expected 0..=65535")]
    Port(String),
}

/// Parses one line. `Ok(None)` for a blank or comment line.
pub fn parse_line(line: &str) -> Result<Option<RouteLine>, RouteLineError> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
        return Ok(None);
    }
    let mut words = line.split_ascii_whitespace();
    let prefix: Ipv4Prefix = words.next().unwrap_or_default().parse()?;
    // At most four words follow the prefix; a fifth is an error. No allocation per line.
    let mut rest = [""; 5];
    let mut n = 0;
    for w in words.by_ref().take(5) {
        rest[n] = w;
        n += 1;
    }
    let target = match &rest[..n] {
        [asn] if asn.bytes().all(|b| b.is_ascii_digit()) => {
            return match routefile::parse_line(line) {
                Ok(Some(r)) => Ok(Some(RouteLine::OriginAs {
                    prefix: r.prefix,
                    asn: r.asn,
                })),
                Ok(None) => Ok(None),
                Err(e) => Err(RouteLineError::RouteViews(e)),
            };
        }
        ["via", gw] => RouteTarget::Via {
            gateway: parse_gateway(gw)?,
            port: None,
        },
        ["via", gw, "dev", port] => RouteTarget::Via {
            gateway: parse_gateway(gw)?,
            port: Some(parse_port(port)?),
        },
        ["dev", port] => RouteTarget::Dev(parse_port(port)?),
        ["blackhole"] => RouteTarget::Blackhole,
        _ => return Err(RouteLineError::Syntax(line.into())),
    };
    Ok(Some(RouteLine::Route(BatchRoute { prefix, target })))
}

fn parse_gateway(s: &str) -> Result<Ipv4Addr, RouteLineError> {
    s.parse().map_err(|_| RouteLineError::Gateway(s.into()))
}

/// A port by its index (route files name no ports by name).
fn parse_port(s: &str) -> Result<PortRef, RouteLineError> {
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RouteLineError::Port(s.into()));
    }
    s.parse()
        .map(PortRef::Index)
        .map_err(|_| RouteLineError::Port(s.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Ipv4Prefix {
        s.parse().unwrap()
    }

    fn route(line: &str) -> BatchRoute {
        match parse_line(line).unwrap() {
            Some(RouteLine::Route(r)) => r,
            other => panic!("{line:?}: {other:?}"),
        }
    }

    #[test]
    fn routeviews_lines() {
        assert_eq!(
            parse_line("1.0.4.0/24\t56203").unwrap(),
            Some(RouteLine::OriginAs {
                prefix: p("1.0.4.0/24"),
                asn: 56203
            })
        );
    }

    #[test]
    fn iproute_lines() {
        let gateway: Ipv4Addr = "192.0.2.1".parse().unwrap();
        assert_eq!(
            route("10.0.0.0/8 via 192.0.2.1").target,
            RouteTarget::Via {
                gateway,
                port: None
            }
        );
        assert_eq!(
            route("  10.0.0.0/8 via 192.0.2.1 dev 3  "),
            BatchRoute {
                prefix: p("10.0.0.0/8"),
                target: RouteTarget::Via {
                    gateway,
                    port: Some(PortRef::Index(3))
                }
            }
        );
        assert_eq!(
            route("0.0.0.0/0 dev 1").target,
            RouteTarget::Dev(PortRef::Index(1))
        );
        assert_eq!(
            route("192.0.2.0/24 blackhole").target,
            RouteTarget::Blackhole
        );
        assert_eq!(parse_line("# comment").unwrap(), None);
        assert_eq!(parse_line("; pyasn header").unwrap(), None);
        assert_eq!(parse_line("   ").unwrap(), None);
    }

    #[test]
    fn bad_lines_say_why() {
        let cases = [
            ("10.0.0.1/8\t1", "host bits are set"),
            ("10.0.0.0/8", "expected `prefix/len<TAB>asn`, `prefix via"),
            ("10.0.0.0/8 via", "expected"),
            ("10.0.0.0/8 via 300.1.1.1", "invalid gateway"),
            ("10.0.0.0/8 dev 70000", "invalid port"),
            ("10.0.0.0/8 dev +1", "invalid port"),
            ("10.0.0.0/8 dev p0", "invalid port"),
            ("10.0.0.0/8\t99999999999", "invalid AS number"),
            ("10.0.0.0/8 via 1.1.1.1 dev 1 extra", "expected"),
        ];
        for (line, want) in cases {
            let err = parse_line(line).unwrap_err().to_string();
            assert!(err.contains(want), "{line:?}: {err}");
        }
    }
}

//! Route files: the text formats `fibrectl route load`, the demo and the benchmarks
//! read. One route per line; blank lines and `#` or `;` comments are skipped.
//!
//! - RouteViews / pyasn: `prefix/len<TAB>asn` — the origin AS stands in for a
//!   nexthop (callers map it to one of their nexthops).
//! - iproute2-like: `prefix via GATEWAY [dev PORT]`, `prefix dev PORT`,
//!   `prefix blackhole`.
//!
//! Parsing is pure: no I/O, so it is fuzzed and property-tested like every parser.

use crate::event::PortId;
use crate::prefix::{Ipv4Prefix, PrefixError};
use std::net::Ipv4Addr;

/// Where a route line sends traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteTarget {
    /// RouteViews' origin AS number.
    OriginAs(u32),
    /// `via GATEWAY [dev PORT]`.
    Via {
        gateway: Ipv4Addr,
        port: Option<PortId>,
    },
    /// `dev PORT`: on-link.
    Dev(PortId),
    Blackhole,
}

/// One parsed line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RouteLine {
    pub prefix: Ipv4Prefix,
    pub target: RouteTarget,
}

/// Why a line was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteLineError {
    #[error(transparent)]
    Prefix(#[from] PrefixError),
    #[error("expected `prefix/len<TAB>asn`, `prefix via GATEWAY [dev PORT]`, `prefix dev PORT` or `prefix blackhole`, got {0:?}")]
    Syntax(String),
    #[error("invalid AS number {0:?}")]
    As(String),
    #[error("invalid gateway {0:?}")]
    Gateway(String),
    #[error("invalid port {0:?}: expected 0..=65535")]
    Port(String),
}

/// A refused line and its 1-based number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {error}")]
pub struct RouteFileError {
    pub line: usize,
    pub error: RouteLineError,
}

/// Parses one line. `Ok(None)` for a blank or comment line.
pub fn parse_line(line: &str) -> Result<Option<RouteLine>, RouteLineError> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
        return Ok(None);
    }
    let mut words = line.split_ascii_whitespace();
    let prefix_word = words
        .next()
        .ok_or_else(|| RouteLineError::Syntax(line.into()))?;
    let prefix: Ipv4Prefix = prefix_word.parse()?;
    // At most four words follow the prefix; a fifth is an error. No allocation per line.
    let mut rest = [""; 5];
    let mut n = 0;
    for w in words.by_ref().take(5) {
        rest[n] = w;
        n += 1;
    }
    let target = match &rest[..n] {
        [asn] if asn.bytes().all(|b| b.is_ascii_digit()) => {
            RouteTarget::OriginAs(asn.parse().map_err(|_| RouteLineError::As((*asn).into()))?)
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
    Ok(Some(RouteLine { prefix, target }))
}

fn parse_gateway(s: &str) -> Result<Ipv4Addr, RouteLineError> {
    s.parse().map_err(|_| RouteLineError::Gateway(s.into()))
}

fn parse_port(s: &str) -> Result<PortId, RouteLineError> {
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RouteLineError::Port(s.into()));
    }
    s.parse().map_err(|_| RouteLineError::Port(s.into()))
}

/// Parses a whole file's text; the first bad line stops it, with its number.
pub fn parse_str(text: &str) -> Result<Vec<RouteLine>, RouteFileError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        match parse_line(line) {
            Ok(Some(r)) => out.push(r),
            Ok(None) => {}
            Err(error) => return Err(RouteFileError { line: i + 1, error }),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> Ipv4Prefix {
        s.parse().unwrap()
    }

    #[test]
    fn routeviews_lines() {
        assert_eq!(
            parse_line("1.0.4.0/24\t56203").unwrap(),
            Some(RouteLine {
                prefix: p("1.0.4.0/24"),
                target: RouteTarget::OriginAs(56203)
            })
        );
    }

    #[test]
    fn iproute_lines() {
        assert_eq!(
            parse_line("10.0.0.0/8 via 192.0.2.1")
                .unwrap()
                .unwrap()
                .target,
            RouteTarget::Via {
                gateway: "192.0.2.1".parse().unwrap(),
                port: None
            }
        );
        assert_eq!(
            parse_line("  10.0.0.0/8 via 192.0.2.1 dev 3  ")
                .unwrap()
                .unwrap()
                .target,
            RouteTarget::Via {
                gateway: "192.0.2.1".parse().unwrap(),
                port: Some(3)
            }
        );
        assert_eq!(
            parse_line("0.0.0.0/0 dev 1").unwrap().unwrap().target,
            RouteTarget::Dev(1)
        );
        assert_eq!(
            parse_line("192.0.2.0/24 blackhole")
                .unwrap()
                .unwrap()
                .target,
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
            ("10.0.0.0/8", "expected"),
            ("10.0.0.0/8 via", "expected"),
            ("10.0.0.0/8 via 300.1.1.1", "invalid gateway"),
            ("10.0.0.0/8 dev 70000", "invalid port"),
            ("10.0.0.0/8 dev +1", "invalid port"),
            ("10.0.0.0/8\t99999999999", "invalid AS number"),
            ("10.0.0.0/8 via 1.1.1.1 dev 1 extra", "expected"),
        ];
        for (line, want) in cases {
            let err = parse_line(line).unwrap_err().to_string();
            assert!(err.contains(want), "{line:?}: {err}");
        }
        let err = parse_str("10.0.0.0/8 dev 1\n\n10.0.0.0/33 dev 1\n").unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.to_string().starts_with("line 3: "));
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,64}") {
            let _ = parse_line(&s);
        }

        #[test]
        fn printed_lines_parse_back(addr: u32, len in 0u8..=32, asn: u32, gw: u32, port: u16) {
            let prefix = Ipv4Prefix::truncate(addr, len).unwrap();
            let gateway = Ipv4Addr::from(gw);
            prop_assert_eq!(parse_line(&format!("{prefix}\t{asn}")).unwrap().unwrap().target, RouteTarget::OriginAs(asn));
            prop_assert_eq!(
                parse_line(&format!("{prefix} via {gateway} dev {port}")).unwrap().unwrap(),
                RouteLine { prefix, target: RouteTarget::Via { gateway, port: Some(port) } }
            );
        }
    }
}

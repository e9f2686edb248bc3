//! RouteViews route files, as pyasn writes them: one `prefix/len<TAB>asn` line per
//! route (any run of spaces or tabs separates the two); blank lines and `#` or `;`
//! comments are skipped. The origin AS stands in for a nexthop: callers map it to
//! one of theirs. The demo, the benchmarks and `fibrectl route load` read them
//! (fibrectl's richer route files build on this for their RouteViews lines).
//!
//! Parsing is pure: no I/O, so it is fuzzed and property-tested like every parser.

use crate::prefix::{Ipv4Prefix, PrefixError};

/// One route: a prefix and the AS that originates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RouteLine {
    pub prefix: Ipv4Prefix,
    pub asn: u32,
}

/// Why a line was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteLineError {
    #[error(transparent)]
    Prefix(#[from] PrefixError),
    #[error("expected `prefix/len<TAB>asn`, got {0:?}")]
    Syntax(String),
    #[error("invalid AS number {0:?}")]
    As(String),
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
    // No allocation per line: a 600k-line table is read in one pass.
    let mut words = line.split_ascii_whitespace();
    let prefix: Ipv4Prefix = words.next().unwrap_or_default().parse()?;
    let (Some(asn), None) = (words.next(), words.next()) else {
        return Err(RouteLineError::Syntax(line.into()));
    };
    if !asn.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RouteLineError::Syntax(line.into()));
    }
    let asn = asn.parse().map_err(|_| RouteLineError::As(asn.into()))?;
    Ok(Some(RouteLine { prefix, asn }))
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
                asn: 56203
            })
        );
        assert_eq!(
            parse_line("  10.0.0.0/8   7 ").unwrap(),
            Some(RouteLine {
                prefix: p("10.0.0.0/8"),
                asn: 7
            })
        );
        assert_eq!(parse_line("# comment").unwrap(), None);
        assert_eq!(parse_line("; pyasn header").unwrap(), None);
        assert_eq!(parse_line("   ").unwrap(), None);
    }

    #[test]
    fn bad_lines_say_why() {
        let cases = [
            ("10.0.0.1/8\t1", "host bits are set"),
            ("10.0.0.0/33\t1", "0..=32"),
            ("10.0.0.0/8", "expected `prefix/len<TAB>asn`"),
            ("10.0.0.0/8\tAS1", "expected"),
            ("10.0.0.0/8\t+1", "expected"),
            ("10.0.0.0/8\t1 2", "expected"),
            ("10.0.0.0/8 via 192.0.2.1", "expected"),
            ("10.0.0.0/8\t99999999999", "invalid AS number"),
        ];
        for (line, want) in cases {
            let err = parse_line(line).unwrap_err().to_string();
            assert!(err.contains(want), "{line:?}: {err}");
        }
        let err = parse_str("10.0.0.0/8\t1\n\n10.0.0.0/33\t1\n").unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.to_string().starts_with("line 3: "));
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,64}") {
            let _ = parse_line(&s);
        }

        #[test]
        fn printed_lines_parse_back(addr: u32, len in 0u8..=32, asn: u32) {
            let prefix = Ipv4Prefix::truncate(addr, len).unwrap();
            prop_assert_eq!(
                parse_line(&format!("{prefix}\t{asn}")).unwrap(),
                Some(RouteLine { prefix, asn })
            );
        }
    }
}

//! `fibrectl route add|replace|del|show|get` (and `load`, in [`super::route_load`]):
//! their requests and how routes, lookups and route changes are shown.

use super::failure::Failure;
use super::render::{print_table, table_name};
use super::route_load::{self, LoadArgs};
use super::session::Session;
use super::words::{RouteWords, Words, TARGET_WORDS};
use crate::proto::{
    main_table, BatchApplied, NexthopInfo, Request, RouteChanged, RouteDel, RouteFilter, RouteGet,
    RouteList, RouteLookup, RouteSpec,
};
use clap::Subcommand;
use fib::{Ipv4Prefix, Protocol};
use std::net::Ipv4Addr;

#[derive(Subcommand)]
pub enum RouteCmd {
    /// PREFIX (via GW [dev PORT] | dev PORT | blackhole | nexthop ID) [table T] [proto P] [metric D]
    Add {
        prefix: Ipv4Prefix,
        #[command(flatten)]
        rest: Words,
    },
    /// PREFIX (as for add)
    Replace {
        prefix: Ipv4Prefix,
        #[command(flatten)]
        rest: Words,
    },
    /// PREFIX [table T] [proto P]
    Del {
        prefix: Ipv4Prefix,
        #[command(flatten)]
        rest: Words,
    },
    /// [table T] [proto P] [root PREFIX] [limit N]
    #[command(alias = "list")]
    Show(Words),
    /// ADDR [core N] [table T]: the route a core really forwards with
    Get {
        addr: Ipv4Addr,
        #[command(flatten)]
        rest: Words,
    },
    /// Bulk load a route file (RouteViews `prefix/len<TAB>asn` or `prefix via GW [dev N]` lines).
    Load(LoadArgs),
}

pub fn run(cmd: RouteCmd, session: &Session) -> Result<(), Failure> {
    let request = match cmd {
        RouteCmd::Load(args) => return route_load::run(args, session),
        RouteCmd::Add { prefix, rest } => Request::RouteAdd(spec(prefix, rest, "route add")?),
        RouteCmd::Replace { prefix, rest } => {
            Request::RouteReplace(spec(prefix, rest, "route replace")?)
        }
        RouteCmd::Del { prefix, rest } => {
            let r = RouteWords::parse(rest, "route del", &["table", "proto"])?;
            Request::RouteDel(RouteDel {
                table: r.table.unwrap_or_else(main_table),
                prefix,
                protocol: r.protocol.unwrap_or(Protocol::Static),
            })
        }
        RouteCmd::Show(rest) => {
            let r = RouteWords::parse(rest, "route show", &["table", "proto", "root", "limit"])?;
            Request::RouteShow(RouteFilter {
                table: r.table,
                protocol: r.protocol,
                prefix: r.root,
                limit: r.limit,
            })
        }
        RouteCmd::Get { addr, rest } => {
            let r = RouteWords::parse(rest, "route get", &["core", "table"])?;
            Request::RouteGet(RouteGet {
                addr,
                table: r.table.unwrap_or_else(main_table),
                core: r.core,
            })
        }
    };
    session.call(request)
}

fn spec(prefix: Ipv4Prefix, rest: Words, verb: &'static str) -> Result<RouteSpec, Failure> {
    let r = RouteWords::parse(rest, verb, TARGET_WORDS)?;
    Ok(RouteSpec {
        table: r.table.unwrap_or_else(main_table),
        prefix,
        target: r.target(verb)?,
        protocol: r.protocol.unwrap_or(Protocol::Static),
        distance: r.distance,
    })
}

/// The seq a change committed at (nothing when it changed nothing).
pub fn print_changed(c: &RouteChanged) {
    if let Some(seq) = c.seq {
        println!("seq {seq}");
    }
}

pub fn print_routes(list: &RouteList) {
    let rows: Vec<Vec<String>> = list
        .routes
        .iter()
        .map(|r| {
            vec![
                if r.installed { "*" } else { "" }.to_owned(),
                r.prefix.to_string(),
                r.via.clone(),
                r.protocol.to_string(),
                r.distance.to_string(),
                r.nexthop.to_string(),
                table_name(r.table),
            ]
        })
        .collect();
    print_table(
        &["", "PREFIX", "VIA", "PROTO", "METRIC", "NEXTHOP", "TABLE"],
        &rows,
    );
    if list.total > list.routes.len() {
        println!("({} of {} routes shown)", list.routes.len(), list.total);
    }
}

/// One line, iproute2's `ip route get` style.
pub fn print_lookup(l: &RouteLookup) {
    let source = match l.core {
        Some(c) => format!("core {c}"),
        None => "fib".to_owned(),
    };
    match &l.nexthop {
        Some(n) => {
            let mut s = format!("{} ", l.addr);
            if let Some(p) = &l.prefix {
                s.push_str(&format!("from {p} "));
            }
            s.push_str(&nexthop_words(n));
            s.push_str(&format!(" nexthop {}", n.id));
            if let Some(m) = &n.mac {
                s.push_str(&format!(" lladdr {m}"));
            }
            println!("{s} table {} {source} seq {}", table_name(l.table), l.seq);
        }
        None => println!(
            "{} unreachable (no route) table {} {source} seq {}",
            l.addr,
            table_name(l.table),
            l.seq
        ),
    }
}

/// A nexthop as the words that would make it (`via GW dev P`, `dev P`, or its kind).
fn nexthop_words(n: &NexthopInfo) -> String {
    match (n.kind.as_str(), &n.gateway, &n.port) {
        ("gateway", Some(g), Some(p)) => format!("via {g} dev {p}"),
        ("connected", _, Some(p)) => format!("dev {p}"),
        (kind, _, _) => kind.to_owned(),
    }
}

pub fn print_batch_applied(b: &BatchApplied) {
    println!("applied {} failed {} seq {}", b.applied, b.failed, b.seq)
}

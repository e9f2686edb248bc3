//! `fibrectl nexthop add|del|show`: nexthop objects routes can name by id.

use super::failure::{usage, Failure};
use super::render::{opt, print_table};
use super::session::Session;
use super::words::{RouteWords, Words};
use crate::proto::{NexthopAdded, NexthopDel, NexthopInfo, NexthopSpec, Request, RouteTarget};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum NexthopCmd {
    /// (via GW [dev PORT] | dev PORT | blackhole)
    Add(Words),
    /// ID
    Del { id: u32 },
    #[command(alias = "list")]
    Show,
}

pub fn run(cmd: NexthopCmd, session: &Session) -> Result<(), Failure> {
    let request = match cmd {
        NexthopCmd::Add(rest) => {
            let r = RouteWords::parse(rest, "nexthop add", &["via", "dev", "blackhole"])?;
            Request::NexthopAdd(match r.target("nexthop add")? {
                RouteTarget::Via { gateway, port } => NexthopSpec::Via { gateway, port },
                RouteTarget::Dev(p) => NexthopSpec::Dev(p),
                RouteTarget::Blackhole => NexthopSpec::Blackhole,
                RouteTarget::Nexthop(_) => unreachable!("nexthop keyword not allowed"),
                RouteTarget::Multipath(_) => {
                    return Err(usage(
                        "nexthop add: one via per nexthop (multipath is a route's)",
                    ))
                }
            })
        }
        NexthopCmd::Del { id } => Request::NexthopDel(NexthopDel { id }),
        NexthopCmd::Show => Request::NexthopShow,
    };
    session.call(request)
}

pub fn print_nexthops(list: &[NexthopInfo]) {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|n| {
            vec![
                n.id.to_string(),
                n.kind.clone(),
                opt(&n.gateway),
                opt(&n.port),
                opt(&n.mac),
                n.refs.to_string(),
            ]
        })
        .collect();
    print_table(&["ID", "KIND", "GATEWAY", "PORT", "LLADDR", "REFS"], &rows);
}

pub fn print_added(n: &NexthopAdded) {
    println!("nexthop {}", n.id)
}

//! `fibrectl neigh add|del|show`: neighbours (ARP entries; add/del are static ones).

use super::failure::{usage, Failure};
use super::render::{opt, print_table};
use super::session::Session;
use super::words::{RouteWords, Words};
use crate::proto::{NeighSpec, NeighbourInfo, PortFilter, Request};
use clap::Subcommand;
use std::net::Ipv4Addr;

#[derive(Subcommand)]
pub enum NeighCmd {
    /// ADDR lladdr MAC dev PORT
    Add {
        addr: Ipv4Addr,
        #[command(flatten)]
        rest: Words,
    },
    /// ADDR dev PORT
    Del {
        addr: Ipv4Addr,
        #[command(flatten)]
        rest: Words,
    },
    /// [dev PORT]
    #[command(alias = "list")]
    Show(Words),
}

pub fn run(cmd: NeighCmd, session: &Session) -> Result<(), Failure> {
    let request = match cmd {
        NeighCmd::Add { addr, rest } => {
            let r = RouteWords::parse(rest, "neigh add", &["lladdr", "dev"])?;
            let mac = r
                .lladdr
                .ok_or_else(|| usage("neigh add: lladdr MAC is required"))?;
            Request::NeighAdd(NeighSpec {
                addr,
                port: r.port_required("neigh add")?,
                mac: Some(mac),
            })
        }
        NeighCmd::Del { addr, rest } => {
            let r = RouteWords::parse(rest, "neigh del", &["dev"])?;
            Request::NeighDel(NeighSpec {
                addr,
                port: r.port_required("neigh del")?,
                mac: None,
            })
        }
        NeighCmd::Show(rest) => {
            let r = RouteWords::parse(rest, "neigh show", &["dev"])?;
            Request::NeighShow(PortFilter { port: r.dev })
        }
    };
    session.call(request)
}

pub fn print_neighbours(list: &[NeighbourInfo]) {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|n| {
            vec![
                n.addr.to_string(),
                n.port.clone(),
                opt(&n.mac),
                n.state.clone(),
            ]
        })
        .collect();
    print_table(&["ADDRESS", "PORT", "LLADDR", "STATE"], &rows);
}

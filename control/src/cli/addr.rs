//! `fibrectl addr add|del|show`: the interface addresses of fibre's ports.

use super::failure::Failure;
use super::render::print_table;
use super::session::Session;
use super::words::{RouteWords, Words};
use crate::proto::{AddrSpec, AddressInfo, InterfaceAddr, PortFilter, Request};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum AddrCmd {
    /// ADDR/LEN dev PORT
    Add {
        addr: InterfaceAddr,
        #[command(flatten)]
        rest: Words,
    },
    /// ADDR/LEN dev PORT
    Del {
        addr: InterfaceAddr,
        #[command(flatten)]
        rest: Words,
    },
    /// [dev PORT]
    #[command(alias = "list")]
    Show(Words),
}

pub fn run(cmd: AddrCmd, session: &Session) -> Result<(), Failure> {
    let request = match cmd {
        AddrCmd::Add { addr, rest } => {
            let r = RouteWords::parse(rest, "addr add", &["dev"])?;
            Request::AddrAdd(AddrSpec {
                addr,
                port: r.port_required("addr add")?,
            })
        }
        AddrCmd::Del { addr, rest } => {
            let r = RouteWords::parse(rest, "addr del", &["dev"])?;
            Request::AddrDel(AddrSpec {
                addr,
                port: r.port_required("addr del")?,
            })
        }
        AddrCmd::Show(rest) => {
            let r = RouteWords::parse(rest, "addr show", &["dev"])?;
            Request::AddrShow(PortFilter { port: r.dev })
        }
    };
    session.call(request)
}

pub fn print_addresses(list: &[AddressInfo]) {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|a| vec![a.port.clone(), a.addr.to_string()])
        .collect();
    print_table(&["PORT", "ADDRESS"], &rows);
}

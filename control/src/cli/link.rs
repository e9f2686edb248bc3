//! `fibrectl link show`: ports and their counters.

use super::failure::Failure;
use super::render::print_table;
use super::session::Session;
use crate::proto::{LinkInfo, PortFilter, PortRef, Request};
use clap::Subcommand;

// The variants' doc comments are clap's help text, iproute2-style: `[PORT]` is
// an optional argument there, not a link.
#[allow(rustdoc::broken_intra_doc_links)]
#[derive(Subcommand)]
pub enum LinkCmd {
    /// [PORT]
    #[command(alias = "list")]
    Show { port: Option<PortRef> },
}

pub fn run(cmd: LinkCmd, session: &Session) -> Result<(), Failure> {
    match cmd {
        LinkCmd::Show { port } => session.call(Request::LinkShow(PortFilter { port })),
    }
}

pub fn print_links(list: &[LinkInfo]) {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|l| {
            vec![
                l.index.to_string(),
                l.name.clone(),
                if l.up { "up" } else { "down" }.to_owned(),
                l.mac.to_string(),
                l.mtu.to_string(),
                l.counters.rx_packets.to_string(),
                l.counters.rx_bytes.to_string(),
                l.counters.rx_dropped.to_string(),
                l.counters.tx_packets.to_string(),
                l.counters.tx_bytes.to_string(),
                l.counters.tx_dropped.to_string(),
                l.backend.clone(),
            ]
        })
        .collect();
    print_table(
        &[
            "INDEX", "NAME", "LINK", "LLADDR", "MTU", "RX-PKTS", "RX-BYTES", "RX-DROP", "TX-PKTS",
            "TX-BYTES", "TX-DROP", "BACKEND",
        ],
        &rows,
    );
}

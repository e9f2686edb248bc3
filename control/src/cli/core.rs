//! `fibrectl core show|add|del`: forwarding cores.

use super::failure::Failure;
use super::render::{opt, print_table};
use super::session::Session;
use super::words::{RouteWords, Words};
use crate::proto::{CoreAdd, CoreAdded, CoreDel, CoreInfo, Request};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum CoreCmd {
    #[command(alias = "list")]
    Show,
    /// Start a forwarding core: [cpu N]
    Add(Words),
    /// Stop a forwarding core: ID
    Del { id: u32 },
}

pub fn run(cmd: CoreCmd, session: &Session) -> Result<(), Failure> {
    let request = match cmd {
        CoreCmd::Show => Request::CoreShow,
        CoreCmd::Add(rest) => {
            let r = RouteWords::parse(rest, "core add", &["cpu"])?;
            Request::CoreAdd(CoreAdd { cpu: r.cpu })
        }
        CoreCmd::Del { id } => Request::CoreDel(CoreDel { id }),
    };
    session.call(request)
}

pub fn print_cores(list: &[CoreInfo]) {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|c| {
            let drops: u64 = c.drops.values().sum();
            let reasons: Vec<String> = c.drops.iter().map(|(k, v)| format!("{k}={v}")).collect();
            vec![
                c.id.to_string(),
                c.name.clone(),
                opt(&c.cpu),
                c.state.clone(),
                c.applied_seq.to_string(),
                c.lag.to_string(),
                c.forwarded_pps.to_string(),
                format!("{}.{}", c.busy_permille / 10, c.busy_permille % 10),
                c.cycles_per_packet.to_string(),
                c.forwarded.to_string(),
                drops.to_string(),
                reasons.join(","),
            ]
        })
        .collect();
    print_table(
        &[
            "ID",
            "NAME",
            "CPU",
            "STATE",
            "SEQ",
            "LAG",
            "FWD-PPS",
            "BUSY%",
            "CYC/PKT",
            "FORWARDED",
            "DROPS",
            "DROP-REASONS",
        ],
        &rows,
    );
}

pub fn print_added(c: &CoreAdded) {
    println!("core {} started (cpu {})", c.id, opt(&c.cpu))
}

//! `fibrectl source show`: the route sources (kernel table mirror, FPM for FRR).

use super::failure::Failure;
use super::render::{print_table, yes_no};
use super::session::Session;
use crate::proto::{Request, SourceInfo};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum SourceCmd {
    /// Each source's state and counters.
    #[command(alias = "list")]
    Show,
}

pub fn run(cmd: SourceCmd, session: &Session) -> Result<(), Failure> {
    match cmd {
        SourceCmd::Show => session.call(Request::SourceShow),
    }
}

pub fn print_sources(list: &[SourceInfo]) {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                s.protocol.clone(),
                yes_no(s.connected),
                s.routes.to_string(),
                s.messages.to_string(),
                s.resyncs.to_string(),
                s.ignored.to_string(),
                s.refused.to_string(),
                s.last_error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    print_table(
        &[
            "SOURCE",
            "PROTO",
            "CONNECTED",
            "ROUTES",
            "MESSAGES",
            "RESYNCS",
            "IGNORED",
            "REFUSED",
            "LAST-ERROR",
        ],
        &rows,
    );
}

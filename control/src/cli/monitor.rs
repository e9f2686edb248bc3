//! `fibrectl monitor [route|neigh|core|fib|source]...`: events as they happen,
//! one line each (JSON lines with `-j`), until interrupted or the daemon goes.

use super::failure::Failure;
use super::session::Session;
use crate::monitor::{MonitorRequest, Topic};
use crate::proto::{Reply, Request};
use std::io::Write;

#[derive(clap::Args, Debug)]
pub struct MonitorArgs {
    /// What to show (everything when none is named).
    #[arg(value_enum)]
    pub topics: Vec<Topic>,
    /// Stop after this many events (for scripts and tests).
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
}

pub fn run(args: MonitorArgs, session: &Session) -> Result<(), Failure> {
    let mut client = session.connect()?;
    let id = client.send(&Request::Monitor(MonitorRequest {
        topics: args.topics,
    }))?;
    let mut out = std::io::stdout().lock();
    let mut seen = 0;
    while args.count.is_none_or(|n| seen < n) {
        let (got, response) = client.recv()?;
        if got != Some(id) {
            continue;
        }
        match response.map_err(crate::cli::ClientError::Daemon)? {
            Reply::Event(e) => {
                let line = if session.json {
                    serde_json::to_string(&e).expect("events serialize")
                } else {
                    e.to_string()
                };
                // A closed pipe (`| head`) ends the command quietly.
                if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
                    return Ok(());
                }
                seen += 1;
            }
            other => {
                return Err(Failure::Daemon(anyhow::anyhow!(
                    "unexpected reply to monitor: {other:?}"
                )))
            }
        }
    }
    Ok(())
}

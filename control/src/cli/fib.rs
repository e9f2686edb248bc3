//! `fibrectl fib status`: the sequenced FIB and how far each listener has applied it.
//! `fibrectl fib audit [core N]`: each core's tables checked against the FIB.

use super::failure::Failure;
use super::render::{print_table, yes_no};
use super::session::Session;
use super::words::{RouteWords, Words};
use crate::audit::{AuditReply, AuditRequest};
use crate::proto::{FibStatus, Request};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum FibCmd {
    Status,
    /// [core N]: check each core's forwarding tables against the FIB while it
    /// forwards; a core found wrong is resynced
    Audit(Words),
}

pub fn run(cmd: FibCmd, session: &Session) -> Result<(), Failure> {
    match cmd {
        FibCmd::Status => session.call(Request::FibStatus),
        FibCmd::Audit(rest) => {
            let r = RouteWords::parse(rest, "fib audit", &["core"])?;
            session.call(Request::FibAudit(AuditRequest { core: r.core }))
        }
    }
}

pub fn print_audit(a: &AuditReply) {
    if a.cores.is_empty() {
        println!("no cores to audit");
    }
    for c in &a.cores {
        let verdict = match (&c.error, c.is_wrong()) {
            (Some(e), _) => format!("not audited: {e}"),
            (None, true) => format!(
                "WRONG: {} addresses differ from the FIB{}{}",
                c.wrong_addresses,
                if c.wrong_ranges_not_walked > 0 {
                    format!(", and {} more ranges", c.wrong_ranges_not_walked)
                } else {
                    String::new()
                },
                if c.resynced { "; resynced" } else { "" }
            ),
            (None, false) => "equal to the FIB".to_string(),
        };
        println!(
            "core {}: {verdict} ({} ranges compared, {} unverified, tables {:?}, {} ms)",
            c.core, c.ranges_compared, c.unverified, c.tables, c.took_ms
        );
        if c.mismatches.is_empty() {
            continue;
        }
        let rows: Vec<Vec<String>> = c
            .mismatches
            .iter()
            .map(|m| {
                let id = |v: Option<u32>| v.map_or_else(|| "none".into(), |v| v.to_string());
                vec![
                    m.table.to_string(),
                    m.prefix.map_or_else(|| "-".into(), |p| p.to_string()),
                    if m.first == m.last {
                        m.first.to_string()
                    } else {
                        format!("{}-{}", m.first, m.last)
                    },
                    id(m.found),
                    id(m.expected),
                ]
            })
            .collect();
        print_table(
            &["TABLE", "FIB ROUTE", "ADDRESSES", "CORE HAS", "FIB SAYS"],
            &rows,
        );
    }
}

pub fn print_status(s: &FibStatus) {
    println!(
        "seq {}  watermark {}  tables {}  prefixes {}  nexthops {}  nexthop ids pending {}  groups {}",
        s.seq, s.watermark, s.tables, s.prefixes, s.nexthops, s.nexthop_ids_pending, s.groups
    );
    if let Some(us) = in_step_after_us(s) {
        println!(
            "last commit: seq {}; every listener applied it {us} µs after it committed",
            s.committed_seq
        );
    }
    let rows: Vec<Vec<String>> = s
        .listeners
        .iter()
        .map(|l| {
            vec![
                l.id.to_string(),
                l.name.clone(),
                l.state.clone(),
                l.applied_seq.to_string(),
                l.lag.to_string(),
                yes_no(l.in_sync),
                l.replay_progress
                    .map_or_else(|| "-".into(), |(i, n)| format!("{i}/{n}")),
                l.backlog.to_string(),
                l.resyncs.to_string(),
                l.gaps.to_string(),
                l.failure.clone().unwrap_or_default(),
            ]
        })
        .collect();
    print_table(
        &[
            "ID", "LISTENER", "STATE", "APPLIED", "LAG", "IN-SYNC", "REPLAY", "BACKLOG", "RESYNCS",
            "GAPS", "FAILURE",
        ],
        &rows,
    );
}

/// How long after the last commit every active listener had applied it (µs, 0 if
/// they had before the request finished), once they all have.
fn in_step_after_us(s: &FibStatus) -> Option<i64> {
    let active: Vec<_> = s.listeners.iter().filter(|l| l.failure.is_none()).collect();
    if s.committed_seq == 0
        || active.is_empty()
        || active.iter().any(|l| l.applied_seq < s.committed_seq)
    {
        return None;
    }
    let last = active.iter().map(|l| l.applied_at_ns).max()?;
    Some(((last as i64 - s.committed_at_ns as i64) / 1000).max(0))
}

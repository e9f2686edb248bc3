//! `fib audit [core N]` and the periodic audit: runs started, stepped each turn of
//! the control loop, and finished — a core found wrong is resynced, counted and
//! logged, and a client's audit is answered.

use super::run::CoreRun;
use super::{AuditCounters, AuditReply, AuditRequest};
use crate::daemon::{Backend, Router};
use crate::proto::{ErrorKind, ErrorReply, Reply, Response};
use std::time::{Duration, Instant};

/// Time the control loop spends comparing audit digests per turn at most.
const COMPARE_PER_TURN: Duration = Duration::from_millis(2);
/// How long [`run_now`] waits for an audit (the socket never waits: see `answer`).
const RUN_NOW_TIMEOUT: Duration = Duration::from_secs(60);

/// The audits feature's state.
#[derive(Default)]
pub struct Audits {
    /// `[fib] audit_interval`: every core is audited this often (`None`: never).
    interval: Option<Duration>,
    next_due: Option<Instant>,
    runs: Vec<Run>,
    next_run: u64,
    next_ticket: u64,
    /// Finished client audits: (ticket, answer).
    finished: Vec<(u64, Response)>,
    pub counters: AuditCounters,
}

struct Run {
    id: u64,
    /// The client's audit this answers; `None` for the periodic one.
    ticket: Option<u64>,
    cores: Vec<CoreRun>,
}

impl Audits {
    /// Audits every core every `interval` (`None` or zero: only when asked).
    pub fn set_interval(&mut self, interval: Option<Duration>, now: Instant) {
        self.interval = interval.filter(|d| !d.is_zero());
        self.next_due = self.interval.map(|d| now + d);
    }

    pub fn interval(&self) -> Option<Duration> {
        self.interval
    }

    /// A ticket for a client's audit, unique for the router's life.
    pub fn new_ticket(&mut self) -> u64 {
        self.next_ticket += 1;
        self.next_ticket
    }

    /// Client audits answered since the last call: (ticket, answer).
    pub fn take_finished(&mut self) -> Vec<(u64, Response)> {
        std::mem::take(&mut self.finished)
    }
}

/// Starts an audit of core `request.core`, or of every core; `ticket` names the
/// client request it answers (see [`Audits::take_finished`]).
pub fn start<B: Backend>(
    r: &mut Router<B>,
    request: AuditRequest,
    ticket: Option<u64>,
) -> Result<u64, ErrorReply> {
    let ids = match request.core {
        Some(id) => vec![r.cores.slot(id).map(|_| id)?],
        None => r.cores.ids(),
    };
    let run = r.audits.next_run;
    r.audits.next_run += 1;
    let tables = r.fib.table_ids();
    let cores = ids
        .into_iter()
        .map(|id| {
            let slot = &r.cores.slots[&id];
            let tokens = (run << 32) | 1;
            if let Some(why) = slot.handle.listener.detached() {
                CoreRun::failed(
                    id,
                    slot.listener,
                    format!("the core's FIB listener failed: {why}"),
                )
            } else if !slot.handle.in_sync() {
                CoreRun::failed(
                    id,
                    slot.listener,
                    "the core has no whole table yet (its first replay has not ended)".into(),
                )
            } else {
                CoreRun::new(id, slot.listener, tables.clone(), tokens)
            }
        })
        .collect();
    r.audits.runs.push(Run {
        id: run,
        ticket,
        cores,
    });
    Ok(run)
}

/// One turn's audit work: starts the periodic audit when due, moves every run on,
/// and finishes those done. Returns whether an audit is in progress.
pub fn step<B: Backend>(r: &mut Router<B>, now: Instant) -> bool {
    if let (Some(every), Some(due)) = (r.audits.interval, r.audits.next_due) {
        if now >= due && !r.audits.runs.iter().any(|run| run.ticket.is_none()) {
            r.audits.next_due = Some(now + every);
            if !r.cores.slots.is_empty() {
                let _ = start(r, AuditRequest::default(), None);
            }
        }
    }
    if r.audits.runs.is_empty() {
        return false;
    }
    let deadline = now + COMPARE_PER_TURN;
    for run in &mut r.audits.runs {
        for core in &mut run.cores {
            let handle = r.cores.slots.get(&core.core).map(|s| &s.handle);
            core.step(&r.fib, handle, deadline);
        }
    }
    let (done, running): (Vec<Run>, Vec<Run>) = std::mem::take(&mut r.audits.runs)
        .into_iter()
        .partition(|run| run.cores.iter().all(CoreRun::is_done));
    r.audits.runs = running;
    for run in done {
        finish(r, run);
    }
    !r.audits.runs.is_empty()
}

/// Resyncs the cores found wrong, counts, logs, and answers the client.
fn finish<B: Backend>(r: &mut Router<B>, run: Run) {
    let mut cores = Vec::with_capacity(run.cores.len());
    for core in &run.cores {
        let mut report = core.report(&r.fib, false);
        r.audits.counters.core_audits += 1;
        r.audits.counters.unverified += report.unverified;
        if report.is_wrong() {
            r.audits.counters.found_wrong += 1;
            let reason = format!(
                "audit found {} wrong addresses ({} more wrong ranges)",
                report.wrong_addresses, report.wrong_ranges_not_walked
            );
            tracing::error!(
                core = core.core,
                wrong_addresses = report.wrong_addresses,
                wrong_ranges = report.wrong_ranges_not_walked,
                first = ?report.mismatches.first(),
                "the core's forwarding table differs from the FIB; resyncing it"
            );
            match r.fib.resync_listener(core.listener, &reason) {
                Ok(()) => {
                    r.audits.counters.resyncs += 1;
                    report.resynced = true;
                }
                Err(e) => {
                    report
                        .error
                        .get_or_insert_with(|| format!("resync refused: {e}"));
                }
            }
        } else if let Some(e) = &report.error {
            tracing::warn!(core = core.core, error = %e, "audit could not check the core");
        } else {
            tracing::debug!(
                core = core.core,
                ranges = report.ranges_compared,
                unverified = report.unverified,
                took_ms = report.took_ms,
                "audit: the core's tables equal the FIB"
            );
        }
        cores.push(report);
    }
    tracing::trace!(run = run.id, "audit finished");
    if let Some(ticket) = run.ticket {
        r.audits
            .finished
            .push((ticket, Ok(Reply::FibAudit(AuditReply { cores }))));
    }
}

/// Runs an audit to its end before answering (for [`Router::handle`]: tests and
/// tools in-process; the control socket answers audits without waiting).
pub fn run_now<B: Backend>(r: &mut Router<B>, request: AuditRequest) -> Response {
    let ticket = r.audits.new_ticket();
    start(r, request, Some(ticket))?;
    let deadline = Instant::now() + RUN_NOW_TIMEOUT;
    loop {
        step(r, Instant::now());
        if let Some(i) = r.audits.finished.iter().position(|(t, _)| *t == ticket) {
            return r.audits.finished.swap_remove(i).1;
        }
        if Instant::now() >= deadline {
            return Err(ErrorReply::new(
                ErrorKind::Internal,
                "the audit did not finish in 60 s".to_string(),
            ));
        }
        // The cores digest on their own threads; let them.
        r.fib.pump();
        std::thread::sleep(Duration::from_micros(100));
    }
}

//! One core's audit, stepped by the control loop: jobs out to the core, answers
//! compared with the FIB, ranges that differ walked down.
//!
//! One job is out at a time. Each answer's ranges are compared in a time budget
//! per turn (a /8 of a full table is thousands of routes to walk). A range whose
//! digest was taken at a seq after which the FIB changed that /8 does not compare;
//! it is asked again alone, a few times, then left unverified.

use super::{AuditMismatch, CoreAudit};
use dataplane::worker::{AuditJob, CoreHandle};
use fib::audit::RangeSet;
use fib::dir24::NO_ROUTE;
use fib::{Fib, ListenerId, TableId};
use std::collections::{BTreeMap, VecDeque};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// Times a range that keeps changing is asked again before it is left unverified.
const MAX_ATTEMPTS: u8 = 5;
/// /24s walked down to addresses per core audit; wrong ranges past it are counted.
const MAX_ADDRESS_WALKS: usize = 16;
/// Mismatch lines kept per core audit.
const MAX_MISMATCHES: usize = 64;
/// How long a core may take to answer a job before the audit gives up on it.
const JOB_TIMEOUT: Duration = Duration::from_secs(10);

/// A range set to ask the core for, and how many times it was asked already.
#[derive(Debug, Clone, Copy)]
struct Work {
    table: TableId,
    ranges: RangeSet,
    attempt: u8,
}

/// An answer being compared: the job, its next range, and the work it answers.
struct Answer {
    job: Box<AuditJob>,
    next: usize,
    work: Work,
}

pub(super) struct CoreRun {
    pub(super) core: u32,
    pub(super) listener: ListenerId,
    tables: Vec<TableId>,
    /// Depth first: the ranges below a wrong range go to the front.
    work: VecDeque<Work>,
    out: Option<(u64, Work, Instant)>,
    answer: Option<Answer>,
    /// A job back from the core, reused for the next one.
    spare: Option<Box<AuditJob>>,
    next_token: u64,
    compared: u64,
    unverified: u64,
    address_walks: usize,
    not_walked: u64,
    /// Wrong addresses: (table, address) -> (found, expected).
    wrong: BTreeMap<(TableId, u32), (u32, u32)>,
    error: Option<String>,
    started: Instant,
}

impl CoreRun {
    /// An audit of `tables` in core `core`; job tokens start at `tokens` (unique
    /// per run, so a late answer to an earlier run is never taken for this one's).
    pub(super) fn new(core: u32, listener: ListenerId, tables: Vec<TableId>, tokens: u64) -> Self {
        CoreRun {
            core,
            listener,
            work: tables
                .iter()
                .map(|&table| Work {
                    table,
                    ranges: RangeSet::WHOLE,
                    attempt: 0,
                })
                .collect(),
            tables,
            out: None,
            answer: None,
            spare: None,
            next_token: tokens,
            compared: 0,
            unverified: 0,
            address_walks: 0,
            not_walked: 0,
            wrong: BTreeMap::new(),
            error: None,
            started: Instant::now(),
        }
    }

    /// A run that ends at once, with `error`.
    pub(super) fn failed(core: u32, listener: ListenerId, error: String) -> Self {
        let mut run = CoreRun::new(core, listener, Vec::new(), 0);
        run.error = Some(error);
        run
    }

    pub(super) fn is_done(&self) -> bool {
        self.error.is_some()
            || (self.work.is_empty() && self.out.is_none() && self.answer.is_none())
    }

    /// Moves the audit on: compares what has come back until `deadline`, takes the
    /// core's answer, sends the next job. Never waits for the core.
    pub(super) fn step<P>(&mut self, fib: &Fib, core: Option<&CoreHandle<P>>, deadline: Instant) {
        let Some(core) = core else {
            self.error.get_or_insert_with(|| "the core stopped".into());
            return;
        };
        loop {
            if self.is_done() {
                return;
            }
            if self.answer.is_some() {
                if !self.compare(fib, deadline) {
                    return;
                }
                continue;
            }
            if let Some((token, work, sent)) = self.out {
                match core.take_audit() {
                    Some(job) if job.token == token => {
                        self.out = None;
                        self.answer = Some(Answer { job, next: 0, work });
                    }
                    // A job of an earlier run, or a test hook's: not ours.
                    Some(_) => {}
                    None if sent.elapsed() > JOB_TIMEOUT => {
                        self.error = Some(format!(
                            "the core did not answer in {} s",
                            JOB_TIMEOUT.as_secs()
                        ));
                    }
                    None => return,
                }
                continue;
            }
            let Some(work) = self.work.pop_front() else {
                return;
            };
            let token = self.next_token;
            self.next_token += 1;
            let job = match self.spare.take() {
                Some(mut job) => {
                    job.reset(token, work.table, work.ranges);
                    job
                }
                None => AuditJob::new(token, work.table, work.ranges),
            };
            match core.submit_audit(job) {
                Ok(()) => self.out = Some((token, work, Instant::now())),
                Err(job) => {
                    // The core's queue is full (jobs of a run that gave up): later.
                    self.spare = Some(job);
                    self.work.push_front(work);
                    return;
                }
            }
        }
    }

    /// Compares the answer's ranges until `deadline`. Returns whether it finished.
    fn compare(&mut self, fib: &Fib, deadline: Instant) -> bool {
        let Answer { job, next, work } = self.answer.as_mut().expect("an answer");
        let ranges = job.ranges;
        while *next < usize::from(ranges.count) {
            if Instant::now() >= deadline {
                return false;
            }
            let i = *next;
            *next += 1;
            if !job.in_sync[i] {
                self.error =
                    Some("the core has no whole table yet (its first replay has not ended)".into());
                return true;
            }
            let start = ranges.start(i);
            let last = (u64::from(start) + ranges.size() - 1) as u32;
            if !fib.unchanged_since(work.table, start, last, job.seqs[i]) {
                // Changed since the core took it: ask for it again, alone.
                if work.attempt + 1 < MAX_ATTEMPTS {
                    self.work.push_back(Work {
                        table: work.table,
                        ranges: ranges.single(i),
                        attempt: work.attempt + 1,
                    });
                } else {
                    self.unverified += 1;
                }
                continue;
            }
            let expected = match fib.audit_digest(work.table, start, ranges.shift) {
                Ok(d) => d,
                Err(_) => {
                    // The table was deleted since: nothing left to compare.
                    self.unverified += 1;
                    continue;
                }
            };
            self.compared += 1;
            if job.digests[i] == expected {
                continue;
            }

            match ranges.split(i) {
                None => {
                    self.wrong.insert(
                        (work.table, start),
                        (job.digests[i] as u32, expected as u32),
                    );
                }
                Some(below) if below.shift > 0 || self.address_walks < MAX_ADDRESS_WALKS => {
                    if below.shift == 0 {
                        self.address_walks += 1;
                    }
                    self.work.push_front(Work {
                        table: work.table,
                        ranges: below,
                        attempt: 0,
                    });
                }
                Some(_) => self.not_walked += 1,
            }
        }
        let answer = self.answer.take().expect("an answer");
        self.spare = Some(answer.job);
        true
    }

    /// What the run found, with the wrong addresses merged into runs of the same
    /// (found, expected) under the same FIB route.
    pub(super) fn report(&self, fib: &Fib, resynced: bool) -> CoreAudit {
        let mut mismatches: Vec<AuditMismatch> = Vec::new();
        for (&(table, addr), &(found, expected)) in &self.wrong {
            let prefix = fib
                .lookup(table, Ipv4Addr::from(addr))
                .ok()
                .flatten()
                .map(|(p, _)| p);
            let id = |v: u32| (v != NO_ROUTE).then_some(v);
            if let Some(m) = mismatches.last_mut() {
                if m.table == table.0
                    && u32::from(m.last).wrapping_add(1) == addr
                    && m.prefix == prefix
                    && (m.found, m.expected) == (id(found), id(expected))
                {
                    m.last = Ipv4Addr::from(addr);
                    continue;
                }
            }
            if mismatches.len() == MAX_MISMATCHES {
                break;
            }
            mismatches.push(AuditMismatch {
                table: table.0,
                prefix,
                first: Ipv4Addr::from(addr),
                last: Ipv4Addr::from(addr),
                found: id(found),
                expected: id(expected),
            });
        }
        CoreAudit {
            core: self.core,
            tables: super::table_ids(&self.tables),
            ranges_compared: self.compared,
            unverified: self.unverified,
            wrong_addresses: self.wrong.len() as u64,
            wrong_ranges_not_walked: self.not_walked,
            mismatches,
            resynced,
            error: self.error.clone(),
            took_ms: self.started.elapsed().as_millis() as u64,
        }
    }
}

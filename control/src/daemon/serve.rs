//! The control loop: the router's own work, route sources, and the control
//! socket's requests, round after round, never blocking on a core or a client.

use super::journal::{journaled, Durability, Entry, JournalWriter};
use super::{Answer, Backend, Router};
use crate::proto::{ErrorKind, ErrorReply, Response};
use crate::server::{ClientId, Server};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Punted frames handled per core per round.
const PUNTS_PER_ROUND: usize = 64;
/// Requests applied per route source per round.
const SOURCE_REQUESTS_PER_ROUND: usize = 4096;

/// A turn's replies, held until the journal has saved the turn's changes (and
/// every earlier turn's): the submission's ticket, then (client, request id,
/// response, whether the request was journaled).
struct Held {
    ticket: u64,
    replies: Vec<(ClientId, u64, Response, bool)>,
}

/// Serves until `stop` is set. With a journal, a turn's replies go out once the
/// journal writer has made its changes durable (group commit); once the journal
/// has failed, changes are refused before they are applied.
pub fn serve<B: Backend>(
    router: &mut Router<B>,
    server: &mut Server,
    journal: Option<&JournalWriter>,
    stop: &AtomicBool,
) {
    let mut incoming = Vec::new();
    let mut held: VecDeque<Held> = VecDeque::new();
    // Requests answered on a later turn: ticket -> (client, request id).
    let mut later: HashMap<u64, (ClientId, u64)> = HashMap::new();
    let mut idle_since: Option<Instant> = None;
    while !stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        let turn_start = now;
        let mut busy = router.turn(now, PUNTS_PER_ROUND);
        busy |= router.poll_sources(SOURCE_REQUESTS_PER_ROUND);
        incoming.clear();
        server.poll(&mut incoming);
        let stats = server.stats();
        router.set_clients(stats.active as u64, stats.dropped());
        busy |= !incoming.is_empty();
        for (ticket, response) in router.take_finished() {
            if let Some((client, id)) = later.remove(&ticket) {
                server.reply(client, id, &response);
            }
        }
        let Some(j) = journal else {
            for inc in incoming.drain(..) {
                match router.answer(inc.id, inc.request) {
                    Answer::Now(response) => server.reply(inc.client, inc.id, &response),
                    Answer::Stream(stream) => server.reply_stream(inc.client, stream),
                    Answer::Later(ticket) => {
                        later.insert(ticket, (inc.client, inc.id));
                    }
                }
            }
            router.take_journal();
            router.note_turn(turn_start.elapsed());
            idle(busy, now, &mut idle_since);
            continue;
        };
        let mut replies = Vec::with_capacity(incoming.len());
        let mut entries = Vec::new();
        for inc in incoming.drain(..) {
            if journaled(&inc.request) {
                if let Some(why) = j.failed() {
                    let e = ErrorReply::new(
                        ErrorKind::Internal,
                        format!("{} not applied: the state file failed ({why}); changes are refused until fibred restarts with a working state_file", inc.request.name()),
                    );
                    replies.push((inc.client, inc.id, Err(e), false));
                    continue;
                }
            }
            let response = match router.answer(inc.id, inc.request) {
                Answer::Now(response) => response,
                // A read: nothing to make durable, and produced as the client reads.
                Answer::Stream(stream) => {
                    server.reply_stream(inc.client, stream);
                    continue;
                }
                // A read too, answered when done.
                Answer::Later(ticket) => {
                    later.insert(ticket, (inc.client, inc.id));
                    continue;
                }
            };
            let kept = router.take_journal();
            let saved = !kept.is_empty();
            entries.extend(kept.into_iter().map(|r| Entry::of(r, &response)));
            replies.push((inc.client, inc.id, response, saved));
        }
        if !replies.is_empty() {
            held.push_back(Held {
                ticket: j.submit(entries),
                replies,
            });
        }
        release(&mut held, j, server);
        router.note_turn(turn_start.elapsed());
        if !held.is_empty() {
            // Waiting for the journal writer: come back soon.
            std::thread::sleep(Duration::from_micros(20));
            continue;
        }
        idle(busy, now, &mut idle_since);
    }
    if let Some(j) = journal {
        j.sync();
        release(&mut held, j, server);
        let mut ignored = Vec::new();
        server.poll(&mut ignored);
    }
}

/// Sends the held replies whose changes the journal has saved, in order; a change
/// it failed to save is answered with an error saying so.
fn release(held: &mut VecDeque<Held>, j: &JournalWriter, server: &mut Server) {
    while let Some(h) = held.front() {
        let failed = match j.durability(h.ticket) {
            Durability::Pending => return,
            Durability::Durable => None,
            Durability::Failed(why) => Some(why),
        };
        let h = held.pop_front().expect("front exists");
        for (client, id, response, saved) in h.replies {
            match (&failed, saved) {
                (Some(why), true) => {
                    let e = ErrorReply::new(
                        ErrorKind::Internal,
                        format!("applied but not saved: the state file failed ({why}); this change is lost when fibred restarts, and changes are refused from now on"),
                    );
                    server.reply(client, id, &Err(e));
                }
                _ => server.reply(client, id, &response),
            }
        }
    }
}

/// Sleeps when the turn found no work.
fn idle(busy: bool, now: Instant, idle_since: &mut Option<Instant>) {
    {
        if busy {
            *idle_since = None;
        } else {
            // The control thread shares the machine with spinning cores: idle
            // rather than spin. Briefly at first (a burst of requests or punts
            // usually continues); after 10 ms of nothing, 1 ms at a time, so an
            // idle daemon wakes 1,000 times a second, not 5,000.
            let idle_for = now.duration_since(*idle_since.get_or_insert(now));
            std::thread::sleep(if idle_for < Duration::from_millis(10) {
                Duration::from_micros(200)
            } else {
                Duration::from_millis(1)
            });
        }
    }
}

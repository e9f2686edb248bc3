//! The control loop: the router's own work, route sources, and the control
//! socket's requests, round after round, never blocking on a core or a client.

use super::journal::JournalWriter;
use super::{Answer, Backend, Router};
use crate::server::Server;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Punted frames handled per core per round.
const PUNTS_PER_ROUND: usize = 64;
/// Requests applied per route source per round.
const SOURCE_REQUESTS_PER_ROUND: usize = 4096;

/// Serves until `stop` is set.
pub fn serve<B: Backend>(
    router: &mut Router<B>,
    server: &mut Server,
    journal: Option<&JournalWriter>,
    stop: &AtomicBool,
) {
    let mut incoming = Vec::new();
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
        for inc in incoming.drain(..) {
            match router.answer(inc.id, inc.request) {
                Answer::Now(response) => server.reply(inc.client, inc.id, &response),
                Answer::Stream(stream) => server.reply_stream(inc.client, stream),
            }
        }
        if let Some(j) = journal {
            j.append(router.take_journal());
        }
        router.note_turn(turn_start.elapsed());
        if busy {
            idle_since = None;
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
